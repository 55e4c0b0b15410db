//! Side by side, in one run and one table: this crate ("ours"), libzmq 4.3.4 (the `zmq`
//! crate, built from source), zmq.rs (the `zeromq` 0.7 crate) and omq.rs (the `omq-tokio`
//! 0.33 crate: a pure-Rust ZeroMQ with a sans-IO core, a tokio backend and IO threads of its
//! own). Each library talks to itself; every case runs in the same conditions for all.
//! Ours appears twice: once with the application as tasks on smol's executor, once with it
//! on plain threads (see "How").
//!
//! # What is measured
//!
//! 1. PUSH → PULL throughput over TCP on 127.0.0.1 at 16 B, 256 B, 4 KiB, 64 KiB and 1 MiB,
//!    default high-water marks (1000): messages/s and payload MB/s (10^6 octets).
//! 2. PUB → SUB throughput at the same sizes, with high-water marks that drop nothing (ours
//!    and libzmq: 0, i.e. unlimited; omq.rs: `xpub_nodrop`, its PUB waiting for room under
//!    the default HWMs, since an HWM of 0 there is a queue of one message; zmq.rs has no HWM
//!    option: its PUB queues are fixed at 100,000 messages). Deliveries are counted; losses
//!    are reported, not waited for.
//! 3. PUB → SUB under default HWMs: the sender blasts as fast as it can; the fraction
//!    delivered is reported (16 B and 4 KiB).
//! 4. REQ ↔ REP round-trip latency (16 B and 4 KiB): every round trip is timed on its own;
//!    median and 99th percentile over all timed round trips.
//! 5. PUB fan-out: one PUB, 10 and 100 SUBs (no-drop HWMs), 64 B messages: deliveries per
//!    second (subscribers × messages / time until every subscriber has everything), and how
//!    the rate holds from 10 to 100 subscribers.
//! 6. PUSH → PULL over IPC (`ipc://` in a fresh temporary directory) at 16 B, 4 KiB, 64 KiB.
//! 7. The loopback limit: a plain `std` TCP pair moving the bytes of the 1 MiB PUSH → PULL
//!    case in 1 MiB writes (a writer thread, a reader reading into a 1 MiB buffer), the
//!    physical ceiling: the fastest of several runs. The 1 MiB PUSH → PULL rates are also
//!    shown as a fraction of it.
//! 8. IO threads: two independent PUSH → PULL pairs over TCP, 4 KiB messages, the
//!    application on plain threads (one sender and one receiver thread per pair), all four
//!    sockets on one set of IO threads: the aggregate rate with one IO thread, with two,
//!    and their ratio. Each run measures both, one after the other. Ours:
//!    `zmq_sansio::io::IoThreads::new(n)` as every socket's runtime, `block_on` on the
//!    threads; libzmq: a context with `n` I/O threads; omq.rs: a `Context` with `n` IO
//!    threads and its blocking sockets. zmq.rs has no IO threads of its own, and "ours
//!    (tasks)" has no plain threads: both show "—".
//! 9. Memory: a PUB bound on TCP, then 1,000 idle peers attached; the RSS growth per peer,
//!    and the peak RSS (VmHWM) of that process. The peers are the same for every library
//!    (raw `std` TCP streams speaking ZMTP 3.0 by hand: greeting, READY as a SUB, then
//!    silence), so only the PUB side differs; each library runs in its own child process
//!    (this program re-executed with `--memory-probe`) so their allocations do not mix. An
//!    idle PUB has no application side, so both columns of ours show one probe. The main
//!    process's peak RSS is printed under the table.
//! 10. CURVE (RFC 26), ours against omq.rs (`omq-tokio` with its `curve` feature; the
//!     `zmq` crate's libzmq is built without CURVE and zmq.rs has none, so their cells show
//!     "—"): PUSH → PULL over TCP at 16 B and 64 KiB, and REQ ↔ REP round trips at 16 B,
//!     each as its plain counterpart above with the bound socket a CURVE server and the
//!     connecting one its client (fresh long-term keys every run; the handshake happens
//!     before timing, with the untimed first message).
//! 11. CURVE handshakes per second: one CURVE REP server, and one CURVE REQ client after
//!     another, each a new socket on a new connection that makes one 16 B round trip (which
//!     needs the whole handshake on both sides) and closes. The client's long-term keys are
//!     made once; the ephemeral keys, cookie and vouch are new every time.
//!
//! # How
//!
//! Sender and receiver live in one process, each library on its own runtime:
//!
//! - **ours (tasks)**: the application side runs as tasks on smol's global executor, where
//!   the crate's connection tasks run.
//! - **ours (threads)**: the application side runs on plain threads of its own under
//!   `futures::executor::block_on`, as a program that does not use smol would run it (the
//!   connection tasks still run on smol's executor); every wake-up then crosses threads.
//! - **libzmq**: blocking calls on threads; one context with one I/O thread does the rest.
//! - **zmq.rs**: tokio tasks on a multi-thread runtime with two worker threads (and the
//!   runtime's `block_on`).
//! - **omq.rs**: `Context::new()` (one IO thread: a tokio `current_thread` runtime on a
//!   thread of omq.rs's), the application inline on it through `Context::block_on`, its
//!   sockets made there with `Socket::new` (so their drivers run on that IO thread too) and
//!   its other side a `tokio::spawn`ed task: how omq.rs's own benchmarks run. Sends clone a
//!   prepared `Message`, as they do there. On a two-worker tokio runtime like zmq.rs's
//!   instead (one quick run of omq.rs alone), omq.rs was 5–10 % faster at PUB → SUB 16 B
//!   and 256 B and 2.6× as fast at PUB → SUB 1 MiB, but 0.5–0.8× as fast at 4 KiB and
//!   64 KiB, and its round trips took 3–4× as long: its own IO thread is the stronger
//!   rival on most rows with a goal.
//!
//! Ours has two columns rather than two rows per case so that each row keeps one set of
//! rivals: both columns are compared with the same figures of the others, each gets its own
//! "÷ best" ratio and verdict, and a goal is met only when both verdicts say yes.
//!
//! Each case runs one warm-up run (a tenth of the count) per library, then several timed
//! runs, interleaved between the libraries so a passing disturbance hits all alike; the
//! median is reported. Every run sets its sockets up on free ports of 127.0.0.1 (or a
//! fresh IPC path), checks the connection with one untimed message, times, and closes them.
//! zmq.rs and omq.rs run from a thread the bench can abandon: if one gives no result within
//! two minutes its cell shows FAILED (and it gets a fresh runtime); any case still running
//! after ten minutes ends the whole run with an error (the watchdog).
//!
//! PUB/SUB runs make sure subscriptions are in place before timing: the publisher sends
//! warm-up markers until every subscriber has seen one, then the timed messages (another
//! first octet), then end markers until every subscriber has stopped. A subscriber stops
//! when it has every timed message or at the first end marker (PUB/SUB keeps order per
//! peer: any timed message still to come would have come before it), so losses are counted
//! instead of waited for (a lossy run's time ends at that marker); a run-wide time limit
//! guards against hangs.
//!
//! # Running
//!
//! - `cargo bench --bench compare`: the full mode (three times the quick mode's counts and
//!   nine timed runs instead of five: roughly a quarter of an hour on two cores).
//! - `cargo bench --bench compare -- --quick`: the quick mode (about three minutes), a smoke
//!   check that never fails on a ratio.
//! - Arguments not starting with `-` filter. Library names keep only those columns: `ours`
//!   (both of its columns), `ours-tasks`, `ours-threads`, `libzmq`, `zmq.rs`, `omq.rs`.
//!   Anything else keeps the cases whose name or label contains it (`push-pull`, `pub-sub`,
//!   `pub-sub-loss`, `req-rep`, `fan-out`, `ipc`, `loopback`, `io-threads`, `memory`,
//!   `curve` (all CURVE cases), `curve-push-pull`, `curve-req-rep`, `curve-handshakes`, or
//!   e.g. `4 KiB`). E.g. `cargo bench --bench compare -- --quick req-rep ours-threads omq.rs`.
//! - `--ours-on-threads`, the switch of old (when ours ran in one place per run), now only
//!   drops the "ours (tasks)" column.
//! - Without `--bench` (as under `cargo test --benches`) every count is divided by 1000:
//!   a smoke test of a few seconds (the memory probe attaches 20 peers instead of 1,000).
//!
//! Progress goes to stderr (with the reason for every "—" a library gets), the table to
//! stdout.
//!
//! # Goals (for ours; the last two columns say whether each is met by each column of ours)
//!
//! "Best" is the best of libzmq, zmq.rs and omq.rs on that row (the table names it), and
//! every goal holds for ours with the application on tasks and on plain threads.
//!
//! - Throughput ≥ 1.2× the best at every size from 16 B to 64 KiB, PUSH/PULL and PUB/SUB;
//!   the same for CURVE PUSH/PULL at 16 B and 64 KiB (the best there being omq.rs).
//! - At 1 MiB, PUSH/PULL ≥ 0.9× the loopback limit.
//! - REQ/REP round trip (median) ≤ 0.8× the best, with and without CURVE.
//! - Two independent PUSH/PULL pairs on two IO threads ≥ 1.7× their aggregate rate on one
//!   (on two cores; plain threads only).
//! - PUB/SUB loses nothing while the HWMs allow it; fan-out scales with bytes, not with the
//!   number of subscriptions (deliveries/s at 100 subscribers ≥ 0.8× that at 10).
//! - No regression of the fan-out, IPC and memory rows (judged between runs: no column).

use std::any::Any;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;

// ---------------------------------------------------------------------------------------
// Parameters.
// ---------------------------------------------------------------------------------------

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

/// Full-mode counts are the quick ones times this (most runs then last 0.5–1.5 s).
const FULL_FACTOR: usize = 3;
/// Smoke-mode counts (no `--bench`) are the quick ones divided by this.
const SMOKE_DIVISOR: usize = 1000;

/// Messages moved by the 1 MiB PUSH/PULL case, and so by the loopback measurement.
const COUNT_1MIB: usize = 600;
/// Messages per pair in the IO-threads case (quick mode).
const IO_THREADS_COUNT: usize = 75_000;
/// The message size of the fan-out cases.
const FAN_OUT_SIZE: usize = 64;
/// Messages per CURVE PUSH/PULL run (quick mode): encryption makes them slower than plain.
const CURVE_16B_COUNT: usize = 100_000;
const CURVE_64KIB_COUNT: usize = 1_000;
/// New connections per CURVE handshake run (quick mode).
const CURVE_HANDSHAKES: usize = 300;

/// How long a publisher keeps sending warm-up markers (subscribers joining) or end markers
/// (subscribers finishing) before giving up.
const PATIENCE: Duration = Duration::from_secs(10);
/// Pause between two markers: they only need to get through, not to flood.
const MARKER_PAUSE: Duration = Duration::from_millis(1);
/// Subscribers give up after this long in any one PUB/SUB run: a guard against hangs.
const RECEIVE_LIMIT: Duration = Duration::from_secs(60);
/// Longest a memory-probe child may take.
const PROBE_LIMIT: Duration = Duration::from_secs(120);
/// Time given to connections to settle before RSS is read.
const SETTLE: Duration = Duration::from_millis(500);

/// The first octet of a PUB/SUB message says what it is.
const WARM_UP: u8 = b'W';
const TIMED: u8 = b'T';
const END: u8 = b'E';

/// Longest any one case may take before the bench gives up on it (and on the run): a hang
/// must fail the run, not stall CI. Full-mode cases take well under a minute.
const CASE_LIMIT: Duration = Duration::from_secs(600);

/// Where the benchmarked sockets bind on TCP (a free port on loopback).
const TCP_ANY_PORT: &str = "tcp://127.0.0.1:*";

/// How long each mode runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Not under `cargo bench`: tiny counts, only checks that everything runs.
    Smoke,
    /// `-- --quick`: short runs, a smoke check for CI.
    Quick,
    /// `cargo bench`: the figures to quote.
    Full,
}

impl Mode {
    fn from_args(args: &[String]) -> Self {
        if args.iter().any(|arg| arg == "--quick") {
            Self::Quick
        } else if args.iter().any(|arg| arg == "--bench") {
            Self::Full
        } else {
            Self::Smoke
        }
    }

    /// Timed runs per case and library (after one warm-up run).
    fn runs(self) -> usize {
        match self {
            Self::Smoke => 1,
            Self::Quick => 5,
            Self::Full => 9,
        }
    }

    /// A case's count in this mode, from its quick-mode count.
    fn count(self, quick: usize) -> usize {
        match self {
            Self::Smoke => (quick / SMOKE_DIVISOR).max(2),
            Self::Quick => quick,
            Self::Full => quick * FULL_FACTOR,
        }
    }

    /// Idle peers attached in the memory probe.
    fn idle_peers(self) -> usize {
        match self {
            Self::Smoke => 20,
            _ => 1000,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The cases, as data.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Transport {
    Tcp,
    Ipc,
}

/// What a case measures.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// PUSH → PULL throughput, default HWMs.
    PushPull(Transport),
    /// PUB → SUB throughput, HWMs that drop nothing.
    PubSub,
    /// PUB → SUB blast under default HWMs: the delivered fraction.
    PubSubDefaultHwm,
    /// REQ ↔ REP round trips.
    ReqRep,
    /// One PUB, this many SUBs, HWMs that drop nothing.
    FanOut(usize),
    /// A plain TCP pair: the ceiling.
    Loopback,
    /// RSS per idle connection and peak RSS, in child processes.
    Memory,
    /// Two independent PUSH → PULL pairs, the application on plain threads, all sockets on
    /// one set of IO threads: first one IO thread, then two.
    IoThreads,
    /// PUSH → PULL throughput over TCP with CURVE (the PULL the server), default HWMs.
    CurvePushPull,
    /// REQ ↔ REP round trips over TCP with CURVE (the REP the server).
    CurveReqRep,
    /// New CURVE client connections to one CURVE server, one after another: handshakes/s.
    CurveHandshakes,
}

impl Kind {
    /// Whether the case runs CURVE (which libzmq, as built here, and zmq.rs lack).
    fn is_curve(self) -> bool {
        matches!(
            self,
            Self::CurvePushPull | Self::CurveReqRep | Self::CurveHandshakes
        )
    }
}

/// One case: what, at which message size, and how much of it per run in quick mode
/// (messages; round trips for REQ/REP; deliveries for fan-out; unused for memory).
struct Case {
    kind: Kind,
    size: usize,
    quick_count: usize,
}

impl Case {
    const fn new(kind: Kind, size: usize, quick_count: usize) -> Self {
        Self {
            kind,
            size,
            quick_count,
        }
    }

    /// The name filters match (with the label).
    fn key(&self) -> &'static str {
        match self.kind {
            Kind::PushPull(Transport::Tcp) => "push-pull",
            Kind::PushPull(Transport::Ipc) => "ipc",
            Kind::PubSub => "pub-sub",
            Kind::PubSubDefaultHwm => "pub-sub-loss",
            Kind::ReqRep => "req-rep",
            Kind::FanOut(_) => "fan-out",
            Kind::Loopback => "loopback",
            Kind::Memory => "memory",
            Kind::IoThreads => "io-threads",
            Kind::CurvePushPull => "curve-push-pull",
            Kind::CurveReqRep => "curve-req-rep",
            Kind::CurveHandshakes => "curve-handshakes",
        }
    }

    fn label(&self) -> String {
        let size = size_label(self.size);
        match self.kind {
            Kind::PushPull(Transport::Tcp) => format!("PUSH→PULL {size}"),
            Kind::PushPull(Transport::Ipc) => format!("PUSH→PULL ipc {size}"),
            Kind::PubSub => format!("PUB→SUB {size}"),
            Kind::PubSubDefaultHwm => format!("PUB→SUB {size} default HWM, delivered"),
            Kind::ReqRep => format!("REQ↔REP {size} round trip"),
            Kind::FanOut(subscribers) => format!("fan-out {size} → {subscribers} SUBs"),
            Kind::Loopback => "loopback limit (std TCP, 1 MiB writes)".to_owned(),
            Kind::Memory => "memory".to_owned(),
            Kind::IoThreads => format!("2 PUSH→PULL pairs {size}"),
            Kind::CurvePushPull => format!("CURVE PUSH→PULL {size}"),
            Kind::CurveReqRep => format!("CURVE REQ↔REP {size} round trip"),
            Kind::CurveHandshakes => "CURVE handshakes/s (new REQ, 1 round trip, close)".to_owned(),
        }
    }

    /// What derived rows look the case's row up by.
    fn source(&self) -> Option<(Kind, usize)> {
        Some((self.kind, self.size))
    }

    fn matches(&self, filter: &str) -> bool {
        self.key().contains(filter) || self.label().to_lowercase().contains(filter)
    }
}

/// Every case, in the order of the table. Quick counts make the fastest library's run last
/// roughly 0.1–0.3 s on a 2-core machine; larger messages get smaller counts.
const CASES: &[Case] = &[
    Case::new(Kind::PushPull(Transport::Tcp), 16, 1_200_000),
    Case::new(Kind::PushPull(Transport::Tcp), 256, 750_000),
    Case::new(Kind::PushPull(Transport::Tcp), 4 * KIB, 150_000),
    Case::new(Kind::PushPull(Transport::Tcp), 64 * KIB, 9_000),
    Case::new(Kind::PushPull(Transport::Tcp), MIB, COUNT_1MIB),
    // Right after the 1 MiB case, so both see the machine in the same state.
    Case::new(Kind::Loopback, MIB, COUNT_1MIB),
    Case::new(Kind::PubSub, 16, 1_200_000),
    Case::new(Kind::PubSub, 256, 750_000),
    Case::new(Kind::PubSub, 4 * KIB, 150_000),
    Case::new(Kind::PubSub, 64 * KIB, 9_000),
    Case::new(Kind::PubSub, MIB, COUNT_1MIB),
    Case::new(Kind::PubSubDefaultHwm, 16, 1_200_000),
    Case::new(Kind::PubSubDefaultHwm, 4 * KIB, 150_000),
    Case::new(Kind::ReqRep, 16, 4_000),
    Case::new(Kind::ReqRep, 4 * KIB, 4_000),
    Case::new(Kind::FanOut(10), FAN_OUT_SIZE, 750_000),
    Case::new(Kind::FanOut(100), FAN_OUT_SIZE, 750_000),
    Case::new(Kind::PushPull(Transport::Ipc), 16, 1_200_000),
    Case::new(Kind::PushPull(Transport::Ipc), 4 * KIB, 150_000),
    Case::new(Kind::PushPull(Transport::Ipc), 64 * KIB, 9_000),
    // Messages per pair and run (each run has one IO thread, then two).
    Case::new(Kind::IoThreads, 4 * KIB, IO_THREADS_COUNT),
    Case::new(Kind::CurvePushPull, 16, CURVE_16B_COUNT),
    Case::new(Kind::CurvePushPull, 64 * KIB, CURVE_64KIB_COUNT),
    Case::new(Kind::CurveReqRep, 16, 4_000),
    // Handshakes per run (its size: the round trip's request).
    Case::new(Kind::CurveHandshakes, 16, CURVE_HANDSHAKES),
    Case::new(Kind::Memory, 0, 0),
];

fn size_label(size: usize) -> String {
    if size >= MIB && size.is_multiple_of(MIB) {
        format!("{} MiB", size / MIB)
    } else if size >= KIB && size.is_multiple_of(KIB) {
        format!("{} KiB", size / KIB)
    } else {
        format!("{size} B")
    }
}

// ---------------------------------------------------------------------------------------
// The libraries.
// ---------------------------------------------------------------------------------------

/// The table's columns: ours twice (the application as tasks on smol's executor, then on
/// plain threads), then the three other libraries.
const COLUMNS: [&str; 5] = [
    "ours (tasks)",
    "ours (threads)",
    "libzmq",
    "zmq.rs",
    "omq.rs",
];
/// The columns of ours, each held to the goals.
const OURS: [usize; 2] = [0, 1];
/// The first column of another library: the goals compare ours with the best of the rest.
const FIRST_RIVAL: usize = 2;
/// What each column is called on the command line (and in `--memory-probe`).
const COLUMN_KEYS: [&str; 5] = ["ours-tasks", "ours-threads", "libzmq", "zmq.rs", "omq.rs"];

/// The columns a name given on the command line selects (none: not a library name).
fn columns_named(name: &str) -> &'static [usize] {
    match name.to_lowercase().as_str() {
        "ours" | "zmq-sansio" | "zmq_sansio" => &OURS,
        "ours-tasks" => &[0],
        "ours-threads" => &[1],
        "libzmq" | "zmq" => &[2],
        "zmq.rs" | "zmqrs" | "zeromq" => &[3],
        "omq.rs" | "omqrs" | "omq" | "omq-tokio" | "omq_tokio" => &[4],
        _ => &[],
    }
}

fn make_library(column: usize) -> Box<dyn Library> {
    match column {
        0 => Box::new(ours::Ours(ours::Placement::Executor)),
        1 => Box::new(ours::Ours(ours::Placement::Threads)),
        2 => Box::new(libzmq::Libzmq::new()),
        3 => Box::new(zmqrs::ZmqRs::new()),
        _ => Box::new(omqrs::OmqRs::new()),
    }
}

/// One library under test. Every method sets its sockets up, checks the connection with an
/// untimed message, times its run, and closes the sockets.
trait Library {
    /// Why this library cannot run cases of `kind` (the cell then shows "—" and the progress
    /// log the reason), or `None` when it can.
    fn lacks(&self, kind: Kind) -> Option<&'static str> {
        let _ = kind;
        None
    }
    /// Time to move `count` messages of `payload` from a PUSH to a PULL bound at `endpoint`
    /// ([`TCP_ANY_PORT`] or an `ipc://` path).
    fn push_pull(&mut self, endpoint: &str, payload: &Bytes, count: usize) -> Duration;
    /// One PUB → SUB run over TCP, following the marker protocol of [`publish`] and
    /// [`Tally`].
    fn pub_sub(&mut self, run: &PubSubRun, payload: &Bytes) -> Delivery;
    /// `rounds` REQ ↔ REP round trips over TCP, each timed.
    fn req_rep(&mut self, payload: &Bytes, rounds: usize) -> Vec<Duration>;
    /// Two independent PUSH → PULL pairs over TCP, all four sockets on `io_threads` IO
    /// threads, the application on plain threads (a sender and a receiver per pair): the
    /// time until both receivers have their `count` messages. Only called when
    /// [`lacks`](Library::lacks) says nothing for [`Kind::IoThreads`].
    fn io_thread_pairs(&mut self, io_threads: usize, payload: &Bytes, count: usize) -> Duration {
        let _ = (io_threads, payload, count);
        unreachable!("lacks(Kind::IoThreads) said why not")
    }
    /// [`push_pull`](Library::push_pull) over TCP with CURVE: the PULL bound as the CURVE
    /// server, the PUSH its client. Only called when [`lacks`](Library::lacks) says nothing
    /// for [`Kind::CurvePushPull`].
    fn curve_push_pull(&mut self, payload: &Bytes, count: usize) -> Duration {
        let _ = (payload, count);
        unreachable!("lacks(Kind::CurvePushPull) said why not")
    }
    /// [`req_rep`](Library::req_rep) with CURVE: the REP bound as the CURVE server, the REQ
    /// its client. Only called when [`lacks`](Library::lacks) says nothing for
    /// [`Kind::CurveReqRep`].
    fn curve_req_rep(&mut self, payload: &Bytes, rounds: usize) -> Vec<Duration> {
        let _ = (payload, rounds);
        unreachable!("lacks(Kind::CurveReqRep) said why not")
    }
    /// One CURVE REP server bound on TCP, then `count` CURVE REQ clients one after another,
    /// each a new socket that connects, makes one round trip with `payload` and closes: the
    /// time for all of them. Only called when [`lacks`](Library::lacks) says nothing for
    /// [`Kind::CurveHandshakes`].
    fn curve_handshakes(&mut self, payload: &Bytes, count: usize) -> Duration {
        let _ = (payload, count);
        unreachable!("lacks(Kind::CurveHandshakes) said why not")
    }
    /// A PUB bound on loopback TCP and its port; dropping the box closes it.
    fn idle_pub(&mut self) -> (u16, Box<dyn Any>);
}

/// An endpoint with "any port" spelt 0, as zmq.rs and omq.rs spell it.
fn port_zero(endpoint: &str) -> String {
    match endpoint.strip_suffix(":*") {
        Some(host) => format!("{host}:0"),
        None => endpoint.to_owned(),
    }
}

/// The port of a `tcp://host:port` endpoint.
fn port_of(endpoint: &str) -> u16 {
    let port = endpoint.rsplit(':').next().unwrap_or_default();
    port.parse()
        .unwrap_or_else(|_| panic!("no port in {endpoint:?}"))
}

/// A PUB/SUB run's shape.
#[derive(Clone, Copy)]
struct PubSubRun {
    subscribers: usize,
    /// Timed messages published (each goes to every subscriber).
    count: usize,
    /// Unlimited HWMs (no drops) or the defaults.
    unlimited_hwm: bool,
}

/// A job for [`timed_on_threads`]: it runs on a thread of its own and hands its sockets back.
type Job<T> = Box<dyn FnOnce() -> T + Send>;

/// Runs every job on a thread of its own, all released at once: the time from that start
/// until the last of `receivers` has returned, and what all jobs returned (receivers first).
fn timed_on_threads<T: Send + 'static>(
    receivers: Vec<Job<T>>,
    senders: Vec<Job<T>>,
) -> (Duration, Vec<T>) {
    let start = Arc::new(Barrier::new(receivers.len() + senders.len() + 1));
    let spawn = |job: Job<T>| {
        let start = Arc::clone(&start);
        thread::spawn(move || {
            start.wait();
            job()
        })
    };
    let receivers: Vec<_> = receivers.into_iter().map(spawn).collect();
    let senders: Vec<_> = senders.into_iter().map(spawn).collect();
    start.wait();
    let started = Instant::now();
    let mut results: Vec<T> = receivers
        .into_iter()
        .map(|thread| thread.join().unwrap_or_else(|panic| resume_unwind(panic)))
        .collect();
    let elapsed = started.elapsed();
    results.extend(
        senders
            .into_iter()
            .map(|thread| thread.join().unwrap_or_else(|panic| resume_unwind(panic))),
    );
    (elapsed, results)
}

/// What a library running on a tokio runtime does when that runtime stops answering.
#[derive(Debug)]
struct Wedged;

/// Runs `job` on a thread of its own and waits at most `limit` for it: a library whose
/// runtime wedges then fails its run (the thread is abandoned) instead of hanging the
/// bench. A panic in `job` is passed on.
fn abandonable<T: Send + 'static>(
    limit: Duration,
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Wedged> {
    let (done, result) = mpsc::channel();
    let driver = thread::spawn(move || {
        let _ = done.send(job());
    });
    match result.recv_timeout(limit) {
        Ok(value) => Ok(value),
        Err(mpsc::RecvTimeoutError::Disconnected) => match driver.join() {
            Err(panic) => resume_unwind(panic),
            Ok(()) => unreachable!("the driver sends before it ends"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => Err(Wedged),
    }
}

/// Longest one zmq.rs or omq.rs run may take before its runtime counts as wedged.
const WEDGED_AFTER: Duration = Duration::from_secs(120);

/// A tokio multi-thread runtime with two workers (one per core of the reference machine),
/// on which zmq.rs runs its sockets and the application's tasks.
struct TokioHost {
    runtime: tokio::runtime::Runtime,
}

impl TokioHost {
    fn new() -> Self {
        Self {
            runtime: Self::runtime(),
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    }

    /// The runtime's `block_on(fut)`, called from a thread the bench can abandon: a wedged
    /// runtime fails this run (and is replaced) instead of hanging the bench.
    fn block_on<T: Send + 'static>(&mut self, fut: impl Future<Output = T> + Send + 'static) -> T {
        let handle = self.runtime.handle().clone();
        match abandonable(WEDGED_AFTER, move || handle.block_on(fut)) {
            Ok(value) => value,
            Err(Wedged) => {
                std::mem::replace(&mut self.runtime, Self::runtime()).shutdown_background();
                panic!("no result within {WEDGED_AFTER:?}: its tokio workers are wedged");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The PUB/SUB protocol shared by the libraries.
// ---------------------------------------------------------------------------------------

/// What the publisher and the subscribers of one run share.
struct PubSubSync {
    subscribers: usize,
    /// Timed messages each subscriber should get.
    expected: usize,
    /// Subscribers that have seen a warm-up marker (so are subscribed).
    warmed: AtomicUsize,
    /// Subscribers that have stopped.
    finished: AtomicUsize,
}

impl PubSubSync {
    fn new(run: &PubSubRun) -> Arc<Self> {
        Arc::new(Self {
            subscribers: run.subscribers,
            expected: run.count,
            warmed: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
        })
    }

    fn all_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire) >= self.subscribers
    }
}

/// One subscriber's account of a run.
#[derive(Default)]
struct Tally {
    warmed: bool,
    timed: usize,
    finished_at: Option<Instant>,
}

impl Tally {
    /// Counts one message by its first octet.
    fn on_message(&mut self, tag: Option<u8>, sync: &PubSubSync) {
        match tag {
            Some(WARM_UP) if !self.warmed => {
                self.warmed = true;
                sync.warmed.fetch_add(1, Ordering::AcqRel);
            }
            Some(TIMED) => {
                self.timed += 1;
                if self.timed == sync.expected {
                    self.finish(sync);
                }
            }
            // Timed messages yet to come would have come before it: the rest was dropped.
            Some(END) => self.finish(sync),
            _ => {}
        }
    }

    fn finish(&mut self, sync: &PubSubSync) {
        if self.finished_at.is_none() {
            self.finished_at = Some(Instant::now());
            sync.finished.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn done(&self) -> bool {
        self.finished_at.is_some()
    }
}

/// The outcome of one PUB/SUB run, over all subscribers.
#[derive(Clone, Copy)]
struct Delivery {
    elapsed: Duration,
    delivered: usize,
    expected: usize,
}

impl Delivery {
    /// From the publisher's start of the timed messages to the last subscriber's finish.
    fn from_tallies(started: Instant, tallies: &[Tally], run: &PubSubRun) -> Self {
        let finished = tallies
            .iter()
            .filter_map(|tally| tally.finished_at)
            .max()
            .unwrap_or_else(Instant::now);
        Self {
            elapsed: finished.saturating_duration_since(started),
            delivered: tallies.iter().map(|tally| tally.timed).sum(),
            expected: run.count * run.subscribers,
        }
    }

    fn per_sec(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The sending side of a PUB, as [`publish`] needs it.
trait Publisher {
    /// Sends without waiting for subscribers (PUB never blocks).
    async fn publish(&mut self, message: Bytes);
    /// Waits a little between markers.
    async fn pause(&mut self);
}

/// The publisher's script: warm-up markers until every subscriber has one, the timed
/// messages, then end markers until every subscriber has stopped. Returns when the timed
/// messages started.
async fn publish(
    publisher: &mut impl Publisher,
    sync: &PubSubSync,
    payload: &Bytes,
    count: usize,
) -> Instant {
    let warm_up = Bytes::from_static(&[WARM_UP]);
    let deadline = Instant::now() + PATIENCE;
    while sync.warmed.load(Ordering::Acquire) < sync.subscribers {
        assert!(
            Instant::now() < deadline,
            "subscribers did not join within {PATIENCE:?}"
        );
        publisher.publish(warm_up.clone()).await;
        publisher.pause().await;
    }
    let started = Instant::now();
    for _ in 0..count {
        publisher.publish(payload.clone()).await;
    }
    let end = Bytes::from_static(&[END]);
    let deadline = Instant::now() + PATIENCE;
    while !sync.all_finished() && Instant::now() < deadline {
        publisher.publish(end.clone()).await;
        publisher.pause().await;
    }
    started
}

/// The security mechanism of a run's sockets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mechanism {
    Null,
    /// The bound socket is the CURVE server, the connecting one its client, with fresh
    /// long-term keys.
    Curve,
}

/// A payload of `size` octets whose first octet marks it as timed (PUSH/PULL and REQ/REP
/// do not care).
fn payload(size: usize) -> Bytes {
    let mut octets = vec![0x5A; size];
    if let Some(first) = octets.first_mut() {
        *first = TIMED;
    }
    Bytes::from(octets)
}

// ---------------------------------------------------------------------------------------
// This crate.
// ---------------------------------------------------------------------------------------

mod ours {
    use super::*;
    use futures::executor::block_on;
    use futures::future::join_all;
    use std::future::Future;
    use zmq_sansio::Msg;
    use zmq_sansio::io::{IoThreads, Socket, SocketBuilder};
    use zmq_sansio::proto::SocketType;
    use zmq_sansio::security::CurveKeyPair;

    /// Where the application side (senders, receivers, the echo) runs.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub enum Placement {
        /// As tasks on smol's global executor, where the crate's connection tasks run (its
        /// native runtime, as zmq.rs's tasks run on tokio): the "ours (tasks)" column.
        Executor,
        /// On plain threads of their own under `futures::executor::block_on`, as a program
        /// that does not use smol would run it: the "ours (threads)" column. Every wake-up
        /// crosses threads, as with libzmq's I/O thread.
        Threads,
    }

    pub struct Ours(pub Placement);

    impl Ours {
        /// Runs `future` to completion where the application side belongs; the calling
        /// thread waits.
        fn run<T: Send + 'static>(&self, future: impl Future<Output = T> + Send + 'static) -> T {
            self.start(future)()
        }

        /// Starts `future` where the application side belongs; the handle waits for it.
        fn start<T: Send + 'static>(
            &self,
            future: impl Future<Output = T> + Send + 'static,
        ) -> Box<dyn FnOnce() -> T> {
            match self.0 {
                Placement::Executor => {
                    let task = smol::spawn(future);
                    Box::new(move || block_on(task))
                }
                Placement::Threads => {
                    let thread = thread::spawn(move || block_on(future));
                    Box::new(move || thread.join().expect("application thread"))
                }
            }
        }

        /// [`Library::push_pull`] with its sockets secured by `mechanism`.
        fn push_pull_with(
            &self,
            endpoint: &str,
            payload: &Bytes,
            count: usize,
            mechanism: Mechanism,
        ) -> Duration {
            let (pull, push) = pair(SocketType::Pull, SocketType::Push, endpoint, mechanism);
            block_on(async {
                push.send(Msg::from(payload.clone())).await.expect("send");
                pull.recv().await.expect("recv");
            });
            let started = Instant::now();
            let payload = payload.clone();
            let sender = self.start(async move {
                for _ in 0..count {
                    // A `Bytes` clone: the payload is shared, not copied.
                    push.send(Msg::from(payload.clone())).await.expect("send");
                }
                push
            });
            let pull = self.run(async move {
                for _ in 0..count {
                    pull.recv().await.expect("recv");
                }
                pull
            });
            let elapsed = started.elapsed();
            close_all([sender(), pull]);
            elapsed
        }

        /// [`Library::req_rep`] with its sockets secured by `mechanism`.
        fn req_rep_with(
            &self,
            payload: &Bytes,
            rounds: usize,
            mechanism: Mechanism,
        ) -> Vec<Duration> {
            let (rep, req) = pair(SocketType::Rep, SocketType::Req, TCP_ANY_PORT, mechanism);
            let echo = self.start(async move {
                // One more for the untimed first round trip.
                for _ in 0..=rounds {
                    let request = rep.recv().await.expect("recv");
                    rep.send(request).await.expect("send");
                }
                rep
            });
            let payload = payload.clone();
            let (times, req) = self.run(async move {
                let mut times = Vec::with_capacity(rounds);
                for round in 0..=rounds {
                    let started = Instant::now();
                    req.send(Msg::from(payload.clone())).await.expect("send");
                    req.recv().await.expect("recv");
                    // Round 0 only checks the connection.
                    if round > 0 {
                        times.push(started.elapsed());
                    }
                }
                (times, req)
            });
            close_all([echo(), req]);
            times
        }
    }

    /// Sockets close at once when the run is over: everything sent has been received.
    fn builder(socket_type: SocketType) -> SocketBuilder {
        Socket::builder(socket_type).linger(Duration::ZERO)
    }

    fn socket(socket_type: SocketType) -> Socket {
        builder(socket_type).build().expect("valid options")
    }

    /// `a` bound at `endpoint`, `b` connected to it; with CURVE, `a` is the server.
    fn pair(
        a: SocketType,
        b: SocketType,
        endpoint: &str,
        mechanism: Mechanism,
    ) -> (Socket, Socket) {
        let (a, b) = match mechanism {
            Mechanism::Null => (socket(a), socket(b)),
            Mechanism::Curve => {
                let (server, client) = (CurveKeyPair::generate(), CurveKeyPair::generate());
                let a = builder(a).curve_server(server.secret().clone());
                let b = builder(b).curve_client(*server.public(), client);
                (a.build().expect("options"), b.build().expect("options"))
            }
        };
        let endpoint = a.bind(endpoint).expect("bind");
        b.connect(&endpoint).expect("connect");
        (a, b)
    }

    fn close_all(sockets: impl IntoIterator<Item = Socket>) {
        block_on(async {
            for socket in sockets {
                socket.close().await;
            }
        });
    }

    fn first_octet(msg: &Msg) -> Option<u8> {
        msg.first().and_then(|frame| frame.first().copied())
    }

    struct Pub(Socket);

    impl Publisher for Pub {
        async fn publish(&mut self, message: Bytes) {
            self.0.send(Msg::from(message)).await.expect("send");
        }

        async fn pause(&mut self) {
            // A timer, not a sleep: on the executor, a sleep would stall the connections.
            smol::Timer::after(MARKER_PAUSE).await;
        }
    }

    /// Receives on every subscriber at once (one future each, joined in one task) until
    /// all have stopped, or the time limit.
    async fn receive_all(
        subscribers: Vec<Socket>,
        sync: Arc<PubSubSync>,
    ) -> (Vec<Tally>, Vec<Socket>) {
        let mut tallies: Vec<Tally> = subscribers.iter().map(|_| Tally::default()).collect();
        let loops = subscribers
            .iter()
            .zip(&mut tallies)
            .map(|(subscriber, tally)| {
                let sync = &sync;
                async move {
                    while !tally.done() {
                        match subscriber.recv().await {
                            Ok(msg) => tally.on_message(first_octet(&msg), sync),
                            Err(_) => break,
                        }
                    }
                }
            });
        smol::future::or(
            async {
                join_all(loops).await;
            },
            async {
                smol::Timer::after(RECEIVE_LIMIT).await;
            },
        )
        .await;
        (tallies, subscribers)
    }

    impl Library for Ours {
        fn lacks(&self, kind: Kind) -> Option<&'static str> {
            match (kind, self.0) {
                (Kind::IoThreads, Placement::Executor) => {
                    Some("the IO-threads case runs the application on plain threads")
                }
                _ => None,
            }
        }

        fn push_pull(&mut self, endpoint: &str, payload: &Bytes, count: usize) -> Duration {
            self.push_pull_with(endpoint, payload, count, Mechanism::Null)
        }

        fn curve_push_pull(&mut self, payload: &Bytes, count: usize) -> Duration {
            self.push_pull_with(TCP_ANY_PORT, payload, count, Mechanism::Curve)
        }

        fn req_rep(&mut self, payload: &Bytes, rounds: usize) -> Vec<Duration> {
            self.req_rep_with(payload, rounds, Mechanism::Null)
        }

        fn curve_req_rep(&mut self, payload: &Bytes, rounds: usize) -> Vec<Duration> {
            self.req_rep_with(payload, rounds, Mechanism::Curve)
        }

        fn curve_handshakes(&mut self, payload: &Bytes, count: usize) -> Duration {
            let (server, client) = (CurveKeyPair::generate(), CurveKeyPair::generate());
            let rep = builder(SocketType::Rep)
                .curve_server(server.secret().clone())
                .build()
                .expect("options");
            let endpoint = rep.bind(TCP_ANY_PORT).expect("bind");
            let echo = self.start(async move {
                for _ in 0..count {
                    let request = rep.recv().await.expect("recv");
                    rep.send(request).await.expect("send");
                }
                rep
            });
            let (server_key, payload) = (*server.public(), payload.clone());
            let started = Instant::now();
            self.run(async move {
                for _ in 0..count {
                    let req = builder(SocketType::Req)
                        .curve_client(server_key, client.clone())
                        .build()
                        .expect("options");
                    req.connect(&endpoint).expect("connect");
                    req.send(Msg::from(payload.clone())).await.expect("send");
                    req.recv().await.expect("recv");
                    req.close().await;
                }
            });
            let elapsed = started.elapsed();
            close_all([echo()]);
            elapsed
        }

        fn pub_sub(&mut self, run: &PubSubRun, payload: &Bytes) -> Delivery {
            // 0 = unlimited.
            let hwm = |builder: SocketBuilder| {
                if run.unlimited_hwm {
                    builder.send_hwm(0).recv_hwm(0)
                } else {
                    builder
                }
            };
            let publisher = hwm(builder(SocketType::Pub)).build().expect("options");
            let endpoint = publisher.bind(TCP_ANY_PORT).expect("bind");
            let subscribers: Vec<Socket> = (0..run.subscribers)
                .map(|_| {
                    let subscriber = hwm(builder(SocketType::Sub).subscribe(""))
                        .build()
                        .expect("options");
                    subscriber.connect(&endpoint).expect("connect");
                    subscriber
                })
                .collect();
            let sync = PubSubSync::new(run);
            let sender = self.start({
                let (sync, payload, count) = (Arc::clone(&sync), payload.clone(), run.count);
                async move {
                    let mut publisher = Pub(publisher);
                    let started = publish(&mut publisher, &sync, &payload, count).await;
                    (publisher.0, started)
                }
            });
            let (tallies, subscribers) = self.run(receive_all(subscribers, Arc::clone(&sync)));
            let (publisher, started) = sender();
            close_all(subscribers.into_iter().chain([publisher]));
            Delivery::from_tallies(started, &tallies, run)
        }

        fn io_thread_pairs(
            &mut self,
            io_threads: usize,
            payload: &Bytes,
            count: usize,
        ) -> Duration {
            let io = IoThreads::new(io_threads);
            let socket = |socket_type| {
                builder(socket_type)
                    .runtime(io.clone())
                    .build()
                    .expect("valid options")
            };
            let mut receivers: Vec<Job<Socket>> = Vec::new();
            let mut senders: Vec<Job<Socket>> = Vec::new();
            for _ in 0..2 {
                let (pull, push) = (socket(SocketType::Pull), socket(SocketType::Push));
                push.connect(&pull.bind(TCP_ANY_PORT).expect("bind"))
                    .expect("connect");
                block_on(async {
                    push.send(Msg::from(payload.clone())).await.expect("send");
                    pull.recv().await.expect("recv");
                });
                let payload = payload.clone();
                senders.push(Box::new(move || {
                    block_on(async {
                        for _ in 0..count {
                            push.send(Msg::from(payload.clone())).await.expect("send");
                        }
                    });
                    push
                }));
                receivers.push(Box::new(move || {
                    block_on(async {
                        for _ in 0..count {
                            pull.recv().await.expect("recv");
                        }
                    });
                    pull
                }));
            }
            let (elapsed, sockets) = timed_on_threads(receivers, senders);
            close_all(sockets);
            elapsed
        }

        fn idle_pub(&mut self) -> (u16, Box<dyn Any>) {
            let publisher = socket(SocketType::Pub);
            let endpoint = publisher.bind(TCP_ANY_PORT).expect("bind");
            (port_of(&endpoint), Box::new(publisher))
        }
    }
}

// ---------------------------------------------------------------------------------------
// libzmq through the `zmq` crate: blocking calls, one context with one I/O thread.
// ---------------------------------------------------------------------------------------

mod libzmq {
    use super::*;

    pub struct Libzmq {
        context: zmq::Context,
    }

    impl Libzmq {
        pub fn new() -> Self {
            let context = zmq::Context::new();
            context.set_io_threads(1).expect("ZMQ_IO_THREADS");
            Self { context }
        }

        /// Closing drops queued messages at once (the default, forever, would hang the
        /// context's end if a run failed half-way).
        fn socket(&self, socket_type: zmq::SocketType) -> zmq::Socket {
            let socket = self.context.socket(socket_type).expect("socket");
            socket.set_linger(0).expect("ZMQ_LINGER");
            socket
        }

        /// `a` bound at `endpoint`, `b` connected (libzmq connects in the background).
        fn pair(
            &self,
            a: zmq::SocketType,
            b: zmq::SocketType,
            endpoint: &str,
        ) -> (zmq::Socket, zmq::Socket) {
            let a = self.socket(a);
            a.bind(endpoint).expect("bind");
            let endpoint = last_endpoint(&a);
            let b = self.socket(b);
            b.connect(&endpoint).expect("connect");
            (a, b)
        }
    }

    fn last_endpoint(socket: &zmq::Socket) -> String {
        socket
            .get_last_endpoint()
            .expect("ZMQ_LAST_ENDPOINT")
            .expect("UTF-8 endpoint")
    }

    struct Pub<'a>(&'a zmq::Socket);

    impl Publisher for Pub<'_> {
        async fn publish(&mut self, message: Bytes) {
            self.0.send(&message[..], 0).expect("send");
        }

        async fn pause(&mut self) {
            thread::sleep(MARKER_PAUSE);
        }
    }

    /// One subscriber: blocking receives (each gives up after the receive limit).
    fn receive_one(subscriber: &zmq::Socket, sync: &PubSubSync) -> Tally {
        let mut tally = Tally::default();
        let mut msg = zmq::Message::new();
        while !tally.done() && subscriber.recv(&mut msg, 0).is_ok() {
            tally.on_message(msg.first().copied(), sync);
        }
        tally
    }

    /// Many subscribers on this thread: `zmq_poll` over all, then drain each readable one.
    fn receive_polled(subscribers: &[zmq::Socket], sync: &PubSubSync) -> Vec<Tally> {
        let mut tallies: Vec<Tally> = subscribers.iter().map(|_| Tally::default()).collect();
        let mut items: Vec<zmq::PollItem> = subscribers
            .iter()
            .map(|subscriber| subscriber.as_poll_item(zmq::POLLIN))
            .collect();
        let mut msg = zmq::Message::new();
        let deadline = Instant::now() + RECEIVE_LIMIT;
        while !sync.all_finished() && Instant::now() < deadline {
            if zmq::poll(&mut items, 100).expect("zmq_poll") == 0 {
                continue;
            }
            for ((item, subscriber), tally) in items.iter().zip(subscribers).zip(&mut tallies) {
                if item.is_readable() {
                    while subscriber.recv(&mut msg, zmq::DONTWAIT).is_ok() {
                        tally.on_message(msg.first().copied(), sync);
                    }
                }
            }
        }
        tallies
    }

    impl Library for Libzmq {
        fn lacks(&self, kind: Kind) -> Option<&'static str> {
            kind.is_curve()
                .then_some("the zmq crate builds libzmq without CURVE (no libsodium)")
        }

        fn push_pull(&mut self, endpoint: &str, payload: &Bytes, count: usize) -> Duration {
            let (pull, push) = self.pair(zmq::PULL, zmq::PUSH, endpoint);
            let mut msg = zmq::Message::new();
            push.send(&payload[..], 0).expect("send");
            pull.recv(&mut msg, 0).expect("recv");
            let started = Instant::now();
            let payload = payload.clone();
            let sender = thread::spawn(move || {
                for _ in 0..count {
                    push.send(&payload[..], 0).expect("send");
                }
                // Closed only once all has arrived: with no linger, closing drops the queue.
                push
            });
            for _ in 0..count {
                pull.recv(&mut msg, 0).expect("recv");
            }
            let elapsed = started.elapsed();
            drop(sender.join().expect("sender"));
            elapsed
        }

        fn pub_sub(&mut self, run: &PubSubRun, payload: &Bytes) -> Delivery {
            let publisher = self.socket(zmq::PUB);
            if run.unlimited_hwm {
                publisher.set_sndhwm(0).expect("ZMQ_SNDHWM");
            }
            publisher.bind(TCP_ANY_PORT).expect("bind");
            let endpoint = last_endpoint(&publisher);
            let subscribers: Vec<zmq::Socket> = (0..run.subscribers)
                .map(|_| {
                    let subscriber = self.socket(zmq::SUB);
                    if run.unlimited_hwm {
                        subscriber.set_rcvhwm(0).expect("ZMQ_RCVHWM");
                    }
                    subscriber.set_subscribe(b"").expect("ZMQ_SUBSCRIBE");
                    let limit = RECEIVE_LIMIT.as_millis() as i32;
                    subscriber.set_rcvtimeo(limit).expect("ZMQ_RCVTIMEO");
                    subscriber.connect(&endpoint).expect("connect");
                    subscriber
                })
                .collect();
            let sync = PubSubSync::new(run);
            let sender = thread::spawn({
                let (sync, payload, count) = (Arc::clone(&sync), payload.clone(), run.count);
                move || {
                    let mut sending = Pub(&publisher);
                    let started =
                        futures::executor::block_on(publish(&mut sending, &sync, &payload, count));
                    (publisher, started)
                }
            });
            // One subscriber blocks in `recv` like the other cases; many share a poll.
            let tallies = match &subscribers[..] {
                [one] => vec![receive_one(one, &sync)],
                many => receive_polled(many, &sync),
            };
            let (_publisher, started) = sender.join().expect("publisher");
            Delivery::from_tallies(started, &tallies, run)
        }

        fn req_rep(&mut self, payload: &Bytes, rounds: usize) -> Vec<Duration> {
            let (rep, req) = self.pair(zmq::REP, zmq::REQ, TCP_ANY_PORT);
            let echo = thread::spawn(move || {
                let mut msg = zmq::Message::new();
                for _ in 0..=rounds {
                    rep.recv(&mut msg, 0).expect("recv");
                    rep.send(&msg[..], 0).expect("send");
                }
                // Closed by the caller, once the last reply has arrived.
                rep
            });
            let mut msg = zmq::Message::new();
            let mut round_trip = || {
                let started = Instant::now();
                req.send(&payload[..], 0).expect("send");
                req.recv(&mut msg, 0).expect("recv");
                started.elapsed()
            };
            round_trip();
            let times = (0..rounds).map(|_| round_trip()).collect();
            drop(echo.join().expect("echo"));
            times
        }

        fn io_thread_pairs(
            &mut self,
            io_threads: usize,
            payload: &Bytes,
            count: usize,
        ) -> Duration {
            let context = zmq::Context::new();
            context
                .set_io_threads(io_threads as i32)
                .expect("ZMQ_IO_THREADS");
            let libzmq = Self { context };
            let mut receivers: Vec<Job<zmq::Socket>> = Vec::new();
            let mut senders: Vec<Job<zmq::Socket>> = Vec::new();
            for _ in 0..2 {
                let (pull, push) = libzmq.pair(zmq::PULL, zmq::PUSH, TCP_ANY_PORT);
                push.send(&payload[..], 0).expect("send");
                pull.recv_msg(0).expect("recv");
                let payload = payload.clone();
                senders.push(Box::new(move || {
                    for _ in 0..count {
                        push.send(&payload[..], 0).expect("send");
                    }
                    push
                }));
                receivers.push(Box::new(move || {
                    let mut msg = zmq::Message::new();
                    for _ in 0..count {
                        pull.recv(&mut msg, 0).expect("recv");
                    }
                    pull
                }));
            }
            // The sockets close (dropping what is queued) once all has arrived.
            timed_on_threads(receivers, senders).0
        }

        fn idle_pub(&mut self) -> (u16, Box<dyn Any>) {
            let publisher = self.socket(zmq::PUB);
            publisher.bind(TCP_ANY_PORT).expect("bind");
            (port_of(&last_endpoint(&publisher)), Box::new(publisher))
        }
    }
}

// ---------------------------------------------------------------------------------------
// zmq.rs through the `zeromq` crate: tokio tasks on a two-worker runtime.
// ---------------------------------------------------------------------------------------

mod zmqrs {
    use super::*;
    use zeromq::{
        PubSocket, PullSocket, PushSocket, RepSocket, ReqSocket, Socket, SocketRecv, SocketSend,
        SubSocket, ZmqMessage,
    };

    /// Time given to subscriptions to reach a zmq.rs PUB before it publishes: zmq.rs 0.7's
    /// PUB takes a subscription with a blocking lock on a tokio worker while its fan-out task
    /// may wait for the same lock, which can wedge both workers for good.
    const SUBSCRIPTIONS_LAND: Duration = Duration::from_millis(100);
    pub struct ZmqRs {
        host: TokioHost,
    }

    impl ZmqRs {
        pub fn new() -> Self {
            Self {
                host: TokioHost::new(),
            }
        }

        fn block_on<T: Send + 'static>(
            &mut self,
            fut: impl Future<Output = T> + Send + 'static,
        ) -> T {
            self.host.block_on(fut)
        }
    }

    fn first_octet(message: &ZmqMessage) -> Option<u8> {
        message.get(0).and_then(|frame| frame.first().copied())
    }

    struct Pub<'a>(&'a mut PubSocket);

    impl Publisher for Pub<'_> {
        async fn publish(&mut self, message: Bytes) {
            self.0.send(ZmqMessage::from(message)).await.expect("send");
        }

        async fn pause(&mut self) {
            tokio::time::sleep(MARKER_PAUSE).await;
        }
    }

    /// One subscriber's task: receives until it stops, or the time limit.
    async fn receive(mut subscriber: SubSocket, sync: Arc<PubSubSync>) -> (Tally, SubSocket) {
        let mut tally = Tally::default();
        let receiving = async {
            while !tally.done() {
                match subscriber.recv().await {
                    Ok(message) => tally.on_message(first_octet(&message), &sync),
                    Err(_) => break,
                }
            }
        };
        let _ = tokio::time::timeout(RECEIVE_LIMIT, receiving).await;
        (tally, subscriber)
    }

    impl Library for ZmqRs {
        fn lacks(&self, kind: Kind) -> Option<&'static str> {
            match kind {
                Kind::IoThreads => {
                    Some("no IO threads of its own (its IO runs on tokio's workers)")
                }
                kind if kind.is_curve() => Some("no CURVE mechanism (NULL only)"),
                _ => None,
            }
        }

        fn push_pull(&mut self, endpoint: &str, payload: &Bytes, count: usize) -> Duration {
            let payload = payload.clone();
            let endpoint = port_zero(endpoint);
            self.block_on(async move {
                let mut pull = PullSocket::new();
                let endpoint = pull.bind(&endpoint).await.expect("bind");
                let mut push = PushSocket::new();
                push.connect(&endpoint.to_string()).await.expect("connect");
                push.send(ZmqMessage::from(payload.clone()))
                    .await
                    .expect("send");
                pull.recv().await.expect("recv");
                let started = Instant::now();
                let sender = tokio::spawn(async move {
                    for _ in 0..count {
                        push.send(ZmqMessage::from(payload.clone()))
                            .await
                            .expect("send");
                    }
                    push
                });
                for _ in 0..count {
                    pull.recv().await.expect("recv");
                }
                let elapsed = started.elapsed();
                sender.await.expect("sender").close().await;
                pull.close().await;
                elapsed
            })
        }

        fn pub_sub(&mut self, run: &PubSubRun, payload: &Bytes) -> Delivery {
            // zmq.rs has no HWM option: `run.unlimited_hwm` cannot be honoured (its PUB
            // queues hold 100,000 messages; SUBs read straight from the connection).
            let payload = payload.clone();
            let run = *run;
            self.block_on(async move {
                let mut publisher = PubSocket::new();
                let endpoint = publisher
                    .bind("tcp://127.0.0.1:0")
                    .await
                    .expect("bind")
                    .to_string();
                let sync = PubSubSync::new(&run);
                let mut receivers = Vec::with_capacity(run.subscribers);
                for _ in 0..run.subscribers {
                    let mut subscriber = SubSocket::new();
                    subscriber.subscribe("").await.expect("subscribe");
                    subscriber.connect(&endpoint).await.expect("connect");
                    receivers.push(tokio::spawn(receive(subscriber, Arc::clone(&sync))));
                }
                tokio::time::sleep(SUBSCRIPTIONS_LAND).await;
                let started = publish(&mut Pub(&mut publisher), &sync, &payload, run.count).await;
                let mut tallies = Vec::with_capacity(run.subscribers);
                for receiver in receivers {
                    let (tally, subscriber) = receiver.await.expect("subscriber");
                    subscriber.close().await;
                    tallies.push(tally);
                }
                publisher.close().await;
                Delivery::from_tallies(started, &tallies, &run)
            })
        }

        fn req_rep(&mut self, payload: &Bytes, rounds: usize) -> Vec<Duration> {
            let payload = payload.clone();
            self.block_on(async move {
                let mut rep = RepSocket::new();
                let endpoint = rep.bind("tcp://127.0.0.1:0").await.expect("bind");
                let mut req = ReqSocket::new();
                req.connect(&endpoint.to_string()).await.expect("connect");
                let echo = tokio::spawn(async move {
                    for _ in 0..=rounds {
                        let request = rep.recv().await.expect("recv");
                        rep.send(request).await.expect("send");
                    }
                    rep
                });
                let mut times = Vec::with_capacity(rounds);
                for round in 0..=rounds {
                    let started = Instant::now();
                    req.send(ZmqMessage::from(payload.clone()))
                        .await
                        .expect("send");
                    req.recv().await.expect("recv");
                    // Round 0 only checks the connection.
                    if round > 0 {
                        times.push(started.elapsed());
                    }
                }
                echo.await.expect("echo").close().await;
                req.close().await;
                times
            })
        }

        fn idle_pub(&mut self) -> (u16, Box<dyn Any>) {
            let (port, publisher) = self.block_on(async {
                // Made inside the runtime: its fan-out task is spawned on creation.
                let mut publisher = PubSocket::new();
                let endpoint = publisher.bind("tcp://127.0.0.1:0").await.expect("bind");
                (port_of(&endpoint.to_string()), publisher)
            });
            (port, Box::new(publisher))
        }
    }
}

// ---------------------------------------------------------------------------------------
// omq.rs through the `omq-tokio` crate: tokio tasks on omq.rs's own IO thread.
// ---------------------------------------------------------------------------------------

mod omqrs {
    use super::*;
    use omq_tokio::{
        Context, ContextConfig, CurveKeypair, Message, Options, Socket, SocketType, blocking,
    };

    pub struct OmqRs {
        /// omq.rs's own IO thread: a tokio `current_thread` runtime on a thread of the
        /// context's.
        context: Context,
    }

    impl OmqRs {
        pub fn new() -> Self {
            Self {
                context: Context::new(),
            }
        }

        /// `Context::block_on(fut)`: `fut` runs inline on the context's IO thread, so the
        /// sockets it makes with `Socket::new` run their drivers there too, and the tasks
        /// it spawns run beside them (as omq.rs's own benchmarks run). Called from a thread
        /// the bench can abandon: a wedged IO thread fails this run (and the context is
        /// replaced) instead of hanging the bench.
        fn block_on<T: Send + 'static>(
            &mut self,
            fut: impl Future<Output = T> + Send + 'static,
        ) -> T {
            let context = self.context.clone();
            match abandonable(WEDGED_AFTER, move || context.block_on(fut)) {
                Ok(value) => value,
                Err(Wedged) => {
                    // Not dropped: ending a context joins its IO thread, which is stuck.
                    std::mem::forget(std::mem::replace(&mut self.context, Context::new()));
                    panic!("no result within {WEDGED_AFTER:?}: its IO thread is wedged");
                }
            }
        }

        /// [`Library::push_pull`] with its sockets secured by `mechanism`.
        fn push_pull_with(
            &mut self,
            endpoint: &str,
            payload: &Bytes,
            count: usize,
            mechanism: Mechanism,
        ) -> Duration {
            let (server, client) = secured(mechanism);
            let message = Message::from(payload.clone());
            let endpoint = port_zero(endpoint);
            self.block_on(async move {
                let pull = Socket::new(SocketType::Pull, server);
                let endpoint = pull.bind(endpoint.as_str()).await.expect("bind");
                let push = Socket::new(SocketType::Push, client);
                push.connect(endpoint).await.expect("connect");
                push.send(message.clone()).await.expect("send");
                pull.recv().await.expect("recv");
                let started = Instant::now();
                let sender = tokio::spawn(async move {
                    for _ in 0..count {
                        // A clone of a prepared message, as omq.rs's own benchmarks send.
                        push.send(message.clone()).await.expect("send");
                    }
                    push
                });
                for _ in 0..count {
                    pull.recv().await.expect("recv");
                }
                let elapsed = started.elapsed();
                let _ = sender.await.expect("sender").close().await;
                let _ = pull.close().await;
                elapsed
            })
        }

        /// [`Library::req_rep`] with its sockets secured by `mechanism`.
        fn req_rep_with(
            &mut self,
            payload: &Bytes,
            rounds: usize,
            mechanism: Mechanism,
        ) -> Vec<Duration> {
            let (server, client) = secured(mechanism);
            let message = Message::from(payload.clone());
            self.block_on(async move {
                let rep = Socket::new(SocketType::Rep, server);
                let endpoint = rep.bind("tcp://127.0.0.1:0").await.expect("bind");
                let req = Socket::new(SocketType::Req, client);
                req.connect(endpoint).await.expect("connect");
                let echo = tokio::spawn(async move {
                    for _ in 0..=rounds {
                        let request = rep.recv().await.expect("recv");
                        rep.send(request).await.expect("send");
                    }
                    rep
                });
                let mut times = Vec::with_capacity(rounds);
                for round in 0..=rounds {
                    let started = Instant::now();
                    req.send(message.clone()).await.expect("send");
                    req.recv().await.expect("recv");
                    // Round 0 only checks the connection.
                    if round > 0 {
                        times.push(started.elapsed());
                    }
                }
                let _ = echo.await.expect("echo").close().await;
                let _ = req.close().await;
                times
            })
        }
    }

    /// Sockets drop what is queued when closed (omq.rs's default, said out loud).
    fn options() -> Options {
        Options::default().linger(Duration::ZERO)
    }

    /// The bound (server) side's and the connecting (client) side's options for
    /// `mechanism`.
    fn secured(mechanism: Mechanism) -> (Options, Options) {
        match mechanism {
            Mechanism::Null => (options(), options()),
            Mechanism::Curve => {
                let (server, client) = (CurveKeypair::generate(), CurveKeypair::generate());
                let server_public = server.public;
                (
                    options().curve_server(server),
                    options().curve_client(client, server_public),
                )
            }
        }
    }

    fn first_octet(message: &Message) -> Option<u8> {
        message.get(0).and_then(|frame| frame.first().copied())
    }

    struct Pub<'a>(&'a Socket);

    impl Publisher for Pub<'_> {
        async fn publish(&mut self, message: Bytes) {
            self.0.send(Message::from(message)).await.expect("send");
        }

        async fn pause(&mut self) {
            tokio::time::sleep(MARKER_PAUSE).await;
        }
    }

    /// One subscriber's task: receives until it stops, or the time limit.
    async fn receive(subscriber: Socket, sync: Arc<PubSubSync>) -> (Tally, Socket) {
        let mut tally = Tally::default();
        let receiving = async {
            while !tally.done() {
                match subscriber.recv().await {
                    Ok(message) => tally.on_message(first_octet(&message), &sync),
                    Err(_) => break,
                }
            }
        };
        let _ = tokio::time::timeout(RECEIVE_LIMIT, receiving).await;
        (tally, subscriber)
    }

    impl Library for OmqRs {
        fn push_pull(&mut self, endpoint: &str, payload: &Bytes, count: usize) -> Duration {
            self.push_pull_with(endpoint, payload, count, Mechanism::Null)
        }

        fn curve_push_pull(&mut self, payload: &Bytes, count: usize) -> Duration {
            self.push_pull_with(TCP_ANY_PORT, payload, count, Mechanism::Curve)
        }

        fn req_rep(&mut self, payload: &Bytes, rounds: usize) -> Vec<Duration> {
            self.req_rep_with(payload, rounds, Mechanism::Null)
        }

        fn curve_req_rep(&mut self, payload: &Bytes, rounds: usize) -> Vec<Duration> {
            self.req_rep_with(payload, rounds, Mechanism::Curve)
        }

        fn curve_handshakes(&mut self, payload: &Bytes, count: usize) -> Duration {
            let (server, client) = (CurveKeypair::generate(), CurveKeypair::generate());
            let server_public = server.public;
            let client_options = options().curve_client(client, server_public);
            let message = Message::from(payload.clone());
            self.block_on(async move {
                let rep = Socket::new(SocketType::Rep, options().curve_server(server));
                let endpoint = rep.bind("tcp://127.0.0.1:0").await.expect("bind");
                let echo = tokio::spawn(async move {
                    for _ in 0..count {
                        let request = rep.recv().await.expect("recv");
                        rep.send(request).await.expect("send");
                    }
                    rep
                });
                let started = Instant::now();
                for _ in 0..count {
                    let req = Socket::new(SocketType::Req, client_options.clone());
                    req.connect(endpoint.clone()).await.expect("connect");
                    req.send(message.clone()).await.expect("send");
                    req.recv().await.expect("recv");
                    let _ = req.close().await;
                }
                let elapsed = started.elapsed();
                let _ = echo.await.expect("echo").close().await;
                elapsed
            })
        }

        fn pub_sub(&mut self, run: &PubSubRun, payload: &Bytes) -> Delivery {
            let payload = payload.clone();
            let run = *run;
            self.block_on(async move {
                // omq.rs's no-drop PUB is `xpub_nodrop` (it waits for room); an HWM of 0
                // would mean a queue of one message, not an unlimited one.
                let publisher = Socket::new(
                    SocketType::Pub,
                    Options {
                        xpub_nodrop: run.unlimited_hwm,
                        ..options()
                    },
                );
                let endpoint = publisher.bind("tcp://127.0.0.1:0").await.expect("bind");
                let sync = PubSubSync::new(&run);
                let mut receivers = Vec::with_capacity(run.subscribers);
                for _ in 0..run.subscribers {
                    let subscriber = Socket::new(SocketType::Sub, options());
                    subscriber.subscribe("").await.expect("subscribe");
                    subscriber.connect(endpoint.clone()).await.expect("connect");
                    receivers.push(tokio::spawn(receive(subscriber, Arc::clone(&sync))));
                }
                let started = publish(&mut Pub(&publisher), &sync, &payload, run.count).await;
                let mut tallies = Vec::with_capacity(run.subscribers);
                for receiver in receivers {
                    let (tally, subscriber) = receiver.await.expect("subscriber");
                    let _ = subscriber.close().await;
                    tallies.push(tally);
                }
                let _ = publisher.close().await;
                Delivery::from_tallies(started, &tallies, &run)
            })
        }

        fn io_thread_pairs(
            &mut self,
            io_threads: usize,
            payload: &Bytes,
            count: usize,
        ) -> Duration {
            let message = Message::from(payload.clone());
            let run = move || {
                // omq.rs's IO threads: a context with `io_threads` of them, blocking sockets
                // for the application's plain threads.
                let context = Context::with_config(ContextConfig { io_threads });
                let mut receivers: Vec<Job<blocking::Socket>> = Vec::new();
                let mut senders: Vec<Job<blocking::Socket>> = Vec::new();
                for _ in 0..2 {
                    let pull = context.blocking_socket(SocketType::Pull, options());
                    let push = context.blocking_socket(SocketType::Push, options());
                    push.connect(pull.bind("tcp://127.0.0.1:0").expect("bind"))
                        .expect("connect");
                    push.send(message.clone()).expect("send");
                    pull.recv().expect("recv");
                    let message = message.clone();
                    senders.push(Box::new(move || {
                        for _ in 0..count {
                            push.send(message.clone()).expect("send");
                        }
                        push
                    }));
                    receivers.push(Box::new(move || {
                        for _ in 0..count {
                            pull.recv().expect("recv");
                        }
                        pull
                    }));
                }
                let (elapsed, sockets) = timed_on_threads(receivers, senders);
                for socket in sockets {
                    let _ = socket.close();
                }
                context.term();
                elapsed
            };
            abandonable(WEDGED_AFTER, run)
                .unwrap_or_else(|Wedged| panic!("no result within {WEDGED_AFTER:?}: wedged"))
        }

        fn idle_pub(&mut self) -> (u16, Box<dyn Any>) {
            let (port, publisher) = self.block_on(async {
                let publisher = Socket::new(SocketType::Pub, options());
                let endpoint = publisher.bind("tcp://127.0.0.1:0").await.expect("bind");
                (port_of(&endpoint.to_string()), publisher)
            });
            (port, Box::new(publisher))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Running the cases.
// ---------------------------------------------------------------------------------------

/// The selected libraries, by column (`None`: filtered out).
type Libraries = Vec<Option<Box<dyn Library>>>;

/// Why a cell has no figure although its column was selected.
#[derive(Clone, Debug)]
enum Missing {
    /// The library cannot run the case (shown "—"; the reason goes to the progress log).
    Lacks(String),
    /// It panicked or timed out (shown FAILED).
    Failed(String),
}

/// One column's result for a table cell: `None` when the column was filtered out.
type Cell<T> = Option<Result<T, Missing>>;

/// Runs `run` once as a warm-up (`true`) and then `runs` times for every library that can
/// run cases of `kind`, interleaving the libraries run by run; a panicking library is
/// marked failed and skipped afterwards.
fn sample<T>(
    libraries: &mut Libraries,
    kind: Kind,
    runs: usize,
    mut run: impl FnMut(&mut dyn Library, bool) -> T,
) -> Vec<Cell<Vec<T>>> {
    let mut samples: Vec<Cell<Vec<T>>> = libraries
        .iter()
        .map(|library| {
            library.as_ref().map(|library| match library.lacks(kind) {
                Some(reason) => Err(Missing::Lacks(reason.to_owned())),
                None => Ok(Vec::new()),
            })
        })
        .collect();
    for round in 0..=runs {
        let warm_up = round == 0;
        for (library, slot) in libraries.iter_mut().zip(&mut samples) {
            let (Some(library), Some(Ok(list))) = (library, slot.as_mut()) else {
                continue;
            };
            match catch_unwind(AssertUnwindSafe(|| run(library.as_mut(), warm_up))) {
                Ok(value) if !warm_up => list.push(value),
                Ok(_) => {}
                Err(panic) => *slot = Some(Err(Missing::Failed(panic_message(&*panic)))),
            }
        }
    }
    samples
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panicked".to_owned())
}

/// Applies `f` to every library's samples that are there.
fn map_cells<T, U>(cells: Vec<Cell<T>>, mut f: impl FnMut(T) -> U) -> Vec<Cell<U>> {
    cells
        .into_iter()
        .map(|cell| cell.map(|result| result.map(&mut f)))
        .collect()
}

fn median<T: Copy + PartialOrd>(samples: &[T]) -> T {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).expect("comparable"));
    sorted[sorted.len() / 2]
}

/// The warm-up count for a run of `count`.
fn warm_up_count(count: usize) -> usize {
    (count / 10).max(1)
}

/// Where the IPC cases bind: a fresh directory, removed when this is dropped.
struct IpcDir {
    path: PathBuf,
    next: AtomicUsize,
}

impl IpcDir {
    fn create() -> io::Result<Self> {
        let path = std::env::temp_dir().join(format!("zmq-compare-{}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(Self {
            path,
            next: AtomicUsize::new(0),
        })
    }

    /// A path nothing has bound yet.
    fn endpoint(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("ipc://{}/{n}.sock", self.path.display())
    }
}

impl Drop for IpcDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// What a case needs besides the libraries.
struct Setup<'a> {
    mode: Mode,
    ipc: &'a IpcDir,
}

/// Runs one case and turns its samples into table rows.
fn run_case(case: &Case, setup: &Setup, libraries: &mut Libraries) -> Vec<Row> {
    match case.kind {
        Kind::PushPull(transport) => vec![push_pull_row(case, setup, libraries, transport)],
        Kind::PubSub => vec![pub_sub_row(case, setup.mode, libraries, 1)],
        Kind::FanOut(subscribers) => vec![pub_sub_row(case, setup.mode, libraries, subscribers)],
        Kind::PubSubDefaultHwm => vec![default_hwm_row(case, setup.mode, libraries)],
        Kind::ReqRep => req_rep_rows(case, setup.mode, libraries),
        Kind::Loopback => vec![loopback_row(case, setup.mode)],
        Kind::Memory => memory_rows(libraries, setup.mode),
        Kind::IoThreads => io_threads_rows(case, setup.mode, libraries),
        Kind::CurvePushPull => vec![curve_push_pull_row(case, setup.mode, libraries)],
        Kind::CurveReqRep => req_rep_rows(case, setup.mode, libraries),
        Kind::CurveHandshakes => vec![curve_handshakes_row(case, setup.mode, libraries)],
    }
}

/// PUSH → PULL: the median rate of each library.
fn push_pull_row(
    case: &Case,
    setup: &Setup,
    libraries: &mut Libraries,
    transport: Transport,
) -> Row {
    let count = setup.mode.count(case.quick_count);
    let payload = payload(case.size);
    let samples = sample(
        libraries,
        case.kind,
        setup.mode.runs(),
        |library, warm_up| {
            let endpoint = match transport {
                Transport::Tcp => TCP_ANY_PORT.to_owned(),
                Transport::Ipc => setup.ipc.endpoint(),
            };
            let count = if warm_up { warm_up_count(count) } else { count };
            count as f64 / library.push_pull(&endpoint, &payload, count).as_secs_f64()
        },
    );
    let cells = map_cells(samples, |rates| throughput(median(&rates), case.size, None));
    let goal = match transport {
        Transport::Tcp if case.size <= 64 * KIB => Goal::beat_best(1.2),
        _ => Goal::default(),
    };
    Row::new(case.label(), case.source(), cells, Better::Higher, goal)
}

/// CURVE PUSH → PULL over TCP: the median rate of each library that has CURVE.
fn curve_push_pull_row(case: &Case, mode: Mode, libraries: &mut Libraries) -> Row {
    let count = mode.count(case.quick_count);
    let payload = payload(case.size);
    let samples = sample(libraries, case.kind, mode.runs(), |library, warm_up| {
        let count = if warm_up { warm_up_count(count) } else { count };
        count as f64 / library.curve_push_pull(&payload, count).as_secs_f64()
    });
    let cells = map_cells(samples, |rates| throughput(median(&rates), case.size, None));
    Row::new(
        case.label(),
        case.source(),
        cells,
        Better::Higher,
        Goal::beat_best(1.2),
    )
}

/// CURVE handshakes: the median rate of new connections, each with its round trip.
fn curve_handshakes_row(case: &Case, mode: Mode, libraries: &mut Libraries) -> Row {
    let count = mode.count(case.quick_count);
    let payload = payload(case.size);
    let samples = sample(libraries, case.kind, mode.runs(), |library, warm_up| {
        let count = if warm_up { warm_up_count(count) } else { count };
        count as f64 / library.curve_handshakes(&payload, count).as_secs_f64()
    });
    let cells = map_cells(samples, |rates| {
        let rate = median(&rates);
        Figure::new(rate, format!("{rate:.0} /s"))
    });
    Row::new(
        case.label(),
        case.source(),
        cells,
        Better::Higher,
        Goal::default(),
    )
}

/// PUB → SUB with HWMs that drop nothing, to one or many subscribers: the median rate of
/// deliveries, and the losses over all runs.
fn pub_sub_row(case: &Case, mode: Mode, libraries: &mut Libraries, subscribers: usize) -> Row {
    // Fan-out counts are deliveries: messages × subscribers.
    let messages = (mode.count(case.quick_count) / subscribers).max(1);
    let payload = payload(case.size);
    let deliveries = sample_pub_sub(
        libraries,
        case.kind,
        mode,
        subscribers,
        messages,
        true,
        &payload,
    );
    let cells = map_cells(deliveries, |runs| {
        let rates: Vec<f64> = runs.iter().map(Delivery::per_sec).collect();
        throughput(median(&rates), case.size, Some(total_loss(&runs)))
    });
    let goal = match case.kind {
        Kind::PubSub if case.size <= 64 * KIB => Goal::beat_best(1.2).lossless(),
        _ => Goal::default().lossless(),
    };
    Row::new(case.label(), case.source(), cells, Better::Higher, goal)
}

/// PUB → SUB under default HWMs: the fraction delivered over all runs.
fn default_hwm_row(case: &Case, mode: Mode, libraries: &mut Libraries) -> Row {
    let count = mode.count(case.quick_count);
    let deliveries = sample_pub_sub(
        libraries,
        case.kind,
        mode,
        1,
        count,
        false,
        &payload(case.size),
    );
    let cells = map_cells(deliveries, |runs| {
        let (delivered, expected) = total_loss(&runs);
        let fraction = delivered as f64 / expected as f64;
        Figure::new(fraction, format!("{:.1}% of {expected}", fraction * 100.0))
    });
    Row::informative(case, cells)
}

/// REQ ↔ REP: the median and 99th percentile of all timed round trips.
fn req_rep_rows(case: &Case, mode: Mode, libraries: &mut Libraries) -> Vec<Row> {
    let rounds = mode.count(case.quick_count);
    let payload = payload(case.size);
    let samples = sample(libraries, case.kind, mode.runs(), |library, warm_up| {
        let rounds = if warm_up {
            warm_up_count(rounds)
        } else {
            rounds
        };
        match case.kind {
            Kind::CurveReqRep => library.curve_req_rep(&payload, rounds),
            _ => library.req_rep(&payload, rounds),
        }
    });
    let pooled = map_cells(samples, |runs| {
        let mut all: Vec<Duration> = runs.into_iter().flatten().collect();
        all.sort();
        all
    });
    let percentile = |sorted: &Vec<Duration>, p: usize| {
        let rank = (sorted.len() * p / 100).min(sorted.len() - 1);
        let micros = sorted[rank].as_secs_f64() * 1e6;
        Figure::new(micros, format!("{micros:.1} µs"))
    };
    let medians = map_cells(pooled.clone(), |sorted| percentile(&sorted, 50));
    let p99s = map_cells(pooled, |sorted| percentile(&sorted, 99));
    let label = case.label();
    vec![
        Row::new(
            format!("{label}, median"),
            case.source(),
            medians,
            Better::Lower,
            Goal::beat_best(0.8),
        ),
        Row::new(
            format!("{label}, p99"),
            None,
            p99s,
            Better::Lower,
            Goal::default(),
        ),
    ]
}

/// The loopback limit: the same ceiling in every column. It is the fastest of twice as many
/// runs as the other cases get: a disturbance can only slow a transfer down, so the
/// fastest run is the closest to the ceiling (and the ratios to it are conservative).
fn loopback_row(case: &Case, mode: Mode) -> Row {
    let writes = mode.count(case.quick_count);
    let fastest = (0..=2 * mode.runs())
        .map(|_| loopback(case.size, writes))
        .min()
        .expect("at least one run");
    let bytes_per_sec = (writes * case.size) as f64 / fastest.as_secs_f64();
    let figure = Figure::new(bytes_per_sec, format!("{:.2} GB/s", bytes_per_sec / 1e9));
    let cells = vec![Some(Ok(figure)); COLUMNS.len()];
    Row::informative(case, cells)
}

/// Two PUSH → PULL pairs on one IO thread, then on two, in the same run (so a passing
/// disturbance hits both alike): the median aggregate rates, and how much the second IO
/// thread adds.
fn io_threads_rows(case: &Case, mode: Mode, libraries: &mut Libraries) -> Vec<Row> {
    let count = mode.count(case.quick_count);
    let payload = payload(case.size);
    let samples = sample(libraries, case.kind, mode.runs(), |library, warm_up| {
        let count = if warm_up { warm_up_count(count) } else { count };
        let mut rate = |io_threads| {
            let elapsed = library.io_thread_pairs(io_threads, &payload, count);
            (2 * count) as f64 / elapsed.as_secs_f64()
        };
        [rate(1), rate(2)]
    });
    let rates = |io_threads: usize| {
        map_cells(samples.clone(), |runs| {
            let rates: Vec<f64> = runs.iter().map(|run| run[io_threads - 1]).collect();
            throughput(median(&rates), case.size, None)
        })
    };
    let label = case.label();
    let one = Row::new(
        format!("{label}, 1 IO thread, total"),
        None,
        rates(1),
        Better::Higher,
        Goal::default(),
    );
    let two = Row::new(
        format!("{label}, 2 IO threads, total"),
        None,
        rates(2),
        Better::Higher,
        Goal::default(),
    );
    let mut scaling = fraction_row(&two, &one, 1.0, format!("{label}: 2 IO threads ÷ 1"));
    scaling.goal = Goal::at_least(1.7);
    vec![one, two, scaling]
}

/// Warm-up and timed PUB/SUB runs of every library.
fn sample_pub_sub(
    libraries: &mut Libraries,
    kind: Kind,
    mode: Mode,
    subscribers: usize,
    count: usize,
    unlimited_hwm: bool,
    payload: &Bytes,
) -> Vec<Cell<Vec<Delivery>>> {
    sample(libraries, kind, mode.runs(), |library, warm_up| {
        let count = if warm_up { warm_up_count(count) } else { count };
        let run = PubSubRun {
            subscribers,
            count,
            unlimited_hwm,
        };
        library.pub_sub(&run, payload)
    })
}

/// Delivered and expected over all runs.
fn total_loss(runs: &[Delivery]) -> (usize, usize) {
    runs.iter().fold((0, 0), |(delivered, expected), run| {
        (delivered + run.delivered, expected + run.expected)
    })
}

/// A throughput figure: messages/s and payload MB/s, with the losses if any.
fn throughput(per_sec: f64, size: usize, delivery: Option<(usize, usize)>) -> Figure {
    let rate = if per_sec >= 1e6 {
        format!("{:.2} M/s", per_sec / 1e6)
    } else {
        format!("{:.1} k/s", per_sec / 1e3)
    };
    let mut figure = Figure::new(
        per_sec,
        format!("{rate} {:.0} MB/s", per_sec * size as f64 / 1e6),
    );
    figure.lost = delivery.filter(|(delivered, expected)| delivered < expected);
    figure
}

/// Moves `writes` × `size` octets over a plain TCP pair on loopback, in `size` writes
/// and reads; returns the time from the writer's start to the reader's last octet.
fn loopback(size: usize, writes: usize) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let start = Arc::new(Barrier::new(2));
    let writer = thread::spawn({
        let start = Arc::clone(&start);
        move || {
            let mut stream = TcpStream::connect(address).expect("connect");
            let buffer = vec![0x5A; size];
            start.wait();
            for _ in 0..writes {
                stream.write_all(&buffer).expect("write");
            }
        }
    });
    let (mut stream, _) = listener.accept().expect("accept");
    let mut buffer = vec![0; size];
    let mut remaining = writes * size;
    start.wait();
    let started = Instant::now();
    while remaining > 0 {
        match stream.read(&mut buffer).expect("read") {
            0 => panic!("loopback writer stopped early"),
            n => remaining -= n,
        }
    }
    let elapsed = started.elapsed();
    writer.join().expect("writer");
    elapsed
}

// ---------------------------------------------------------------------------------------
// Memory, measured in child processes.
// ---------------------------------------------------------------------------------------

/// What a memory-probe child reports.
#[derive(Clone)]
struct Probe {
    /// RSS growth per idle peer.
    bytes_per_peer: f64,
    /// The child's peak RSS.
    peak_kib: u64,
}

/// Rows for the memory case: one child process per selected library. An idle PUB has no
/// application side, so both columns of ours show the same probe.
fn memory_rows(libraries: &Libraries, mode: Mode) -> Vec<Row> {
    let peers = mode.idle_peers();
    let mut probes: Vec<Cell<Probe>> = Vec::with_capacity(COLUMNS.len());
    for (column, library) in libraries.iter().enumerate() {
        let probe = library.as_ref().map(|_| match (column, probes.first()) {
            (1, Some(Some(tasks))) => tasks.clone(),
            _ => run_probe(column, peers).map_err(Missing::Failed),
        });
        probes.push(probe);
    }
    let per_peer = map_cells(probes.clone(), |probe| {
        let kib = probe.bytes_per_peer / 1024.0;
        Figure::new(probe.bytes_per_peer, format!("{kib:.1} KiB"))
    });
    let peaks = map_cells(probes, |probe| {
        let mib = probe.peak_kib as f64 / 1024.0;
        Figure::new(probe.peak_kib as f64, format!("{mib:.1} MiB"))
    });
    vec![
        Row::new(
            format!("memory per idle TCP peer ({peers} peers)"),
            Some((Kind::Memory, 0)),
            per_peer,
            Better::Lower,
            Goal::default(),
        ),
        Row::new(
            "peak RSS of that process".to_owned(),
            None,
            peaks,
            Better::Lower,
            Goal::default(),
        ),
    ]
}

/// Kills and reaps the child if it is still running when dropped (a hung probe).
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs this program again as a memory probe for one library and reads its report.
fn run_probe(library: usize, peers: usize) -> Result<Probe, String> {
    let exe = std::env::current_exe().map_err(|err| err.to_string())?;
    let child = Command::new(exe)
        .args(["--memory-probe", COLUMN_KEYS[library], &peers.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|err| format!("spawn: {err}"))?;
    let mut child = ChildGuard(child);
    let deadline = Instant::now() + PROBE_LIMIT;
    let status = loop {
        if let Some(status) = child.0.try_wait().map_err(|err| err.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            return Err(format!("no answer within {PROBE_LIMIT:?}"));
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut report = String::new();
    if let Some(mut stdout) = child.0.stdout.take() {
        stdout
            .read_to_string(&mut report)
            .map_err(|err| err.to_string())?;
    }
    if !status.success() {
        return Err(format!("probe exited with {status}"));
    }
    parse_probe(&report).ok_or_else(|| format!("unreadable probe report {report:?}"))
}

/// Reads `memory-probe bytes_per_peer=… peak_kib=…`.
fn parse_probe(report: &str) -> Option<Probe> {
    let line = report
        .lines()
        .find(|line| line.starts_with("memory-probe"))?;
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
    };
    Some(Probe {
        bytes_per_peer: field("bytes_per_peer")?.parse().ok()?,
        peak_kib: field("peak_kib")?.parse().ok()?,
    })
}

/// The child's side: bind a PUB, attach idle peers, print the report, exit.
fn memory_probe_main(args: &[String]) -> ! {
    let (Some(&index), Some(peers)) = (
        args.first().and_then(|name| columns_named(name).first()),
        args.get(1).and_then(|peers| peers.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: --memory-probe {} PEERS", COLUMN_KEYS.join("|"));
        std::process::exit(2);
    };
    match memory_probe(index, peers) {
        Ok(report) => {
            println!("{report}");
            // Exit at once: tearing down a thousand connections is not what we measure.
            std::process::exit(0);
        }
        Err(err) => {
            eprintln!("memory probe of {}: {err}", COLUMNS[index]);
            std::process::exit(1);
        }
    }
}

fn memory_probe(index: usize, peers: usize) -> io::Result<String> {
    let mut library = make_library(index);
    let (port, _publisher) = library.idle_pub();
    // A first peer, not counted, pays for whatever is set up once.
    let mut streams = vec![zmtp::idle_peer(port)?];
    thread::sleep(SETTLE);
    let before = status_kib("VmRSS:");
    for _ in 0..peers {
        streams.push(zmtp::idle_peer(port)?);
    }
    thread::sleep(SETTLE);
    let after = status_kib("VmRSS:");
    let bytes_per_peer = (after as f64 - before as f64) * 1024.0 / peers as f64;
    Ok(format!(
        "memory-probe bytes_per_peer={bytes_per_peer:.0} peak_kib={}",
        status_kib("VmHWM:")
    ))
}

/// A field of `/proc/self/status` in KiB (0 where there is none).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with(field))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// Just enough ZMTP 3.0 to be an idle SUB peer.
mod zmtp {
    use super::*;

    /// The 64-octet greeting: signature, version 3.0, mechanism NULL, as-server 0.
    fn greeting() -> [u8; 64] {
        let mut greeting = [0; 64];
        greeting[0] = 0xFF;
        greeting[9] = 0x7F;
        greeting[10] = 3;
        greeting[12..16].copy_from_slice(b"NULL");
        greeting
    }

    /// READY with the one property `Socket-Type: SUB`, as a short command frame.
    fn ready_sub() -> Vec<u8> {
        let mut body = vec![5];
        body.extend_from_slice(b"READY");
        body.push(11);
        body.extend_from_slice(b"Socket-Type");
        body.extend_from_slice(&3u32.to_be_bytes());
        body.extend_from_slice(b"SUB");
        let mut frame = vec![0x04, body.len() as u8];
        frame.extend_from_slice(&body);
        frame
    }

    /// One frame: its flags and body.
    fn read_frame(stream: &mut TcpStream) -> io::Result<(u8, Vec<u8>)> {
        let mut flags = [0];
        stream.read_exact(&mut flags)?;
        let size = if flags[0] & 0x02 != 0 {
            let mut size = [0; 8];
            stream.read_exact(&mut size)?;
            u64::from_be_bytes(size) as usize
        } else {
            let mut size = [0];
            stream.read_exact(&mut size)?;
            size[0] as usize
        };
        let mut body = vec![0; size];
        stream.read_exact(&mut body)?;
        Ok((flags[0], body))
    }

    /// Connects to the PUB at `port`, handshakes as a SUB (without subscribing), and
    /// returns once the PUB's READY has arrived.
    pub fn idle_peer(port: u16) -> io::Result<TcpStream> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.write_all(&greeting())?;
        stream.write_all(&ready_sub())?;
        let mut theirs = [0; 64];
        stream.read_exact(&mut theirs)?;
        if theirs[0] != 0xFF || theirs[9] != 0x7F || theirs[10] != 3 {
            return Err(io::Error::other("not a ZMTP 3 greeting"));
        }
        let (flags, body) = read_frame(&mut stream)?;
        if flags & 0x04 == 0 || !body.starts_with(b"\x05READY") {
            return Err(io::Error::other("expected READY"));
        }
        Ok(stream)
    }
}

// ---------------------------------------------------------------------------------------
// The table.
// ---------------------------------------------------------------------------------------

/// One library's result in one row.
#[derive(Clone)]
struct Figure {
    /// What ratios and goals compare.
    value: f64,
    /// What the table shows.
    text: String,
    /// Delivered and expected, when some messages were lost.
    lost: Option<(usize, usize)>,
}

impl Figure {
    fn new(value: f64, text: String) -> Self {
        Self {
            value,
            text,
            lost: None,
        }
    }

    fn shown(&self) -> String {
        match self.lost {
            Some((delivered, expected)) => format!(
                "{} LOST {} ({:.2}%)",
                self.text,
                expected - delivered,
                (expected - delivered) as f64 * 100.0 / expected as f64
            ),
            None => self.text.clone(),
        }
    }
}

/// Which way is better for ratios and goals.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Better {
    Higher,
    Lower,
    /// No ratio columns.
    None,
}

/// What ours should reach on a row; every part set must hold.
#[derive(Clone, Copy, Default)]
struct Goal {
    /// This many times the best of the other libraries (at least if higher is better, at most
    /// if lower is).
    beat_best: Option<f64>,
    /// At least this value.
    at_least: Option<f64>,
    /// No message lost.
    lossless: bool,
}

impl Goal {
    fn beat_best(factor: f64) -> Self {
        Self {
            beat_best: Some(factor),
            ..Self::default()
        }
    }

    fn at_least(value: f64) -> Self {
        Self {
            at_least: Some(value),
            ..Self::default()
        }
    }

    fn lossless(self) -> Self {
        Self {
            lossless: true,
            ..self
        }
    }

    fn is_set(&self) -> bool {
        self.beat_best.is_some() || self.at_least.is_some() || self.lossless
    }

    fn describe(&self, better: Better) -> String {
        let mut parts = Vec::new();
        if let Some(factor) = self.beat_best {
            let sign = if better == Better::Lower {
                '≤'
            } else {
                '≥'
            };
            parts.push(format!("{sign}{factor}× best"));
        }
        if let Some(value) = self.at_least {
            parts.push(format!("≥{value}"));
        }
        if self.lossless {
            parts.push("no loss".to_owned());
        }
        parts.join(", ")
    }
}

struct Row {
    label: String,
    /// The case (kind, size) that produced it, for the rows derived from others.
    source: Option<(Kind, usize)>,
    cells: Vec<Cell<Figure>>,
    better: Better,
    goal: Goal,
}

impl Row {
    fn new(
        label: String,
        source: Option<(Kind, usize)>,
        cells: Vec<Cell<Figure>>,
        better: Better,
        goal: Goal,
    ) -> Self {
        Self {
            label,
            source,
            cells,
            better,
            goal,
        }
    }

    /// A row that reports figures without ranking them or setting a goal.
    fn informative(case: &Case, cells: Vec<Cell<Figure>>) -> Self {
        Self::new(
            case.label(),
            case.source(),
            cells,
            Better::None,
            Goal::default(),
        )
    }

    fn value(&self, column: usize) -> Option<f64> {
        match self.cells.get(column) {
            Some(Some(Ok(figure))) => Some(figure.value),
            _ => None,
        }
    }

    fn shown(&self, column: usize) -> String {
        match &self.cells[column] {
            None | Some(Err(Missing::Lacks(_))) => "—".to_owned(),
            Some(Err(Missing::Failed(_))) => "FAILED".to_owned(),
            Some(Ok(figure)) => figure.shown(),
        }
    }

    /// The column of the best of the other libraries (highest or lowest, as the row ranks).
    fn best_rival(&self) -> Option<usize> {
        let rivals = (FIRST_RIVAL..COLUMNS.len())
            .filter_map(|column| Some((column, self.value(column)?)))
            .filter(|(_, value)| *value > 0.0);
        let best = match self.better {
            Better::None => return None,
            Better::Lower => rivals.min_by(|a, b| a.1.total_cmp(&b.1)),
            Better::Higher => rivals.max_by(|a, b| a.1.total_cmp(&b.1)),
        };
        best.map(|(column, _)| column)
    }

    /// The column of ours over the best of the other libraries.
    fn ratio_to_best(&self, ours: usize) -> Option<f64> {
        Some(self.value(ours)? / self.value(self.best_rival()?)?)
    }

    /// The best rival's name, for the table.
    fn best_shown(&self) -> String {
        self.best_rival()
            .map(|column| COLUMNS[column].to_owned())
            .unwrap_or_default()
    }

    /// Ours (the column `ours`) over the best of the others, for the table.
    fn ratio_shown(&self, ours: usize) -> String {
        match (self.better, self.ratio_to_best(ours)) {
            (Better::None, _) => String::new(),
            (_, Some(ratio)) => format!("{ratio:.2}×"),
            (_, None) => "—".to_owned(),
        }
    }

    /// Whether the column `ours` meets the row's goal: "yes"/"NO" and the figures that
    /// decide, "—" when the goal does not apply to it, "n/a" when it did not run.
    fn verdict(&self, ours: usize) -> String {
        if !self.goal.is_set() {
            return String::new();
        }
        let figure = match &self.cells[ours] {
            Some(Ok(figure)) => figure,
            Some(Err(Missing::Lacks(_))) => return "—".to_owned(),
            _ => return "n/a".to_owned(),
        };
        let mut met = true;
        let mut details = Vec::new();
        if let Some(factor) = self.goal.beat_best {
            match self.ratio_to_best(ours) {
                Some(ratio) => {
                    met &= match self.better {
                        Better::Lower => ratio <= factor,
                        _ => ratio >= factor,
                    };
                    details.push(format!("{ratio:.2}×"));
                }
                None => details.push("no rival".to_owned()),
            }
        }
        if let Some(minimum) = self.goal.at_least {
            met &= figure.value >= minimum;
            details.push(format!("{:.2}", figure.value));
        }
        if self.goal.lossless {
            let lossless = figure.lost.is_none();
            met &= lossless;
            details.push(if lossless { "no loss" } else { "lost" }.to_owned());
        }
        format!(
            "{} ({})",
            if met { "yes" } else { "NO" },
            details.join(", ")
        )
    }
}

/// A row of `numerator × scale ÷ denominator`, column by column; a cell missing from
/// either is missing from it (for the same reason).
fn fraction_row(numerator: &Row, denominator: &Row, scale: f64, label: String) -> Row {
    let cells = (0..COLUMNS.len())
        .map(|column| {
            let (top, bottom) = (&numerator.cells[column], &denominator.cells[column]);
            match (top, bottom) {
                (Some(Ok(top)), Some(Ok(bottom))) => {
                    let fraction = top.value * scale / bottom.value;
                    Some(Ok(Figure::new(fraction, format!("{fraction:.2}"))))
                }
                (Some(Err(missing)), _) | (_, Some(Err(missing))) => Some(Err(missing.clone())),
                _ => None,
            }
        })
        .collect();
    Row::new(label, None, cells, Better::Higher, Goal::default())
}

/// Rows computed from others: the fan-out scaling from 10 to 100 subscribers, and the
/// 1 MiB PUSH/PULL rates as fractions of the loopback limit.
fn add_derived_rows(rows: &mut Vec<Row>) {
    let find = |rows: &[Row], kind: Kind, size: usize| {
        rows.iter().position(|row| row.source == Some((kind, size)))
    };
    let fan_out = |n| find(rows, Kind::FanOut(n), FAN_OUT_SIZE);
    if let (Some(ten), Some(hundred)) = (fan_out(10), fan_out(100)) {
        let mut row = fraction_row(
            &rows[hundred],
            &rows[ten],
            1.0,
            "fan-out: rate at 100 SUBs ÷ at 10".to_owned(),
        );
        row.goal = Goal::at_least(0.8);
        rows.insert(hundred + 1, row);
    }
    let push_pull = find(rows, Kind::PushPull(Transport::Tcp), MIB);
    if let (Some(push_pull), Some(limit)) = (push_pull, find(rows, Kind::Loopback, MIB)) {
        let mut row = fraction_row(
            &rows[push_pull],
            &rows[limit],
            MIB as f64,
            "PUSH→PULL 1 MiB ÷ loopback limit".to_owned(),
        );
        row.better = Better::None;
        row.goal = Goal::at_least(0.9);
        rows.insert(limit + 1, row);
    }
}

/// Prints the rows as one aligned table, with its legend.
fn print_table(rows: &[Row]) {
    let mut header: Vec<String> = vec!["case".to_owned()];
    header.extend(COLUMNS.iter().map(|name| name.to_string()));
    header.extend(
        [
            "best other",
            "tasks ÷ best",
            "threads ÷ best",
            "goal (ours)",
        ]
        .map(String::from),
    );
    header.extend(["met (tasks)", "met (threads)"].map(String::from));
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let mut line = vec![row.label.clone()];
            line.extend((0..COLUMNS.len()).map(|column| row.shown(column)));
            line.push(row.best_shown());
            line.extend(OURS.map(|ours| row.ratio_shown(ours)));
            line.push(row.goal.describe(row.better));
            line.extend(OURS.map(|ours| row.verdict(ours)));
            line
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|column| {
            std::iter::once(&header)
                .chain(&lines)
                .map(|line| line[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let print_line = |line: &[String]| {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(column, (cell, &width))| match column {
                0 => format!("{cell:<width$}"),
                _ => format!("{cell:>width$}"),
            })
            .collect();
        println!("{}", cells.join(" | ").trim_end());
    };
    println!();
    print_line(&header);
    println!(
        "{}",
        "-".repeat(widths.iter().sum::<usize>() + 3 * (widths.len() - 1))
    );
    for line in &lines {
        print_line(line);
    }
    println!();
    println!(
        "Throughput: messages per second (k = 10^3, M = 10^6) and payload MB/s (10^6 octets);"
    );
    println!(
        "fan-out counts deliveries (one message to one subscriber). \"ours (tasks)\": the application"
    );
    println!("as tasks on smol's executor; \"ours (threads)\": on plain threads under block_on.");
    println!("\"best other\": the best of libzmq, zmq.rs and omq.rs on that row; \"÷ best\": ours");
    println!("÷ it: above 1 is better for throughput, below 1 for latency and memory. Each goal");
    println!(
        "applies to both columns of ours. LOST: timed messages that never arrived (all runs)."
    );
    println!("\"default HWM, delivered\": the fraction of all timed messages of all runs.");
    println!("\"—\": not run (filtered out, or the library lacks the case: see stderr);");
    println!("FAILED: see stderr. \"No-drop HWMs\": ours and libzmq 0 (unlimited); omq.rs");
    println!("xpub_nodrop (its PUB waits for room; an HWM of 0 is a one-message queue there);");
    println!("zmq.rs has no HWM option (its PUB queues hold 100,000 messages).");
    println!("CURVE rows: ours and omq.rs only (the zmq crate's libzmq is built without CURVE,");
    println!("zmq.rs has none); handshakes/s: new REQ clients one after another, each one round");
    println!("trip to one REP server, then closed.");
}

// ---------------------------------------------------------------------------------------
// Main.
// ---------------------------------------------------------------------------------------

/// What the arguments keep.
struct Selection {
    /// By column.
    libraries: [bool; COLUMNS.len()],
    case_filters: Vec<String>,
}

impl Selection {
    fn from_args(args: &[String]) -> Self {
        let mut libraries = [false; COLUMNS.len()];
        let mut case_filters = Vec::new();
        for arg in args.iter().filter(|arg| !arg.starts_with('-')) {
            match columns_named(arg) {
                [] => case_filters.push(arg.to_lowercase()),
                columns => columns.iter().for_each(|&column| libraries[column] = true),
            }
        }
        if libraries.iter().all(|&selected| !selected) {
            libraries = [true; COLUMNS.len()];
        }
        // The switch of old, when ours ran in one placement per run: now it only drops the
        // tasks column.
        if args.iter().any(|arg| arg == "--ours-on-threads") {
            libraries[0] = false;
        }
        Self {
            libraries,
            case_filters,
        }
    }

    fn keeps(&self, case: &Case) -> bool {
        self.case_filters.is_empty() || self.case_filters.iter().any(|f| case.matches(f))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|arg| arg == "--memory-probe") {
        memory_probe_main(&args[at + 1..]);
    }
    let started = Instant::now();
    let mode = Mode::from_args(&args);
    let selection = Selection::from_args(&args);
    let cases: Vec<&Case> = CASES.iter().filter(|case| selection.keeps(case)).collect();
    if cases.is_empty() {
        let names: Vec<&str> = CASES.iter().map(Case::key).collect();
        eprintln!(
            "no case matches {:?}; cases: {names:?}",
            selection.case_filters
        );
        return;
    }
    let mut libraries: Libraries = (0..COLUMNS.len())
        .map(|index| selection.libraries[index].then(|| make_library(index)))
        .collect();
    let ipc = IpcDir::create().expect("temporary directory for ipc://");
    let setup = Setup { mode, ipc: &ipc };
    eprintln!(
        "compare: {mode:?} mode, {} timed runs per case and library after a warm-up",
        mode.runs()
    );

    let mut rows = Vec::new();
    let watchdog = Watchdog::start();
    for (i, case) in cases.iter().enumerate() {
        let case_started = Instant::now();
        eprint!("[{}/{}] {} …", i + 1, cases.len(), case.label());
        watchdog.now_running(case.label());
        let case_rows = run_case(case, &setup, &mut libraries);
        eprintln!(" {:.1} s", case_started.elapsed().as_secs_f64());
        let mut told = Vec::new();
        for row in &case_rows {
            report_progress(row, &mut told);
        }
        rows.extend(case_rows);
    }
    drop(libraries);
    drop(ipc);

    add_derived_rows(&mut rows);
    print_table(&rows);
    if mode == Mode::Smoke {
        println!("Smoke mode (no --bench): tiny counts, the figures mean nothing.");
    }
    println!(
        "Peak RSS (VmHWM) of the main process, all libraries in turn: {:.1} MiB.",
        status_kib("VmHWM:") as f64 / 1024.0
    );
    println!(
        "Mode: {mode:?}, {} timed runs per case and library (median) after a warm-up; total time {:.1} s.",
        mode.runs(),
        started.elapsed().as_secs_f64()
    );
}

/// Ends the process with an error if one case runs longer than [`CASE_LIMIT`].
struct Watchdog {
    running: Arc<Mutex<(String, Instant)>>,
}

impl Watchdog {
    fn start() -> Self {
        let running = Arc::new(Mutex::new((String::new(), Instant::now())));
        let watched = Arc::clone(&running);
        thread::spawn(move || {
            loop {
                thread::sleep(Duration::from_secs(1));
                let (case, since) = &*watched.lock().unwrap_or_else(|e| e.into_inner());
                if since.elapsed() > CASE_LIMIT {
                    eprintln!("\ncompare: {case} did not finish within {CASE_LIMIT:?}; giving up");
                    std::process::exit(1);
                }
            }
        });
        Self { running }
    }

    fn now_running(&self, case: String) {
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) = (case, Instant::now());
    }
}

/// One row's figures (and failures) on stderr, as they come; what a library lacks is told
/// once per case (`told` keeps what has been).
fn report_progress(row: &Row, told: &mut Vec<String>) {
    let shown: Vec<String> = (0..COLUMNS.len()).map(|c| row.shown(c)).collect();
    if shown.iter().all(|text| *text == shown[0]) {
        // The same for all (the loopback limit).
        eprintln!("      {}: {}", row.label, shown[0]);
    } else {
        let figures: Vec<String> = (0..COLUMNS.len())
            .filter(|&column| row.cells[column].is_some())
            .map(|column| format!("{} {}", COLUMNS[column], shown[column]))
            .collect();
        eprintln!("      {}: {}", row.label, figures.join("; "));
    }
    for (column, cell) in row.cells.iter().enumerate() {
        match cell {
            Some(Err(Missing::Failed(err))) => eprintln!("      {} FAILED: {err}", COLUMNS[column]),
            Some(Err(Missing::Lacks(why))) => {
                let line = format!("      {} —: {why}", COLUMNS[column]);
                if !told.contains(&line) {
                    eprintln!("{line}");
                    told.push(line);
                }
            }
            _ => {}
        }
    }
}
