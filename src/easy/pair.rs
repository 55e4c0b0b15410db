//! [`PairClient`]: talks to a [`PairServer`](super::PairServer) over an exclusive pair.

use std::time::Duration;

use super::coding::Coding;
use super::{Error, tcp_host};
use crate::Msg;
use crate::io::Socket;
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
    socket: Socket,
    coding: Coding,
    timeout: Option<Duration>,
}

impl PairClient {
    /// Connects to `tcp://host:port` (Python: `PairClient(host, port)`).
    pub fn new(host: &str, port: u16) -> Result<Self, Error> {
        Self::connect(&tcp_host(host, port))
    }

    /// Connects to any endpoint.
    pub fn connect(endpoint: &str) -> Result<Self, Error> {
        let socket = Socket::new(SocketType::Pair);
        socket.connect(endpoint)?;
        Ok(Self {
            socket,
            coding: Coding::UTF_8,
            timeout: None,
        })
    }

    /// Gives up waiting for an answer after `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Text is encoded and decoded with this encoding (a WHATWG label).
    pub fn with_coding(mut self, label: &str) -> Result<Self, Error> {
        self.coding = Coding::for_label(label)?;
        Ok(self)
    }

    /// Sends a message and waits for the server's answer.
    pub async fn request(&self, msg: impl Into<Msg>) -> Result<Msg, Error> {
        self.socket.send(msg).await?;
        let reply = match self.timeout {
            Some(timeout) => self.socket.recv_timeout(timeout).await?,
            None => self.socket.recv().await?,
        };
        Ok(reply)
    }

    /// Sends text and returns the answer as text.
    pub async fn request_text(&self, text: &str) -> Result<String, Error> {
        let reply = self.request(self.coding.encode(text)?).await?;
        self.coding
            .decode(reply.first().map(|f| &f[..]).unwrap_or_default())
    }

    /// Closes the socket.
    pub async fn close(&self) {
        self.socket.close().await;
    }
}
