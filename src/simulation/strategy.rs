//! A [proptest](https://docs.rs/proptest) strategy for [`FaultPlan`]s (cargo feature
//! `proptest`), so that a property of an application over ZeroMQ is checked under drawn
//! faults and a failure shrinks to a short fault script a person can read.
//!
//! ```
//! use std::time::Duration;
//! use proptest::prelude::*;
//! use zmq_sansio::simulation::{World, strategy};
//!
//! proptest! {
//!     #![proptest_config(ProptestConfig::with_cases(4))]
//!     // #[test] in a test file.
//!     fn survives(plan in strategy::fault_plan(&["client", "server"], Duration::from_secs(5), 3),
//!                 seed in any::<u64>()) {
//!         let world = World::new(seed);
//!         // … hosts, sockets and the application …
//!         world.apply(&plan);
//!         world.run_for(Duration::from_secs(6));
//!         // … check what the application promises …
//!     }
//! }
//! # survives();
//! ```

use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;

use super::plan::link_from;
use super::{Fault, FaultPlan};

/// Plans of up to `max_faults` faults among `hosts` (named as given), every one starting
/// and ending within `within`: a partition healed after a while, a reset, a crash followed
/// by a restart, or a link change (latency up to about 100 ms, jitter up to 15 ms,
/// bandwidth from 2 kB/s up or unlimited). Every partition is healed and every crashed
/// host restarted by `within`, so a scenario can finish; overlapping faults merge.
/// Times are in whole milliseconds.
///
/// Shrinking drops faults, moves them earlier, shortens them and turns them into
/// partitions between the first hosts: a failing plan shrinks to the few steps that
/// matter. Hosts are picked by index, so give them in the order you would like to read
/// them.
pub fn fault_plan(
    hosts: &[&str],
    within: Duration,
    max_faults: usize,
) -> impl Strategy<Value = FaultPlan> + use<> {
    let hosts: Vec<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
    let span = u64::try_from(within.as_millis()).unwrap_or(u64::MAX);
    let n = hosts.len().max(1);
    let episode = (
        0..4u8,
        0..n,
        0..n,
        0..=span,
        0..=span,
        any::<u8>(),
        any::<u8>(),
    );
    vec(episode, 0..=max_faults).prop_map(move |episodes| {
        let mut plan = FaultPlan::new();
        for (kind, a, b, start, length, latency, shape) in episodes {
            let (Some(a_name), Some(b_name)) = (hosts.get(a), hosts.get(b)) else {
                continue;
            };
            let (a, b) = (a_name.clone(), b_name.clone());
            let start = Duration::from_millis(start);
            let end = Duration::from_millis(span.min(start.as_millis() as u64 + length));
            let pair = a != b;
            plan = match kind {
                0 if pair => plan
                    .at(start, Fault::Partition(a.clone(), b.clone()))
                    .at(end, Fault::Heal(a, b)),
                1 if pair => plan.at(start, Fault::Reset(a, b)),
                3 if pair => plan.at(start, Fault::Link(a, b, link_from(latency, shape))),
                // A pair of one host, or kind 2: the first host crashes.
                _ => plan
                    .at(start, Fault::Crash(a.clone()))
                    .at(end, Fault::Restart(a)),
            };
        }
        plan.without_redundant_steps()
    })
}

#[cfg(test)]
mod tests {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    use super::*;

    #[test]
    fn plans_stay_among_the_hosts_within_the_time_and_end_recovered() {
        let within = Duration::from_secs(5);
        let strategy = fault_plan(&["a", "b", "c"], within, 6);
        let mut runner = TestRunner::deterministic();
        for _ in 0..200 {
            let plan = strategy.new_tree(&mut runner).unwrap().current();
            assert!(plan.steps().len() <= 12, "{plan}");
            assert!(plan.steps().iter().all(|(at, _)| *at <= within), "{plan}");
            assert!(plan.steps().is_sorted_by_key(|(at, _)| *at));
            // Nothing left to recover: every partition healed, every crash restarted.
            assert_eq!(plan.clone().recovered_at(within), plan);
            assert!(!plan.to_string().contains('\u{0}'));
        }
    }

    #[test]
    fn a_failure_shrinks_to_the_fault_that_matters() {
        // "Fails" whenever the plan crashes b: the minimal plan is b's crash and restart,
        // at the start, at once.
        let strategy = fault_plan(&["a", "b", "c"], Duration::from_secs(5), 6);
        let mut runner = TestRunner::deterministic();
        let result = runner.run(&strategy, |plan| {
            let crashes_b = (plan.steps().iter()).any(|(_, f)| *f == Fault::Crash("b".into()));
            prop_assert!(!crashes_b);
            Ok(())
        });
        let Err(proptest::test_runner::TestError::Fail(_, plan)) = result else {
            panic!("a crash of b is drawn within 256 cases: {result:?}");
        };
        assert_eq!(plan.to_string(), "at 0s: crash b\nat 0s: restart b");
    }
}
