//! Property tests of an application over ZeroMQ under drawn faults (feature `proptest`):
//! an `RRClient` with a timeout and retries against an `RRServer` on a host that may
//! crash, under plans from `simulation::strategy::fault_plan`. What the application
//! promises (at-least-once) holds; what it does not promise (exactly-once) fails, and
//! proptest shrinks the failure to a fault script of a couple of lines.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestError, TestRng, TestRunner,
};
use zmq_sansio::easy::{Options, RRClient, RRServer};
use zmq_sansio::simulation::{FaultPlan, LinkConfig, World, strategy};

/// The hosts faults are drawn among, in the order a shrunk plan prefers them.
const HOSTS: &[&str] = &["server", "client"];
/// Faults start and end within this (virtual) time: the requests span it.
const FAULTS_WITHIN: Duration = Duration::from_secs(5);
const REQUESTS: usize = 20;
/// Between two requests, so that they spread over the faults' window.
const PAUSE: Duration = Duration::from_millis(250);

/// What the application saw: each request's reply (or error), and how often the server's
/// handler ran for each request.
#[derive(Debug)]
struct Outcome {
    replies: Vec<Result<String, String>>,
    served: BTreeMap<String, u32>,
}

/// The application under `plan`, in a world seeded with `seed`.
fn run(seed: u64, plan: &FaultPlan) -> Outcome {
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
    world.host_with_program("server", move |host| {
        let served = Arc::clone(&counter);
        async move {
            let options = Options::new().runtime(host.runtime());
            let server = RRServer::bind_with("tcp://server:5555", options)
                .unwrap()
                .with_handler(move |request: String| {
                    *served.lock().unwrap().entry(request.clone()).or_default() += 1;
                    request
                });
            let _ = server.run().await;
        }
    });
    let client = world.host("client");
    // Longer than any round trip a drawn link allows (about 250 ms), so only faults
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
    let served = served.lock().unwrap().clone();
    Outcome { replies, served }
}

fn plans() -> impl Strategy<Value = FaultPlan> {
    strategy::fault_plan(HOSTS, FAULTS_WITHIN, 4)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        // A failing plan is kept beside this file and tried first next time.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    /// The lazy pirate's promise: every request gets its own reply, and the server
    /// handled every request at least once (retries may make it more).
    #[test]
    fn every_request_is_answered_and_served_at_least_once(plan in plans(), seed in any::<u64>()) {
        let outcome = run(seed, &plan);
        for (i, reply) in outcome.replies.iter().enumerate() {
            prop_assert_eq!(reply, &Ok(format!("request {i}")), "plan:\n{}", plan);
        }
        for i in 0..REQUESTS {
            let count = outcome.served.get(&format!("request {i}")).copied().unwrap_or(0);
            prop_assert!(count >= 1, "request {} never served; plan:\n{}", i, plan);
        }
    }
}

/// A promise the application does not make, checked anyway: retries after a lost reply
/// serve a request twice. Proptest finds a plan that breaks it and shrinks it to a script
/// a person reads at a glance.
#[test]
fn exactly_once_fails_and_shrinks_to_a_short_script() {
    // Seeded, so the test finds and shrinks the same counterexample every time.
    let config = Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let result = runner.run(&(plans(), any::<u64>()), |(plan, seed)| {
        let outcome = run(seed, &plan);
        for (request, count) in &outcome.served {
            prop_assert_eq!(*count, 1, "{} served {} times", request, count);
        }
        Ok(())
    });
    let Err(TestError::Fail(why, (plan, seed))) = result else {
        panic!("exactly-once should fail under some drawn plan: {result:?}");
    };
    let script = plan.to_string();
    println!("minimal counterexample (seed {seed}): {why}\n{script}");
    assert!(
        (1..=2).contains(&plan.steps().len()),
        "shrunk to a couple of steps:\n{script}"
    );
    assert!(
        script.lines().all(|line| line.len() <= 80),
        "each step one short line:\n{script}"
    );
}
