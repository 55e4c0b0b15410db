//! [`PairClient`]: talks to a [`PairServer`](super::PairServer) over an exclusive pair.

use std::time::Duration;

use smol::lock::Mutex;

use super::coding::Coding;
use super::options::Options;
use super::{Error, tcp_host};
use crate::Msg;
use crate::io::{self, Socket};
use crate::proto::SocketType;

/// Talks to a [`PairServer`](super::PairServer) (Python: `PairClient`, which bound as well; this one connects).
///
/// ```
/// # smol::block_on(async {
/// use std::time::Duration;
/// use zmq_sansio::easy::{PairClient, PairServer};
///
/// let server = PairServer::bind("tcp://127.0.0.1:*")?; // echoes without a handler
/// let client = PairClient::connect(server.endpoint())?.with_timeout(Duration::from_secs(5));
/// let _serving = smol::spawn(async move { server.run().await });
/// assert_eq!(client.request("hello").await?.frames()[0], "hello");
/// client.close().await;
/// # Ok::<(), zmq_sansio::easy::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct PairClient {
    connection: Mutex<Connection>,
    coding: Coding,
    timeout: Option<Duration>,
}

/// The client's socket, and whether an answer is owed to a request whose call is gone.
#[derive(Debug)]
struct Connection {
    socket: Socket,
    /// A request went out and its answer was not taken: its call timed out, or its future
    /// was dropped. PAIR carries no request id, and a server answers its messages in
    /// order, so that answer will come first: the next request waits for it and discards
    /// it before sending.
    owed: bool,
}

impl PairClient {
    /// Connects to `tcp://host:port` (Python: `PairClient(host, port)`).
    pub fn new(host: &str, port: u16) -> Result<Self, Error> {
        Self::connect(&tcp_host("tcp", host, port))
    }

    /// [`PairClient::new`] with security ([`Options`]): e.g. a CURVE client of the
    /// server's public key, or a PLAIN client.
    pub fn new_with(host: &str, port: u16, options: Options) -> Result<Self, Error> {
        Self::connect_with(&tcp_host(options.scheme(), host, port), options)
    }

    /// Connects to any endpoint.
    pub fn connect(endpoint: &str) -> Result<Self, Error> {
        Self::connect_with(endpoint, Options::default())
    }

    /// [`PairClient::connect`] with security ([`Options`]).
    pub fn connect_with(endpoint: &str, options: Options) -> Result<Self, Error> {
        let socket = options.socket(SocketType::Pair)?;
        socket.connect(endpoint)?;
        Ok(Self {
            connection: Mutex::new(Connection {
                socket,
                owed: false,
            }),
            coding: Coding::UTF_8,
            timeout: None,
        })
    }

    /// Gives up waiting for an answer after `timeout`.
    ///
    /// The answer to a request that timed out may still come. The next request first
    /// waits up to `timeout` for it and discards it, so it never takes that answer for
    /// its own; an answer later than that (a server slower than twice the timeout) would
    /// be mistaken for the next one, which PAIR, having no request ids, cannot tell apart.
    /// Use [`RRClient`](super::RRClient), whose requests carry ids, where that matters.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Text is encoded and decoded with this encoding (a WHATWG label).
    pub fn with_coding(mut self, label: &str) -> Result<Self, Error> {
        self.coding = Coding::for_label(label)?;
        Ok(self)
    }

    /// Sends a message and waits for the server's answer. Concurrent calls take turns, so
    /// each gets the answer to its own message (see [`PairClient::with_timeout`] for what
    /// happens after a timeout).
    pub async fn request(&self, msg: impl Into<Msg>) -> Result<Msg, Error> {
        let msg = msg.into();
        let mut connection = self.connection.lock().await;
        if connection.owed {
            match self.receive(&connection.socket).await {
                Ok(stale) => log::debug!("PairClient: discarded a late answer: {stale:?}"),
                Err(Error::Socket(io::Error::Timeout(_))) => {
                    log::debug!("PairClient: an abandoned request was never answered")
                }
                Err(other) => return Err(other),
            }
            connection.owed = false;
        }
        // Owed from the moment it may have gone out: if this future is dropped or times
        // out, the next call knows.
        connection.owed = true;
        connection.socket.send(msg).await?;
        let reply = self.receive(&connection.socket).await?;
        connection.owed = false;
        Ok(reply)
    }

    async fn receive(&self, socket: &Socket) -> Result<Msg, Error> {
        Ok(match self.timeout {
            Some(timeout) => socket.recv_timeout(timeout).await?,
            None => socket.recv().await?,
        })
    }

    /// Sends text and returns the answer as text.
    pub async fn request_text(&self, text: &str) -> Result<String, Error> {
        let reply = self.request(self.coding.encode(text)?).await?;
        self.coding
            .decode(reply.first().map(|f| &f[..]).unwrap_or_default())
    }

    /// Closes the socket.
    pub async fn close(&self) {
        self.connection.lock().await.socket.close().await;
    }
}
