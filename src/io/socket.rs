//! [`Socket`]: a ZeroMQ socket over real transports, usable from any executor.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_io::{AsyncRead, AsyncWrite};
use smol::future::or;

use super::Error;
use super::inline::{MAX_CLAIMED_PEERS, ReadClaims};
use super::inproc;
use super::monitor::Monitor;
use super::options::SocketBuilder;
use super::runtime::sleep;
use super::shared::{Inner, PeerTask, Shared, register};
use super::tasks::{Backoff, EndpointTask, spawn_connection, spawn_connector, spawn_listener};
use super::transport::{Listener, TlsSettings};
use crate::Msg;
use crate::endpoint::Endpoint;
use crate::pattern::{self, MonitorEvent, SocketCore};
use crate::proto::{PeerInfo, SocketType};

/// What every clone of a socket shares; closing happens when the last one goes.
#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
    linger: Duration,
    backoff: Backoff,
    tls: TlsSettings,
    /// ZMQ_SNDTIMEO and ZMQ_RCVTIMEO.
    send_timeout: Option<Duration>,
    recv_timeout: Option<Duration>,
}

/// A ZeroMQ socket: binds and connects over `tcp://`, `ipc://` and (feature `tls`, between
/// zmq-sansio peers) `tls+tcp://`, sends and receives
/// messages with the semantics of its [`SocketType`].
///
/// It works from any executor: the connections are driven by background tasks on a small
/// shared executor, and `send`/`recv` only wait on wakers. Clones share the socket; it
/// closes (honouring [`SocketBuilder::linger`]) on [`Socket::close`] or when the last clone
/// is dropped. It is also a [`futures_core::Stream`] of received messages and a
/// [`futures_sink::Sink`] of messages to send.
///
/// ```
/// # smol::block_on(async {
/// use zmq_sansio::io::Socket;
/// use zmq_sansio::proto::SocketType;
///
/// let rep = Socket::new(SocketType::Rep);
/// let endpoint = rep.bind("tcp://127.0.0.1:*")?;
/// let req = Socket::new(SocketType::Req);
/// req.connect(&endpoint)?;
///
/// req.send("ping").await?;
/// let request = rep.recv().await?;
/// rep.send(request).await?;
/// assert_eq!(req.recv().await?.frames()[0], "ping");
/// req.close().await;
/// rep.close().await;
/// # Ok::<(), zmq_sansio::io::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct Socket {
    handle: Arc<Handle>,
    /// A message accepted by `Sink::start_send` and not yet taken by the socket.
    sink_pending: Option<Msg>,
}

impl Clone for Socket {
    fn clone(&self) -> Self {
        Self {
            handle: Arc::clone(&self.handle),
            sink_pending: None,
        }
    }
}

impl Socket {
    /// A socket of `socket_type` with default options.
    pub fn new(socket_type: SocketType) -> Self {
        Self::builder(socket_type)
            .build()
            .expect("default options are valid")
    }

    /// A builder to set options first.
    pub fn builder(socket_type: SocketType) -> SocketBuilder {
        SocketBuilder::new(socket_type)
    }

    pub(crate) fn from_builder(builder: SocketBuilder) -> Result<Self, Error> {
        let mut core = SocketCore::new(builder.options.clone());
        for prefix in &builder.subscriptions {
            core.subscribe(prefix).map_err(Error::Send)?;
        }
        let handshake = builder.options.connection.handshake_timeout;
        let lockstep = matches!(core.socket_type(), SocketType::Req | SocketType::Rep);
        let inline_io = builder.inline_io.unwrap_or(lockstep);
        let socket = Self {
            handle: Arc::new(Handle {
                shared: Shared::new(
                    core,
                    Arc::clone(&builder.runtime),
                    builder.authenticator.clone(),
                    builder.tcp_keepalive,
                    inline_io,
                ),
                linger: builder.linger,
                backoff: Backoff {
                    initial: builder.reconnect_ivl,
                    max: builder.reconnect_ivl_max,
                    connect_timeout: handshake.unwrap_or(Duration::from_secs(30)),
                },
                tls: builder.tls.clone(),
                send_timeout: builder.send_timeout,
                recv_timeout: builder.recv_timeout,
            }),
            sink_pending: None,
        };
        for sink in &builder.monitors {
            let _no_waiters = socket.shared().lock().add_monitor(sink.clone());
        }
        Ok(socket)
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// The socket type.
    pub fn socket_type(&self) -> SocketType {
        self.shared().lock().core.socket_type()
    }

    /// Binds to an endpoint and starts accepting peers; returns the endpoint as bound (with
    /// the actual port for `tcp://host:*`), which peers can connect to.
    pub fn bind(&self, endpoint: &str) -> Result<String, Error> {
        let parsed: Endpoint = endpoint.parse()?;
        self.ensure_open()?;
        if let Endpoint::Inproc(name) = &parsed {
            return self.bind_inproc(endpoint, name);
        }
        let (listener, bound) =
            match Listener::bind(&parsed, &self.handle.tls, self.shared().runtime.network()) {
                Ok(bound) => bound,
                Err(source) => {
                    self.shared().with(|inner| {
                        inner.core.monitor(MonitorEvent::BindFailed {
                            endpoint: endpoint.into(),
                            error: (&source).into(),
                        })
                    });
                    return Err(Error::Transport {
                        endpoint: endpoint.to_owned(),
                        source,
                    });
                }
            };
        let label: Arc<str> = connectable(&bound).into();
        let id = self.register_endpoint(endpoint, bound, None, Arc::clone(&label));
        self.shared().with(|inner| {
            inner.core.monitor(MonitorEvent::Listening {
                endpoint: Arc::clone(&label),
            })
        });
        spawn_listener(self.shared(), id, listener);
        Ok(label.to_string())
    }

    fn bind_inproc(&self, endpoint: &str, name: &str) -> Result<String, Error> {
        let label: Arc<str> = Arc::from(format!("inproc://{name}"));
        let parsed = Endpoint::Inproc(name.to_owned());
        let id = self.register_endpoint(endpoint, parsed, None, Arc::clone(&label));
        let bound = self.shared().with(|inner| {
            let bound = inproc::bind(self.shared(), name, id);
            match &bound {
                Ok(()) => inner.core.monitor(MonitorEvent::Listening {
                    endpoint: Arc::clone(&label),
                }),
                Err(error) => {
                    inner.endpoints.remove(&id);
                    inner.core.monitor(MonitorEvent::BindFailed {
                        endpoint: Arc::clone(&label),
                        error: error.into(),
                    });
                }
            }
            bound
        });
        bound.map_err(|source| Error::Transport {
            endpoint: endpoint.to_owned(),
            source,
        })?;
        Ok(label.to_string())
    }

    /// The events of this socket from now on (see [`Monitor`]): call it before `bind` or
    /// `connect` to see them from the start (or give a monitor to
    /// [`SocketBuilder::monitor`]). Any number of monitors may read one socket; each holds
    /// up to 1024 events for a reader that lags.
    pub fn monitor(&self) -> Monitor {
        self.monitor_with_capacity(crate::pattern::monitor::DEFAULT_MONITOR_CAPACITY)
    }

    /// [`Socket::monitor`], holding up to `capacity` events for a reader that lags.
    pub fn monitor_with_capacity(&self, capacity: usize) -> Monitor {
        let monitor = Monitor::with_capacity(capacity);
        let wakeups = self.shared().lock().add_monitor(monitor.sink());
        wakeups.wake();
        monitor
    }

    /// Stops accepting on an endpoint given to [`Socket::bind`] (as given, or as returned)
    /// and closes the connections accepted on it.
    pub fn unbind(&self, endpoint: &str) -> Result<(), Error> {
        let wakeups = self.shared().with(|inner| {
            let id = find_endpoint(&inner.endpoints, endpoint, false)
                .ok_or_else(|| Error::NotBound(endpoint.to_owned()))?;
            let mut wakers = Vec::new();
            if let Some(task) = inner.endpoints.get_mut(&id) {
                task.stop = true;
                wakers.extend(task.waker.take());
            }
            let accepted: Vec<_> = inner
                .peers
                .iter()
                .filter(|(_, task)| task.listener == Some(id))
                .map(|(&peer, _)| peer)
                .collect();
            wakers.extend(
                accepted
                    .into_iter()
                    .filter_map(|peer| inner.stop_peer(peer)),
            );
            // An inproc name has no listener task to release it.
            unbind_inproc(self.shared(), inner, id);
            // Connections still in their TLS handshake wait on these (see `tasks`).
            wakers.append(&mut inner.state_wakers);
            Ok::<_, Error>(wakers)
        })?;
        wakeups.into_iter().for_each(|w| w.wake());
        Ok(())
    }

    /// Connects to an endpoint. Returns at once: the connection is made in the background,
    /// retried until the peer is there, and re-made whenever it drops. Messages may be
    /// queued for it meanwhile, as the socket type allows.
    pub fn connect(&self, endpoint: &str) -> Result<(), Error> {
        let parsed: Endpoint = endpoint.parse()?;
        parsed.check_connectable()?;
        self.handle
            .tls
            .check(&parsed, true)
            .map_err(|source| Error::Transport {
                endpoint: endpoint.to_owned(),
                source,
            })?;
        self.ensure_open()?;
        let label: Arc<str> = endpoint.into();
        let peer = self.shared().with(|inner| {
            let peer = inner.core.add_peer()?;
            inner.core.set_endpoint(peer, Arc::clone(&label));
            Ok::<_, Error>(peer)
        })?;
        let id = self.register_endpoint(endpoint, parsed.clone(), Some(peer), label.clone());
        if let Endpoint::Inproc(name) = parsed {
            inproc::spawn_connector(self.shared(), id, peer, name, label, self.handle.backoff);
            return Ok(());
        }
        let tls = self.handle.tls.clone();
        spawn_connector(self.shared(), id, peer, parsed, self.handle.backoff, tls);
        Ok(())
    }

    /// Stops connecting to an endpoint given to [`Socket::connect`]; its connection closes
    /// and its queue is dropped.
    pub fn disconnect(&self, endpoint: &str) -> Result<(), Error> {
        let wakers = {
            let mut inner = self.shared().lock();
            let id = find_endpoint(&inner.endpoints, endpoint, true)
                .ok_or_else(|| Error::NotConnected(endpoint.to_owned()))?;
            let task = inner.endpoints.get_mut(&id).expect("found above");
            task.stop = true;
            let peer = task.peer;
            let mut wakers: Vec<_> = task.waker.take().into_iter().collect();
            wakers.extend(peer.and_then(|peer| inner.stop_peer(peer)));
            wakers
        };
        wakers.into_iter().for_each(|w| w.wake());
        Ok(())
    }

    /// Drives a connection over a byte stream the caller opened (any transport, an
    /// in-memory pipe, a TLS stream …). `we_connected` says which side of the NULL
    /// handshake we take: the side that connected is the client. The peer is forgotten when
    /// the stream ends; there is no reconnect.
    pub fn attach_stream<S>(&self, stream: S, we_connected: bool) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (peer, link) = self.shared().with(|inner| {
            if inner.closing {
                return Err(Error::Closed);
            }
            let now = self.shared().runtime.now();
            let (peer, link) = if we_connected {
                let peer = inner.core.add_peer().map_err(Error::Attach)?;
                let link = inner.core.open(peer, now).expect("the peer was just added");
                (peer, link)
            } else {
                inner.core.accept(now)
            };
            let endpoint: Arc<str> = Arc::from("stream");
            inner.core.set_endpoint(peer, Arc::clone(&endpoint));
            let remote = Arc::from("");
            inner.core.monitor(if we_connected {
                MonitorEvent::Connected {
                    endpoint,
                    peer,
                    remote,
                }
            } else {
                MonitorEvent::Accepted {
                    endpoint,
                    peer,
                    remote,
                }
            });
            // A user stream has no endpoint to reconnect to: its queue goes with it.
            let task = PeerTask {
                remove_on_close: true,
                ..PeerTask::default()
            };
            inner.peers.insert(peer, task);
            Ok((peer, link))
        })?;
        // A stream of unknown kind: the driver learns it is drained by reading.
        spawn_connection(self.shared(), peer, link, stream, None, String::new());
        Ok(())
    }

    /// Sends a message, waiting while the pattern says "would block" (PUSH, DEALER, REQ
    /// and PAIR at their high-water mark, or with no peer yet). PUB, XPUB and ROUTER never
    /// wait: they drop for peers that cannot keep up (unless ROUTER_MANDATORY or
    /// XPUB_NODROP). With a [`SocketBuilder::send_timeout`], gives up after it with
    /// [`Error::Timeout`], the message unsent.
    pub async fn send(&self, msg: impl Into<Msg>) -> Result<(), Error> {
        let mut msg = Some(msg.into());
        self.timed(
            self.handle.send_timeout,
            poll_fn(|cx| self.poll_send(cx, &mut msg)),
        )
        .await
    }

    /// `operation`, or [`Error::Timeout`] once `timeout` has passed on the runtime's timer.
    async fn timed<T>(
        &self,
        timeout: Option<Duration>,
        operation: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let Some(timeout) = timeout else {
            return operation.await;
        };
        or(operation, async {
            sleep(&*self.shared().runtime, timeout).await;
            Err(Error::Timeout(timeout))
        })
        .await
    }

    /// Sends without waiting; [`Error::WouldBlock`] hands the message back.
    pub fn try_send(&self, msg: impl Into<Msg>) -> Result<(), Error> {
        self.shared().with_caller(|inner| {
            if inner.closing {
                return Err(Error::Closed);
            }
            inner.core.send(msg.into()).map_err(Error::from_send)
        })
    }

    pub(super) fn poll_send(
        &self,
        cx: &mut Context<'_>,
        msg: &mut Option<Msg>,
    ) -> Poll<Result<(), Error>> {
        self.shared().with_caller(|inner| {
            if inner.closing {
                return Poll::Ready(Err(Error::Closed));
            }
            let Some(message) = msg.take() else {
                return Poll::Ready(Ok(()));
            };
            if std::mem::take(&mut inner.yield_before_send) {
                *msg = Some(message);
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            match inner.core.send(message) {
                Ok(()) => {
                    inner.note_send_pressure();
                    Poll::Ready(Ok(()))
                }
                Err(pattern::SendError::WouldBlock(message)) => {
                    *msg = Some(message);
                    register(&mut inner.send_wakers, cx.waker());
                    Poll::Pending
                }
                Err(err) => Poll::Ready(Err(Error::Send(err))),
            }
        })
    }

    /// Receives the next message, waiting for one.
    ///
    /// It waits as long as it takes: a REQ whose replier died after taking the request
    /// waits forever, as in libzmq (the request is not resent). Use
    /// [`Socket::recv_timeout`], [`SocketBuilder::recv_timeout`], or REQ with
    /// `req_relaxed` and `req_correlate` so that a new request may replace the lost one
    /// (see [`SocketType::Req`]).
    pub async fn recv(&self) -> Result<Msg, Error> {
        let mut claims = ReadClaims::default();
        let recv = poll_fn(|cx| self.poll_recv_claiming(cx, &mut claims));
        self.timed(self.handle.recv_timeout, recv).await
    }

    /// Receives the next message with what its sender announced and was authenticated as
    /// (libzmq's message properties: `Socket-Type`, `Identity`, `User-Id`, ZAP metadata,
    /// any application property). The info stays after the sender's connection closed as
    /// long as messages from it wait; it is `None` only if more than a thousand closed
    /// peers had unread messages at once.
    pub async fn recv_from(&self) -> Result<Received, Error> {
        let mut claims = ReadClaims::default();
        let recv = poll_fn(|cx| self.poll_recv_from(cx, Some(&mut claims)));
        self.timed(self.handle.recv_timeout, recv).await
    }

    /// Receives the next message, blocking the calling thread (libzmq's `zmq_recv`), with
    /// [`SocketBuilder::recv_timeout`] if set: for code on plain threads, never for a task
    /// (it would block its executor's thread). It waits under async-io's `block_on`, which
    /// drives the reactor on this thread while it waits, so with inline IO the thread may
    /// be woken straight from its connection's readiness.
    pub fn recv_blocking(&self) -> Result<Msg, Error> {
        async_io::block_on(self.recv())
    }

    /// Sends a message, blocking the calling thread while the pattern says "would block"
    /// (libzmq's `zmq_send`), with [`SocketBuilder::send_timeout`] if set: for code on
    /// plain threads, never for a task. With inline IO the message is written on this
    /// thread.
    pub fn send_blocking(&self, msg: impl Into<Msg>) -> Result<(), Error> {
        async_io::block_on(self.send(msg))
    }

    /// Receives a message if one is there.
    pub fn try_recv(&self) -> Result<Option<Msg>, Error> {
        self.shared().with(|inner| {
            if inner.closed {
                return Err(Error::Closed);
            }
            inner.core.recv().map_err(Error::Recv)
        })
    }

    /// Receives the next message, giving up after `timeout` with [`Error::Timeout`]
    /// (whatever [`SocketBuilder::recv_timeout`] says).
    pub async fn recv_timeout(&self, timeout: Duration) -> Result<Msg, Error> {
        let mut claims = ReadClaims::default();
        let recv = poll_fn(|cx| self.poll_recv_claiming(cx, &mut claims));
        self.timed(Some(timeout), recv).await
    }

    /// Polls for a message without doing any connection's reading (streams, proxies).
    pub(super) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Result<Msg, Error>> {
        self.poll_recv_from(cx, None)
            .map(|received| received.map(|received| received.msg))
    }

    /// Polls for a message; with inline IO, a wait claims the peers' reading.
    fn poll_recv_claiming(
        &self,
        cx: &mut Context<'_>,
        claims: &mut ReadClaims,
    ) -> Poll<Result<Msg, Error>> {
        self.poll_recv_from(cx, Some(claims))
            .map(|received| received.map(|received| received.msg))
    }

    /// Polls for a message. With `claims` (a `recv` of a socket doing inline IO), it
    /// first reads what its claimed peers have, and a wait claims their reading (see
    /// `io/inline.rs`).
    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        claims: Option<&mut ReadClaims>,
    ) -> Poll<Result<Received, Error>> {
        let Some(claims) = claims.filter(|_| self.shared().inline_io) else {
            return self.take_or_wait(cx, None);
        };
        // A readiness that reached a connection's task before the claim was armed is read
        // here too, in a second pass, rather than left to the task.
        for _ in 0..2 {
            claims.serve();
            let result = self.take_or_wait(cx, Some(claims));
            if result.is_ready() {
                claims.release();
                return result;
            }
            claims.arm(cx.waker());
            if !claims.any_ready() {
                break;
            }
        }
        Poll::Pending
    }

    /// Takes the next message, or registers `cx` to be woken for one (and, the first time,
    /// notes the peers whose reading a caller may claim).
    fn take_or_wait(
        &self,
        cx: &mut Context<'_>,
        claims: Option<&mut ReadClaims>,
    ) -> Poll<Result<Received, Error>> {
        self.shared().with(|inner| {
            if inner.closed {
                return Poll::Ready(Err(Error::Closed));
            }
            match inner.core.recv_from() {
                Ok(Some((peer, msg))) => Poll::Ready(Ok(Received {
                    msg,
                    peer: inner.info_for_received(peer),
                })),
                Ok(None) => {
                    register(&mut inner.recv_wakers, cx.waker());
                    if let Some(claims) = claims
                        && claims.is_empty()
                        && inner.peers.len() <= MAX_CLAIMED_PEERS
                    {
                        for task in inner.peers.values() {
                            if let Some(drive) = task.drive.as_ref().and_then(Weak::upgrade) {
                                claims.push(drive);
                            }
                        }
                    }
                    Poll::Pending
                }
                Err(err) => Poll::Ready(Err(Error::Recv(err))),
            }
        })
    }

    /// SUB/XSUB: receive messages starting with `prefix` (from every current and future
    /// peer). XPUB with [`SocketBuilder::xpub_manual`]: send messages starting with
    /// `prefix` to the peer whose subscription message was received last.
    pub fn subscribe(&self, prefix: impl AsRef<[u8]>) -> Result<(), Error> {
        self.shared()
            .with(|inner| inner.core.subscribe(prefix.as_ref()))
            .map_err(Error::Send)
    }

    /// SUB/XSUB: drop one subscription to `prefix`. XPUB with
    /// [`SocketBuilder::xpub_manual`]: for the peer whose subscription message was received
    /// last.
    pub fn unsubscribe(&self, prefix: impl AsRef<[u8]>) -> Result<(), Error> {
        self.shared()
            .with(|inner| inner.core.unsubscribe(prefix.as_ref()))
            .map_err(Error::Send)
    }

    /// Peers with a completed handshake right now.
    pub fn connected_peers(&self) -> usize {
        let inner = self.shared().lock();
        inner
            .core
            .peers()
            .filter(|&peer| inner.core.is_ready(peer))
            .count()
    }

    /// PUB/XPUB: peers that hold at least one subscription right now.
    pub fn subscribed_peers(&self) -> usize {
        self.shared().lock().core.pattern().subscribed_peers()
    }

    /// Waits until at least `count` peers have a completed handshake (useful before the
    /// first PUB message, which subscribers that have not joined yet would miss).
    pub async fn wait_for_peers(&self, count: usize) {
        self.wait_until(|socket| socket.connected_peers() >= count)
            .await;
    }

    /// Completes once `condition` holds; it is checked again whenever peers connect,
    /// disconnect or change their subscriptions.
    async fn wait_until(&self, condition: impl Fn(&Self) -> bool) {
        poll_fn(|cx| {
            if condition(self) {
                return Poll::Ready(());
            }
            register(&mut self.shared().lock().state_wakers, cx.waker());
            // Checked again after registering, so a change in between is not missed.
            if condition(self) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }

    /// PUB/XPUB: waits until at least `count` peers hold a subscription, so that the next
    /// message reaches them (what is published before a subscriber has joined is lost to
    /// it).
    pub async fn wait_for_subscribers(&self, count: usize) {
        self.wait_until(|socket| socket.subscribed_peers() >= count)
            .await;
    }

    /// Closes the socket for every clone: stops accepting, keeps delivering queued messages
    /// for up to the linger time, then ends every connection and background task. Returns
    /// once all of them have ended.
    pub async fn close(&self) {
        close(Arc::clone(self.shared()), self.handle.linger).await;
    }

    fn ensure_open(&self) -> Result<(), Error> {
        if self.shared().lock().closing {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    fn register_endpoint(
        &self,
        requested: &str,
        endpoint: Endpoint,
        peer: Option<pattern::PeerId>,
        label: Arc<str>,
    ) -> u64 {
        let mut inner = self.shared().lock();
        let id = inner.next_endpoint;
        inner.next_endpoint += 1;
        inner.endpoints.insert(
            id,
            EndpointTask {
                requested: requested.to_owned(),
                endpoint,
                label,
                peer,
                stop: false,
                waker: None,
            },
        );
        id
    }
}

/// Releases the inproc name bound as endpoint `id`, if it is one: the endpoint goes and
/// the monitor hears it closed. Other endpoints are left alone.
fn unbind_inproc(shared: &Arc<Shared>, inner: &mut Inner, id: u64) {
    let Some(task) = inner.endpoints.get(&id) else {
        return;
    };
    let (Endpoint::Inproc(name), None) = (&task.endpoint, task.peer) else {
        return;
    };
    inproc::unbind(shared, name, id);
    let task = inner.endpoints.remove(&id).expect("looked up above");
    inner.core.monitor(MonitorEvent::Closed {
        endpoint: task.label,
    });
}

/// A bound endpoint as peers can connect to it: `*` becomes `0.0.0.0`.
fn connectable(bound: &Endpoint) -> String {
    match bound {
        Endpoint::Tcp {
            host: crate::endpoint::Host::Any,
            port,
        } => format!("tcp://0.0.0.0:{}", port.unwrap_or(0)),
        Endpoint::Tls {
            host: crate::endpoint::Host::Any,
            port,
        } => format!("tls+tcp://0.0.0.0:{}", port.unwrap_or(0)),
        other => other.to_string(),
    }
}

/// The endpoint registered as `endpoint` (as requested or as bound).
fn find_endpoint(
    endpoints: &std::collections::BTreeMap<u64, EndpointTask>,
    endpoint: &str,
    connected: bool,
) -> Option<u64> {
    endpoints
        .iter()
        .find(|(_, task)| {
            task.peer.is_some() == connected
                && !task.stop
                && (task.requested == endpoint || task.endpoint.to_string() == endpoint || {
                    // `bind` hands `tcp://*:p` back as `tcp://0.0.0.0:p`.
                    endpoint.parse::<Endpoint>().is_ok_and(|e| {
                        std::mem::discriminant(&e) == std::mem::discriminant(&task.endpoint)
                            && e.tcp_target() == task.endpoint.tcp_target()
                    })
                })
        })
        .map(|(&id, _)| id)
}

/// Closing: flush for up to `linger`, then stop every task and wait for them.
async fn close(shared: Arc<Shared>, linger: Duration) {
    let wakeups = shared.with(|inner| {
        if inner.closed {
            return None;
        }
        inner.closing = true;
        for task in inner.endpoints.values_mut() {
            // Listeners stop now; connectors keep going so queued messages can leave.
            if task.peer.is_none() {
                task.stop = true;
            }
        }
        let bound: Vec<u64> = inner.endpoints.keys().copied().collect();
        for id in bound {
            unbind_inproc(&shared, inner, id);
        }
        Some(inner.wake_all())
    });
    let Some(wakeups) = wakeups else {
        return;
    };
    wakeups.wake();

    let flushed = poll_fn(|cx| {
        let mut inner = shared.lock();
        let queued: usize = inner
            .core
            .pattern()
            .peers()
            .filter_map(|peer| inner.core.pattern().stats(peer))
            .map(|s| s.outbound_msgs)
            .sum();
        let drivers_done = inner.peers.values().all(|task| task.flushed);
        if queued == 0 && drivers_done {
            Poll::Ready(())
        } else {
            register(&mut inner.state_wakers, cx.waker());
            Poll::Pending
        }
    });
    or(flushed, async {
        sleep(&*shared.runtime, linger).await;
    })
    .await;

    let wakeups = {
        let mut inner = shared.lock();
        inner.closed = true;
        for task in inner.endpoints.values_mut() {
            task.stop = true;
        }
        for task in inner.peers.values_mut() {
            task.stop = true;
        }
        inner.wake_all()
    };
    wakeups.wake();

    poll_fn(|cx| {
        let mut inner = shared.lock();
        if inner.tasks == 0 {
            Poll::Ready(())
        } else {
            register(&mut inner.state_wakers, cx.waker());
            Poll::Pending
        }
    })
    .await;
    let wakeups = shared.with(|inner| {
        let peers: Vec<_> = inner.core.peers().collect();
        for peer in peers {
            inner.core.remove_peer(peer);
        }
        inner.endpoints.clear();
        // Every task has ended and reported its last events: the monitors may end.
        let mut wakers = Vec::new();
        for sink in inner.monitors.drain(..) {
            sink.detach(&mut wakers);
        }
        wakers
    });
    wakeups.into_iter().for_each(|w| w.wake());
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.shared.lock().closed {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let linger = self.linger;
        let runtime = Arc::clone(&shared.runtime);
        runtime.spawn(Box::pin(close(shared, linger)));
    }
}

impl futures_core::Stream for Socket {
    type Item = Result<Msg, Error>;

    /// Ends when the socket is closed.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.poll_recv(cx) {
            Poll::Ready(Err(Error::Closed)) => Poll::Ready(None),
            other => other.map(Some),
        }
    }
}

impl futures_sink::Sink<Msg> for Socket {
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = &mut *self;
        let mut pending = this.sink_pending.take();
        let result = this.poll_send(cx, &mut pending);
        this.sink_pending = pending;
        result
    }

    fn start_send(mut self: Pin<&mut Self>, item: Msg) -> Result<(), Error> {
        debug_assert!(
            self.sink_pending.is_none(),
            "poll_ready must be called first"
        );
        self.sink_pending = Some(item);
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_ready(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_ready(cx)
    }
}

/// A message and what its sender announced and was authenticated as
/// ([`Socket::recv_from`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Received {
    /// The message.
    pub msg: Msg,
    /// The sender: socket type, metadata, the user id our authenticator gave it.
    pub peer: Option<Arc<PeerInfo>>,
}
