//! How fast the simulation runs (`zmq_sansio::simulation`): the figures that say what a
//! simulated test costs. Run with `cargo bench --bench simulation` (about half a minute);
//! it prints
//!
//! - simulated seconds per wall-clock second for a 10-peer PUB/SUB topology: one PUB host
//!   and ten SUB hosts, 100 messages a second of virtual time for 60 s (6 000 messages
//!   published, 60 000 received), three runs;
//! - how many seeds a minute a property test of an application explores: the
//!   `RRClient`-with-retries application of `tests/sim_app` (twenty requests over about
//!   6 s of virtual time) under a fresh random fault plan (up to four faults within 5 s)
//!   per seed, its at-least-once promise checked, counted over 10 s of wall time. This is
//!   what `tests/sim_harness.rs` runs per proptest case, less proptest's own drawing and
//!   bookkeeping (small beside a simulated run).
//!
//! Speed is measured here, never asserted in tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use zmq_sansio::io::Socket;
use zmq_sansio::proto::SocketType;
use zmq_sansio::simulation::{FaultPlan, World};

#[path = "../tests/sim_app/mod.rs"]
mod sim_app;

const SUBSCRIBERS: usize = 10;
const RATE: u64 = 100;
const VIRTUAL: Duration = Duration::from_secs(60);

/// One run of the PUB/SUB topology: virtual time simulated and wall time taken.
fn pub_sub(seed: u64) -> (Duration, Duration) {
    let world = World::new(seed);
    let hub = world.host("hub");
    let publisher = Socket::builder(SocketType::Pub)
        .runtime(hub.runtime())
        .build()
        .unwrap();
    publisher.bind("tcp://hub:6000").unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let mut hosts = vec![hub];
    for i in 0..SUBSCRIBERS {
        let host = world.host(&format!("sub{i}"));
        let sub = Socket::builder(SocketType::Sub)
            .runtime(host.runtime())
            .subscribe("tick")
            .build()
            .unwrap();
        sub.connect("tcp://hub:6000").unwrap();
        let received = Arc::clone(&received);
        host.spawn(async move {
            while sub.recv().await.is_ok() {
                received.fetch_add(1, Ordering::Relaxed);
            }
        });
        hosts.push(host);
    }
    let wall = Instant::now();
    let start = world.elapsed();
    world.block_on(async {
        publisher.wait_for_subscribers(SUBSCRIBERS).await;
        let period = Duration::from_secs(1) / RATE as u32;
        for i in 0..RATE * VIRTUAL.as_secs() {
            publisher.send(format!("tick {i}")).await.unwrap();
            world.sleep(period).await;
        }
    });
    let simulated = world.elapsed() - start;
    let wall = wall.elapsed();
    let expected = RATE * VIRTUAL.as_secs() * SUBSCRIBERS as u64;
    assert_eq!(
        received.load(Ordering::Relaxed),
        expected,
        "every tick arrived"
    );
    drop(publisher);
    for host in &hosts {
        world.crash(host);
    }
    (simulated, wall)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter or other flags are not supported.
    println!(
        "simulation: {SUBSCRIBERS}-peer PUB/SUB, {RATE} msgs/s of virtual time for {VIRTUAL:?}"
    );
    for seed in 1..=3 {
        let (simulated, wall) = pub_sub(seed);
        println!(
            "  seed {seed}: {:.1} simulated s in {:.3} wall s: {:.0} simulated s per wall s ({:.0} msgs delivered per wall s)",
            simulated.as_secs_f64(),
            wall.as_secs_f64(),
            simulated.as_secs_f64() / wall.as_secs_f64(),
            (RATE * VIRTUAL.as_secs() * SUBSCRIBERS as u64) as f64 / wall.as_secs_f64(),
        );
    }

    let budget = Duration::from_secs(10);
    println!(
        "simulation: RRClient with retries under a random fault plan per seed, for {budget:?} of wall time"
    );
    let wall = Instant::now();
    let mut seeds = 0u64;
    let mut simulated = Duration::ZERO;
    while wall.elapsed() < budget {
        let plan = FaultPlan::random(seeds, sim_app::HOSTS, sim_app::FAULTS_WITHIN, 4);
        let outcome = sim_app::run(seeds, &plan);
        if let Some(why) = outcome.broken_promise() {
            panic!("seed {seeds}: {why}; plan:\n{plan}");
        }
        simulated += outcome.elapsed;
        seeds += 1;
    }
    let wall = wall.elapsed();
    println!(
        "  {seeds} seeds in {:.1} wall s: {:.0} seeds per minute ({:.1} simulated s each on average, {:.0} simulated s per wall s)",
        wall.as_secs_f64(),
        seeds as f64 * 60.0 / wall.as_secs_f64(),
        simulated.as_secs_f64() / seeds as f64,
        simulated.as_secs_f64() / wall.as_secs_f64(),
    );
}
