//! Fault plans: what goes wrong in a [`World`], and when, as a short script a person can
//! read — which is what a shrunk counterexample of a property test or a fuzzer should be.

use std::collections::BTreeSet;
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
        plan.without_redundant_steps()
    }

    /// A plan decoded from raw bytes, for a fuzzer: every input gives a valid plan (faults
    /// only among `hosts`, times within `within`, each step meaningful), and a short input
    /// a short plan, so that a minimised input reads as a short script. Faults may still be
    /// in force at the end; [`FaultPlan::recovered_at`] ends them.
    ///
    /// Each step takes four octets, five for a link change; a trailing partial step is
    /// ignored:
    ///
    /// | octet | meaning |
    /// |---|---|
    /// | 0 | kind, modulo 4: partition or heal (whichever changes the pair's state), reset, crash or restart (likewise), link change |
    /// | 1 | hosts: `hosts[o % n]`, and for a pair a different host chosen by `o / n` |
    /// | 2, 3 | time, big-endian, modulo 1001: thousandths of `within` (rounded to milliseconds when `within` is a second or more) |
    /// | 4 | (link change) latency, `o × 400 µs` (up to 102 ms) |
    /// | 5 | (link change) low nibble: jitter in milliseconds; high nibble `k`: bandwidth `1000 << k` octets per second, unlimited for 0 |
    ///
    /// With cargo-fuzz, hand the fuzzer's bytes straight to it
    /// (`fuzz_target!(|data: &[u8]| { let plan = FaultPlan::from_bytes(data, …); … })`), or,
    /// in a target that decodes a structured input with the `arbitrary` crate, give the
    /// plan a field of type `Vec<u8>` and decode that; the rest of the input can seed the
    /// [`World`].
    pub fn from_bytes(data: &[u8], hosts: &[&str], within: Duration) -> Self {
        if hosts.is_empty() {
            return Self::new();
        }
        let mut steps = Vec::new();
        let mut rest = data;
        while let [kind, who, hi, lo, tail @ ..] = rest {
            let at = thousandths_of(within, u16::from_be_bytes([*hi, *lo]) % 1001);
            let (a, b) = pick_pair(hosts, *who);
            rest = tail;
            let step = match kind % 4 {
                0 => b.map(|b| Draft::Cut(a, b)),
                1 => b.map(|b| Draft::Reset(a, b)),
                2 => Some(Draft::Down(a)),
                _ => {
                    let [latency, shape, tail @ ..] = rest else {
                        break;
                    };
                    rest = tail;
                    b.map(|b| Draft::Link(a, b, link_from(*latency, *shape)))
                }
            };
            steps.extend(step.map(|step| (at, step)));
        }
        // Stable: steps at one time keep the input's order.
        steps.sort_by_key(|(at, _)| *at);
        let mut state = Faulted::default();
        let mut plan = Self::new();
        for (at, step) in steps {
            let fault = match step {
                Draft::Cut(a, b) if state.is_cut(a, b) => Fault::Heal(a.into(), b.into()),
                Draft::Cut(a, b) => Fault::Partition(a.into(), b.into()),
                Draft::Reset(a, b) => Fault::Reset(a.into(), b.into()),
                Draft::Down(a) if state.down.contains(a) => Fault::Restart(a.into()),
                Draft::Down(a) => Fault::Crash(a.into()),
                Draft::Link(a, b, link) => Fault::Link(a.into(), b.into(), link),
            };
            state.update(&fault);
            plan.steps.push((at, fault));
        }
        plan
    }

    /// This plan, then, at `at` (or at its last step, if later), a heal of every partition,
    /// a restart of every crashed host and normal speed for every slow one that the plan
    /// leaves in force: a plan a scenario can
    /// finish under, whatever it was before.
    pub fn recovered_at(self, at: Duration) -> Self {
        let mut state = Faulted::default();
        for (_, fault) in &self.steps {
            state.update(fault);
        }
        let at = self.steps.last().map_or(at, |(last, _)| at.max(*last));
        let heals = (state.cut.into_iter()).map(|(a, b)| Fault::Heal(a, b));
        let restarts = state.down.into_iter().map(Fault::Restart);
        let speeds = (state.slow.into_keys()).map(|host| Fault::Slow(host, Duration::ZERO));
        heals
            .chain(restarts)
            .chain(speeds)
            .fold(self, |plan, fault| plan.at(at, fault))
    }

    /// The plan without the steps that would change nothing: a partition of a pair
    /// already cut, a heal of one that is not, a crash of a host already down, a restart
    /// of one that is up (which would run its program twice). Overlapping faults drawn
    /// independently merge this way.
    pub(super) fn without_redundant_steps(self) -> Self {
        let mut state = Faulted::default();
        let steps = (self.steps.into_iter())
            .filter(|(_, fault)| state.update(fault))
            .collect();
        Self { steps }
    }
}

/// One step of [`FaultPlan::from_bytes`] before its meaning is settled: cuts and crashes
/// toggle, depending on what came before.
enum Draft<'a> {
    Cut(&'a str, &'a str),
    Reset(&'a str, &'a str),
    Down(&'a str),
    Link(&'a str, &'a str, LinkConfig),
}

/// The partitions and crashed hosts in force after some steps of a plan.
#[derive(Default)]
struct Faulted {
    cut: BTreeSet<(String, String)>,
    down: BTreeSet<String>,
    slow: std::collections::BTreeMap<String, Duration>,
}

impl Faulted {
    fn is_cut(&self, a: &str, b: &str) -> bool {
        self.cut.contains(&ordered(a, b))
    }

    /// Applies `fault`; whether it changed anything.
    fn update(&mut self, fault: &Fault) -> bool {
        match fault {
            Fault::Partition(a, b) => self.cut.insert(ordered(a, b)),
            Fault::Heal(a, b) => self.cut.remove(&ordered(a, b)),
            Fault::Crash(host) => self.down.insert(host.clone()),
            Fault::Restart(host) => self.down.remove(host),
            Fault::Slow(host, delay) if delay.is_zero() => self.slow.remove(host).is_some(),
            Fault::Slow(host, delay) => self.slow.insert(host.clone(), *delay) != Some(*delay),
            Fault::Reset(..) | Fault::Link(..) => true,
        }
    }
}

fn ordered(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

/// `hosts[o % n]` and, if there are two hosts or more, another one chosen by `o / n`
/// (`hosts` is not empty).
fn pick_pair<'a>(hosts: &[&'a str], o: u8) -> (&'a str, Option<&'a str>) {
    let n = hosts.len();
    let a = usize::from(o) % n;
    let b = (n > 1).then(|| hosts[(a + 1 + (usize::from(o) / n) % (n - 1)) % n]);
    (hosts[a], b)
}

/// `thousandths` (at most 1000) of `within`, in whole milliseconds when `within` is a
/// second or more (a plan reads better so).
fn thousandths_of(within: Duration, thousandths: u16) -> Duration {
    let nanos = within.as_nanos() * u128::from(thousandths) / 1000;
    let unit = if within >= Duration::from_secs(1) {
        1_000_000
    } else {
        1_000
    };
    let nanos = nanos / unit * unit;
    // At most `within`, so the seconds fit.
    Duration::new(
        (nanos / 1_000_000_000) as u64,
        (nanos % 1_000_000_000) as u32,
    )
}

/// A link from two octets: see [`FaultPlan::from_bytes`].
pub(super) fn link_from(latency: u8, shape: u8) -> LinkConfig {
    let k = shape >> 4;
    LinkConfig {
        latency: Duration::from_micros(u64::from(latency) * 400),
        jitter: Duration::from_millis(u64::from(shape & 0x0f)),
        bandwidth: (k > 0).then(|| 1000u64 << k),
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
            if at.is_zero() {
                // Rather than `0ns`, which looks like a unit was chosen.
                write!(f, "at 0s: {fault}")?;
            } else {
                write!(f, "at {at:?}: {fault}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTS: &[&str] = &["client", "server", "broker"];
    const WITHIN: Duration = Duration::from_secs(10);

    fn hosts_named(plan: &FaultPlan) -> Vec<&str> {
        (plan.steps().iter())
            .flat_map(|(_, fault)| match fault {
                Fault::Partition(a, b)
                | Fault::Heal(a, b)
                | Fault::Reset(a, b)
                | Fault::Link(a, b, _) => {
                    assert_ne!(a, b, "{plan}");
                    vec![a.as_str(), b.as_str()]
                }
                Fault::Crash(a) | Fault::Restart(a) | Fault::Slow(a, _) => vec![a.as_str()],
            })
            .collect()
    }

    /// Every step changes something (the decoder's toggles and the normaliser agree).
    fn assert_meaningful(plan: &FaultPlan) {
        let steps = plan.steps().len();
        assert_eq!(
            plan.clone().without_redundant_steps().steps().len(),
            steps,
            "{plan}"
        );
    }

    #[test]
    fn bytes_decode_into_a_short_readable_script() {
        let data = [
            0, 1, 0, 100, // partition server | broker at 1 s
            2, 1, 0, 200, // crash server at 2 s
            2, 1, 0, 250, // restart server at 2.5 s
            0, 1, 0x06, 0x55, // heal server | broker at 6.2 s (1621 modulo 1001)
            1, 0, 0, 123, // reset client | server at 1.23 s
            3, 0, 0xff, 0xff, 25, 0x23, // link client | server at 4.7 s (65535 modulo 1001)
            7,    // a partial step: ignored
        ];
        let plan = FaultPlan::from_bytes(&data, HOSTS, WITHIN);
        assert_eq!(
            plan.to_string(),
            "at 1s: partition server | broker\n\
             at 1.23s: reset client | server\n\
             at 2s: crash server\n\
             at 2.5s: restart server\n\
             at 4.7s: link client | server: latency 10ms, jitter 3ms, bandwidth 4000 B/s\n\
             at 6.2s: heal server | broker"
        );
    }

    #[test]
    fn any_bytes_give_a_valid_plan_and_short_inputs_short_plans() {
        let mut rng = Rng::new(42);
        for round in 0..2000 {
            let len = rng.below(64) as usize;
            let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            let hosts = &HOSTS[..(round % 4).min(3)];
            let within = Duration::from_micros(rng.below(20_000_000));
            let plan = FaultPlan::from_bytes(&data, hosts, within);
            assert!(plan.steps().len() <= len / 4, "{plan}");
            assert!(plan.steps().is_sorted_by_key(|(at, _)| *at));
            assert!(plan.steps().iter().all(|(at, _)| *at <= within), "{plan}");
            assert!(hosts_named(&plan).iter().all(|h| hosts.contains(h)));
            assert_meaningful(&plan);
            let recovered = plan.clone().recovered_at(within);
            assert_eq!(&recovered.steps()[..plan.steps().len()], plan.steps());
            assert!(recovered.steps().iter().all(|(at, _)| *at <= within));
            assert_meaningful(&recovered);
            let mut state = Faulted::default();
            recovered.steps().iter().for_each(|(_, f)| {
                state.update(f);
            });
            assert!(state.cut.is_empty() && state.down.is_empty(), "{recovered}");
        }
        assert_eq!(FaultPlan::from_bytes(&[], HOSTS, WITHIN), FaultPlan::new());
        assert_eq!(
            FaultPlan::from_bytes(&[0; 64], &[], WITHIN),
            FaultPlan::new()
        );
        // One host: only crashes and restarts make sense.
        let plan = FaultPlan::from_bytes(&[0, 0, 0, 0, 2, 0, 0, 1], &["solo"], WITHIN);
        assert_eq!(plan.to_string(), "at 10ms: crash solo");
        // The largest `within` does not overflow.
        let plan = FaultPlan::from_bytes(&[2, 0, 0x03, 0xe8], HOSTS, Duration::MAX);
        assert_eq!(plan.steps()[0].0.as_secs(), Duration::MAX.as_secs());
    }

    #[test]
    fn recovery_heals_and_restarts_what_is_left_at_the_end() {
        let plan = FaultPlan::new()
            .at(
                Duration::from_secs(1),
                Fault::Partition("a".into(), "b".into()),
            )
            .at(Duration::from_secs(2), Fault::Crash("c".into()))
            .at(Duration::from_secs(3), Fault::Heal("b".into(), "a".into()))
            .at(
                Duration::from_secs(4),
                Fault::Partition("b".into(), "c".into()),
            )
            .recovered_at(Duration::from_secs(3));
        assert_eq!(
            plan.to_string(),
            "at 1s: partition a | b\n\
             at 2s: crash c\n\
             at 3s: heal b | a\n\
             at 4s: partition b | c\n\
             at 4s: heal b | c\n\
             at 4s: restart c"
        );
    }

    #[test]
    fn random_plans_never_restart_a_host_that_is_up() {
        for seed in 0..200 {
            let plan = FaultPlan::random(seed, &["a", "b"], WITHIN, 6);
            assert_meaningful(&plan);
        }
    }
}
