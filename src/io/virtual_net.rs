//! The network seam: where a socket's `tcp://` and `ipc://` endpoints lead when its
//! [`Runtime`](super::Runtime) provides a network of its own
//! ([`Runtime::network`](super::Runtime::network)) instead of the operating system's.
//!
//! A simulated world (the `simulation` module) implements these traits with in-memory
//! connections under virtual time; the socket's tasks, drivers, reconnects and timers are
//! the same code either way, so an application tested in the simulation is the one that
//! runs on real sockets.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use crate::endpoint::Endpoint;

/// One end of a connection of a [`VirtualNetwork`]: a byte stream in each direction.
pub trait VirtualStream: AsyncRead + AsyncWrite + Send + Unpin + fmt::Debug {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + fmt::Debug> VirtualStream for T {}

/// A connection made or accepted on a [`VirtualNetwork`].
#[derive(Debug)]
pub struct VirtualConnection {
    /// Our end of it.
    pub stream: Box<dyn VirtualStream>,
    /// The other end's endpoint, for monitor events (`tcp://host:port`).
    pub remote: String,
    /// The other end's address, as an authenticator is told it (ZAP's address).
    pub address: String,
}

/// A bound endpoint of a [`VirtualNetwork`]. Dropping it unbinds.
pub trait VirtualListener: Send + Sync + fmt::Debug {
    /// The next connection made to it; registers `cx`'s waker while there is none.
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<VirtualConnection>>;
}

/// A connection attempt of a [`VirtualNetwork`].
pub type ConnectFuture = Pin<Box<dyn Future<Output = io::Result<VirtualConnection>> + Send>>;

/// A network that is not the operating system's: what `bind` and `connect` reach when the
/// socket's runtime provides one. `tls+tcp://` and `inproc://` endpoints do not go through
/// it (TLS is refused; inproc stays in the process as always).
pub trait VirtualNetwork: Send + Sync + fmt::Debug {
    /// Binds `endpoint` (a `*` or 0 port picks a free one): the listener, and the endpoint
    /// as peers can connect to it.
    fn bind(&self, endpoint: &Endpoint) -> io::Result<(Box<dyn VirtualListener>, Endpoint)>;

    /// Connects to `endpoint`; resolves once the connection is made or has failed.
    fn connect(&self, endpoint: &Endpoint) -> ConnectFuture;
}
