//! TCP, IPC (Unix domain socket) and, with the `tls` feature, TLS-over-TCP transports on
//! async-io's reactor.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::{UnixListener, UnixStream};
#[cfg(unix)]
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_io::Async;
use futures_io::{AsyncRead, AsyncWrite};

use super::options::TcpKeepalive;
use super::virtual_net::{VirtualConnection, VirtualListener, VirtualNetwork, VirtualStream};
use crate::endpoint::{Endpoint, Host};

/// The TLS configurations of a socket (empty without the `tls` feature).
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsSettings {
    /// For connecting to `tls+tcp://` endpoints.
    #[cfg(feature = "tls")]
    pub(crate) client: Option<super::tls::TlsClientConfig>,
    /// For binding `tls+tcp://` endpoints.
    #[cfg(feature = "tls")]
    pub(crate) server: Option<super::tls::TlsServerConfig>,
}

impl TlsSettings {
    /// Refuses a `tls+tcp://` endpoint this socket has no TLS configuration for (or that
    /// this build cannot serve), with an error that says what is missing.
    pub(crate) fn check(&self, endpoint: &Endpoint, connecting: bool) -> io::Result<()> {
        if !matches!(endpoint, Endpoint::Tls { .. }) {
            return Ok(());
        }
        #[cfg(feature = "tls")]
        {
            let (configured, method) = if connecting {
                (self.client.is_some(), "SocketBuilder::tls_client")
            } else {
                (self.server.is_some(), "SocketBuilder::tls_server")
            };
            if configured {
                return Ok(());
            }
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} a tls+tcp:// endpoint needs a TLS configuration: set one with {method}",
                    if connecting {
                        "connecting to"
                    } else {
                        "binding"
                    }
                ),
            ))
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = connecting;
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "tls+tcp:// endpoints need zmq-sansio's `tls` cargo feature",
            ))
        }
    }
}

/// A bound endpoint accepting connections.
#[derive(Debug)]
pub(crate) enum Listener {
    Tcp(Async<TcpListener>),
    /// Accepts TCP connections; each one's TLS handshake runs in its own task.
    #[cfg(feature = "tls")]
    Tls(Async<TcpListener>, super::tls::TlsServerConfig),
    #[cfg(unix)]
    Ipc(Async<UnixListener>, PathBuf),
    /// An endpoint of the runtime's own network.
    Virtual(Box<dyn VirtualListener>),
}

/// One established transport connection.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(Async<TcpStream>),
    #[cfg(unix)]
    Ipc(Async<UnixStream>),
    /// Boxed: a TLS session is large, and most connections are not TLS.
    #[cfg(feature = "tls")]
    Tls(Box<TlsConnection>),
    /// A connection of the runtime's own network, with the other end's endpoint and
    /// address.
    Virtual(Box<dyn VirtualStream>, String, String),
}

/// A TLS session over TCP, either side.
#[cfg(feature = "tls")]
#[derive(Debug)]
pub(crate) struct TlsConnection(futures_rustls::TlsStream<Async<TcpStream>>);

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
    pub(crate) fn bind(
        endpoint: &Endpoint,
        tls: &TlsSettings,
        network: Option<Arc<dyn VirtualNetwork>>,
    ) -> io::Result<(Self, Endpoint)> {
        tls.check(endpoint, false)?;
        if let Some(network) = network {
            return match endpoint {
                Endpoint::Tcp { .. } | Endpoint::Ipc(_) => {
                    let (listener, bound) = network.bind(endpoint)?;
                    Ok((Self::Virtual(listener), bound))
                }
                _ => Err(unsupported_on_virtual(endpoint)),
            };
        }
        match endpoint {
            Endpoint::Tcp { host, .. } => {
                let (listener, host, port) = bind_tcp(endpoint, host)?;
                Ok((Self::Tcp(listener), Endpoint::Tcp { host, port }))
            }
            #[cfg(feature = "tls")]
            Endpoint::Tls { host, .. } => {
                let config = tls.server.clone().expect("checked above");
                let (listener, host, port) = bind_tcp(endpoint, host)?;
                Ok((Self::Tls(listener, config), Endpoint::Tls { host, port }))
            }
            #[cfg(not(feature = "tls"))]
            Endpoint::Tls { .. } => unreachable!("refused by TlsSettings::check"),
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
            Endpoint::Inproc(_) => unreachable!("inproc endpoints are bound by io::inproc"),
        }
    }

    /// The next incoming connection (for TLS, the TCP connection before its handshake: see
    /// [`Listener::tls_acceptor`]).
    pub(crate) async fn accept(&self) -> io::Result<Stream> {
        match self {
            #[cfg(feature = "tls")]
            Self::Tls(listener, _) => {
                let (stream, _) = listener.accept().await?;
                stream.get_ref().set_nodelay(true)?;
                Ok(Stream::Tcp(stream))
            }
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
            Self::Virtual(listener) => {
                let accepted = std::future::poll_fn(|cx| listener.poll_accept(cx)).await?;
                Ok(Stream::from(accepted))
            }
        }
    }
}

/// A `tls+tcp://` endpoint on a runtime with a network of its own.
fn unsupported_on_virtual(endpoint: &Endpoint) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{endpoint}: the runtime's network has tcp:// and ipc:// endpoints only"),
    )
}

impl From<VirtualConnection> for Stream {
    fn from(connection: VirtualConnection) -> Self {
        Stream::Virtual(connection.stream, connection.remote, connection.address)
    }
}

#[cfg(feature = "tls")]
impl Listener {
    /// For a TLS listener, what runs the server side of each accepted connection's
    /// handshake.
    pub(crate) fn tls_acceptor(&self) -> Option<futures_rustls::TlsAcceptor> {
        match self {
            Self::Tls(_, config) => Some(config.acceptor()),
            _ => None,
        }
    }
}

/// Binds the first address `endpoint` resolves to that can be bound; returns the listener
/// and the host and port to report as bound.
fn bind_tcp(
    endpoint: &Endpoint,
    host: &Host,
) -> io::Result<(Async<TcpListener>, Host, Option<u16>)> {
    let mut last_err = None;
    for addr in resolve(endpoint)? {
        match Async::<TcpListener>::bind(addr) {
            Ok(listener) => {
                let local = listener.get_ref().local_addr()?;
                let host = match host {
                    Host::Any => Host::Any,
                    _ => Host::Ip(local.ip()),
                };
                return Ok((listener, host, Some(local.port())));
            }
            Err(err) => last_err = Some(err),
        }
    }
    Err(last_err.expect("resolve returns at least one address"))
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
    /// Applies the socket's keepalive settings if this is a TCP connection (TLS included).
    pub(crate) fn apply_keepalive(&self, keepalive: &TcpKeepalive) -> io::Result<()> {
        if keepalive.is_default() {
            return Ok(());
        }
        match self {
            Self::Tcp(stream) => set_keepalive(stream.get_ref(), keepalive),
            #[cfg(feature = "tls")]
            Self::Tls(tls) => set_keepalive(tls.0.get_ref().0.get_ref(), keepalive),
            #[cfg(unix)]
            Self::Ipc(_) => Ok(()),
            Self::Virtual(..) => Ok(()),
        }
    }

    /// Connects to a concrete endpoint (names are resolved off the executor); for TLS, also
    /// runs the client side of the handshake.
    pub(crate) async fn connect(
        endpoint: &Endpoint,
        tls: &TlsSettings,
        network: Option<Arc<dyn VirtualNetwork>>,
    ) -> io::Result<Self> {
        tls.check(endpoint, true)?;
        if let Some(network) = network {
            return match endpoint {
                Endpoint::Tcp { .. } | Endpoint::Ipc(_) => {
                    Ok(Stream::from(network.connect(endpoint).await?))
                }
                _ => Err(unsupported_on_virtual(endpoint)),
            };
        }
        match endpoint {
            Endpoint::Tcp { host, .. } => Ok(Self::Tcp(connect_tcp(endpoint, host).await?)),
            #[cfg(feature = "tls")]
            Endpoint::Tls { host, .. } => {
                let config = tls.client.as_ref().expect("checked above");
                let server_name = config.server_name_for(endpoint)?;
                let stream = connect_tcp(endpoint, host).await?;
                match config.connector().connect(server_name, stream).await {
                    Ok(stream) => Ok(Self::Tls(Box::new(TlsConnection(stream.into())))),
                    Err(err) => {
                        log::warn!("{endpoint}: TLS handshake failed: {err}");
                        Err(io::Error::new(
                            err.kind(),
                            format!("TLS handshake failed: {err}"),
                        ))
                    }
                }
            }
            #[cfg(not(feature = "tls"))]
            Endpoint::Tls { .. } => unreachable!("refused by TlsSettings::check"),
            #[cfg(unix)]
            Endpoint::Ipc(path) => Ok(Self::Ipc(Async::<UnixStream>::connect(path).await?)),
            #[cfg(not(unix))]
            Endpoint::Ipc(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "ipc:// endpoints need Unix domain sockets",
            )),
            Endpoint::Inproc(_) => unreachable!("inproc endpoints are connected by io::inproc"),
        }
    }
}

/// The server side of the TLS handshake on a connection [`Listener::accept`] returned.
#[cfg(feature = "tls")]
pub(crate) async fn tls_accept(
    stream: Stream,
    acceptor: &futures_rustls::TlsAcceptor,
) -> io::Result<Stream> {
    let Stream::Tcp(tcp) = stream else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "TLS runs over TCP only",
        ));
    };
    let tls = acceptor.accept(tcp).await?;
    Ok(Stream::Tls(Box::new(TlsConnection(tls.into()))))
}

/// Sets SO_KEEPALIVE and, when on, the probe count, idle time and interval, as libzmq's
/// `tune_tcp_keepalives` does.
#[cfg(unix)]
fn set_keepalive(stream: &TcpStream, keepalive: &TcpKeepalive) -> io::Result<()> {
    use rustix::net::sockopt;
    let Some(enabled) = keepalive.enabled else {
        return Ok(());
    };
    sockopt::set_socket_keepalive(stream, enabled)?;
    if !enabled {
        return Ok(());
    }
    #[cfg(not(any(
        target_os = "haiku",
        target_os = "nto",
        target_os = "openbsd",
        target_os = "redox"
    )))]
    {
        if let Some(count) = keepalive.count {
            sockopt::set_tcp_keepcnt(stream, count)?;
        }
        if let Some(interval) = keepalive.interval {
            sockopt::set_tcp_keepintvl(stream, interval)?;
        }
    }
    #[cfg(not(any(target_os = "haiku", target_os = "nto", target_os = "openbsd")))]
    if let Some(idle) = keepalive.idle {
        sockopt::set_tcp_keepidle(stream, idle)?;
    }
    Ok(())
}

/// Keepalive settings are ignored where there is no way to set them here (see
/// [`TcpKeepalive`]).
#[cfg(not(unix))]
fn set_keepalive(_: &TcpStream, _: &TcpKeepalive) -> io::Result<()> {
    Ok(())
}

/// Connects to the first address `endpoint` resolves to that answers.
async fn connect_tcp(endpoint: &Endpoint, host: &Host) -> io::Result<Async<TcpStream>> {
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
                return Ok(stream);
            }
            Err(err) => last_err = Some(err),
        }
    }
    Err(last_err.expect("resolve returns at least one address"))
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::Tcp($s) => $e,
            #[cfg(unix)]
            Stream::Ipc($s) => $e,
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => {
                let $s = &mut tls.0;
                $e
            }
            Stream::Virtual($s, ..) => $e,
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
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => (tls.0.get_ref().0.get_ref().peer_addr())
                .map(|addr| addr.ip().to_string())
                .unwrap_or_default(),
            Stream::Virtual(_, _, address) => address.clone(),
        }
    }

    /// The peer's endpoint for monitor events (`tcp://ip:port`), empty for IPC, whose
    /// clients have no address.
    pub(crate) fn remote_endpoint(&self) -> String {
        match self {
            Stream::Tcp(s) => (s.get_ref().peer_addr())
                .map(|addr| format!("tcp://{addr}"))
                .unwrap_or_default(),
            #[cfg(unix)]
            Stream::Ipc(_) => String::new(),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => (tls.0.get_ref().0.get_ref().peer_addr())
                .map(|addr| format!("tls+tcp://{addr}"))
                .unwrap_or_default(),
            Stream::Virtual(_, remote, _) => remote.clone(),
        }
    }

    /// Waits until the stream may have data, without reading (registers with the reactor).
    pub(crate) fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Tcp(s) => s.poll_readable(cx),
            #[cfg(unix)]
            Stream::Ipc(s) => s.poll_readable(cx),
            // The TLS session may hold decrypted data, or records already read from the
            // socket, that a silent socket says nothing about: "read to find out".
            #[cfg(feature = "tls")]
            Stream::Tls(_) => Poll::Ready(Ok(())),
            // Read to find out: a virtual stream registers the waker when it has nothing.
            Stream::Virtual(..) => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        #[cfg(feature = "tls")]
        if let Stream::Tls(tls) = this {
            return match Pin::new(&mut tls.0).poll_read(cx, buf) {
                // A peer that closes without TLS's close_notify has closed all the same:
                // ZMTP frames carry their lengths, so nothing truncated passes unnoticed.
                Poll::Ready(Err(err)) if err.kind() == io::ErrorKind::UnexpectedEof => {
                    Poll::Ready(Ok(0))
                }
                other => other,
            };
        }
        let this = Pin::new(this);
        delegate!(this, s => Pin::new(s).poll_read(cx, buf))
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

#[cfg(feature = "tls")]
impl Drop for TlsConnection {
    /// Ends the session politely: queues close_notify and writes it if the socket takes it
    /// at once (never blocking; the peer treats a bare close the same way).
    fn drop(&mut self) {
        fn close<S: futures_rustls::rustls::SideData>(
            tcp: &Async<TcpStream>,
            session: &mut futures_rustls::rustls::ConnectionCommon<S>,
        ) {
            session.send_close_notify();
            let mut socket: &TcpStream = tcp.get_ref();
            while session.wants_write() {
                if !matches!(session.write_tls(&mut socket), Ok(n) if n > 0) {
                    break;
                }
            }
        }
        match &mut self.0 {
            futures_rustls::TlsStream::Client(tls) => {
                let (tcp, session) = tls.get_mut();
                close(tcp, session);
            }
            futures_rustls::TlsStream::Server(tls) => {
                let (tcp, session) = tls.get_mut();
                close(tcp, session);
            }
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::time::Duration;

    use rustix::net::sockopt;

    use super::*;

    /// A connected pair of our TCP streams, through the listener and connector the io
    /// tasks use.
    fn connected_pair() -> (Stream, Stream) {
        smol::block_on(async {
            let endpoint: Endpoint = "tcp://127.0.0.1:*".parse().unwrap();
            let no_tls = TlsSettings::default();
            let (listener, bound) = Listener::bind(&endpoint, &no_tls, None).unwrap();
            let (connected, accepted) =
                smol::future::zip(Stream::connect(&bound, &no_tls, None), listener.accept()).await;
            (connected.unwrap(), accepted.unwrap())
        })
    }

    fn tcp(stream: &Stream) -> &TcpStream {
        match stream {
            Stream::Tcp(s) => s.get_ref(),
            _ => unreachable!("a TCP pair"),
        }
    }

    #[test]
    fn keepalive_settings_are_read_back_from_both_ends() {
        let (connected, accepted) = connected_pair();
        let keepalive = TcpKeepalive {
            enabled: Some(true),
            count: Some(4),
            idle: Some(Duration::from_secs(33)),
            interval: Some(Duration::from_secs(7)),
        };
        for stream in [&connected, &accepted] {
            stream.apply_keepalive(&keepalive).unwrap();
            let socket = tcp(stream);
            assert!(sockopt::socket_keepalive(socket).unwrap());
            assert_eq!(sockopt::tcp_keepcnt(socket).unwrap(), 4);
            assert_eq!(
                sockopt::tcp_keepidle(socket).unwrap(),
                Duration::from_secs(33)
            );
            assert_eq!(
                sockopt::tcp_keepintvl(socket).unwrap(),
                Duration::from_secs(7)
            );
        }
        let off = TcpKeepalive {
            enabled: Some(false),
            count: Some(9),
            ..TcpKeepalive::default()
        };
        connected.apply_keepalive(&off).unwrap();
        assert!(!sockopt::socket_keepalive(tcp(&connected)).unwrap());
        assert_eq!(
            sockopt::tcp_keepcnt(tcp(&connected)).unwrap(),
            4,
            "the count applies only with keepalive on, as in libzmq"
        );
    }

    #[test]
    fn default_keepalive_leaves_the_system_default() {
        let (connected, _accepted) = connected_pair();
        let before = sockopt::socket_keepalive(tcp(&connected)).unwrap();
        connected.apply_keepalive(&TcpKeepalive::default()).unwrap();
        assert_eq!(sockopt::socket_keepalive(tcp(&connected)).unwrap(), before);
    }
}
