//! Deterministic simulation of whole applications (cargo feature `simulation`): the
//! unchanged async API — [`io::Socket`](crate::io::Socket) and the `easy` classes — runs on
//! simulated hosts, under virtual time, with a seeded scheduler and a simulated network,
//! so a test of an application over ZeroMQ runs seconds of its life in milliseconds and
//! replays any failure from its seed.
//!
//! A [`World`] holds hosts and the network between them. Each [`Host`] has a
//! [`Runtime`] ([`Host::runtime`]) that sockets are built with: their tasks run on the
//! world's scheduler, their timers (heartbeats, reconnect backoff, request timeouts) on
//! its clock, and their `tcp://name:port` and `ipc://` endpoints on its network. The
//! test's own code is ordinary async code, spawned on a host ([`Host::spawn`]) or run by
//! [`World::block_on`], which drives everything until it completes. Nothing inside
//! touches a real socket, thread or clock: the scheduler runs every task on the calling
//! thread, and time moves only when nothing can run at the current instant.
//!
//! Faults come scripted ([`World::partition`], [`World::reset`], [`World::crash`],
//! [`World::restart`], [`World::set_link`]) or as a [`FaultPlan`] applied at given virtual
//! times ([`World::apply`]); a plan can be drawn from the seed
//! ([`FaultPlan::random`]). The world prints its seed when a test fails inside it.
//!
//! ```
//! use std::time::Duration;
//! use zmq_sansio::io::Socket;
//! use zmq_sansio::proto::SocketType;
//! use zmq_sansio::simulation::World;
//!
//! let world = World::new(7);
//! let server = world.host("server");
//! let client = world.host("client");
//! let rep = Socket::builder(SocketType::Rep).runtime(server.runtime()).build()?;
//! rep.bind("tcp://server:5555")?;
//! server.spawn(async move {
//!     while let Ok(request) = rep.recv().await {
//!         rep.send(request).await.unwrap();
//!     }
//! });
//! let req = Socket::builder(SocketType::Req).runtime(client.runtime()).build()?;
//! req.connect("tcp://server:5555")?;
//! let reply = world.block_on(async {
//!     req.send("ping").await?;
//!     req.recv().await
//! })?;
//! assert_eq!(reply.frames()[0], "ping");
//! assert!(world.elapsed() < Duration::from_millis(10), "virtual time: {:?}", world.elapsed());
//! # Ok::<(), zmq_sansio::io::Error>(())
//! ```

mod clock;
mod executor;
mod net;
mod plan;
mod rng;
#[cfg(feature = "proptest")]
pub mod strategy;
mod trace;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use clock::{Clock, VirtualTimer, sleep_until};
use executor::Executor;
use net::{HostNet, Net};
use rng::Rng;
use trace::Trace;

use crate::io::{Runtime, Task, Timer, VirtualNetwork};

pub use plan::{Fault, FaultPlan};
pub use trace::{TRACE_CAPACITY, TraceEvent};

/// A host of a [`World`], by number (in the order the hosts were made).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub u32);

/// How a link between two hosts carries octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkConfig {
    /// Time from a write to the octets' arrival.
    pub latency: Duration,
    /// Up to this much more, drawn from the seed per write (order is kept).
    pub jitter: Duration,
    /// Octets per second the link carries; `None`: no limit.
    pub bandwidth: Option<u64>,
}

impl Default for LinkConfig {
    /// 50 µs of latency, no jitter, no bandwidth limit: a fast LAN.
    fn default() -> Self {
        Self {
            latency: Duration::from_micros(50),
            jitter: Duration::ZERO,
            bandwidth: None,
        }
    }
}

/// What a host runs when it starts and after each [`World::restart`].
pub type Program = Arc<dyn Fn(Host) -> Task + Send + Sync>;

struct HostState {
    name: String,
    alive: bool,
    program: Option<Program>,
}

/// Virtual time a [`World::block_on`] may simulate before it gives up.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(3600);

struct Inner {
    seed: u64,
    clock: Arc<Clock>,
    executor: Executor,
    net: Arc<Net>,
    rng: Arc<Mutex<Rng>>,
    trace: Arc<Trace>,
    hosts: Mutex<Vec<HostState>>,
    time_limit: Mutex<Duration>,
    /// Hosts whose tasks run only some time after each wake (slow consumers).
    slow: Mutex<std::collections::BTreeMap<HostId, Duration>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Hosts, the network between them, one clock and one scheduler: see the module docs.
///
/// Dropping a world drops every task still on it (and so every socket they own).
pub struct World {
    inner: Arc<Inner>,
    /// The application's handle (not the one a fault plan's task holds): dropping it ends
    /// the world.
    owner: bool,
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World")
            .field("seed", &self.inner.seed)
            .field("elapsed", &self.elapsed())
            .field("executor", &self.inner.executor)
            .finish_non_exhaustive()
    }
}

impl World {
    /// A world with no hosts yet, whose every choice (which ready task runs next, jitter,
    /// random fault plans) comes from `seed`.
    pub fn new(seed: u64) -> Self {
        // The only real clock read: where virtual time starts.
        let clock = Arc::new(Clock::new(Instant::now()));
        let rng = Arc::new(Mutex::new(Rng::new(seed)));
        let trace = Arc::new(Trace::default());
        let net = Arc::new(Net::new(
            Arc::clone(&clock),
            Arc::clone(&rng),
            Arc::clone(&trace),
        ));
        Self {
            inner: Arc::new(Inner {
                seed,
                clock,
                executor: Executor::new(),
                net,
                rng,
                trace,
                hosts: Mutex::default(),
                time_limit: Mutex::new(DEFAULT_TIME_LIMIT),
                slow: Mutex::default(),
            }),
            owner: true,
        }
    }

    /// The seed the world was made with.
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// The host named `name`, made on first use. Sockets on it connect to others by name:
    /// `tcp://name:port`.
    pub fn host(&self, name: &str) -> Host {
        let mut hosts = lock(&self.inner.hosts);
        let id = match hosts.iter().position(|h| h.name == name) {
            Some(index) => HostId(index as u32),
            None => {
                hosts.push(HostState {
                    name: name.to_owned(),
                    alive: true,
                    program: None,
                });
                let id = HostId((hosts.len() - 1) as u32);
                self.inner.net.add_host(name, id);
                id
            }
        };
        Host {
            inner: Arc::clone(&self.inner),
            id,
        }
    }

    /// A host that runs `program` now and again after each [`World::restart`].
    pub fn host_with_program<F, Fut>(&self, name: &str, program: F) -> Host
    where
        F: Fn(Host) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let host = self.host(name);
        let program: Program = Arc::new(move |host| Box::pin(program(host)));
        lock(&self.inner.hosts)[host.id.0 as usize].program = Some(Arc::clone(&program));
        host.spawn_task(program(host.clone()));
        host
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.inner.clock.now()
    }

    /// Virtual time simulated so far.
    pub fn elapsed(&self) -> Duration {
        self.inner.clock.elapsed()
    }

    /// How much virtual time [`World::block_on`] may simulate before it panics (with the
    /// seed): a scenario that never finishes fails instead of running forever.
    pub fn set_time_limit(&self, limit: Duration) {
        *lock(&self.inner.time_limit) = limit;
    }

    /// Runs the world until `future` completes, and returns its output. `future` runs on
    /// the calling thread between the hosts' tasks (on no host: a crash never drops it).
    ///
    /// # Panics
    /// If nothing can make progress any more while `future` waits (a deadlock), or the
    /// time limit passes; the message and the standard error name the seed.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let woken = Arc::new(MainWaker::new());
        let waker = Waker::from(Arc::clone(&woken));
        let limit = *lock(&self.inner.time_limit);
        let start = self.elapsed();
        loop {
            if woken.take() {
                if let Poll::Ready(output) = future.as_mut().poll(&mut Context::from_waker(&waker))
                {
                    return output;
                }
                continue;
            }
            let next = self.inner.executor.pick(&mut lock(&self.inner.rng));
            if let Some(task) = next {
                if !self.defer(task) {
                    self.inner.executor.poll(task);
                }
                continue;
            }
            let Some(deadline) = self.inner.clock.next_deadline() else {
                panic!(
                    "simulation (seed {}): deadlock at {:?}: nothing can run and no timer is set",
                    self.inner.seed,
                    self.elapsed()
                );
            };
            if deadline.saturating_sub(start) > limit {
                panic!(
                    "simulation (seed {}): the time limit of {limit:?} passed at {:?}",
                    self.inner.seed,
                    self.elapsed()
                );
            }
            for waker in self.inner.clock.advance_to(deadline) {
                waker.wake();
            }
        }
    }

    /// Whether task `task` is on a slow host and must wait before it runs; if so, it is
    /// woken again once the host's delay has passed.
    fn defer(&self, task: u64) -> bool {
        let executor = &self.inner.executor;
        let Some(host) = executor.host_of(task) else {
            return false;
        };
        let Some(delay) = lock(&self.inner.slow).get(&host).copied() else {
            return false;
        };
        if executor.take_allowed(task) {
            return false;
        }
        let at = self.elapsed() + delay;
        self.inner.clock.wake_at(at, executor.deferred_waker(task));
        true
    }

    /// Makes a host slow (a loaded machine, a slow consumer): each time one of its tasks
    /// is woken, it runs only `delay` of virtual time later. `None` (or zero) restores it.
    pub fn slow_down(&self, host: &Host, delay: Option<Duration>) {
        let delay = delay.filter(|d| !d.is_zero());
        self.note_fault(match delay {
            Some(delay) => format!("slow {} by {delay:?}", host.name()),
            None => format!("restore {}'s speed", host.name()),
        });
        let mut slow = lock(&self.inner.slow);
        match delay {
            Some(delay) => slow.insert(host.id, delay),
            None => slow.remove(&host.id),
        };
    }

    /// Runs the world for `duration` of virtual time.
    pub fn run_for(&self, duration: Duration) {
        let until = self.now() + duration;
        self.block_on(sleep_until(Arc::clone(&self.inner.clock), until));
    }

    /// Waits `duration` of virtual time (in code that [`World::block_on`] runs).
    pub fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + use<> {
        sleep_until(Arc::clone(&self.inner.clock), self.now() + duration)
    }

    /// Cuts every path between two hosts (`true`) or restores it (`false`): octets in
    /// flight wait, new connections hang until the caller's timeout, heartbeats notice.
    pub fn partition(&self, a: &Host, b: &Host, cut: bool) {
        self.note_fault(format!(
            "{} {} | {}",
            if cut { "partition" } else { "heal" },
            a.name(),
            b.name()
        ));
        self.inner.net.partition(a.id, b.id, cut);
    }

    /// Resets every connection between two hosts, as a TCP RST would.
    pub fn reset(&self, a: &Host, b: &Host) {
        self.note_fault(format!("reset {} | {}", a.name(), b.name()));
        self.inner.net.reset(a.id, Some(b.id));
    }

    /// Sets how the link between two hosts carries octets (latency, jitter, bandwidth).
    pub fn set_link(&self, a: &Host, b: &Host, link: LinkConfig) {
        self.note_fault(format!("link {} | {}: {link:?}", a.name(), b.name()));
        self.inner.net.set_link(a.id, b.id, link);
    }

    /// Sets the links of every pair without a [`World::set_link`] of its own.
    pub fn set_default_link(&self, link: LinkConfig) {
        self.inner.net.set_default_link(link);
    }

    /// Crashes a host: its tasks are dropped (and with them its sockets), its listeners
    /// vanish and its connections are reset. Tasks spawned on it are dropped until
    /// [`World::restart`].
    pub fn crash(&self, host: &Host) {
        {
            let mut hosts = lock(&self.inner.hosts);
            hosts[host.id.0 as usize].alive = false;
        }
        self.inner.trace.record(
            self.elapsed(),
            TraceEvent::Host {
                host: host.id,
                up: false,
            },
        );
        self.inner.executor.kill(host.id);
        self.inner.net.crash(host.id);
    }

    /// Brings a crashed host back, running its program again (see
    /// [`World::host_with_program`]).
    pub fn restart(&self, host: &Host) {
        let program = {
            let mut hosts = lock(&self.inner.hosts);
            let state = &mut hosts[host.id.0 as usize];
            state.alive = true;
            state.program.clone()
        };
        self.inner.trace.record(
            self.elapsed(),
            TraceEvent::Host {
                host: host.id,
                up: true,
            },
        );
        if let Some(program) = program {
            host.spawn_task(program(host.clone()));
        }
    }

    /// Applies `plan`'s faults at their times, from now (a task of the world's own).
    pub fn apply(&self, plan: &FaultPlan) {
        let world = World {
            inner: Arc::clone(&self.inner),
            owner: false,
        };
        let start = self.now();
        let steps = plan.steps().to_vec();
        let clock = Arc::clone(&self.inner.clock);
        // On a host of its own that never crashes, so that the plan outlives every crash.
        let control = self.host("\u{0}faults");
        control.spawn(async move {
            for (at, fault) in steps {
                sleep_until(Arc::clone(&clock), start + at).await;
                fault.apply(&world);
            }
        });
    }

    /// Adds a note to the trace (say, what the application saw).
    pub fn note(&self, note: impl Into<String>) {
        self.inner
            .trace
            .record(self.elapsed(), TraceEvent::Note(note.into()));
    }

    /// The first [`TRACE_CAPACITY`] events of the run, with their virtual times.
    pub fn trace(&self) -> Vec<(Duration, TraceEvent)> {
        self.inner.trace.snapshot()
    }

    /// A digest of every event of the run and their count: equal for two runs of one
    /// scenario with one seed.
    pub fn trace_digest(&self) -> (u64, u64) {
        self.inner.trace.digest()
    }

    fn note_fault(&self, fault: String) {
        self.inner
            .trace
            .record(self.elapsed(), TraceEvent::Fault(fault));
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if !self.owner {
            return;
        }
        // The tasks hold the world (through their hosts' runtimes): without this, a world
        // and everything on it would never be freed.
        self.inner.executor.kill_all();
        if std::thread::panicking() {
            eprintln!(
                "zmq_sansio::simulation: failed with seed {} at {:?} of virtual time; \
                 World::new({}) replays it",
                self.inner.seed,
                self.elapsed(),
                self.inner.seed
            );
        }
    }
}

/// Wakes [`World::block_on`]'s own future; set at first, so that it is polled once.
struct MainWaker(Mutex<bool>);

impl MainWaker {
    fn new() -> Self {
        Self(Mutex::new(true))
    }

    fn take(&self) -> bool {
        std::mem::take(&mut *lock(&self.0))
    }
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        *lock(&self.0) = true;
    }

    fn wake_by_ref(self: &Arc<Self>) {
        *lock(&self.0) = true;
    }
}

/// A host of a [`World`]: where sockets and the application's tasks live.
#[derive(Clone)]
pub struct Host {
    inner: Arc<Inner>,
    id: HostId,
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Host").field(&self.name()).finish()
    }
}

impl Host {
    /// The host's number.
    pub fn id(&self) -> HostId {
        self.id
    }

    /// The host's name (what `tcp://name:port` names).
    pub fn name(&self) -> String {
        lock(&self.inner.hosts)[self.id.0 as usize].name.clone()
    }

    /// Whether the host is up (not crashed).
    pub fn is_alive(&self) -> bool {
        lock(&self.inner.hosts)[self.id.0 as usize].alive
    }

    /// The runtime for sockets on this host: give it to
    /// [`SocketBuilder::runtime`](crate::io::SocketBuilder::runtime) (or to the easy
    /// classes' `Options::runtime`).
    pub fn runtime(&self) -> Arc<dyn Runtime> {
        Arc::new(HostRuntime { host: self.clone() })
    }

    /// Runs `future` on this host (dropped if the host crashes).
    pub fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
        self.spawn_task(Box::pin(future));
    }

    fn spawn_task(&self, task: Task) {
        if self.is_alive() {
            self.inner.executor.spawn(self.id, task);
        }
    }

    /// Tasks alive on this host (its sockets' included).
    pub fn tasks(&self) -> usize {
        self.inner.executor.count(self.id)
    }

    /// Waits `duration` of virtual time.
    pub fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + use<> {
        let clock = Arc::clone(&self.inner.clock);
        let until = clock.now() + duration;
        sleep_until(clock, until)
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.inner.clock.now()
    }
}

/// The [`Runtime`] of a [`Host`]: the world's scheduler, clock and network.
#[derive(Debug)]
struct HostRuntime {
    host: Host,
}

impl Runtime for HostRuntime {
    fn spawn(&self, task: Task) {
        self.host.spawn_task(task);
    }

    fn timer(&self, deadline: Instant) -> Pin<Box<dyn Timer>> {
        Box::pin(VirtualTimer::new(
            Arc::clone(&self.host.inner.clock),
            deadline,
        ))
    }

    fn now(&self) -> Instant {
        self.host.inner.clock.now()
    }

    fn network(&self) -> Option<Arc<dyn VirtualNetwork>> {
        Some(Arc::new(HostNet {
            net: Arc::clone(&self.host.inner.net),
            host: self.host.id,
        }))
    }
}
