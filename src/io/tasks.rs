//! The background tasks of a socket: one per bound endpoint (accepting), one per connected
//! endpoint (connecting and reconnecting with backoff), one per connection (its driver).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_io::{AsyncRead, AsyncWrite};
use smol::future::or;

use super::driver::{Driver, Ended, ReadProbe};
use super::inline::{Drive, DriverCell};
use super::runtime::{Runtime, sleep};
use super::shared::{PeerTask, Shared};
use super::transport::{Listener, Stream, TlsSettings};
use crate::endpoint::Endpoint;
use crate::pattern::{DisconnectReason, Link, MonitorEvent, PeerId};

/// A bound or connected endpoint, as the socket's registry knows it.
#[derive(Debug)]
pub(crate) struct EndpointTask {
    /// What the user asked for (`unbind`/`disconnect` look it up by this).
    pub(crate) requested: String,
    /// The endpoint itself (for a bind: as actually bound).
    pub(crate) endpoint: Endpoint,
    /// How monitor events name it: as bound (and handed back by `bind`), or as given to
    /// `connect`.
    pub(crate) label: Arc<str>,
    /// The peer of a connected endpoint.
    pub(crate) peer: Option<PeerId>,
    pub(crate) stop: bool,
    pub(crate) waker: Option<Waker>,
}

/// Reconnection pacing (libzmq's ZMQ_RECONNECT_IVL and ZMQ_RECONNECT_IVL_MAX).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub(crate) initial: Duration,
    pub(crate) max: Duration,
    pub(crate) connect_timeout: Duration,
}

/// Completes when the endpoint is asked to stop (or is gone, or the socket closed).
pub(crate) struct StopRequested {
    shared: Arc<Shared>,
    id: u64,
}

impl Future for StopRequested {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.shared.lock();
        let closed = inner.closed;
        match inner.endpoints.get_mut(&self.id) {
            Some(task) if !task.stop && !closed => {
                task.waker = Some(cx.waker().clone());
                Poll::Pending
            }
            _ => Poll::Ready(()),
        }
    }
}

pub(crate) fn stop_requested(shared: &Arc<Shared>, id: u64) -> StopRequested {
    StopRequested {
        shared: Arc::clone(shared),
        id,
    }
}

/// Runs `task` on the runtime. Each task owns the `TaskGuard` that counts it, so that it is
/// boxed once as it is: wrapping it in another `async` block would store it twice, and a
/// connection's task is most of what a peer costs.
fn spawn(runtime: &dyn Runtime, task: impl Future<Output = ()> + Send + 'static) {
    runtime.spawn(Box::pin(task));
}

/// Applies the socket's TCP settings to a new connection; one the system refuses is logged
/// and the connection goes on without it.
fn tune(shared: &Shared, stream: &Stream) {
    if let Err(err) = stream.apply_keepalive(&shared.tcp_keepalive) {
        log::warn!("{}: TCP keepalive not set: {err}", stream.peer_address());
    }
}

/// Accepts connections on a bound endpoint until it is unbound or the socket closes.
pub(crate) fn spawn_listener(shared: &Arc<Shared>, id: u64, listener: Listener) {
    let guard = shared.task_started();
    let shared = Arc::clone(shared);
    spawn(&*shared.runtime.clone(), async move {
        loop {
            let accepted = or(async { Some(listener.accept().await) }, async {
                stop_requested(&shared, id).await;
                None
            })
            .await;
            match accepted {
                None => break,
                Some(Ok(stream)) => {
                    tune(&shared, &stream);
                    #[cfg(feature = "tls")]
                    if let Some(acceptor) = listener.tls_acceptor() {
                        spawn_tls_accepted(&shared, id, stream, acceptor);
                        continue;
                    }
                    let remote = stream.remote_endpoint();
                    let Some((peer, link)) = register_accepted(&shared, id, remote) else {
                        break;
                    };
                    let address = stream.peer_address();
                    spawn_connection(
                        &shared,
                        peer,
                        link,
                        stream,
                        Some(Stream::poll_readable),
                        address,
                    );
                }
                Some(Err(err)) => {
                    // Typically out of file descriptors: pause instead of spinning.
                    log::warn!("accept failed: {err}; retrying shortly");
                    report_accept_failed(&shared, id, &err);
                    sleep(&*shared.runtime, Duration::from_millis(100)).await;
                }
            }
        }
        shared.with(|inner| {
            if let Some(task) = inner.endpoints.remove(&id) {
                inner.core.monitor(MonitorEvent::Closed {
                    endpoint: task.label,
                });
            }
        });
        // The listening socket is closed before the task stops counting (see
        // `spawn_connection`).
        drop(listener);
        drop(guard);
    });
}

/// Reports a failed accept (or TLS handshake) on listener `id` to the monitors.
fn report_accept_failed(shared: &Arc<Shared>, id: u64, err: &std::io::Error) {
    shared.with(|inner| {
        if let Some(task) = inner.endpoints.get(&id) {
            let endpoint = Arc::clone(&task.label);
            let error = err.into();
            inner
                .core
                .monitor(MonitorEvent::AcceptFailed { endpoint, error });
        }
    });
}

/// Registers a connection accepted on listener `id` (from `remote`) as a new peer, unless
/// the listener was unbound or the socket began closing meanwhile.
fn register_accepted(shared: &Arc<Shared>, id: u64, remote: String) -> Option<(PeerId, Link)> {
    shared.with(|inner| {
        let task = inner.endpoints.get(&id).filter(|task| !task.stop);
        let Some(endpoint) = task.map(|task| Arc::clone(&task.label)) else {
            return None; // unbound meanwhile: refuse the newcomer
        };
        if inner.closing {
            return None;
        }
        let (peer, link) = inner.core.accept(shared.runtime.now());
        inner.core.set_endpoint(peer, Arc::clone(&endpoint));
        inner.core.monitor(MonitorEvent::Accepted {
            endpoint,
            peer,
            remote: remote.into(),
        });
        let task = PeerTask {
            listener: Some(id),
            ..PeerTask::default()
        };
        inner.peers.insert(peer, task);
        Some((peer, link))
    })
}

/// Completes when listener `id` is unbound or the socket begins closing. It waits among
/// the socket's state waiters, which `unbind` and `close` wake.
#[cfg(feature = "tls")]
async fn listener_gone(shared: &Arc<Shared>, id: u64) {
    std::future::poll_fn(|cx| {
        let mut inner = shared.lock();
        if inner.closing || inner.endpoints.get(&id).is_none_or(|task| task.stop) {
            return Poll::Ready(());
        }
        super::shared::register(&mut inner.state_wakers, cx.waker());
        Poll::Pending
    })
    .await;
}

/// Runs the server side of a TLS handshake in a task of its own, so that a slow or hostile
/// client cannot hold up the listener, bounded by the socket's handshake timeout; then
/// registers the connection as a peer (it becomes one only once TLS is up) and drives it.
#[cfg(feature = "tls")]
fn spawn_tls_accepted(
    shared: &Arc<Shared>,
    id: u64,
    stream: Stream,
    acceptor: futures_rustls::TlsAcceptor,
) {
    let guard = shared.task_started();
    let shared = Arc::clone(shared);
    spawn(&*shared.runtime.clone(), async move {
        let (timeout, at) = shared.with(|inner| {
            let timeout = inner.core.options().connection.handshake_timeout;
            let endpoint = inner
                .endpoints
                .get(&id)
                .map(|task| task.endpoint.to_string());
            let at = format!(
                "{} {}",
                inner.core.socket_type(),
                endpoint.unwrap_or_default()
            );
            (timeout.unwrap_or(Duration::from_secs(30)), at)
        });
        let from = match &stream {
            Stream::Tcp(tcp) => tcp.get_ref().peer_addr().ok(),
            _ => None,
        };
        let from = from.map_or_else(|| "a client".to_owned(), |addr| addr.to_string());
        let handshake = or(
            async { Some(super::transport::tls_accept(stream, &acceptor).await) },
            or(
                async {
                    listener_gone(&shared, id).await;
                    None
                },
                async {
                    sleep(&*shared.runtime, timeout).await;
                    Some(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no TLS handshake within {timeout:?}"),
                    )))
                },
            ),
        )
        .await;
        match handshake {
            None => {}
            Some(Err(err)) => {
                log::warn!("{at}: TLS handshake from {from} failed: {err}");
                report_accept_failed(&shared, id, &err);
            }
            Some(Ok(stream)) => {
                let remote = stream.remote_endpoint();
                if let Some((peer, link)) = register_accepted(&shared, id, remote) {
                    let probe = Some(Stream::poll_readable as ReadProbe<Stream>);
                    let address = stream.peer_address();
                    let driver =
                        Driver::new(Arc::clone(&shared), peer, link, stream, probe, address);
                    run_connection(&shared, DriverCell::new(driver)).await;
                }
            }
        }
        drop(guard);
    });
}

/// Runs a connection's driver in a task of its own (accepted connections, user streams).
pub(crate) fn spawn_connection<S>(
    shared: &Arc<Shared>,
    peer: PeerId,
    link: Link,
    stream: S,
    probe: Option<ReadProbe<S>>,
    address: String,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let guard = shared.task_started();
    let driver = Driver::new(Arc::clone(shared), peer, link, stream, probe, address);
    let cell = DriverCell::new(driver);
    let shared = Arc::clone(shared);
    spawn(&*shared.runtime.clone(), async move {
        run_connection(&shared, cell).await;
        drop(guard);
    });
}

/// How a connection ended, and whether it had completed its handshake.
struct Outcome {
    ended: Ended,
    handshaken: bool,
}

/// Drives one connection to its end, then forgets it and logs why it ended. The driver
/// sits in a cell on the heap (so the task stores it once), shared with the socket's
/// callers if they do its IO inline.
async fn run_connection<S>(shared: &Arc<Shared>, cell: Arc<DriverCell<S>>) -> Outcome
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = cell.peer();
    if shared.inline_io
        && let Some(task) = shared.lock().peers.get_mut(&peer)
    {
        let cell: Arc<dyn Drive> = cell.clone();
        task.drive = Some(Arc::downgrade(&cell));
    }
    let ended = std::future::poll_fn(|cx| cell.poll_task(cx)).await;
    let mut driver = cell
        .take_driver()
        .expect("the task takes the driver once, when it has ended");
    let reason = match &ended {
        Ended::PeerClosed => DisconnectReason::PeerClosed,
        Ended::Failed(err) => err.clone().into(),
        Ended::Io(err) => err.into(),
        Ended::Stopped => DisconnectReason::Local,
    };
    let (socket_type, state_waiters, handshaken) = shared.with(|inner| {
        let task = inner.peers.remove(&peer);
        inner.core.close(peer, Some(driver.link_mut()), reason);
        inner.retire_peer_info(peer);
        let handshaken = task.as_ref().is_some_and(|t| t.handshaken);
        if task.is_some_and(|t| t.remove_on_close) {
            inner.core.remove_peer(peer);
        }
        // `close` may be waiting for this driver to report "flushed", which it never will
        // now: wake it to look again, or it waits out its whole linger for nothing.
        let waiters = std::mem::take(&mut inner.state_wakers);
        (inner.core.socket_type(), waiters, handshaken)
    });
    state_waiters.into_iter().for_each(Waker::wake);
    match &ended {
        Ended::Stopped => log::debug!("{socket_type} {peer}: {ended}"),
        Ended::PeerClosed => log::info!("{socket_type} {peer}: {ended}"),
        Ended::Failed(_) | Ended::Io(_) => {
            log::warn!("{socket_type} {peer}: connection dropped: {ended}")
        }
    }
    // The transport goes before the task stops counting: `close` returns once the count
    // is zero, and a caller may bind the same address next.
    drop(driver);
    Outcome { ended, handshaken }
}

/// Tells the monitors that connector `id` (of `peer`, named `label`) tries again after
/// `delay`, and waits for it; whether to go on (`false`: the endpoint was stopped).
pub(crate) async fn retry_after(
    shared: &Arc<Shared>,
    id: u64,
    peer: PeerId,
    label: &Arc<str>,
    delay: Duration,
) -> bool {
    shared.with(|inner| {
        if !inner.closing {
            inner.core.monitor(MonitorEvent::ConnectRetried {
                endpoint: Arc::clone(label),
                peer,
                delay,
            })
        }
    });
    let stopped = or(
        async {
            sleep(&*shared.runtime, delay).await;
            false
        },
        async {
            stop_requested(shared, id).await;
            true
        },
    )
    .await;
    !stopped
}

/// Connects to an endpoint, reconnecting with exponential backoff whenever the connection
/// cannot be made or drops, until disconnected or the socket closes.
pub(crate) fn spawn_connector(
    shared: &Arc<Shared>,
    id: u64,
    peer: PeerId,
    endpoint: Endpoint,
    backoff: Backoff,
    tls: TlsSettings,
) {
    let guard = shared.task_started();
    let shared = Arc::clone(shared);
    spawn(&*shared.runtime.clone(), async move {
        let mut delay = backoff.initial;
        let label = shared.with(|inner| {
            let label = inner.endpoints.get(&id).map(|task| Arc::clone(&task.label));
            label.unwrap_or_else(|| endpoint.to_string().into())
        });
        loop {
            shared.with(|inner| {
                inner.core.monitor(MonitorEvent::ConnectDelayed {
                    endpoint: Arc::clone(&label),
                    peer,
                })
            });
            let attempt = or(
                async {
                    let connect = Stream::connect(&endpoint, &tls, shared.runtime.network());
                    let timeout = async {
                        sleep(&*shared.runtime, backoff.connect_timeout).await;
                        Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "connect timed out",
                        ))
                    };
                    Some(or(connect, timeout).await)
                },
                async {
                    stop_requested(&shared, id).await;
                    None
                },
            )
            .await;
            match attempt {
                None => break,
                Some(Ok(stream)) => {
                    tune(&shared, &stream);
                    let remote: Arc<str> = stream.remote_endpoint().into();
                    // Registered under the lock that `close` and `disconnect` take, so a
                    // connection made while they run is dropped instead of escaping them.
                    let registered = shared.with(|inner| {
                        if inner.closed || inner.endpoints.get(&id).is_none_or(|task| task.stop) {
                            return None;
                        }
                        let link = inner.core.open(peer, shared.runtime.now())?;
                        inner.core.monitor(MonitorEvent::Connected {
                            endpoint: Arc::clone(&label),
                            peer,
                            remote,
                        });
                        inner.peers.insert(peer, PeerTask::default());
                        Some(link)
                    });
                    let Some(link) = registered else {
                        break;
                    };
                    let probe = Some(Stream::poll_readable as ReadProbe<Stream>);
                    let address = stream.peer_address();
                    let driver =
                        Driver::new(Arc::clone(&shared), peer, link, stream, probe, address);
                    let outcome = run_connection(&shared, DriverCell::new(driver)).await;
                    if let Ended::Stopped = outcome.ended {
                        break;
                    }
                    if outcome.handshaken {
                        delay = backoff.initial; // it worked for a while: start over
                    }
                }
                Some(Err(err)) => {
                    log::debug!("connect to {endpoint} failed: {err}; retrying in {delay:?}");
                    shared.with(|inner| {
                        inner.core.monitor(MonitorEvent::ConnectFailed {
                            endpoint: Arc::clone(&label),
                            peer,
                            error: (&err).into(),
                        })
                    });
                }
            }
            if !retry_after(&shared, id, peer, &label, delay).await {
                break;
            }
            delay = (delay * 2).min(backoff.max.max(backoff.initial));
        }
        shared.with(|inner| {
            inner.endpoints.remove(&id);
            inner.core.remove_peer(peer);
        });
        drop(guard);
    });
}
