//! REQ↔REP round trips by where the application waits, with inline IO on and off.
//!
//! `cargo bench --bench placement` runs one REQ and one REP (TCP loopback, 16 B) with the
//! application
//! - as tasks on smol's executor, where the connection tasks run (`tasks`);
//! - on two plain threads under `smol::block_on`, which drives async-io's reactor while it
//!   waits (`smol::block_on`);
//! - on two plain threads under `futures::executor::block_on`, which does not
//!   (`futures block_on`);
//! - on two plain threads with the blocking calls `Socket::send_blocking` and
//!   `Socket::recv_blocking` (`blocking calls`), as libzmq's users write it;
//!
//! each with [`SocketBuilder::inline_io`](zmq_sansio::io::SocketBuilder::inline_io) on
//! (the default for REQ and REP) and off, three interleaved runs each, and prints the
//! median and 99th percentile round trip of each run. Without `--bench` (as under
//! `cargo test --benches`) it makes a hundred round trips per run, as a smoke test.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zmq_sansio::io::Socket;
use zmq_sansio::proto::SocketType;

/// Where the application's two loops run.
#[derive(Debug, Clone, Copy)]
enum Placement {
    Tasks,
    SmolBlockOn,
    FuturesBlockOn,
    Blocking,
}

impl Placement {
    fn label(self) -> &'static str {
        match self {
            Self::Tasks => "tasks",
            Self::SmolBlockOn => "threads, smol::block_on",
            Self::FuturesBlockOn => "threads, futures block_on",
            Self::Blocking => "threads, blocking calls",
        }
    }

    /// Runs `fut` to its end, placed as `self` says.
    fn run(self, fut: Pin<Box<dyn Future<Output = ()> + Send>>) {
        match self {
            Self::Tasks => smol::block_on(smol::spawn(fut)),
            Self::SmolBlockOn => smol::block_on(fut),
            Self::FuturesBlockOn | Self::Blocking => futures::executor::block_on(fut),
        }
    }
}

/// Round trip times of `count` requests after a warm-up of a tenth as many.
fn round_trips(placement: Placement, inline: bool, count: usize) -> Vec<Duration> {
    let build = |socket_type| {
        Socket::builder(socket_type)
            .inline_io(inline)
            .build()
            .expect("a socket")
    };
    let rep = build(SocketType::Rep);
    let req = build(SocketType::Req);
    req.connect(&rep.bind("tcp://127.0.0.1:*").expect("a port"))
        .expect("connect");
    let warm_up = count / 10;
    if let Placement::Blocking = placement {
        return blocking_round_trips(req, rep, warm_up, count);
    }
    let replier = {
        let rep = rep.clone();
        std::thread::spawn(move || {
            placement.run(Box::pin(async move {
                for _ in 0..warm_up + count {
                    let request = rep.recv().await.expect("a request");
                    rep.send(request).await.expect("a reply sent");
                }
            }));
        })
    };
    let times = Arc::new(Mutex::new(Vec::with_capacity(count)));
    let recorded = Arc::clone(&times);
    let requester = req.clone();
    placement.run(Box::pin(async move {
        for i in 0..warm_up + count {
            let started = Instant::now();
            requester.send("0123456789abcdef").await.expect("sent");
            requester.recv().await.expect("a reply");
            if i >= warm_up {
                recorded.lock().expect("times").push(started.elapsed());
            }
        }
    }));
    replier.join().expect("the replier");
    smol::block_on(async {
        req.close().await;
        rep.close().await;
    });
    let mut times = std::mem::take(&mut *times.lock().expect("times"));
    times.sort();
    times
}

/// As [`round_trips`], with the blocking calls on two plain threads.
fn blocking_round_trips(req: Socket, rep: Socket, warm_up: usize, count: usize) -> Vec<Duration> {
    let replier = {
        let rep = rep.clone();
        std::thread::spawn(move || {
            for _ in 0..warm_up + count {
                let request = rep.recv_blocking().expect("a request");
                rep.send_blocking(request).expect("a reply sent");
            }
        })
    };
    let mut times = Vec::with_capacity(count);
    for i in 0..warm_up + count {
        let started = Instant::now();
        req.send_blocking("0123456789abcdef").expect("sent");
        req.recv_blocking().expect("a reply");
        if i >= warm_up {
            times.push(started.elapsed());
        }
    }
    replier.join().expect("the replier");
    smol::block_on(async {
        req.close().await;
        rep.close().await;
    });
    times.sort();
    times
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let count = if full { 20_000 } else { 100 };
    let placements = [
        Placement::Tasks,
        Placement::SmolBlockOn,
        Placement::FuturesBlockOn,
        Placement::Blocking,
    ];
    println!("REQ↔REP 16 B round trips over TCP loopback, {count} per run (µs)");
    println!(
        "{:<28} | {:<10} | {:>30} | {:>30}",
        "application", "inline IO", "medians of 3 runs", "p99 of 3 runs"
    );
    for placement in placements {
        let mut rows: [(Vec<f64>, Vec<f64>); 2] = Default::default();
        for _ in 0..3 {
            for (row, inline) in rows.iter_mut().zip([true, false]) {
                let times = round_trips(placement, inline, count);
                row.0.push(micros(times[times.len() / 2]));
                row.1.push(micros(times[times.len() * 99 / 100]));
            }
        }
        for ((medians, p99s), inline) in rows.iter().zip(["on", "off"]) {
            let show = |values: &[f64]| {
                values
                    .iter()
                    .map(|v| format!("{v:7.1}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            println!(
                "{:<28} | {:<10} | {:>30} | {:>30}",
                placement.label(),
                inline,
                show(medians),
                show(p99s)
            );
        }
    }
}
