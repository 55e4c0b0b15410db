//! The `io` layer (cargo feature `io`, on by default): sockets over TCP and IPC that run on
//! any executor.
//!
//! Each connection is driven by one task that reads, writes and keeps time for it, feeding
//! the sans-IO [`pattern::Socket`](crate::pattern::Socket) machine; listeners and
//! reconnecting connectors are tasks too. They run on the socket's [`Runtime`] (smol's
//! global executor unless [`SocketBuilder::runtime`] says otherwise: see the [`runtime`]
//! module), with async-io's reactor, so the futures returned to the application only wait
//! on wakers: `send` and `recv` work under smol, `futures::executor`, tokio or anything
//! else, and nothing here depends on tokio.
//!
//! ## Where to run the code that talks to sockets
//!
//! Any executor works, but the fastest place is the executor the socket's connections run
//! on (smol's global one by default, [`smol::spawn`](https://docs.rs/smol/latest/smol/fn.spawn.html)):
//! a `recv` waiting there is woken on the same thread that read the message, and a `send`
//! hands its message to a driver on that same thread, with no thread switch either way.
//! [`LocalRuntime`] makes that arrangement explicit: one thread for the application and its
//! sockets. Measured by `cargo bench --bench compare` (see `BENCHMARKS.md`), this makes a REQ/REP
//! round trip about five times faster than from a thread of its own
//! (`futures::executor::block_on`). The executor has one thread unless the
//! `SMOL_THREADS` environment variable says otherwise.
//!
//! From a plain thread, use the blocking calls [`Socket::send_blocking`] and
//! [`Socket::recv_blocking`], or `smol::block_on` (async-io's): both wait on the reactor
//! themselves. With [`SocketBuilder::inline_io`] (on for REQ and REP) `send` writes on the
//! calling thread, and a waiting `recv` is woken by the reactor and reads on it
//! (`cargo bench --bench placement` measures each arrangement).
//!
//! ```
//! use zmq_sansio::io::Socket;
//! use zmq_sansio::proto::SocketType;
//!
//! let rep = Socket::new(SocketType::Rep);
//! let endpoint = rep.bind("tcp://127.0.0.1:*").unwrap();
//! let echo = smol::spawn(async move {
//!     let request = rep.recv().await.unwrap();
//!     rep.send(request).await.unwrap();
//! });
//! let req = Socket::new(SocketType::Req);
//! req.connect(&endpoint).unwrap();
//! let reply = smol::block_on(smol::spawn(async move {
//!     req.send("ping").await.unwrap();
//!     req.recv().await.unwrap()
//! }));
//! assert_eq!(&reply.first().unwrap()[..], b"ping");
//! smol::block_on(echo);
//! ```
//!
//! | ZeroMQ | here |
//! |---|---|
//! | `zmq_socket` + `zmq_setsockopt` | [`Socket::builder`] … [`SocketBuilder::build`] |
//! | `zmq_bind` / `zmq_unbind` | [`Socket::bind`] (returns the bound endpoint) / [`Socket::unbind`] |
//! | `zmq_connect` / `zmq_disconnect` | [`Socket::connect`] / [`Socket::disconnect`] |
//! | `zmq_send` / `zmq_recv` | [`Socket::send`] / [`Socket::recv`] (and `try_` forms; on plain threads [`Socket::send_blocking`] / [`Socket::recv_blocking`]) |
//! | `ZMQ_SUBSCRIBE` | [`Socket::subscribe`] |
//! | `zmq_close` + `ZMQ_LINGER` | [`Socket::close`], or dropping the last clone |
//! | `zmq_socket_monitor` | [`Socket::monitor`] or [`SocketBuilder::monitor`]: a [`Monitor`] stream |
//! | `zmq_proxy` / `zmq_proxy_steerable` | [`proxy()`] / [`SteerableProxy`] |
//! | `inproc://` | the same [`Socket::bind`] / [`Socket::connect`] |
//! | `zmq_proxy` / `zmq_proxy_steerable` | [`proxy()`] / [`SteerableProxy`] with a [`ProxyControl`] or a control socket |
//!
//! With the `tls` cargo feature, `tls+tcp://` endpoints carry ZMTP inside TLS between
//! zmq-sansio peers: see the `tls` module (libzmq peers need CURVE instead).

mod auth;
mod driver;
mod inline;
mod inproc;
mod monitor;
mod options;
mod proxy;
pub mod runtime;
mod shared;
mod socket;
mod tasks;
#[cfg(feature = "tls")]
pub mod tls;
mod transport;
mod virtual_net;

use std::time::Duration;

use thiserror::Error;

use crate::Msg;
use crate::endpoint::EndpointError;
use crate::pattern::{AttachError, RecvError, SendError};
use crate::proto::ConfigError;

pub use crate::endpoint::{Endpoint, Host};
pub use crate::pattern::monitor::{DisconnectReason, MonitorEvent, TransportError};
pub use auth::{AuthFuture, Authenticator};
pub use monitor::Monitor;
#[cfg(feature = "easy")]
pub(crate) use monitor::MonitorSink;
pub use options::{
    DEFAULT_LINGER, DEFAULT_RECONNECT_IVL, DEFAULT_RECONNECT_IVL_MAX, SocketBuilder, TcpKeepalive,
};
pub use proxy::{ProxyControl, ProxyError, ProxySocket, SteerableProxy, proxy};
pub use runtime::{
    ExecutorRuntime, IoThreads, LocalRuntime, Runtime, SmolRuntime, SpawnRuntime, Task, Timer,
};
pub use shared::live_tasks;
pub use socket::{Received, Socket};
#[cfg(feature = "tls")]
pub use tls::{TlsClientConfig, TlsError, TlsServerConfig};
pub use virtual_net::{
    ConnectFuture, VirtualConnection, VirtualListener, VirtualNetwork, VirtualStream,
};

/// What can go wrong with a [`Socket`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The endpoint string is malformed.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// Binding (or another transport operation) failed.
    #[error("{endpoint}: {source}")]
    Transport {
        /// The endpoint concerned.
        endpoint: String,
        /// The system's error.
        source: std::io::Error,
    },
    /// [`Socket::try_send`] could not send without waiting; the message is handed back.
    #[error("sending would block (no peer can take the message now)")]
    WouldBlock(Msg),
    /// The pattern refused the message (e.g. a second request on REQ).
    #[error(transparent)]
    Send(SendError),
    /// The pattern cannot receive now (e.g. REP owes a reply).
    #[error(transparent)]
    Recv(#[from] RecvError),
    /// The pattern refused another peer (a PAIR that has one).
    #[error(transparent)]
    Attach(#[from] AttachError),
    /// A socket option is invalid.
    #[error("invalid option: {0}")]
    Option(#[from] ConfigError),
    /// The socket is closed (or closing).
    #[error("the socket is closed")]
    Closed,
    /// `unbind` of an endpoint that is not bound.
    #[error("not bound to {0}")]
    NotBound(String),
    /// `disconnect` from an endpoint that is not connected.
    #[error("not connected to {0}")]
    NotConnected(String),
    /// Nothing arrived in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

impl Error {
    fn from_send(err: SendError) -> Self {
        match err {
            SendError::WouldBlock(msg) => Self::WouldBlock(msg),
            other => Self::Send(other),
        }
    }
}
