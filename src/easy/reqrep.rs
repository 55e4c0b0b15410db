//! [`RRServer`] and [`RRClient`]: REQ/REP with sync or async handlers, timeouts and retries.

use std::time::Duration;

use smol::future::or;
use smol::lock::Mutex;

use super::coding::Coding;
use super::handler::{DynHandler, Handler, echo, erase, reply_for};
use super::stop::StopHandle;
use super::{Error, tcp_any, tcp_host};
use crate::Msg;
use crate::io::{self, Socket};
use crate::proto::SocketType;

/// Answers requests with a handler (Python: `RRServer`). Without a handler it echoes.
///
/// The handler may be a plain closure or an async one, taking the request as `String`,
/// `Bytes`, `Vec<u8>` or [`Msg`], and returning anything that makes a reply (text, octets,
/// a `Msg`, or a `Result` of those). A handler that returns an error or panics is logged
/// and answered with `"ERROR: <reason>"`; the server keeps serving.
///
/// ```
/// # smol::block_on(async {
/// use zmq_sansio::easy::{RRClient, RRServer};
///
/// let server = RRServer::bind("tcp://127.0.0.1:*")?
///     .with_handler(|request: String| format!("Echo: {request}"));
/// let client = RRClient::connect(server.endpoint())?;
/// let stop = server.stop_handle();
/// let serving = smol::spawn(async move { server.run().await });
///
/// assert_eq!(client.request_text("Hello").await?, "Echo: Hello");
/// stop.stop();
/// serving.await?;
/// # Ok::<(), zmq_sansio::easy::Error>(())
/// # }).unwrap();
/// ```
///
/// An async handler is written the same way:
///
/// ```
/// # use zmq_sansio::easy::RRServer;
/// let server = RRServer::bind("tcp://127.0.0.1:*").unwrap().with_handler(|request: Vec<u8>| async move {
///     async_io::Timer::after(std::time::Duration::from_millis(1)).await;
///     request.len().to_string()
/// });
/// ```
pub struct RRServer {
    socket: Socket,
    endpoint: String,
    handler: DynHandler,
    coding: Coding,
    stop: StopHandle,
}

impl std::fmt::Debug for RRServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RRServer")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl RRServer {
    /// Binds `tcp://*:port` (Python: `RRServer(port)`).
    pub fn new(port: u16) -> Result<Self, Error> {
        Self::bind(&tcp_any(port))
    }

    /// Binds any endpoint.
    pub fn bind(endpoint: &str) -> Result<Self, Error> {
        let socket = Socket::new(SocketType::Rep);
        let endpoint = socket.bind(endpoint)?;
        log::info!("RRServer bound to {endpoint}");
        Ok(Self {
            socket,
            endpoint,
            handler: echo(),
            coding: Coding::UTF_8,
            stop: StopHandle::default(),
        })
    }

    /// Sets the handler (Python: `handler`).
    pub fn with_handler<H: Handler<M>, M>(mut self, handler: H) -> Self {
        self.handler = erase(handler);
        self
    }

    /// Text requests and replies use this encoding (a WHATWG label).
    pub fn with_coding(mut self, label: &str) -> Result<Self, Error> {
        self.coding = Coding::for_label(label)?;
        Ok(self)
    }

    /// The endpoint as bound.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A handle that makes [`RRServer::run`] return.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Serves requests one after the other until stopped (or the socket fails).
    pub async fn run(&self) -> Result<(), Error> {
        serve(
            &self.socket,
            &self.handler,
            &self.coding,
            &self.stop,
            "RRServer",
        )
        .await
    }

    /// Serves until `until` completes.
    pub async fn run_until(
        &self,
        until: impl std::future::Future<Output = ()>,
    ) -> Result<(), Error> {
        or(self.run(), async {
            until.await;
            Ok(())
        })
        .await
    }

    /// Closes the socket (a reply being sent is delivered first).
    pub async fn close(&self) {
        self.stop.stop();
        self.socket.close().await;
    }
}

/// The receive → handle → reply loop shared by [`RRServer`] and [`PairServer`](super::PairServer).
pub(crate) async fn serve(
    socket: &Socket,
    handler: &DynHandler,
    coding: &Coding,
    stop: &StopHandle,
    who: &str,
) -> Result<(), Error> {
    loop {
        let request = or(async { Some(socket.recv().await) }, async {
            stop.stopped().await;
            None
        })
        .await;
        let Some(request) = request else {
            return Ok(());
        };
        let reply = reply_for(handler, request?, coding, who).await;
        socket.send(reply).await?;
    }
}

/// Sends requests and awaits replies (Python: `RRClient`), with an optional timeout and
/// retries: the "lazy pirate" pattern, so a lost server never wedges the client.
///
/// ```
/// # smol::block_on(async {
/// use std::time::Duration;
/// use zmq_sansio::easy::{Error, RRClient};
///
/// // Nobody listens there: the client gives up after two tries of 50 ms.
/// let client = RRClient::connect("tcp://127.0.0.1:1")?
///     .with_timeout(Duration::from_millis(50))
///     .with_retries(1);
/// assert!(matches!(client.request("ping").await, Err(Error::NoReply { attempts: 2, .. })));
/// # Ok::<(), zmq_sansio::easy::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct RRClient {
    endpoint: String,
    socket: Mutex<Socket>,
    timeout: Option<Duration>,
    retries: u32,
    coding: Coding,
}

impl RRClient {
    /// Connects to `tcp://host:port` (Python: `RRClient(host, port)`).
    pub fn new(host: &str, port: u16) -> Result<Self, Error> {
        Self::connect(&tcp_host(host, port))
    }

    /// Connects to any endpoint.
    pub fn connect(endpoint: &str) -> Result<Self, Error> {
        Ok(Self {
            socket: Mutex::new(Self::open(endpoint)?),
            endpoint: endpoint.to_owned(),
            timeout: None,
            retries: 0,
            coding: Coding::UTF_8,
        })
    }

    fn open(endpoint: &str) -> Result<Socket, Error> {
        // Correlated requests: a late reply to an abandoned request is never taken for the
        // answer to a newer one. No linger: unanswered requests are worthless.
        let socket = Socket::builder(SocketType::Req)
            .req_correlate(true)
            .req_relaxed(true)
            .linger(Duration::ZERO)
            .build()?;
        socket.connect(endpoint)?;
        Ok(socket)
    }

    /// Gives up waiting for a reply after `timeout` (per attempt).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends a request again up to `retries` times when no reply comes in time (needs a
    /// timeout). Each retry starts from a fresh connection, as the lazy pirate does.
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Text requests and replies use this encoding (a WHATWG label).
    pub fn with_coding(mut self, label: &str) -> Result<Self, Error> {
        self.coding = Coding::for_label(label)?;
        Ok(self)
    }

    /// Sends a request and waits for its reply. Concurrent calls take turns.
    pub async fn request(&self, request: impl Into<Msg>) -> Result<Msg, Error> {
        let request = request.into();
        let mut socket = self.socket.lock().await;
        let Some(timeout) = self.timeout else {
            socket.send(request).await?;
            return Ok(socket.recv().await?);
        };
        let attempts = self.retries + 1;
        for attempt in 1..=attempts {
            socket.send(request.clone()).await?;
            match socket.recv_timeout(timeout).await {
                Ok(reply) => return Ok(reply),
                Err(io::Error::Timeout(_)) => {
                    log::warn!(
                        "RRClient: no reply from {} within {timeout:?} (attempt {attempt}/{attempts})",
                        self.endpoint
                    );
                    // Lazy pirate: drop the connection (and the request queued on it) and
                    // start over, so the next attempt or request is not stuck behind it.
                    let old = std::mem::replace(&mut *socket, Self::open(&self.endpoint)?);
                    old.close().await;
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(Error::NoReply { attempts, timeout })
    }

    /// Sends text and returns the reply as text, both in the client's encoding.
    pub async fn request_text(&self, request: &str) -> Result<String, Error> {
        let reply = self.request(self.coding.encode(request)?).await?;
        let octets = reply.first().map(|f| &f[..]).unwrap_or_default();
        self.coding.decode(octets)
    }

    /// Closes the socket.
    pub async fn close(&self) {
        self.socket.lock().await.close().await;
    }
}
