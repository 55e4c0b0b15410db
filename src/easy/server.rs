//! [`Server`]: receive a message, hand it to a handler, send back the reply — the one loop
//! behind [`RRServer`] (REP) and [`PairServer`] (PAIR).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

use smol::future::or;

use super::coding::Coding;
use super::handler::{DynHandler, Handler, echo, erase, reply_for};
use super::options::Options;
use super::stop::StopHandle;
use super::{Error, tcp_any};
use crate::io::Socket;
use crate::proto::SocketType;

/// Which socket a [`Server`] answers on.
pub trait ServerKind: Send + Sync + 'static {
    /// The socket type bound.
    const SOCKET_TYPE: SocketType;
    /// The Python class name, for logs.
    const NAME: &'static str;
}

/// Request/reply over REP: [`RRServer`].
#[derive(Debug)]
pub enum RequestReply {}

/// One exclusive client over PAIR: [`PairServer`].
#[derive(Debug)]
pub enum ExclusivePair {}

impl ServerKind for RequestReply {
    const SOCKET_TYPE: SocketType = SocketType::Rep;
    const NAME: &'static str = "RRServer";
}

impl ServerKind for ExclusivePair {
    const SOCKET_TYPE: SocketType = SocketType::Pair;
    const NAME: &'static str = "PairServer";
}

/// Answers requests with a handler (Python: `RRServer`). Without a handler it echoes.
///
/// The handler may be a plain closure or an async one, taking the request as `String`,
/// `Bytes`, `Vec<u8>` or [`Msg`](crate::Msg), and returning anything that makes a reply
/// (text, octets, a `Msg`, or a `Result` of those). A handler that returns an error or
/// panics is logged and answered with `"ERROR: <reason>"`; the server keeps serving.
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
pub type RRServer = Server<RequestReply>;

/// Answers each message from its one client with its handler's reply; echoes without a
/// handler (Python: `PairServer`). Unlike the Python original, the handler receives the
/// message, and only the server binds.
///
/// ```
/// # smol::block_on(async {
/// use zmq_sansio::easy::{PairClient, PairServer};
///
/// let server = PairServer::bind("tcp://127.0.0.1:*")?
///     .with_handler(|msg: String| async move { msg.to_uppercase() });
/// let client = PairClient::connect(server.endpoint())?;
/// let serving = smol::spawn(async move { server.run().await });
/// assert_eq!(client.request_text("ping").await?, "PING");
/// drop(serving); // dropping the task stops it
/// # Ok::<(), zmq_sansio::easy::Error>(())
/// # }).unwrap();
/// ```
pub type PairServer = Server<ExclusivePair>;

/// A bound socket that answers every message it receives; see [`RRServer`] and
/// [`PairServer`].
pub struct Server<K: ServerKind> {
    socket: Socket,
    endpoint: String,
    handler: DynHandler,
    coding: Coding,
    stop: StopHandle,
    kind: PhantomData<K>,
}

impl<K: ServerKind> fmt::Debug for Server<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(K::NAME)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl<K: ServerKind> Server<K> {
    /// Binds `tcp://*:port` (Python: `RRServer(port)`, `PairServer(port)`).
    pub fn new(port: u16) -> Result<Self, Error> {
        Self::bind(&tcp_any("tcp", port))
    }

    /// [`Server::new`] with security ([`Options`]): e.g. a CURVE server with an
    /// authenticator that lets in only known client keys, or a PLAIN server checking
    /// passwords.
    pub fn new_with(port: u16, options: Options) -> Result<Self, Error> {
        Self::bind_with(&tcp_any(options.scheme(), port), options)
    }

    /// Binds any endpoint.
    pub fn bind(endpoint: &str) -> Result<Self, Error> {
        Self::bind_with(endpoint, Options::default())
    }

    /// [`Server::bind`] with security ([`Options`]).
    pub fn bind_with(endpoint: &str, options: Options) -> Result<Self, Error> {
        let socket = options.socket(K::SOCKET_TYPE)?;
        let endpoint = socket.bind(endpoint)?;
        log::info!("{} bound to {endpoint}", K::NAME);
        Ok(Self {
            socket,
            endpoint,
            handler: echo(),
            coding: Coding::UTF_8,
            stop: StopHandle::default(),
            kind: PhantomData,
        })
    }

    /// Sets the handler (Python: `handler`): sync or async, it receives the message.
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

    /// A handle that makes [`Server::run`] return.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Answers messages one after the other until stopped (or the socket fails).
    pub async fn run(&self) -> Result<(), Error> {
        // One waiter for the whole run, not one per request.
        let mut stopped = self.stop.stopped();
        loop {
            let request = or(async { Some(self.socket.recv().await) }, async {
                (&mut stopped).await;
                None
            })
            .await;
            let Some(request) = request else {
                return Ok(());
            };
            let reply = reply_for(&self.handler, request?, &self.coding, K::NAME).await;
            self.socket.send(reply).await?;
        }
    }

    /// Serves until `until` completes.
    pub async fn run_until(&self, until: impl Future<Output = ()>) -> Result<(), Error> {
        or(self.run(), async {
            until.await;
            Ok(())
        })
        .await
    }

    /// Stops serving and closes the socket (a reply being sent is delivered first).
    pub async fn close(&self) {
        self.stop.stop();
        self.socket.close().await;
    }
}
