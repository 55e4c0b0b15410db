//! Fault plans: what goes wrong in a [`World`], and when, as a short script a person can
//! read — which is what a shrunk counterexample of a property test or a fuzzer should be.

use std::fmt;
use std::time::Duration;

use super::rng::Rng;
use super::{LinkConfig, World};

/// One fault, naming hosts by name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Cut every path between two hosts.
    Partition(String, String),
    /// Restore them.
    Heal(String, String),
    /// Reset every connection between two hosts.
    Reset(String, String),
    /// Crash a host (its tasks and sockets dropped).
    Crash(String),
    /// Bring it back (its program runs again).
    Restart(String),
    /// Change the link between two hosts.
    Link(String, String, LinkConfig),
    /// Make a host slow: each wake of its tasks runs this much later (zero: normal speed).
    Slow(String, Duration),
}

impl Fault {
    pub(crate) fn apply(&self, world: &World) {
        match self {
            Self::Partition(a, b) => world.partition(&world.host(a), &world.host(b), true),
            Self::Heal(a, b) => world.partition(&world.host(a), &world.host(b), false),
            Self::Reset(a, b) => world.reset(&world.host(a), &world.host(b)),
            Self::Crash(host) => world.crash(&world.host(host)),
            Self::Restart(host) => world.restart(&world.host(host)),
            Self::Link(a, b, link) => world.set_link(&world.host(a), &world.host(b), *link),
            Self::Slow(host, delay) => world.slow_down(&world.host(host), Some(*delay)),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Partition(a, b) => write!(f, "partition {a} | {b}"),
            Self::Heal(a, b) => write!(f, "heal {a} | {b}"),
            Self::Reset(a, b) => write!(f, "reset {a} | {b}"),
            Self::Crash(host) => write!(f, "crash {host}"),
            Self::Restart(host) => write!(f, "restart {host}"),
            Self::Link(a, b, link) => write!(
                f,
                "link {a} | {b}: latency {:?}, jitter {:?}, bandwidth {}",
                link.latency,
                link.jitter,
                link.bandwidth
                    .map_or_else(|| "unlimited".to_owned(), |b| format!("{b} B/s"))
            ),
            Self::Slow(host, delay) if delay.is_zero() => write!(f, "restore {host}'s speed"),
            Self::Slow(host, delay) => write!(f, "slow {host} by {delay:?}"),
        }
    }
}

/// Faults at virtual times after [`World::apply`], in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultPlan {
    steps: Vec<(Duration, Fault)>,
}

impl FaultPlan {
    /// No faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `fault` at `at` (kept in time order).
    pub fn at(mut self, at: Duration, fault: Fault) -> Self {
        let index = self.steps.partition_point(|(t, _)| *t <= at);
        self.steps.insert(index, (at, fault));
        self
    }

    /// The steps, in time order.
    pub fn steps(&self) -> &[(Duration, Fault)] {
        &self.steps
    }

    /// A plan drawn from `seed`: up to `count` faults among `hosts` within `within`, each
    /// partition healed and each crash followed by a restart before the end, so that a
    /// scenario can still finish.
    pub fn random(seed: u64, hosts: &[&str], within: Duration, count: usize) -> Self {
        let mut rng = Rng::new(seed);
        let mut plan = Self::new();
        if hosts.is_empty() || within.is_zero() {
            return plan;
        }
        let span = within.as_micros().max(1) as u64;
        let pick = |rng: &mut Rng| hosts[rng.below(hosts.len() as u64) as usize].to_owned();
        for _ in 0..count {
            let start = Duration::from_micros(rng.below(span));
            let end = start + Duration::from_micros(rng.below(span - start.as_micros() as u64 + 1));
            let a = pick(&mut rng);
            let b = pick(&mut rng);
            plan = match rng.below(5) {
                0 if a != b => plan
                    .at(start, Fault::Partition(a.clone(), b.clone()))
                    .at(end, Fault::Heal(a, b)),
                1 if a != b => plan.at(start, Fault::Reset(a, b)),
                2 => plan
                    .at(start, Fault::Crash(a.clone()))
                    .at(end, Fault::Restart(a)),
                3 => plan
                    .at(
                        start,
                        Fault::Slow(a.clone(), Duration::from_micros(1 + rng.below(10_000))),
                    )
                    .at(end, Fault::Slow(a, Duration::ZERO)),
                _ => plan.at(
                    start,
                    Fault::Link(
                        a,
                        b,
                        LinkConfig {
                            latency: Duration::from_micros(rng.below(20_000)),
                            jitter: Duration::from_micros(rng.below(5_000)),
                            bandwidth: None,
                        },
                    ),
                ),
            };
        }
        plan
    }
}

impl fmt::Display for FaultPlan {
    /// One line per step: `at 1.2s: partition client | server`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            return f.write_str("no faults");
        }
        for (i, (at, fault)) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "at {at:?}: {fault}")?;
        }
        Ok(())
    }
}
