//! [`PPPusher`] and [`PPPuller`]: PUSH/PULL work distribution with per-message handlers.

use smol::future::or;

use super::coding::Coding;
use super::handler::{DynHandler, Handler, erase};
use super::options::Options;
use super::stop::StopHandle;
use super::{Error, tcp_any, tcp_host};
use crate::Msg;
use crate::io::Socket;
use crate::proto::SocketType;

/// Pushes messages to pullers, each message to one of them in turn (Python: `PPPusher`).
///
/// ```
/// # smol::block_on(async {
/// use zmq_sansio::easy::{PPPuller, PPPusher};
///
/// let pusher = PPPusher::bind("tcp://127.0.0.1:*")?;
/// let puller = PPPuller::connect(pusher.endpoint())?;
/// pusher.push("task 1").await?;
/// assert_eq!(puller.pull().await?.frames()[0], "task 1");
/// # Ok::<(), zmq_sansio::easy::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct PPPusher {
    socket: Socket,
    endpoint: String,
}

impl PPPusher {
    /// Binds `tcp://<host>:port` (Python: `PPPusher(host, port)`; host `*` for all
    /// interfaces).
    pub fn new(host: &str, port: u16) -> Result<Self, Error> {
        Self::new_with(host, port, Options::default())
    }

    /// [`PPPusher::new`] with security ([`Options`]): e.g. a CURVE server whose pullers
    /// must know its public key, or a PLAIN server with an authenticator.
    pub fn new_with(host: &str, port: u16, options: Options) -> Result<Self, Error> {
        let endpoint = if host == "*" {
            tcp_any(options.scheme(), port)
        } else {
            tcp_host(options.scheme(), host, port)
        };
        Self::bind_with(&endpoint, options)
    }

    /// Binds any endpoint.
    pub fn bind(endpoint: &str) -> Result<Self, Error> {
        Self::bind_with(endpoint, Options::default())
    }

    /// [`PPPusher::bind`] with security ([`Options`]).
    pub fn bind_with(endpoint: &str, options: Options) -> Result<Self, Error> {
        let socket = options.socket(SocketType::Push)?;
        let endpoint = socket.bind(endpoint)?;
        log::info!("PPPusher bound to {endpoint}");
        Ok(Self { socket, endpoint })
    }

    /// The endpoint as bound.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Pushes a message, waiting while no puller can take it.
    pub async fn push(&self, msg: impl Into<Msg>) -> Result<(), Error> {
        self.socket.send(msg).await?;
        Ok(())
    }

    /// Waits until `count` pullers are connected.
    pub async fn wait_for_pullers(&self, count: usize) {
        self.socket.wait_for_peers(count).await;
    }

    /// Closes the socket once the pullers have taken what was pushed (up to the linger
    /// time).
    pub async fn close(&self) {
        self.socket.close().await;
    }
}

/// Pulls messages and hands each to a handler (Python: `PPPuller`). Several pullers
/// connected to one pusher share its messages.
///
/// ```
/// # smol::block_on(async {
/// use std::sync::{Arc, Mutex};
/// use zmq_sansio::easy::{PPPuller, PPPusher};
///
/// let pusher = PPPusher::bind("tcp://127.0.0.1:*")?;
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = Arc::clone(&seen);
/// let puller = PPPuller::connect(pusher.endpoint())?
///     .with_handler(move |task: String| log.lock().unwrap().push(task));
/// let stop = puller.stop_handle();
/// let running = smol::spawn(async move { puller.run().await });
/// pusher.push("a").await?;
/// pusher.push("b").await?;
/// while seen.lock().unwrap().len() < 2 {
///     async_io::Timer::after(std::time::Duration::from_millis(1)).await;
/// }
/// stop.stop();
/// running.await?;
/// assert_eq!(*seen.lock().unwrap(), ["a", "b"]);
/// # Ok::<(), zmq_sansio::easy::Error>(())
/// # }).unwrap();
/// ```
pub struct PPPuller {
    socket: Socket,
    handler: Option<DynHandler>,
    coding: Coding,
    stop: StopHandle,
}

impl std::fmt::Debug for PPPuller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PPPuller").finish_non_exhaustive()
    }
}

impl PPPuller {
    /// Connects to `tcp://host:port` (Python: `PPPuller(host, port)`).
    pub fn new(host: &str, port: u16) -> Result<Self, Error> {
        Self::connect(&tcp_host("tcp", host, port))
    }

    /// [`PPPuller::new`] with security ([`Options`]): e.g. a CURVE client of the pusher's
    /// public key, or a PLAIN client.
    pub fn new_with(host: &str, port: u16, options: Options) -> Result<Self, Error> {
        Self::connect_with(&tcp_host(options.scheme(), host, port), options)
    }

    /// Connects to any endpoint.
    pub fn connect(endpoint: &str) -> Result<Self, Error> {
        Self::connect_with(endpoint, Options::default())
    }

    /// [`PPPuller::connect`] with security ([`Options`]).
    pub fn connect_with(endpoint: &str, options: Options) -> Result<Self, Error> {
        let puller = Self::unattached(&options)?;
        puller.socket.connect(endpoint)?;
        Ok(puller)
    }

    /// Binds instead (a sink that many pushers connect to).
    pub fn bind(endpoint: &str) -> Result<(Self, String), Error> {
        Self::bind_with(endpoint, Options::default())
    }

    /// [`PPPuller::bind`] with security ([`Options`]): a sink that is the PLAIN or CURVE
    /// server of the pushers connecting to it.
    pub fn bind_with(endpoint: &str, options: Options) -> Result<(Self, String), Error> {
        let puller = Self::unattached(&options)?;
        let bound = puller.socket.bind(endpoint)?;
        Ok((puller, bound))
    }

    fn unattached(options: &Options) -> Result<Self, Error> {
        Ok(Self {
            socket: options.socket(SocketType::Pull)?,
            handler: None,
            coding: Coding::UTF_8,
            stop: StopHandle::default(),
        })
    }

    /// Sets the handler run for each message (sync or async; errors are logged).
    pub fn with_handler<H: Handler<M>, M>(mut self, handler: H) -> Self {
        self.handler = Some(erase(handler));
        self
    }

    /// Text is decoded with this encoding (a WHATWG label).
    pub fn with_coding(mut self, label: &str) -> Result<Self, Error> {
        self.coding = Coding::for_label(label)?;
        Ok(self)
    }

    /// Takes the next message directly (without a handler).
    pub async fn pull(&self) -> Result<Msg, Error> {
        Ok(self.socket.recv().await?)
    }

    /// A handle that makes [`PPPuller::run`] return.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Hands every message to the handler, one at a time, until stopped. Without a handler
    /// messages are logged and dropped.
    pub async fn run(&self) -> Result<(), Error> {
        // One waiter for the whole run, not one per message.
        let mut stopped = self.stop.stopped();
        loop {
            let msg = or(async { Some(self.socket.recv().await) }, async {
                (&mut stopped).await;
                None
            })
            .await;
            let Some(msg) = msg else {
                return Ok(());
            };
            let msg = msg?;
            match &self.handler {
                Some(handler) => {
                    if let Err(reason) = handler(msg, &self.coding).await {
                        log::error!("PPPuller: handler failed: {reason}");
                    }
                }
                None => log::info!("PPPuller: received {msg:?}"),
            }
        }
    }

    /// Closes the socket.
    pub async fn close(&self) {
        self.stop.stop();
        self.socket.close().await;
    }
}
