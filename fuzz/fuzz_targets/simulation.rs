//! A whole application over ZeroMQ in a simulated world (`zmq_sansio::simulation`), under
//! a fault plan the fuzzer writes: an `RRClient` with a timeout and retries against an
//! `RRServer` on a host that may crash and restart. The first eight octets seed the world
//! (its scheduler and jitter); the rest is the plan, decoded by `FaultPlan::from_bytes`
//! and then healed and restarted at the end, so the application can always finish.
//! Invariants:
//! - no panic, no deadlock, and the run ends within its virtual time limit;
//! - every request gets its own reply, and the server handled each at least once (the
//!   lazy pirate's at-least-once);
//! - a second run with the same input is the same run: equal outcome and trace digest.
#![no_main]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use zmq_sansio::easy::{Options, RRClient, RRServer};
use zmq_sansio::simulation::{FaultPlan, LinkConfig, World};

const HOSTS: &[&str] = &["server", "client"];
const FAULTS_WITHIN: Duration = Duration::from_secs(5);
const REQUESTS: usize = 10;

fuzz_target!(|data: &[u8]| {
    let (seed, plan) = data.split_at(data.len().min(8));
    let mut octets = [0; 8];
    octets[..seed.len()].copy_from_slice(seed);
    let seed = u64::from_le_bytes(octets);
    let plan = FaultPlan::from_bytes(plan, HOSTS, FAULTS_WITHIN).recovered_at(FAULTS_WITHIN);

    let first = run(seed, &plan);
    for (i, reply) in first.replies.iter().enumerate() {
        assert_eq!(reply, &Ok(format!("request {i}")), "plan:\n{plan}");
        let count = first.served.get(&format!("request {i}")).copied();
        assert!(count >= Some(1), "request {i} never served; plan:\n{plan}");
    }
    assert_eq!(run(seed, &plan), first, "one input, two runs; plan:\n{plan}");
});

#[derive(Debug, PartialEq)]
struct Outcome {
    replies: Vec<Result<String, String>>,
    served: BTreeMap<String, u32>,
    digest: (u64, u64),
}

fn run(seed: u64, plan: &FaultPlan) -> Outcome {
    let world = World::new(seed);
    world.set_time_limit(Duration::from_secs(600));
    world.set_default_link(LinkConfig {
        latency: Duration::from_millis(10),
        ..LinkConfig::default()
    });
    let served = Arc::new(Mutex::new(BTreeMap::<String, u32>::new()));
    let counter = Arc::clone(&served);
    world.host_with_program("server", move |host| {
        let served = Arc::clone(&counter);
        async move {
            let options = Options::new().runtime(host.runtime());
            let server = RRServer::bind_with("tcp://server:5555", options)
                .expect("the server's address is free after a restart")
                .with_handler(move |request: String| {
                    *served.lock().unwrap().entry(request.clone()).or_default() += 1;
                    request
                });
            let _ = server.run().await;
        }
    });
    let client = world.host("client");
    // Longer than any round trip a decoded link allows (about 250 ms with the default
    // link's latency), so that only faults cause retries.
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
            world.sleep(Duration::from_millis(500)).await;
        }
        replies
    });
    let served = served.lock().unwrap().clone();
    let digest = world.trace_digest();
    // Tasks hold their world: crashing every host drops them, so the world is freed.
    world.crash(&world.host("server"));
    world.crash(&client);
    Outcome {
        replies,
        served,
        digest,
    }
}
