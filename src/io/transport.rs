//! TCP and IPC (Unix domain socket) transports on async-io's reactor.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::{UnixListener, UnixStream};
#[cfg(unix)]
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_io::Async;
use futures_io::{AsyncRead, AsyncWrite};

use crate::endpoint::{Endpoint, Host};

/// A bound endpoint accepting connections.
#[derive(Debug)]
pub(crate) enum Listener {
    Tcp(Async<TcpListener>),
    #[cfg(unix)]
    Ipc(Async<UnixListener>, PathBuf),
}

/// One established transport connection.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(Async<TcpStream>),
    #[cfg(unix)]
    Ipc(Async<UnixStream>),
}

/// Resolves a TCP endpoint's host and port, blocking (call it off the executor for names).
fn resolve(endpoint: &Endpoint) -> io::Result<Vec<SocketAddr>> {
    let (host, port) = endpoint
        .tcp_target()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a TCP endpoint"))?;
    let addrs: Vec<SocketAddr> = (host.as_str(), port).to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host} resolves to no address"),
        ));
    }
    Ok(addrs)
}

impl Listener {
    /// Binds; returns the listener and the endpoint it actually listens on (with the port
    /// the system chose for `*`).
    pub(crate) fn bind(endpoint: &Endpoint) -> io::Result<(Self, Endpoint)> {
        match endpoint {
            Endpoint::Tcp { host, .. } => {
                let mut last_err = None;
                for addr in resolve(endpoint)? {
                    match Async::<TcpListener>::bind(addr) {
                        Ok(listener) => {
                            let local = listener.get_ref().local_addr()?;
                            let host = match host {
                                Host::Any => Host::Any,
                                _ => Host::Ip(local.ip()),
                            };
                            let bound = Endpoint::Tcp {
                                host,
                                port: Some(local.port()),
                            };
                            return Ok((Self::Tcp(listener), bound));
                        }
                        Err(err) => last_err = Some(err),
                    }
                }
                Err(last_err.expect("resolve returns at least one address"))
            }
            #[cfg(unix)]
            Endpoint::Ipc(path) => {
                remove_stale_socket(path);
                let listener = Async::<UnixListener>::bind(path)?;
                Ok((Self::Ipc(listener, path.clone()), endpoint.clone()))
            }
            #[cfg(not(unix))]
            Endpoint::Ipc(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "ipc:// endpoints need Unix domain sockets",
            )),
        }
    }

    /// The next incoming connection.
    pub(crate) async fn accept(&self) -> io::Result<Stream> {
        match self {
            Self::Tcp(listener) => {
                let (stream, _) = listener.accept().await?;
                stream.get_ref().set_nodelay(true)?;
                Ok(Stream::Tcp(stream))
            }
            #[cfg(unix)]
            Self::Ipc(listener, _) => {
                let (stream, _) = listener.accept().await?;
                Ok(Stream::Ipc(stream))
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Self::Ipc(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A socket file left behind by a process that died would make `bind` fail; libzmq
/// removes it too. Only sockets are removed, never regular files.
#[cfg(unix)]
fn remove_stale_socket(path: &std::path::Path) {
    use std::os::unix::fs::FileTypeExt;
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
        && UnixStream::connect(path).is_err()
    {
        let _ = std::fs::remove_file(path);
    }
}

impl Stream {
    /// Connects to a concrete endpoint (names are resolved off the executor).
    pub(crate) async fn connect(endpoint: &Endpoint) -> io::Result<Self> {
        match endpoint {
            Endpoint::Tcp { host, .. } => {
                let addrs = match host {
                    Host::Name(_) => {
                        let endpoint = endpoint.clone();
                        smol::unblock(move || resolve(&endpoint)).await?
                    }
                    _ => resolve(endpoint)?,
                };
                let mut last_err = None;
                for addr in addrs {
                    match Async::<TcpStream>::connect(addr).await {
                        Ok(stream) => {
                            stream.get_ref().set_nodelay(true)?;
                            return Ok(Self::Tcp(stream));
                        }
                        Err(err) => last_err = Some(err),
                    }
                }
                Err(last_err.expect("resolve returns at least one address"))
            }
            #[cfg(unix)]
            Endpoint::Ipc(path) => Ok(Self::Ipc(Async::<UnixStream>::connect(path).await?)),
            #[cfg(not(unix))]
            Endpoint::Ipc(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "ipc:// endpoints need Unix domain sockets",
            )),
        }
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::Tcp($s) => $e,
            #[cfg(unix)]
            Stream::Ipc($s) => $e,
        }
    };
}

impl Stream {
    /// The peer's address as ZAP reports it: the IP for TCP, empty for IPC.
    pub(crate) fn peer_address(&self) -> String {
        match self {
            Stream::Tcp(s) => s
                .get_ref()
                .peer_addr()
                .map(|addr| addr.ip().to_string())
                .unwrap_or_default(),
            #[cfg(unix)]
            Stream::Ipc(_) => String::new(),
        }
    }

    /// Waits until the stream may have data, without reading (registers with the reactor).
    pub(crate) fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Tcp(s) => s.poll_readable(cx),
            #[cfg(unix)]
            Stream::Ipc(s) => s.poll_readable(cx),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_close(cx))
    }
}
