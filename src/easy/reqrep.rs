//! [`RRClient`]: REQ with timeouts and lazy-pirate retries (its server is
//! [`RRServer`](super::RRServer)).

use std::time::Duration;

use smol::lock::Mutex;

use super::coding::Coding;
use super::options::Options;
use super::{Error, tcp_host};
use crate::Msg;
use crate::io::{self, Socket};
use crate::proto::SocketType;

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
    /// Kept for the fresh sockets of retries.
    options: Options,
    timeout: Option<Duration>,
    retries: u32,
    coding: Coding,
}

impl RRClient {
    /// Connects to `tcp://host:port` (Python: `RRClient(host, port)`).
    pub fn new(host: &str, port: u16) -> Result<Self, Error> {
        Self::connect(&tcp_host("tcp", host, port))
    }

    /// [`RRClient::new`] with security ([`Options`]): e.g. a CURVE client of the
    /// server's public key, or a PLAIN client. Retries reconnect with the same options.
    pub fn new_with(host: &str, port: u16, options: Options) -> Result<Self, Error> {
        Self::connect_with(&tcp_host(options.scheme(), host, port), options)
    }

    /// Connects to any endpoint.
    pub fn connect(endpoint: &str) -> Result<Self, Error> {
        Self::connect_with(endpoint, Options::default())
    }

    /// [`RRClient::connect`] with security ([`Options`]).
    pub fn connect_with(endpoint: &str, options: Options) -> Result<Self, Error> {
        Ok(Self {
            socket: Mutex::new(Self::open(endpoint, &options)?),
            options,
            endpoint: endpoint.to_owned(),
            timeout: None,
            retries: 0,
            coding: Coding::UTF_8,
        })
    }

    fn open(endpoint: &str, options: &Options) -> Result<Socket, Error> {
        // Correlated requests: a late reply to an abandoned request is never taken for the
        // answer to a newer one. No linger: unanswered requests are worthless.
        let socket = options
            .builder(SocketType::Req)
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
    ///
    /// Retries make delivery *at-least-once*: an attempt that timed out may still have
    /// reached the server (the reply was only slow, or the connection was still being
    /// made), so the server can see a request once per attempt. Only the reply to the
    /// last attempt is returned; replies to earlier ones are discarded. Retry requests
    /// that are safe to repeat, or let the server recognise repeats (an id in the
    /// request). A request of an earlier call that gave up never reaches a server that
    /// appears later: its connection is closed without linger.
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
                    let old =
                        std::mem::replace(&mut *socket, Self::open(&self.endpoint, &self.options)?);
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
