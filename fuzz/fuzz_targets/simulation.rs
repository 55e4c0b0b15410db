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

use libfuzzer_sys::fuzz_target;
use zmq_sansio::simulation::FaultPlan;

// The application the property tests check too.
#[path = "../../tests/sim_app/mod.rs"]
mod sim_app;

use sim_app::{FAULTS_WITHIN, HOSTS};

fuzz_target!(|data: &[u8]| {
    let (seed, plan) = data.split_at(data.len().min(8));
    let mut octets = [0; 8];
    octets[..seed.len()].copy_from_slice(seed);
    let seed = u64::from_le_bytes(octets);
    let plan = FaultPlan::from_bytes(plan, HOSTS, FAULTS_WITHIN).recovered_at(FAULTS_WITHIN);

    let first = sim_app::run(seed, &plan);
    if let Some(why) = first.broken_promise() {
        panic!("{why}; plan:\n{plan}");
    }
    assert_eq!(
        sim_app::run(seed, &plan),
        first,
        "one input, two runs; plan:\n{plan}"
    );
});
