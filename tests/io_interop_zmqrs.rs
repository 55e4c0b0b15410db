//! Our `io::Socket` against zmq.rs (the `zeromq` crate, on its tokio runtime), over loopback
//! TCP: every pattern zmq.rs 0.7 has, in both directions, with each side binding in turn.
//!
//! zmq.rs 0.7 has no PAIR (nor XPUB/XSUB) socket, so PAIR is covered against libzmq and
//! pyzmq only.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc;
use support::{Binder, End, Link, PATIENCE, Peer, Peers};
use zeromq::util::PeerIdentity;
use zeromq::{
    DealerSocket, PubSocket, PullSocket, PushSocket, RepSocket, ReqSocket, RouterSocket,
    Socket as _, SocketEvent, SocketOptions, SocketRecv, SocketSend, SubSocket, ZmqMessage,
};
use zmq_sansio::Msg;
use zmq_sansio::proto::SocketType;

/// Opens zmq.rs sockets on one tokio runtime.
struct ZmqRs {
    rt: Arc<tokio::runtime::Runtime>,
}

impl ZmqRs {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        Self { rt: Arc::new(rt) }
    }
}

/// The zmq.rs socket types (each its own Rust type).
enum Theirs {
    Pub(PubSocket),
    Sub(SubSocket),
    Req(ReqSocket),
    Rep(RepSocket),
    Dealer(DealerSocket),
    Router(RouterSocket),
    Push(PushSocket),
    Pull(PullSocket),
}

/// Runs `$body` with `$s` bound to whichever zmq.rs socket `$theirs` holds.
macro_rules! with_socket {
    ($theirs:expr, $s:ident => $body:expr) => {
        match $theirs {
            Theirs::Pub($s) => $body,
            Theirs::Sub($s) => $body,
            Theirs::Req($s) => $body,
            Theirs::Rep($s) => $body,
            Theirs::Dealer($s) => $body,
            Theirs::Router($s) => $body,
            Theirs::Push($s) => $body,
            Theirs::Pull($s) => $body,
        }
    };
}

impl Theirs {
    fn new(kind: SocketType, options: SocketOptions) -> Self {
        match kind {
            SocketType::Pub => Self::Pub(PubSocket::with_options(options)),
            SocketType::Sub => Self::Sub(SubSocket::with_options(options)),
            SocketType::Req => Self::Req(ReqSocket::with_options(options)),
            SocketType::Rep => Self::Rep(RepSocket::with_options(options)),
            SocketType::Dealer => Self::Dealer(DealerSocket::with_options(options)),
            SocketType::Router => Self::Router(RouterSocket::with_options(options)),
            SocketType::Push => Self::Push(PushSocket::with_options(options)),
            SocketType::Pull => Self::Pull(PullSocket::with_options(options)),
            other => panic!("zmq.rs 0.7 has no {other:?} socket"),
        }
    }

    async fn send(&mut self, msg: ZmqMessage) -> zeromq::ZmqResult<()> {
        match self {
            Self::Pub(s) => s.send(msg).await,
            Self::Req(s) => s.send(msg).await,
            Self::Rep(s) => s.send(msg).await,
            Self::Dealer(s) => s.send(msg).await,
            Self::Router(s) => s.send(msg).await,
            Self::Push(s) => s.send(msg).await,
            Self::Sub(_) | Self::Pull(_) => panic!("zmq.rs SUB and PULL cannot send"),
        }
    }

    async fn recv(&mut self) -> zeromq::ZmqResult<ZmqMessage> {
        match self {
            Self::Sub(s) => s.recv().await,
            Self::Req(s) => s.recv().await,
            Self::Rep(s) => s.recv().await,
            Self::Dealer(s) => s.recv().await,
            Self::Router(s) => s.recv().await,
            Self::Pull(s) => s.recv().await,
            Self::Pub(_) | Self::Push(_) => panic!("zmq.rs PUB and PUSH cannot receive"),
        }
    }

    fn sub(&mut self) -> &mut SubSocket {
        match self {
            Self::Sub(s) => s,
            _ => panic!("only SUB subscribes"),
        }
    }
}

struct ZmqRsPeer {
    /// Dropped (in `Drop`) inside the runtime it was made on.
    socket: Option<Theirs>,
    kind: SocketType,
    endpoint: String,
    events: mpsc::Receiver<SocketEvent>,
    rt: Arc<tokio::runtime::Runtime>,
}

impl ZmqRsPeer {
    fn socket(&mut self) -> &mut Theirs {
        self.socket.as_mut().expect("open until dropped")
    }
}

impl Drop for ZmqRsPeer {
    fn drop(&mut self) {
        let _runtime = self.rt.enter();
        drop(self.socket.take());
    }
}

/// Runs `fut` on `rt`; `None` if it takes longer than `timeout`.
fn within<T>(
    rt: &tokio::runtime::Runtime,
    timeout: Duration,
    fut: impl Future<Output = T>,
) -> Option<T> {
    rt.block_on(async { tokio::time::timeout(timeout, fut).await.ok() })
}

impl Peers for ZmqRs {
    fn open(
        &mut self,
        kind: SocketType,
        link: Link<'_>,
        routing_id: Option<&[u8]>,
    ) -> Box<dyn Peer> {
        let mut options = SocketOptions::default();
        if let Some(id) = routing_id {
            options.peer_identity(PeerIdentity::try_from(id).expect("valid routing id"));
        }
        // zmq.rs 0.7 spawns a PUB's fan-out task when the socket is made.
        let _runtime = self.rt.enter();
        let mut socket = Theirs::new(kind, options);
        // Before bind/connect, so that no event is missed.
        let events = with_socket!(&mut socket, s => s.monitor());
        let attach = async {
            match link {
                Link::Bind => with_socket!(&mut socket, s => s.bind("tcp://127.0.0.1:0").await)
                    .expect("zmq.rs bind")
                    .to_string(),
                Link::Connect(endpoint) => {
                    // Returns once the handshake is done.
                    with_socket!(&mut socket, s => s.connect(endpoint).await)
                        .expect("zmq.rs connect");
                    endpoint.to_owned()
                }
            }
        };
        let endpoint = within(&self.rt, PATIENCE, attach)
            .unwrap_or_else(|| panic!("zmq.rs {kind:?}: bind/connect took over {PATIENCE:?}"));
        Box::new(ZmqRsPeer {
            socket: Some(socket),
            kind,
            endpoint,
            events,
            rt: Arc::clone(&self.rt),
        })
    }
}

impl End for ZmqRsPeer {
    fn name(&self) -> String {
        format!("zmq.rs {:?}", self.kind)
    }

    fn send(&mut self, msg: &Msg) {
        let msg = ZmqMessage::try_from(msg.frames().to_vec()).expect("at least one frame");
        let rt = Arc::clone(&self.rt);
        within(&rt, PATIENCE, self.socket().send(msg))
            .unwrap_or_else(|| panic!("{}: send took over {PATIENCE:?}", self.name()))
            .unwrap_or_else(|err| panic!("{}: send: {err}", self.name()));
    }

    fn recv_within(&mut self, timeout: Duration) -> Option<Msg> {
        let rt = Arc::clone(&self.rt);
        // Cancelling zmq.rs's recv at a timeout loses nothing: its fair queue only hands a
        // message out from a completed poll.
        let got = within(&rt, timeout, self.socket().recv())?;
        let msg = got.unwrap_or_else(|err| panic!("{}: recv: {err}", self.name()));
        Some(Msg::from(msg.into_vec()))
    }

    fn subscribe(&mut self, prefix: &[u8]) {
        let prefix = std::str::from_utf8(prefix).expect("zmq.rs takes text prefixes");
        let rt = Arc::clone(&self.rt);
        within(&rt, PATIENCE, self.socket().sub().subscribe(prefix))
            .expect("zmq.rs subscribe in time")
            .expect("zmq.rs subscribe");
    }

    fn unsubscribe(&mut self, prefix: &[u8]) {
        let prefix = std::str::from_utf8(prefix).expect("zmq.rs takes text prefixes");
        let rt = Arc::clone(&self.rt);
        within(&rt, PATIENCE, self.socket().sub().unsubscribe(prefix))
            .expect("zmq.rs unsubscribe in time")
            .expect("zmq.rs unsubscribe");
    }
}

impl Peer for ZmqRsPeer {
    fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// zmq.rs refuses to send (REQ, DEALER, PUSH) or drops (PUB) until its side of the
    /// handshake is done: wait for its monitor to report the connection.
    fn wait_connected(&mut self) {
        let kind = self.kind;
        let events = &mut self.events;
        let connected = async {
            while let Some(event) = events.next().await {
                if let SocketEvent::Accepted(..) | SocketEvent::Connected(..) = event {
                    return;
                }
            }
            panic!("zmq.rs {kind:?}: monitor closed before a connection");
        };
        within(&self.rt, PATIENCE, connected)
            .unwrap_or_else(|| panic!("zmq.rs {kind:?}: no connection within {PATIENCE:?}"));
    }
}

#[test]
fn push_pull_ours_binds() {
    support::push_pull(&mut ZmqRs::new(), Binder::Ours);
}

#[test]
fn push_pull_zmqrs_binds() {
    support::push_pull(&mut ZmqRs::new(), Binder::Theirs);
}

#[test]
fn req_rep_ours_binds() {
    support::req_rep(&mut ZmqRs::new(), Binder::Ours);
}

#[test]
fn req_rep_zmqrs_binds() {
    support::req_rep(&mut ZmqRs::new(), Binder::Theirs);
}

#[test]
fn dealer_router_ours_binds() {
    support::dealer_router(&mut ZmqRs::new(), Binder::Ours);
}

#[test]
fn dealer_router_zmqrs_binds() {
    support::dealer_router(&mut ZmqRs::new(), Binder::Theirs);
}

#[test]
fn pub_sub_ours_binds() {
    support::pub_sub(&mut ZmqRs::new(), Binder::Ours);
}

#[test]
fn pub_sub_zmqrs_binds() {
    support::pub_sub(&mut ZmqRs::new(), Binder::Theirs);
}
