//! Our `io::Socket` against libzmq 4.3 (the `zmq` crate builds it from source), over
//! loopback TCP: every pattern, in both directions, with each side binding in turn, our
//! sockets on every executor the io layer supports.

mod support;

use std::time::Duration;

use bytes::Bytes;
use support::{Binder, End, Link, PATIENCE, Peer, Peers, runtimes};
use zmq_sansio::Msg;
use zmq_sansio::proto::SocketType;

/// Opens libzmq sockets in one context.
struct Libzmq {
    ctx: zmq::Context,
}

impl Libzmq {
    fn new() -> Self {
        Self {
            ctx: zmq::Context::new(),
        }
    }
}

struct LibzmqPeer {
    socket: zmq::Socket,
    kind: SocketType,
    endpoint: String,
}

fn zmq_type(kind: SocketType) -> zmq::SocketType {
    match kind {
        SocketType::Pair => zmq::PAIR,
        SocketType::Pub => zmq::PUB,
        SocketType::Sub => zmq::SUB,
        SocketType::Req => zmq::REQ,
        SocketType::Rep => zmq::REP,
        SocketType::Dealer => zmq::DEALER,
        SocketType::Router => zmq::ROUTER,
        SocketType::Pull => zmq::PULL,
        SocketType::Push => zmq::PUSH,
        other => panic!("no libzmq peer for {other:?} in these tests"),
    }
}

impl Peers for Libzmq {
    fn open(
        &mut self,
        kind: SocketType,
        link: Link<'_>,
        routing_id: Option<&[u8]>,
    ) -> Box<dyn Peer> {
        let socket = self.ctx.socket(zmq_type(kind)).expect("libzmq socket");
        socket.set_linger(0).unwrap();
        // A send that cannot proceed fails instead of blocking the test forever.
        socket.set_sndtimeo(PATIENCE.as_millis() as i32).unwrap();
        if let Some(id) = routing_id {
            socket.set_identity(id).unwrap();
        }
        let endpoint = match link {
            Link::Bind => {
                socket.bind("tcp://127.0.0.1:*").expect("libzmq bind");
                socket.get_last_endpoint().unwrap().expect("utf-8 endpoint")
            }
            Link::Connect(endpoint) => {
                socket.connect(endpoint).expect("libzmq connect");
                endpoint.to_owned()
            }
        };
        Box::new(LibzmqPeer {
            socket,
            kind,
            endpoint,
        })
    }
}

impl End for LibzmqPeer {
    fn name(&self) -> String {
        format!("libzmq {:?}", self.kind)
    }

    fn send(&mut self, msg: &Msg) {
        self.socket
            .send_multipart(msg.frames().iter().map(|f| &f[..]), 0)
            .unwrap_or_else(|err| panic!("{}: send: {err}", self.name()));
    }

    fn recv_within(&mut self, timeout: Duration) -> Option<Msg> {
        self.socket
            .set_rcvtimeo(timeout.as_millis() as i32)
            .unwrap();
        match self.socket.recv_multipart(0) {
            Ok(frames) => Some(Msg::from_frames(frames.into_iter().map(Bytes::from))),
            Err(zmq::Error::EAGAIN) => None,
            Err(err) => panic!("{}: recv: {err}", self.name()),
        }
    }

    fn subscribe(&mut self, prefix: &[u8]) {
        self.socket.set_subscribe(prefix).unwrap();
    }

    fn unsubscribe(&mut self, prefix: &[u8]) {
        self.socket.set_unsubscribe(prefix).unwrap();
    }
}

impl Peer for LibzmqPeer {
    fn endpoint(&self) -> String {
        self.endpoint.clone()
    }
}

#[test]
fn push_pull_ours_binds() {
    runtimes::on_each(|| support::push_pull(&mut Libzmq::new(), Binder::Ours));
}

#[test]
fn push_pull_libzmq_binds() {
    runtimes::on_each(|| support::push_pull(&mut Libzmq::new(), Binder::Theirs));
}

#[test]
fn req_rep_ours_binds() {
    runtimes::on_each(|| support::req_rep(&mut Libzmq::new(), Binder::Ours));
}

#[test]
fn req_rep_libzmq_binds() {
    runtimes::on_each(|| support::req_rep(&mut Libzmq::new(), Binder::Theirs));
}

#[test]
fn dealer_router_ours_binds() {
    runtimes::on_each(|| support::dealer_router(&mut Libzmq::new(), Binder::Ours));
}

#[test]
fn dealer_router_libzmq_binds() {
    runtimes::on_each(|| support::dealer_router(&mut Libzmq::new(), Binder::Theirs));
}

#[test]
fn pub_sub_ours_binds() {
    runtimes::on_each(|| support::pub_sub(&mut Libzmq::new(), Binder::Ours));
}

#[test]
fn pub_sub_libzmq_binds() {
    runtimes::on_each(|| support::pub_sub(&mut Libzmq::new(), Binder::Theirs));
}

#[test]
fn pair_ours_binds() {
    runtimes::on_each(|| support::pair(&mut Libzmq::new(), Binder::Ours));
}

#[test]
fn pair_libzmq_binds() {
    runtimes::on_each(|| support::pair(&mut Libzmq::new(), Binder::Theirs));
}

/// The same-thread arrangements (the application and its sockets on one executor run by
/// one thread) against libzmq peers that run on threads of their own: our REQ against a
/// libzmq REP, and our PULL fed by a libzmq PUSH, every payload intact.
#[test]
fn same_thread_executors_against_libzmq_threads() {
    use zmq_sansio::io::Socket;
    for runtime in runtimes::all()
        .into_iter()
        .filter(|runtime| !runtime.has_threads_of_its_own())
    {
        let ctx = zmq::Context::new();
        let socket = |kind| {
            Socket::builder(kind)
                .linger(Duration::from_millis(200))
                .runtime(runtime.runtime.clone())
                .build()
                .unwrap()
        };

        // A libzmq REP echoing every request, with a frame added.
        let rep = ctx.socket(zmq::REP).unwrap();
        rep.set_linger(0).unwrap();
        rep.set_rcvtimeo(PATIENCE.as_millis() as i32).unwrap();
        rep.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = rep.get_last_endpoint().unwrap().unwrap();
        let count = support::payloads().len();
        let echo = std::thread::spawn(move || {
            for _ in 0..count {
                let mut frames = rep.recv_multipart(0).expect("a request");
                frames.push(b"re".to_vec());
                rep.send_multipart(frames, 0).unwrap();
            }
        });
        let req = socket(SocketType::Req);
        req.connect(&endpoint).unwrap();
        runtime.block_on(async {
            for request in support::payloads() {
                req.send(request.clone()).await.unwrap();
                let mut expected = request.clone();
                expected.push_back("re");
                let reply = req.recv_timeout(PATIENCE).await.unwrap();
                support::assert_same(&reply, &expected, runtime.name);
            }
            req.close().await;
        });
        echo.join().unwrap();

        // A libzmq PUSH sending every payload to our PULL.
        let pull = socket(SocketType::Pull);
        let endpoint = pull.bind("tcp://127.0.0.1:*").unwrap();
        let push = ctx.socket(zmq::PUSH).unwrap();
        push.set_linger(PATIENCE.as_millis() as i32).unwrap();
        push.connect(&endpoint).unwrap();
        let pusher = std::thread::spawn(move || {
            for msg in support::payloads() {
                let frames: Vec<Vec<u8>> = msg.iter().map(|f| f.to_vec()).collect();
                push.send_multipart(frames, 0).unwrap();
            }
        });
        runtime.block_on(async {
            for want in support::payloads() {
                let got = pull.recv_timeout(PATIENCE).await.unwrap();
                support::assert_same(&got, &want, runtime.name);
            }
            pull.close().await;
        });
        pusher.join().unwrap();
    }
}
