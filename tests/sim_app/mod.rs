//! The application that `tests/sim_harness.rs`, `benches/simulation.rs` and the
//! `simulation` fuzz target check under faults: an `RRClient` with a timeout and retries
//! (the lazy pirate) sending numbered requests to an echoing `RRServer` on a host that may
//! crash and restart (its program binds again). What it promises: every request gets its
//! own reply, and each was served at least once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zmq_sansio::easy::{Options, RRClient, RRServer};
use zmq_sansio::simulation::{FaultPlan, LinkConfig, World};

/// The hosts, in the order a shrunk plan prefers them.
pub const HOSTS: &[&str] = &["server", "client"];
/// Faults start and end within this (virtual) time; the requests span it.
pub const FAULTS_WITHIN: Duration = Duration::from_secs(5);
/// Requests sent, one after the other.
pub const REQUESTS: usize = 20;
/// Between two requests, so that they spread over the faults' window.
const PAUSE: Duration = Duration::from_millis(250);

/// What the application saw: each request's reply (or error), how often the server's
/// handler ran for each request, the world's trace digest and the virtual time taken.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub replies: Vec<Result<String, String>>,
    pub served: BTreeMap<String, u32>,
    pub digest: (u64, u64),
    /// Virtual time the run took.
    pub elapsed: Duration,
}

impl Outcome {
    /// Why the application's promise (at-least-once) was broken, if it was.
    pub fn broken_promise(&self) -> Option<String> {
        for (i, reply) in self.replies.iter().enumerate() {
            let request = format!("request {i}");
            if reply.as_ref() != Ok(&request) {
                return Some(format!("{request} answered {reply:?}"));
            }
            if self.served.get(&request).copied().unwrap_or(0) == 0 {
                return Some(format!("{request} never served"));
            }
        }
        None
    }
}

/// Runs the application under `plan` in a world seeded with `seed`.
pub fn run(seed: u64, plan: &FaultPlan) -> Outcome {
    let world = World::new(seed);
    // A scenario that cannot finish fails rather than runs on.
    world.set_time_limit(Duration::from_secs(600));
    // A wide-area network: a reply spends long enough on the way for a crash to catch it.
    world.set_default_link(LinkConfig {
        latency: Duration::from_millis(10),
        ..LinkConfig::default()
    });
    let served = Arc::new(Mutex::new(BTreeMap::<String, u32>::new()));
    let counter = Arc::clone(&served);
    let server = world.host_with_program("server", move |host| {
        let served = Arc::clone(&counter);
        async move {
            let options = Options::new().runtime(host.runtime());
            let server = RRServer::bind_with("tcp://server:5555", options)
                .expect("the address is free again after a restart")
                .with_handler(move |request: String| {
                    *served.lock().unwrap().entry(request.clone()).or_default() += 1;
                    request
                });
            let _ = server.run().await;
        }
    });
    let client = world.host("client");
    // Longer than any round trip a drawn link allows (about 250 ms), so that only faults
    // cause retries; retries enough to outlast every fault of the plan.
    let rr = RRClient::connect_with(
        "tcp://server:5555",
        Options::new().runtime(client.runtime()),
    )
    .unwrap()
    .with_timeout(Duration::from_secs(1))
    .with_retries(1000);
    world.apply(plan);
    let replies = world.block_on(async {
        let mut replies = Vec::new();
        for i in 0..REQUESTS {
            let reply = rr.request_text(&format!("request {i}")).await;
            replies.push(reply.map_err(|e| e.to_string()));
            world.sleep(PAUSE).await;
        }
        replies
    });
    drop(rr);
    let served = served.lock().unwrap().clone();
    let digest = world.trace_digest();
    let elapsed = world.elapsed();
    // Tasks hold their world (a cycle the world's drop does not break yet), so that
    // runs in a loop would pile up: let the plan's task finish (its last step may be due
    // at the very instant the application finished), then crash every host, which drops
    // their tasks and frees the world.
    let rest =
        (plan.steps().last()).map_or(Duration::ZERO, |(at, _)| at.saturating_sub(world.elapsed()));
    world.run_for(rest + Duration::from_micros(1));
    world.crash(&server);
    world.crash(&client);
    Outcome {
        replies,
        served,
        digest,
        elapsed,
    }
}
