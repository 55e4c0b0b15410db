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
