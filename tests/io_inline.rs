//! Inline IO (`SocketBuilder::inline_io`, on by default for REQ and REP): `send` and
//! `recv` read and write their connections themselves.
//!
//! The proof is a stopped executor: once connected, the sockets' connection tasks get no
//! more turns, yet round trips from plain threads go on (with futures and with the
//! blocking calls), because the callers do the reading and writing; with inline IO off,
//! the same request is never answered.

mod support;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use support::bounded;
use zmq_sansio::Msg;
use zmq_sansio::io::{Error, ExecutorRuntime, Socket};
use zmq_sansio::proto::SocketType;

/// An executor run by a thread of its own until told to stop.
struct Paused {
    executor: Arc<smol::Executor<'static>>,
    stop: Option<smol::channel::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Paused {
    fn start() -> Self {
        let executor = Arc::new(smol::Executor::new());
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let runner = Arc::clone(&executor);
        let thread = std::thread::spawn(move || {
            let _ = smol::block_on(runner.run(stopped.recv()));
        });
        Self {
            executor,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// From now on, nothing spawned on the executor runs.
    fn pause(&mut self) {
        drop(self.stop.take());
        self.thread
            .take()
            .expect("running")
            .join()
            .expect("the executor thread");
    }

    /// Runs the executor (its connection tasks included) on this thread until `fut` ends.
    fn run_until<T>(&self, what: &str, fut: impl std::future::Future<Output = T>) -> T {
        bounded(what, self.executor.run(fut))
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.pause();
        }
    }
}

/// A socket of `bound` bound on loopback and one of `connecting` connected to it, both on
/// `paused`'s executor.
fn bound_and_connected(
    paused: &Paused,
    bound: SocketType,
    connecting: SocketType,
    inline: bool,
) -> (Socket, Socket) {
    let runtime = ExecutorRuntime::new(Arc::clone(&paused.executor));
    let build = |socket_type| {
        Socket::builder(socket_type)
            .runtime(runtime.clone())
            .inline_io(inline)
            .build()
            .unwrap()
    };
    let (binder, connector) = (build(bound), build(connecting));
    connector
        .connect(&binder.bind("tcp://127.0.0.1:*").unwrap())
        .unwrap();
    (binder, connector)
}

/// A REQ and a REP on `paused`'s executor, connected, after one round trip with it running.
fn connected_pair(paused: &Paused, inline: bool) -> (Socket, Socket) {
    let (rep, req) = bound_and_connected(paused, SocketType::Rep, SocketType::Req, inline);
    bounded("the first round trip", async {
        req.send("hello").await.unwrap();
        let request = rep.recv().await.unwrap();
        rep.send(request).await.unwrap();
        req.recv().await.unwrap();
    });
    (req, rep)
}

/// How the application waits in a round trip.
#[derive(Clone, Copy)]
enum Calls {
    /// `send`/`recv` futures under a `block_on`.
    Futures,
    /// `send_blocking`/`recv_blocking`.
    Blocking,
}

impl Calls {
    fn send(self, socket: &Socket, msg: Msg) {
        match self {
            Self::Futures => bounded("a message sent", socket.send(msg)).unwrap(),
            Self::Blocking => socket.send_blocking(msg).unwrap(),
        }
    }

    fn recv(self, socket: &Socket) -> Msg {
        match self {
            Self::Futures => bounded("a message", socket.recv()).unwrap(),
            Self::Blocking => socket.recv_blocking().unwrap(),
        }
    }
}

/// A thousand round trips from plain threads with the connection tasks stopped.
fn round_trips_with_the_tasks_stopped(calls: Calls) {
    let mut paused = Paused::start();
    let (req, rep) = connected_pair(&paused, true);
    paused.pause();

    let server = {
        let rep = rep.clone();
        std::thread::spawn(move || {
            for _ in 0..1000 {
                let request = calls.recv(&rep);
                let mut reply = request.frames()[0].to_vec();
                reply.reverse();
                calls.send(&rep, Msg::from(reply));
            }
        })
    };
    for n in 0..1000u32 {
        let text = format!("request {n}");
        calls.send(&req, Msg::from(text.clone()));
        let reply = calls.recv(&req);
        let mut want = text.into_bytes();
        want.reverse();
        assert_eq!(reply.frames()[0], want, "reply {n}");
    }
    server.join().expect("the replier");

    // Closing needs the connection tasks again.
    paused.run_until("closing", async {
        req.close().await;
        rep.close().await;
    });
}

#[test]
fn round_trips_go_on_with_the_connection_tasks_stopped() {
    round_trips_with_the_tasks_stopped(Calls::Futures);
}

#[test]
fn blocking_calls_round_trip_with_the_connection_tasks_stopped() {
    round_trips_with_the_tasks_stopped(Calls::Blocking);
}

#[test]
fn without_inline_io_the_connection_tasks_do_the_work() {
    let mut paused = Paused::start();
    let (req, rep) = connected_pair(&paused, false);
    paused.pause();

    bounded("a request queued", req.send("unheard")).unwrap();
    let waited = bounded(
        "the replier's timeout",
        rep.recv_timeout(Duration::from_millis(300)),
    );
    assert!(
        matches!(waited, Err(Error::Timeout(_))),
        "with no connection task running, nothing can arrive: {waited:?}"
    );

    // Once the tasks run again, the queued request goes through.
    paused.run_until("the delayed round trip", async {
        let request = rep.recv().await.unwrap();
        assert_eq!(request.frames()[0], "unheard");
        rep.send(request).await.unwrap();
        req.recv().await.unwrap();
        req.close().await;
        rep.close().await;
    });
}

#[test]
fn streaming_sockets_can_ask_for_inline_io() {
    let mut paused = Paused::start();
    let (router, dealer) =
        bound_and_connected(&paused, SocketType::Router, SocketType::Dealer, true);
    let id = bounded("the first message", async {
        dealer.send("hello").await.unwrap();
        router.recv().await.unwrap().frames()[0].clone()
    });
    paused.pause();

    // A burst each way, with no connection task running: the callers move every octet.
    for n in 0..200u32 {
        bounded("a burst sent", dealer.send(n.to_be_bytes().to_vec())).unwrap();
    }
    for n in 0..200u32 {
        let msg = bounded("a burst received", router.recv()).unwrap();
        assert_eq!(msg.frames()[0], id);
        assert_eq!(
            msg.frames()[1],
            n.to_be_bytes().to_vec(),
            "message {n} in order"
        );
        bounded(
            "an answer sent",
            router.send(Msg::from_frames([id.clone(), msg.frames()[1].clone()])),
        )
        .unwrap();
    }
    for n in 0..200u32 {
        let msg = bounded("an answer", dealer.recv()).unwrap();
        assert_eq!(
            msg.frames()[0],
            n.to_be_bytes().to_vec(),
            "answer {n} in order"
        );
    }
    paused.run_until("closing", async {
        dealer.close().await;
        router.close().await;
    });
}

#[test]
fn a_blocking_recv_times_out_and_ends_when_the_socket_closes() {
    let rep = Socket::builder(SocketType::Rep)
        .recv_timeout(Some(Duration::from_millis(200)))
        .build()
        .unwrap();
    let endpoint = rep.bind("tcp://127.0.0.1:*").unwrap();
    let req = Socket::new(SocketType::Req);
    req.connect(&endpoint).unwrap();
    // Connected, so the wait is in the thread's epoll on the connection.
    bounded("a first round trip", async {
        req.send("hello").await.unwrap();
        rep.send(rep.recv().await.unwrap()).await.unwrap();
        req.recv().await.unwrap();
    });
    let started = std::time::Instant::now();
    let waited = rep.recv_blocking();
    assert!(matches!(waited, Err(Error::Timeout(_))), "{waited:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "never early"
    );

    // Without a timeout, closing the socket from another thread ends the wait (or, if the
    // close comes first, the wait ends at once): never a hang.
    bounded("a request sent", req.send("never answered")).unwrap();
    let waiting = {
        let req = req.clone();
        std::thread::spawn(move || req.recv_blocking())
    };
    bounded("closing", req.close());
    let ended = waiting.join().expect("the waiting thread");
    assert!(matches!(ended, Err(Error::Closed)), "{ended:?}");
    bounded("closing", rep.close());
}

#[test]
fn blocking_calls_work_without_inline_io() {
    let pull = Socket::new(SocketType::Pull);
    let push = Socket::new(SocketType::Push);
    push.connect(&pull.bind("tcp://127.0.0.1:*").unwrap())
        .unwrap();
    let sender = std::thread::spawn(move || {
        for n in 0..500u32 {
            push.send_blocking(n.to_be_bytes().to_vec()).unwrap();
        }
        push
    });
    for n in 0..500u32 {
        let msg = pull.recv_blocking().unwrap();
        assert_eq!(msg.frames()[0], n.to_be_bytes().to_vec(), "message {n}");
    }
    let push = sender.join().expect("the sender");
    bounded("closing", async {
        push.close().await;
        pull.close().await;
    });
}
