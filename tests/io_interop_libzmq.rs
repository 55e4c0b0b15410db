//! Our `io::Socket` against libzmq 4.3 (the `zmq` crate builds it from source), over
//! loopback TCP: every pattern, in both directions, with each side binding in turn.

mod support;

use std::time::Duration;

use bytes::Bytes;
use support::{Binder, End, Link, PATIENCE, Peer, Peers};
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
    support::push_pull(&mut Libzmq::new(), Binder::Ours);
}

#[test]
fn push_pull_libzmq_binds() {
    support::push_pull(&mut Libzmq::new(), Binder::Theirs);
}

#[test]
fn req_rep_ours_binds() {
    support::req_rep(&mut Libzmq::new(), Binder::Ours);
}

#[test]
fn req_rep_libzmq_binds() {
    support::req_rep(&mut Libzmq::new(), Binder::Theirs);
}

#[test]
fn dealer_router_ours_binds() {
    support::dealer_router(&mut Libzmq::new(), Binder::Ours);
}

#[test]
fn dealer_router_libzmq_binds() {
    support::dealer_router(&mut Libzmq::new(), Binder::Theirs);
}

#[test]
fn pub_sub_ours_binds() {
    support::pub_sub(&mut Libzmq::new(), Binder::Ours);
}

#[test]
fn pub_sub_libzmq_binds() {
    support::pub_sub(&mut Libzmq::new(), Binder::Theirs);
}

#[test]
fn pair_ours_binds() {
    support::pair(&mut Libzmq::new(), Binder::Ours);
}

#[test]
fn pair_libzmq_binds() {
    support::pair(&mut Libzmq::new(), Binder::Theirs);
}
