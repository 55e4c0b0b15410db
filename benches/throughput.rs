//! End-to-end throughput and latency over TCP loopback: this crate, libzmq (the `zmq`
//! crate, libzmq 4.3.4 built from source) and zmq.rs (the `zeromq` crate, on tokio), each
//! talking to itself, side by side in one run.
//!
//! - PUSH → PULL throughput for 16 B, 1 KiB and 64 KiB messages: a sender thread (task for
//!   zmq.rs) sends a fixed count, the receiver times until the last one arrives.
//! - REQ ↔ REP round-trip latency for 16 B messages: an echoing REP on another thread.
//!
//! Each case runs a warm-up, then `RUNS` timed runs; the median is reported. Every library
//! runs with its defaults (HWM 1000, one I/O thread or executor thread for the
//! connections). This crate is measured twice: with the application threads on
//! `futures::executor::block_on` (the main figures), and on `smol::block_on`, which also
//! lets those threads drive async-io's reactor (more batching, more thread hops).
//!
//! Run with `cargo bench --bench throughput` (under a minute). Arguments that do not start
//! with `-` keep only the libraries so named (as in the table's header); the environment
//! variable `THROUGHPUT_SCALE=n` divides every message count by `n` (for profiling).
//! Without `--bench` (as in `cargo test --benches`) every count is divided by 1000: a
//! smoke test.

use std::future::Future;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Timed runs per case; the median is reported.
const RUNS: usize = 3;

/// A throughput case: message size and how many to send per run.
struct Case {
    label: &'static str,
    size: usize,
    count: usize,
}

const CASES: [Case; 3] = [
    Case {
        label: "16 B",
        size: 16,
        count: 200_000,
    },
    Case {
        label: "1 KiB",
        size: 1024,
        count: 100_000,
    },
    Case {
        label: "64 KiB",
        size: 64 * 1024,
        count: 10_000,
    },
];

/// Round trips per latency run.
const ROUND_TRIPS: usize = 10_000;
const LATENCY_SIZE: usize = 16;

/// One library under test: a PUSH→PULL run and a REQ↔REP run, each timed.
trait Library {
    fn name(&self) -> &'static str;
    /// Time to move `count` messages of `payload` from PUSH to PULL.
    fn push_pull(&mut self, payload: &Bytes, count: usize) -> Duration;
    /// Time for `rounds` request/reply round trips of `payload`.
    fn req_rep(&mut self, payload: &Bytes, rounds: usize) -> Duration;
}

// ---------------------------------------------------------------------------------------
// This crate.
// ---------------------------------------------------------------------------------------

mod ours {
    use super::*;
    use zmq_sansio::Msg;
    use zmq_sansio::io::Socket;
    use zmq_sansio::proto::SocketType;

    /// What the application threads (sender, receiver, echo) run their futures on.
    #[derive(Clone, Copy)]
    pub enum AppExecutor {
        Futures,
        Smol,
    }

    impl AppExecutor {
        fn block_on<T>(self, future: impl Future<Output = T>) -> T {
            match self {
                Self::Futures => futures::executor::block_on(future),
                Self::Smol => smol::block_on(future),
            }
        }
    }

    pub struct Ours(pub AppExecutor);

    /// `a` bound, `b` connected, both handshaken.
    fn pair(a: SocketType, b: SocketType) -> (Socket, Socket) {
        let (a, b) = (Socket::new(a), Socket::new(b));
        let endpoint = a.bind("tcp://127.0.0.1:*").unwrap();
        b.connect(&endpoint).unwrap();
        futures::executor::block_on(async {
            a.wait_for_peers(1).await;
            b.wait_for_peers(1).await;
        });
        (a, b)
    }

    /// Closes both sockets after the timed region, once each side is done with them.
    fn close_all(sockets: [Socket; 2]) {
        futures::executor::block_on(async {
            for socket in sockets {
                socket.close().await;
            }
        });
    }

    impl Library for Ours {
        fn name(&self) -> &'static str {
            match self.0 {
                AppExecutor::Futures => "zmq-sansio",
                AppExecutor::Smol => "zmq-sansio (smol)",
            }
        }

        fn push_pull(&mut self, payload: &Bytes, count: usize) -> Duration {
            let (pull, push) = pair(SocketType::Pull, SocketType::Push);
            let started = Instant::now();
            let payload = payload.clone();
            let app = self.0;
            let sender = thread::spawn(move || {
                app.block_on(async {
                    for _ in 0..count {
                        // A `Bytes` clone: the payload is shared, not copied.
                        push.send(Msg::from(payload.clone())).await.unwrap();
                    }
                });
                push
            });
            app.block_on(async {
                for _ in 0..count {
                    pull.recv().await.unwrap();
                }
            });
            let elapsed = started.elapsed();
            close_all([sender.join().unwrap(), pull]);
            elapsed
        }

        fn req_rep(&mut self, payload: &Bytes, rounds: usize) -> Duration {
            let (rep, req) = pair(SocketType::Rep, SocketType::Req);
            let app = self.0;
            let echo = thread::spawn(move || {
                app.block_on(async {
                    for _ in 0..rounds {
                        let request = rep.recv().await.unwrap();
                        rep.send(request).await.unwrap();
                    }
                });
                rep
            });
            let started = Instant::now();
            app.block_on(async {
                for _ in 0..rounds {
                    req.send(Msg::from(payload.clone())).await.unwrap();
                    req.recv().await.unwrap();
                }
            });
            let elapsed = started.elapsed();
            close_all([echo.join().unwrap(), req]);
            elapsed
        }
    }
}

// ---------------------------------------------------------------------------------------
// libzmq through the `zmq` crate (blocking API, one context with one I/O thread).
// ---------------------------------------------------------------------------------------

mod libzmq {
    use super::*;

    pub struct Libzmq {
        pub context: zmq::Context,
    }

    impl Libzmq {
        /// `a` bound, `b` connected (libzmq connects in the background).
        fn pair(&self, a: zmq::SocketType, b: zmq::SocketType) -> (zmq::Socket, zmq::Socket) {
            let a = self.context.socket(a).unwrap();
            a.bind("tcp://127.0.0.1:*").unwrap();
            let endpoint = a.get_last_endpoint().unwrap().unwrap();
            let b = self.context.socket(b).unwrap();
            b.connect(&endpoint).unwrap();
            (a, b)
        }
    }

    impl Library for Libzmq {
        fn name(&self) -> &'static str {
            "libzmq"
        }

        fn push_pull(&mut self, payload: &Bytes, count: usize) -> Duration {
            let (pull, push) = self.pair(zmq::PULL, zmq::PUSH);
            let started = Instant::now();
            let payload = payload.clone();
            let sender = thread::spawn(move || {
                for _ in 0..count {
                    push.send(&payload[..], 0).unwrap();
                }
            });
            let mut msg = zmq::Message::new();
            for _ in 0..count {
                pull.recv(&mut msg, 0).unwrap();
            }
            let elapsed = started.elapsed();
            sender.join().unwrap();
            elapsed
        }

        fn req_rep(&mut self, payload: &Bytes, rounds: usize) -> Duration {
            let (rep, req) = self.pair(zmq::REP, zmq::REQ);
            let echo = thread::spawn(move || {
                let mut msg = zmq::Message::new();
                for _ in 0..rounds {
                    rep.recv(&mut msg, 0).unwrap();
                    rep.send(&msg[..], 0).unwrap();
                }
            });
            let started = Instant::now();
            let mut msg = zmq::Message::new();
            for _ in 0..rounds {
                req.send(&payload[..], 0).unwrap();
                req.recv(&mut msg, 0).unwrap();
            }
            let elapsed = started.elapsed();
            echo.join().unwrap();
            elapsed
        }
    }
}

// ---------------------------------------------------------------------------------------
// zmq.rs through the `zeromq` crate (tokio runtime).
// ---------------------------------------------------------------------------------------

mod zmqrs {
    use super::*;
    use zeromq::{Socket, SocketRecv, SocketSend, ZmqMessage};

    pub struct ZmqRs {
        pub runtime: tokio::runtime::Runtime,
    }

    impl Library for ZmqRs {
        fn name(&self) -> &'static str {
            "zmq.rs"
        }

        fn push_pull(&mut self, payload: &Bytes, count: usize) -> Duration {
            let payload = payload.clone();
            self.runtime.block_on(async move {
                let mut pull = zeromq::PullSocket::new();
                let endpoint = pull.bind("tcp://127.0.0.1:0").await.unwrap();
                let mut push = zeromq::PushSocket::new();
                push.connect(&endpoint.to_string()).await.unwrap();
                let started = Instant::now();
                let sender = tokio::spawn(async move {
                    for _ in 0..count {
                        push.send(ZmqMessage::from(payload.clone())).await.unwrap();
                    }
                    push
                });
                for _ in 0..count {
                    pull.recv().await.unwrap();
                }
                let elapsed = started.elapsed();
                let push = sender.await.unwrap();
                push.close().await;
                pull.close().await;
                elapsed
            })
        }

        fn req_rep(&mut self, payload: &Bytes, rounds: usize) -> Duration {
            let payload = payload.clone();
            self.runtime.block_on(async move {
                let mut rep = zeromq::RepSocket::new();
                let endpoint = rep.bind("tcp://127.0.0.1:0").await.unwrap();
                let mut req = zeromq::ReqSocket::new();
                req.connect(&endpoint.to_string()).await.unwrap();
                let echo = tokio::spawn(async move {
                    for _ in 0..rounds {
                        let request = rep.recv().await.unwrap();
                        rep.send(request).await.unwrap();
                    }
                    rep
                });
                let started = Instant::now();
                for _ in 0..rounds {
                    req.send(ZmqMessage::from(payload.clone())).await.unwrap();
                    req.recv().await.unwrap();
                }
                let elapsed = started.elapsed();
                echo.await.unwrap().close().await;
                req.close().await;
                elapsed
            })
        }
    }
}

// ---------------------------------------------------------------------------------------
// Measuring and reporting.
// ---------------------------------------------------------------------------------------

/// The results of one library: per throughput case, messages per second; then the
/// round-trip latency.
struct Results {
    name: &'static str,
    msgs_per_sec: Vec<f64>,
    round_trip: Duration,
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Warm-up, then the median of `RUNS` timed runs of every case.
fn measure(lib: &mut dyn Library, scale: usize) -> Results {
    let started = Instant::now();
    eprint!("{:>18}:", lib.name());
    let mut msgs_per_sec = Vec::new();
    for case in &CASES {
        let payload = Bytes::from(vec![0x5A; case.size]);
        let count = (case.count / scale).max(1);
        lib.push_pull(&payload, (count / 10).max(1));
        let runs = (0..RUNS).map(|_| lib.push_pull(&payload, count)).collect();
        let rate = count as f64 / median(runs).as_secs_f64();
        eprint!(" {} {:.0} msg/s;", case.label, rate);
        msgs_per_sec.push(rate);
    }
    let payload = Bytes::from(vec![0x5A; LATENCY_SIZE]);
    let rounds = (ROUND_TRIPS / scale).max(1);
    lib.req_rep(&payload, (rounds / 10).max(1));
    let runs = (0..RUNS).map(|_| lib.req_rep(&payload, rounds)).collect();
    let round_trip = median(runs) / rounds as u32;
    eprintln!(
        " RTT {:.1} µs ({:.1} s)",
        micros(round_trip),
        started.elapsed().as_secs_f64()
    );
    Results {
        name: lib.name(),
        msgs_per_sec,
        round_trip,
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// One row per case; the first result is ours, compared with the two others.
fn print_table(ours: &Results, ours_smol: &Results, libzmq: &Results, zmqrs: &Results) {
    let columns = [ours, ours_smol, libzmq, zmqrs];
    println!();
    print!("{:<24}", "case");
    for result in columns {
        print!(" | {:>21}", result.name);
    }
    println!(" | {:>11} | {:>11}", "ours/libzmq", "ours/zmq.rs");
    println!("{}", "-".repeat(24 + 4 * 24 + 2 * 14));
    for (i, case) in CASES.iter().enumerate() {
        print!("{:<24}", format!("PUSH→PULL {}", case.label));
        for result in columns {
            let rate = result.msgs_per_sec[i];
            let megabytes = rate * case.size as f64 / 1e6;
            print!(" | {:>6.3} M/s {:>5.0} MB/s", rate / 1e6, megabytes);
        }
        let ours = ours.msgs_per_sec[i];
        println!(
            " | {:>10.2}x | {:>10.2}x",
            ours / libzmq.msgs_per_sec[i],
            ours / zmqrs.msgs_per_sec[i]
        );
    }
    print!("{:<24}", format!("REQ↔REP {LATENCY_SIZE} B round trip"));
    for result in columns {
        print!(" | {:>18.1} µs", micros(result.round_trip));
    }
    println!(
        " | {:>10.2}x | {:>10.2}x",
        ours.round_trip.as_secs_f64() / libzmq.round_trip.as_secs_f64(),
        ours.round_trip.as_secs_f64() / zmqrs.round_trip.as_secs_f64()
    );
    println!();
    println!("Throughput: messages (M = 10^6) and payload MB (10^6 octets) per second.");
    println!("Ratios use the first column: above 1 is better for throughput, below 1 for");
    println!("latency. \"(smol)\": application threads on smol::block_on instead of");
    println!("futures::executor::block_on.");
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (cargo test --benches) is a smoke run.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|arg| arg == "--bench");
    let filters: Vec<&String> = args.iter().filter(|arg| !arg.starts_with('-')).collect();
    let scale = std::env::var("THROUGHPUT_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if full { 1 } else { 1000 });

    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut libraries: Vec<Box<dyn Library>> = vec![
        Box::new(ours::Ours(ours::AppExecutor::Futures)),
        Box::new(ours::Ours(ours::AppExecutor::Smol)),
        Box::new(libzmq::Libzmq {
            context: zmq::Context::new(),
        }),
        Box::new(zmqrs::ZmqRs { runtime }),
    ];
    libraries.retain(|lib| filters.is_empty() || filters.iter().any(|f| lib.name() == f.as_str()));
    let results: Vec<Results> = libraries
        .iter_mut()
        .map(|lib| measure(lib.as_mut(), scale))
        .collect();
    if let [ours, ours_smol, libzmq, zmqrs] = &results[..] {
        print_table(ours, ours_smol, libzmq, zmqrs);
    }
    println!("total bench time: {:.1} s", started.elapsed().as_secs_f64());
}
