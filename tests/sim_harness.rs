//! Property tests of an application over ZeroMQ under drawn faults (feature `proptest`):
//! an `RRClient` with a timeout and retries against an `RRServer` on a host that may
//! crash, under plans from `simulation::strategy::fault_plan`. What the application
//! promises (at-least-once) holds; what it does not promise (exactly-once) fails, and
//! proptest shrinks the failure to a fault script of a couple of lines.

mod sim_app;

use proptest::prelude::*;
use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestError, TestRng, TestRunner,
};
use zmq_sansio::simulation::{FaultPlan, strategy};

use sim_app::{FAULTS_WITHIN, HOSTS};

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
        let outcome = sim_app::run(seed, &plan);
        if let Some(why) = outcome.broken_promise() {
            prop_assert!(false, "{}; plan:\n{}", why, plan);
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
        let outcome = sim_app::run(seed, &plan);
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
