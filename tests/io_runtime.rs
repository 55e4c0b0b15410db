//! The executor seam: everything a socket runs in the background goes through the runtime
//! it was built with.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use zmq_sansio::io::{Runtime, SmolRuntime, Socket, Task, Timer};
use zmq_sansio::proto::SocketType;

/// smol's runtime, counting what it is asked for.
#[derive(Debug, Default)]
struct Spy {
    spawned: AtomicUsize,
    timers: AtomicUsize,
    clock_reads: AtomicUsize,
}

impl Runtime for Spy {
    fn spawn(&self, task: Task) {
        self.spawned.fetch_add(1, SeqCst);
        SmolRuntime.spawn(task);
    }

    fn timer(&self, deadline: Instant) -> Pin<Box<dyn Timer>> {
        self.timers.fetch_add(1, SeqCst);
        SmolRuntime.timer(deadline)
    }

    fn now(&self) -> Instant {
        self.clock_reads.fetch_add(1, SeqCst);
        Instant::now()
    }
}

#[test]
fn tasks_timers_and_time_come_from_the_runtime() {
    let spy = Arc::new(Spy::default());
    let socket = |kind| {
        Socket::builder(kind)
            .runtime(spy.clone())
            .heartbeat(Duration::from_secs(1), Duration::from_secs(3))
            .linger(Duration::from_millis(100))
            .build()
            .unwrap()
    };
    let before = zmq_sansio::io::live_tasks();
    smol::block_on(async {
        let rep = socket(SocketType::Rep);
        let req = socket(SocketType::Req);
        req.connect(&rep.bind("tcp://127.0.0.1:*").unwrap())
            .unwrap();
        req.send("ping").await.unwrap();
        let request = rep.recv_timeout(Duration::from_secs(10)).await.unwrap();
        rep.send(request).await.unwrap();
        assert_eq!(req.recv().await.unwrap().frames()[0], "ping");
        req.close().await;
        rep.close().await;
    });
    // The listener, the connector (which drives its own connection) and the accepted
    // connection's driver.
    assert!(spy.spawned.load(SeqCst) >= 3, "{spy:?}");
    // Heartbeats and the receive timeout armed timers; connections read the clock.
    assert!(spy.timers.load(SeqCst) >= 3, "{spy:?}");
    assert!(spy.clock_reads.load(SeqCst) > 0, "{spy:?}");
    assert_eq!(zmq_sansio::io::live_tasks(), before, "every task ended");
}

/// `IoThreads` runs tasks on threads of its own and gives each new task to the thread with
/// the fewest: four long-lived tasks on two threads, two each.
#[test]
fn io_threads_spread_tasks_over_their_threads() {
    use zmq_sansio::io::IoThreads;
    let io = IoThreads::new(2);
    assert_eq!(io.threads(), 2);
    let (names, arrived) = smol::channel::unbounded::<String>();
    let (release, released) = smol::channel::bounded::<()>(1);
    for _ in 0..4 {
        let (names, released) = (names.clone(), released.clone());
        io.spawn(Box::pin(async move {
            let name = std::thread::current().name().unwrap_or("?").to_owned();
            names.send(name).await.unwrap();
            let _ = released.recv().await; // stays alive (and counted) until released
        }));
    }
    let mut seen: Vec<String> = smol::block_on(async {
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(arrived.recv().await.unwrap());
        }
        seen
    });
    seen.sort();
    assert_eq!(
        seen,
        [
            "zmq-sansio-io-0",
            "zmq-sansio-io-0",
            "zmq-sansio-io-1",
            "zmq-sansio-io-1"
        ]
    );
    release.close();
}

/// `IoThreads::pinned` puts every task on the thread it names, whatever the load.
#[test]
fn pinned_io_threads_keep_their_tasks_on_one_thread() {
    use zmq_sansio::io::IoThreads;
    let io = IoThreads::new(2);
    let second = io.pinned(1);
    let (names, arrived) = smol::channel::unbounded::<String>();
    for _ in 0..3 {
        let names = names.clone();
        second.spawn(Box::pin(async move {
            let name = std::thread::current().name().unwrap_or("?").to_owned();
            names.send(name).await.unwrap();
        }));
    }
    let seen: Vec<String> = (0..3)
        .map(|_| smol::block_on(arrived.recv()).unwrap())
        .collect();
    assert_eq!(seen, ["zmq-sansio-io-1"; 3]);
    // Indices wrap around the number of threads.
    let (names, arrived) = smol::channel::unbounded::<String>();
    io.pinned(4).spawn(Box::pin(async move {
        let name = std::thread::current().name().unwrap_or("?").to_owned();
        names.send(name).await.unwrap();
    }));
    assert_eq!(smol::block_on(arrived.recv()).unwrap(), "zmq-sansio-io-0");
}
