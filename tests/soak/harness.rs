//! The soak suite's plumbing: the counting allocator, readings of the process (live heap,
//! RSS, descriptors, threads), the time and work budget of a scenario, the watchdog, and
//! the checks every scenario ends with.
//!
//! Why two kinds of baseline: a leak inside an object that lives as long as the scenario's
//! server (a waker list that only grows, a peer table that keeps departed peers) is given
//! back when that server is dropped, so comparing the heap only after closing everything
//! would miss it. [`Soak::idle_baseline`] and [`Soak::idle_check`] compare the heap with
//! the long-lived sockets still open and quiet, before and after the bulk of the work;
//! [`Soak::finish`] compares the whole process after closing them.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use smol::Timer;
use smol::future::or;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use zmq_sansio::Msg;
use zmq_sansio::io::{Socket, live_tasks};
use zmq_sansio::proto::SocketType;

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

pub const KIB: usize = 1024;
pub const MIB: usize = 1024 * KIB;

/// The longest any single step (a reply, a handshake, a close) may take.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Seconds per scenario when `SOAK_SECONDS` is not set: the nine scenarios then take about
/// 80 s on a 2-core machine (some reach their request count sooner).
pub const DEFAULT_SECONDS: u64 = 9;

/// Slack between the heap with a scenario's long-lived sockets open and idle after warming
/// up and the same after the main phase. Measured noise is about 1 KiB (queues must stay
/// well under their HWM, or their high-water capacity shows up here); the leaks hunted add
/// up to far more: 16 octets per request over the minimum of 50,000 requests is 800 KB,
/// 8 octets per departed peer over the minimum of 6,000 peers is 64 KiB once the list
/// holding them has doubled.
pub const IDLE_SLACK: isize = 32 * KIB as isize;

/// Slack between the whole process before a scenario and after it closed everything: also
/// absorbs what the runtime keeps at its high-water mark (a slab of wakers or I/O sources
/// grown by one more concurrent task, an executor queue block).
pub const CLOSED_SLACK: isize = 64 * KIB as isize;

/// RSS is noisy (the allocator keeps freed pages, fragmentation): this only catches runaway
/// growth.
pub const RSS_SLACK_KIB: u64 = 32 * 1024;

// ---------------------------------------------------------------------------------------
// Readings.
// ---------------------------------------------------------------------------------------

/// Octets allocated through the global allocator and not freed yet.
///
/// `stats_alloc` 0.1 already adds a `realloc`'s growth to `bytes_allocated` (and its
/// shrinking to `bytes_deallocated`); `bytes_reallocated` is the same change counted once
/// more, so adding it would report every grown buffer as a leak.
pub fn live_heap() -> isize {
    let s = GLOBAL.stats();
    s.bytes_allocated as isize - s.bytes_deallocated as isize
}

/// `VmRSS` and `Threads` from `/proc/self/status` (RSS in KiB).
fn status() -> (u64, usize) {
    let text = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/self/status"))
    };
    (field("VmRSS:"), field("Threads:") as usize)
}

/// Open file descriptors (the directory handle used to count them included, every time).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// One reading of the whole process.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    pub heap: isize,
    pub rss_kib: u64,
    pub fds: usize,
    pub threads: usize,
}

impl Snapshot {
    pub fn now() -> Self {
        let (rss_kib, threads) = status();
        Self {
            heap: live_heap(),
            rss_kib,
            fds: open_fds(),
            threads,
        }
    }
}

/// Octets in a short human form.
pub fn human(octets: isize) -> String {
    let abs = octets.unsigned_abs();
    let sign = if octets < 0 { "-" } else { "" };
    if abs >= MIB {
        format!("{sign}{:.1} MiB", abs as f64 / MIB as f64)
    } else if abs >= KIB {
        format!("{sign}{:.1} KiB", abs as f64 / KIB as f64)
    } else {
        format!("{sign}{abs} B")
    }
}

/// Octets with their sign, `+` included.
pub fn signed(octets: isize) -> String {
    if octets >= 0 {
        format!("+{}", human(octets))
    } else {
        human(octets)
    }
}

/// Waits until the heap stops moving (ten readings 5 ms apart within 2 KiB of each other)
/// and returns the lowest of those readings, so that a transient allocation of another
/// thread (the sampler reading /proc) does not count. Gives up after `limit` and returns
/// the lowest reading of the last window: a heap that never settles fails the caller's
/// comparison instead.
pub async fn quiet_heap(limit: Duration) -> isize {
    const WINDOW: usize = 10;
    let deadline = Instant::now() + limit;
    let mut window = std::collections::VecDeque::with_capacity(WINDOW + 1);
    loop {
        window.push_back(live_heap());
        if window.len() > WINDOW {
            window.pop_front();
        }
        let (lo, hi) = window
            .iter()
            .fold((isize::MAX, isize::MIN), |(lo, hi), &h| {
                (lo.min(h), hi.max(h))
            });
        if (window.len() == WINDOW && hi - lo <= 2 * KIB as isize) || Instant::now() >= deadline {
            return lo;
        }
        Timer::after(Duration::from_millis(5)).await;
    }
}

/// Polls `condition` every 10 ms until it holds; panics naming `what` after `limit`.
pub async fn eventually(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "{what}: not true within {limit:?}"
        );
        Timer::after(Duration::from_millis(10)).await;
    }
}

/// `fut`'s output, or a panic naming `what` once [`PATIENCE`] has passed.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    or(fut, async {
        Timer::after(PATIENCE).await;
        panic!("{what}: not done within {PATIENCE:?}");
    })
    .await
}

// ---------------------------------------------------------------------------------------
// The sampler: peaks while a scenario runs.
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct Peaks {
    heap: AtomicIsize,
    rss_kib: AtomicU64,
    fds: AtomicUsize,
    threads: AtomicUsize,
    samples: AtomicU64,
}

/// A thread that reads the heap every millisecond and /proc every 20 ms, keeping peaks.
struct Sampler {
    stop: Arc<AtomicBool>,
    peaks: Arc<Peaks>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    fn start(name: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peaks = Arc::new(Peaks::default());
        let thread = std::thread::Builder::new()
            .name(format!("{name}-sampler"))
            .spawn({
                let (stop, peaks) = (Arc::clone(&stop), Arc::clone(&peaks));
                move || {
                    let mut tick = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        peaks.heap.fetch_max(live_heap(), Ordering::Relaxed);
                        if tick.is_multiple_of(20) {
                            let (rss, threads) = status();
                            peaks.rss_kib.fetch_max(rss, Ordering::Relaxed);
                            peaks.threads.fetch_max(threads, Ordering::Relaxed);
                            peaks.fds.fetch_max(open_fds(), Ordering::Relaxed);
                        }
                        tick += 1;
                        peaks.samples.fetch_add(1, Ordering::Relaxed);
                        // Pacing of the measurement, not synchronisation.
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            })
            .expect("spawn the sampler");
        Self {
            stop,
            peaks,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) -> Snapshot {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the sampler does not panic");
        }
        Snapshot {
            heap: self.peaks.heap.load(Ordering::Relaxed),
            rss_kib: self.peaks.rss_kib.load(Ordering::Relaxed),
            fds: self.peaks.fds.load(Ordering::Relaxed),
            threads: self.peaks.threads.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------------------
// Budgets.
// ---------------------------------------------------------------------------------------

/// `SOAK_SECONDS`: seconds per scenario.
pub fn soak_seconds() -> u64 {
    match std::env::var("SOAK_SECONDS") {
        Ok(text) => text
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&s| s > 0)
            .unwrap_or_else(|| panic!("SOAK_SECONDS={text:?}: expected a positive integer")),
        Err(_) => DEFAULT_SECONDS,
    }
}

/// How much work a scenario does: it stops at `target` units or at `deadline`, whichever
/// comes first, and must have done at least `minimum` units by then (so a hang or a
/// slowdown cannot pass as "did nothing, leaked nothing").
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub deadline: Instant,
    pub target: u64,
    pub minimum: u64,
}

impl Budget {
    /// Whether to go on after `done` units.
    pub fn more(&self, done: u64) -> bool {
        done < self.target && Instant::now() < self.deadline
    }

    /// Whether time is left.
    pub fn time_left(&self) -> bool {
        Instant::now() < self.deadline
    }
}

// ---------------------------------------------------------------------------------------
// A scenario.
// ---------------------------------------------------------------------------------------

/// One scenario's measurements, from its start to its summary line.
pub struct Soak {
    name: &'static str,
    started: Instant,
    seconds: u64,
    scale: f64,
    /// The process before the scenario opened anything.
    closed: Snapshot,
    /// The heap with the scenario's long-lived sockets open and quiet after warming up.
    idle: Option<isize>,
    idle_after: Option<isize>,
    /// Why [`Soak::idle_check`] failed, reported by [`Soak::finish`] after the summary.
    idle_failure: Option<String>,
    sampler: Sampler,
}

impl Soak {
    /// Waits for what earlier scenarios left running to end, warms up the runtime (its
    /// threads, reactor and per-thread buffers are created on first use and kept; they are
    /// not leaks), then takes the closed baseline and starts sampling.
    async fn begin(name: &'static str) -> Self {
        eventually(PATIENCE, "tasks of earlier scenarios end", || {
            live_tasks() == 0
        })
        .await;
        warm_up().await;
        let seconds = soak_seconds();
        let heap = quiet_heap(Duration::from_secs(3)).await;
        let closed = Snapshot {
            heap,
            ..Snapshot::now()
        };
        Self {
            name,
            started: Instant::now(),
            seconds,
            scale: seconds as f64 / DEFAULT_SECONDS as f64,
            closed,
            idle: None,
            idle_after: None,
            idle_failure: None,
            sampler: Sampler::start(name),
        }
    }

    /// The budget of the main phase, from now: `SOAK_SECONDS`, and the default run's
    /// `target` and `minimum` scaled by `SOAK_SECONDS / DEFAULT_SECONDS` (never below the
    /// default's), so a long soak does proportionally more.
    pub fn budget(&self, target: u64, minimum: u64) -> Budget {
        let scale = self.scale.max(1.0);
        Budget {
            deadline: Instant::now() + Duration::from_secs(self.seconds),
            target: (target as f64 * scale) as u64,
            minimum: (minimum as f64 * scale) as u64,
        }
    }

    /// Records the heap with the long-lived sockets open and quiet.
    pub async fn idle_baseline(&mut self) {
        self.idle = Some(quiet_heap(Duration::from_secs(3)).await);
    }

    /// The heap, with the same sockets open and quiet again after the main phase, must be
    /// back within [`IDLE_SLACK`] of [`Soak::idle_baseline`]: what the work left behind
    /// inside them. Waits up to 5 s for in-flight buffers to go. A failure is reported by
    /// [`Soak::finish`], after the summary line, so that the figures are in the log.
    pub async fn idle_check(&mut self, what: &str) {
        let base = self.idle.expect("idle_baseline first");
        let deadline = Instant::now() + Duration::from_secs(5);
        let now = loop {
            let now = quiet_heap(Duration::from_secs(2)).await;
            if now - base <= IDLE_SLACK || Instant::now() >= deadline {
                break now;
            }
        };
        self.idle_after = Some(now);
        if now - base > IDLE_SLACK {
            self.idle_failure = Some(format!(
                "{}: {what}: the heap with the same sockets open and quiet grew by {} \
                 ({} -> {}), more than the {} slack: something keeps memory per unit of work",
                self.name,
                human(now - base),
                human(base),
                human(now),
                human(IDLE_SLACK),
            ));
        }
    }

    /// Ends the scenario once its sockets are closed: waits (bounded) for every socket task
    /// to end, for descriptors to return to the baseline exactly and the heap to within
    /// [`CLOSED_SLACK`]; checks the RSS bound, the heap `ceiling` above the closed baseline
    /// that the run must never have exceeded, and the minimum of work; prints the summary.
    pub async fn finish(mut self, work: &str, done: u64, budget: &Budget, ceiling: usize) {
        let ran = self.started.elapsed();
        eventually(
            PATIENCE,
            &format!("{}: every socket task ends", self.name),
            || live_tasks() == 0,
        )
        .await;
        let peak = self.sampler.stop();
        let base = self.closed;
        let deadline = Instant::now() + PATIENCE;
        let last = loop {
            let heap = quiet_heap(Duration::from_secs(2)).await;
            let now = Snapshot {
                heap,
                ..Snapshot::now()
            };
            let settled = now.fds == base.fds
                && now.heap - base.heap <= CLOSED_SLACK
                && now.threads <= base.threads;
            if settled || Instant::now() >= deadline {
                break now;
            }
            Timer::after(Duration::from_millis(20)).await;
        };
        let idle = match (self.idle, self.idle_after) {
            (Some(before), Some(after)) => format!("; idle heap {}", signed(after - before)),
            _ => String::new(),
        };
        println!(
            "soak {name}: {done} {work} in {secs:.1}s; heap base {hb}, peak +{hp} (ceiling +{hc}), \
             final {hf}{idle}; rss base {rb} MiB, peak {rp} MiB, final {rf} MiB; \
             fds {fb}/{fp}/{ff}, threads {tb}/{tp}/{tf} (base/peak/final)",
            name = self.name,
            secs = ran.as_secs_f64(),
            hb = human(base.heap),
            hp = human(peak.heap - base.heap),
            hc = human(ceiling as isize),
            hf = signed(last.heap - base.heap),
            rb = base.rss_kib / 1024,
            rp = peak.rss_kib.max(last.rss_kib) / 1024,
            rf = last.rss_kib / 1024,
            fb = base.fds,
            fp = peak.fds.max(last.fds),
            ff = last.fds,
            tb = base.threads,
            tp = peak.threads.max(last.threads),
            tf = last.threads,
        );
        if let Some(failure) = self.idle_failure.take() {
            panic!("{failure}");
        }
        assert!(
            done >= budget.minimum,
            "{}: only {done} {work} done, fewer than the minimum {} (too slow, or stuck)",
            self.name,
            budget.minimum
        );
        assert!(
            peak.heap - base.heap <= ceiling as isize,
            "{}: the heap peaked {} above its baseline, over the {} ceiling",
            self.name,
            human(peak.heap - base.heap),
            human(ceiling as isize)
        );
        assert_eq!(
            last.fds, base.fds,
            "{}: open descriptors after closing everything vs. before",
            self.name
        );
        assert!(
            last.heap - base.heap <= CLOSED_SLACK,
            "{}: the heap after closing everything is {} above its baseline (slack {})",
            self.name,
            human(last.heap - base.heap),
            human(CLOSED_SLACK)
        );
        assert!(
            last.threads <= base.threads,
            "{}: {} threads after closing everything, {} before",
            self.name,
            last.threads,
            base.threads
        );
        assert!(
            last.rss_kib <= base.rss_kib + RSS_SLACK_KIB,
            "{}: RSS {} MiB after closing everything, {} MiB before (bound +{} MiB)",
            self.name,
            last.rss_kib / 1024,
            base.rss_kib / 1024,
            RSS_SLACK_KIB / 1024
        );
    }
}

/// One PUSH/PULL exchange over TCP, both closed: starts the executor and reactor threads
/// and fills the per-thread read buffer before the baseline.
async fn warm_up() {
    let pull = Socket::builder(SocketType::Pull)
        .linger(Duration::ZERO)
        .build()
        .unwrap();
    let endpoint = pull.bind("tcp://127.0.0.1:*").unwrap();
    let push = Socket::builder(SocketType::Push)
        .linger(PATIENCE)
        .build()
        .unwrap();
    push.connect(&endpoint).unwrap();
    within("warm-up send", push.send("warm-up")).await.unwrap();
    within("warm-up recv", pull.recv()).await.unwrap();
    push.close().await;
    pull.close().await;
    eventually(PATIENCE, "warm-up tasks end", || live_tasks() == 0).await;
}

/// Runs a scenario on a thread of its own under a watchdog: a scenario that is not done
/// within twice `SOAK_SECONDS` plus a minute fails with its name instead of hanging the
/// suite. `body` gets the [`Soak`] taken before it opens anything.
pub fn scenario<F, Fut>(name: &'static str, body: F)
where
    F: FnOnce(Soak) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let limit = Duration::from_secs(2 * soak_seconds() + 60);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            smol::block_on(async move {
                let soak = Soak::begin(name).await;
                body(soak).await;
            });
            let _ = done_tx.send(());
        })
        .expect("spawn the scenario thread");
    match done_rx.recv_timeout(limit) {
        // Finished, or panicked (the sender is dropped): join tells which.
        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("soak {name}: watchdog: not done within {limit:?} (hung?)")
        }
    }
}

/// Tells producer tasks to stop. Every clone raises it when dropped, so a scenario that
/// fails (and unwinds) also stops its producers: one left sending in a loop on the
/// executor would otherwise starve every later scenario.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn raised(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl Drop for Stop {
    fn drop(&mut self) {
        self.raise();
    }
}

// ---------------------------------------------------------------------------------------
// Messages.
// ---------------------------------------------------------------------------------------

/// A message of `size` octets (at least 12) tagged with its sender and sequence number.
pub fn tagged(sender: u32, seq: u64, size: usize) -> Msg {
    let mut body = vec![0x5Au8; size.max(12)];
    body[..4].copy_from_slice(&sender.to_be_bytes());
    body[4..12].copy_from_slice(&seq.to_be_bytes());
    Msg::from(body)
}

/// The sender and sequence number of a [`tagged`] message.
pub fn tag_of(msg: &Msg) -> (u32, u64) {
    let frame = msg.frames().last().expect("a frame");
    assert!(frame.len() >= 12, "not a tagged message: {msg:?}");
    (
        u32::from_be_bytes(frame[..4].try_into().unwrap()),
        u64::from_be_bytes(frame[4..12].try_into().unwrap()),
    )
}
