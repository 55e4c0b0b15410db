//! Our `io::Socket` against zmq.rs (the `zeromq` crate, on its tokio runtime), over loopback
//! TCP: every pattern zmq.rs 0.7 has, in both directions, with each side binding in turn.
//!
//! zmq.rs 0.7 has no PAIR (nor XPUB/XSUB) socket, so PAIR is covered against libzmq and
//! pyzmq only.
//!
//! zmq.rs 0.7's PUB can wedge its tokio workers for good. It takes a subscription with a
//! blocking lock (`scc::HashMap::get_sync`) on a worker, while its fan-out task waits for the
//! same bucket asynchronously: the lock is handed to the waiting task, whose wake-up sits on
//! the worker that then blocks on the next subscription. Once every worker is parked in
//! `lock_sync_wait`, dropping the socket blocks too (`clear_sync`). So this harness
//! - lets subscriptions land before a zmq.rs PUB publishes ([`End::let_subscriptions_land`]),
//!   which keeps the tests off that path, and
//! - never blocks the test thread on zmq.rs: every call is a task on the runtime, awaited
//!   with a deadline, and sockets are dropped on the runtime. A wedge fails the test with a
//!   reason instead of hanging the run.

mod support;

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc;
use support::{Binder, End, Link, PATIENCE, Peer, Peers};
use tokio::runtime::{Handle, Runtime};
use zeromq::util::PeerIdentity;
use zeromq::{
    DealerSocket, PubSocket, PullSocket, PushSocket, RepSocket, ReqSocket, RouterSocket,
    Socket as _, SocketEvent, SocketOptions, SocketRecv, SocketSend, SubSocket, ZmqMessage,
};
use zmq_sansio::Msg;
use zmq_sansio::proto::SocketType;

/// How long past its own deadline a call into zmq.rs may take before its runtime counts as
/// wedged (its tokio timer could not even fire).
const WEDGED_AFTER: Duration = Duration::from_secs(5);
/// Time given to subscriptions to reach a zmq.rs PUB before it publishes (see the module
/// docs). Loopback delivers them in microseconds; this is a wide margin on a loaded machine.
const SUBSCRIPTIONS_LAND: Duration = Duration::from_millis(100);

/// Opens zmq.rs sockets on one tokio runtime.
struct ZmqRs {
    /// Shut down in `Drop` without waiting for wedged workers.
    rt: Option<Runtime>,
}

impl ZmqRs {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        Self { rt: Some(rt) }
    }

    fn handle(&self) -> &Handle {
        self.rt.as_ref().expect("open until dropped").handle()
    }
}

impl Drop for ZmqRs {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// Runs `fut` as a task on `rt` and waits for it from this thread, at most `patience` plus
/// [`WEDGED_AFTER`]; panics naming `what` if the runtime never answers. `fut` brings its own
/// (tokio) timeout for the operation itself.
fn on_runtime<T: Send + 'static>(
    rt: &Handle,
    what: &str,
    patience: Duration,
    fut: impl Future<Output = T> + Send + 'static,
) -> T {
    let (done, result) = std_mpsc::channel();
    rt.spawn(async move {
        let _ = done.send(fut.await);
    });
    match result.recv_timeout(patience + WEDGED_AFTER) {
        Ok(value) => value,
        Err(std_mpsc::RecvTimeoutError::Disconnected) => {
            panic!("{what}: the task panicked (its message is above)")
        }
        Err(std_mpsc::RecvTimeoutError::Timeout) => panic!(
            "{what}: zmq.rs did not answer within {:?}; its tokio workers are wedged",
            patience + WEDGED_AFTER
        ),
    }
}

/// `fut`, or `None` if it takes longer than `timeout` (on the runtime's clock).
async fn timed<T>(timeout: Duration, fut: impl Future<Output = T>) -> Option<T> {
    tokio::time::timeout(timeout, fut).await.ok()
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
    /// Lent to each call's task and given back; dropped (in `Drop`) on the runtime.
    socket: Option<Theirs>,
    kind: SocketType,
    endpoint: String,
    /// Lent like `socket`.
    events: Option<mpsc::Receiver<SocketEvent>>,
    rt: Handle,
}

impl ZmqRsPeer {
    /// Lends the socket to `op`, runs it on the runtime (see [`on_runtime`]) and takes the
    /// socket back.
    fn call<T, F>(&mut self, what: &str, patience: Duration, op: impl FnOnce(Theirs) -> F) -> T
    where
        T: Send + 'static,
        F: Future<Output = (Theirs, T)> + Send + 'static,
    {
        let socket = self
            .socket
            .take()
            .expect("a socket whose runtime wedged is not used again");
        let what = format!("{}: {what}", self.name());
        let (socket, result) = on_runtime(&self.rt, &what, patience, op(socket));
        self.socket = Some(socket);
        result
    }

    /// SUB: subscribes to `prefix`, or drops the subscription.
    fn change_subscription(&mut self, prefix: &[u8], subscribe: bool) {
        let what = if subscribe {
            "subscribe"
        } else {
            "unsubscribe"
        };
        let prefix = String::from_utf8(prefix.to_vec()).expect("zmq.rs takes text prefixes");
        let done = self.call(what, PATIENCE, |mut socket| async move {
            let sub = socket.sub();
            let done = if subscribe {
                timed(PATIENCE, sub.subscribe(&prefix)).await
            } else {
                timed(PATIENCE, sub.unsubscribe(&prefix)).await
            };
            (socket, done)
        });
        done.unwrap_or_else(|| panic!("zmq.rs {what}: took over {PATIENCE:?}"))
            .unwrap_or_else(|err| panic!("zmq.rs {what}: {err}"));
    }
}

impl Drop for ZmqRsPeer {
    fn drop(&mut self) {
        // On the runtime, because a wedged zmq.rs socket blocks in its drop. Waiting a little
        // keeps teardown in order; a wedge is reported by the call that met it.
        if let Some(socket) = self.socket.take() {
            let (dropped, done) = std_mpsc::channel();
            self.rt.spawn(async move {
                drop(socket);
                let _ = dropped.send(());
            });
            let _ = done.recv_timeout(WEDGED_AFTER);
        }
    }
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
        let connect_to = match link {
            Link::Bind => None,
            Link::Connect(endpoint) => Some(endpoint.to_owned()),
        };
        let attach = async move {
            // Made on the runtime: zmq.rs 0.7 spawns a PUB's fan-out task when it is made.
            let mut socket = Theirs::new(kind, options);
            // Before bind/connect, so that no event is missed.
            let events = with_socket!(&mut socket, s => s.monitor());
            let endpoint = match connect_to {
                None => with_socket!(&mut socket, s => s.bind("tcp://127.0.0.1:0").await)
                    .expect("zmq.rs bind")
                    .to_string(),
                Some(endpoint) => {
                    // Returns once the handshake is done.
                    with_socket!(&mut socket, s => s.connect(&endpoint).await)
                        .expect("zmq.rs connect");
                    endpoint
                }
            };
            (socket, events, endpoint)
        };
        let what = format!("zmq.rs {kind:?}: bind/connect");
        let (socket, events, endpoint) =
            on_runtime(self.handle(), &what, PATIENCE, timed(PATIENCE, attach))
                .unwrap_or_else(|| panic!("{what}: took over {PATIENCE:?}"));
        Box::new(ZmqRsPeer {
            socket: Some(socket),
            kind,
            endpoint,
            events: Some(events),
            rt: self.handle().clone(),
        })
    }
}

impl End for ZmqRsPeer {
    fn name(&self) -> String {
        format!("zmq.rs {:?}", self.kind)
    }

    fn send(&mut self, msg: &Msg) {
        let msg = ZmqMessage::try_from(msg.frames().to_vec()).expect("at least one frame");
        let sent = self.call("send", PATIENCE, |mut socket| async move {
            let sent = timed(PATIENCE, socket.send(msg)).await;
            (socket, sent)
        });
        sent.unwrap_or_else(|| panic!("{}: send took over {PATIENCE:?}", self.name()))
            .unwrap_or_else(|err| panic!("{}: send: {err}", self.name()));
    }

    fn recv_within(&mut self, timeout: Duration) -> Option<Msg> {
        // Cancelling zmq.rs's recv at a timeout loses nothing: its fair queue only hands a
        // message out from a completed poll.
        let got = self.call("recv", timeout, |mut socket| async move {
            let got = timed(timeout, socket.recv()).await;
            (socket, got)
        })?;
        let msg = got.unwrap_or_else(|err| panic!("{}: recv: {err}", self.name()));
        Some(Msg::from(msg.into_vec()))
    }

    fn subscribe(&mut self, prefix: &[u8]) {
        self.change_subscription(prefix, true);
    }

    fn unsubscribe(&mut self, prefix: &[u8]) {
        self.change_subscription(prefix, false);
    }

    /// A zmq.rs PUB must not fan out while it takes subscriptions (see the module docs).
    fn let_subscriptions_land(&mut self) {
        if self.kind == SocketType::Pub {
            std::thread::sleep(SUBSCRIPTIONS_LAND);
        }
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
        let mut events = self.events.take().expect("lent only during this call");
        let what = format!("zmq.rs {kind:?}: waiting for a connection");
        let (events, connected) = on_runtime(&self.rt, &what, PATIENCE, async move {
            let connected = timed(PATIENCE, async {
                while let Some(event) = events.next().await {
                    if let SocketEvent::Accepted(..) | SocketEvent::Connected(..) = event {
                        return true;
                    }
                }
                false
            })
            .await;
            (events, connected)
        });
        self.events = Some(events);
        match connected {
            Some(true) => {}
            Some(false) => panic!("{what}: monitor closed before a connection"),
            None => panic!("{what}: no connection within {PATIENCE:?}"),
        }
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
