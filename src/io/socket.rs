//! [`Socket`]: a ZeroMQ socket over real transports, usable from any executor.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_io::{AsyncRead, AsyncWrite};
use smol::future::or;

use super::Error;
use super::options::SocketBuilder;
use super::runtime::sleep;
use super::shared::{PeerTask, Shared, register};
use super::tasks::{Backoff, EndpointTask, spawn_connection, spawn_connector, spawn_listener};
use super::transport::{Listener, TlsSettings};
use crate::Msg;
use crate::endpoint::Endpoint;
use crate::pattern::{self, SocketCore};
use crate::proto::{PeerInfo, SocketType};

/// What every clone of a socket shares; closing happens when the last one goes.
#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
    linger: Duration,
    backoff: Backoff,
    tls: TlsSettings,
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
        Ok(Self {
            handle: Arc::new(Handle {
                shared: Shared::new(
                    core,
                    Arc::clone(&builder.runtime),
                    builder.authenticator.clone(),
                ),
                linger: builder.linger,
                backoff: Backoff {
                    initial: builder.reconnect_ivl,
                    max: builder.reconnect_ivl_max,
                    connect_timeout: handshake.unwrap_or(Duration::from_secs(30)),
                },
                tls: builder.tls.clone(),
            }),
            sink_pending: None,
        })
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
        let (listener, bound) =
            Listener::bind(&parsed, &self.handle.tls).map_err(|source| Error::Transport {
                endpoint: endpoint.to_owned(),
                source,
            })?;
        let id = self.register_endpoint(endpoint, bound.clone(), None);
        spawn_listener(self.shared(), id, listener);
        let bound = match bound {
            // Peers cannot connect to `*`; hand back something they can.
            Endpoint::Tcp {
                host: crate::endpoint::Host::Any,
                port,
            } => format!("tcp://0.0.0.0:{}", port.unwrap_or(0)),
            Endpoint::Tls {
                host: crate::endpoint::Host::Any,
                port,
            } => format!("tls+tcp://0.0.0.0:{}", port.unwrap_or(0)),
            other => other.to_string(),
        };
        Ok(bound)
    }

    /// Stops accepting on an endpoint given to [`Socket::bind`] (as given, or as returned)
    /// and closes the connections accepted on it.
    pub fn unbind(&self, endpoint: &str) -> Result<(), Error> {
        let wakeups = {
            let mut inner = self.shared().lock();
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
            // Connections still in their TLS handshake wait on these (see `tasks`).
            wakers.append(&mut inner.state_wakers);
            wakers
        };
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
        let peer = self.shared().with(|inner| inner.core.add_peer())?;
        let id = self.register_endpoint(endpoint, parsed.clone(), Some(peer));
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
    /// wait: they drop for peers that cannot keep up.
    pub async fn send(&self, msg: impl Into<Msg>) -> Result<(), Error> {
        let mut msg = Some(msg.into());
        poll_fn(|cx| self.poll_send(cx, &mut msg)).await
    }

    /// Sends without waiting; [`Error::WouldBlock`] hands the message back.
    pub fn try_send(&self, msg: impl Into<Msg>) -> Result<(), Error> {
        self.shared().with(|inner| {
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
        self.shared().with(|inner| {
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
    /// [`Socket::recv_timeout`], or REQ with `req_relaxed` and `req_correlate` so that a
    /// new request may replace the lost one (see [`SocketType::Req`]).
    pub async fn recv(&self) -> Result<Msg, Error> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Receives the next message with what its sender announced and was authenticated as
    /// (libzmq's message properties: `Socket-Type`, `Identity`, `User-Id`, ZAP metadata,
    /// any application property). The info stays after the sender's connection closed as
    /// long as messages from it wait; it is `None` only if more than a thousand closed
    /// peers had unread messages at once.
    pub async fn recv_from(&self) -> Result<Received, Error> {
        poll_fn(|cx| self.poll_recv_from(cx)).await
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

    /// Receives the next message, giving up after `timeout` with [`Error::Timeout`].
    pub async fn recv_timeout(&self, timeout: Duration) -> Result<Msg, Error> {
        or(self.recv(), async {
            sleep(&*self.shared().runtime, timeout).await;
            Err(Error::Timeout(timeout))
        })
        .await
    }

    pub(super) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Result<Msg, Error>> {
        self.poll_recv_from(cx)
            .map(|received| received.map(|received| received.msg))
    }

    fn poll_recv_from(&self, cx: &mut Context<'_>) -> Poll<Result<Received, Error>> {
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
                    Poll::Pending
                }
                Err(err) => Poll::Ready(Err(Error::Recv(err))),
            }
        })
    }

    /// SUB/XSUB: receive messages starting with `prefix` (from every current and future
    /// peer).
    pub fn subscribe(&self, prefix: impl AsRef<[u8]>) -> Result<(), Error> {
        self.shared()
            .with(|inner| inner.core.subscribe(prefix.as_ref()))
            .map_err(Error::Send)
    }

    /// SUB/XSUB: drop one subscription to `prefix`.
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
    ) -> u64 {
        let mut inner = self.shared().lock();
        let id = inner.next_endpoint;
        inner.next_endpoint += 1;
        inner.endpoints.insert(
            id,
            EndpointTask {
                requested: requested.to_owned(),
                endpoint,
                peer,
                stop: false,
                waker: None,
            },
        );
        id
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
    let wakeups = {
        let mut inner = shared.lock();
        if inner.closed {
            return;
        }
        inner.closing = true;
        for task in inner.endpoints.values_mut() {
            // Listeners stop now; connectors keep going so queued messages can leave.
            if task.peer.is_none() {
                task.stop = true;
            }
        }
        inner.wake_all()
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
    shared.with(|inner| {
        let peers: Vec<_> = inner.core.peers().collect();
        for peer in peers {
            inner.core.remove_peer(peer);
        }
        inner.endpoints.clear();
    });
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
