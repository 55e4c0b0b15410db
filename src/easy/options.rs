//! [`Options`]: the security of an easy class's socket (PLAIN, CURVE) and who it lets in,
//! given to the `*_with` constructors.

use bytes::Bytes;

use std::sync::Arc;

use crate::io::{Authenticator, Monitor, MonitorSink, Runtime, Socket, SocketBuilder};
#[cfg(feature = "tls")]
use crate::io::{TlsClientConfig, TlsServerConfig};
use crate::proto::SocketType;
use crate::security::Security;
#[cfg(feature = "curve")]
use crate::security::{CurveKeyPair, CurvePublicKey, CurveSecretKey};

/// How an easy class secures its connections: the mechanism and our side of it
/// ([`Security`]), and for the side that accepts clients, an [`Authenticator`] deciding
/// which ones it lets in.
///
/// Every constructor of the eight classes has a `*_with` twin taking an `Options` as its
/// last argument ([`Publisher::new_with`](super::Publisher::new_with),
/// [`RRClient::connect_with`](super::RRClient::connect_with), …): the socket is built with
/// them before it binds or connects. The plain constructors use [`Options::default`], no
/// security (NULL), exactly as before.
///
/// Which side is the mechanism's server is independent of which side binds: usually the
/// binding class (a [`Publisher`](super::Publisher), a server, a [`PPPusher`](super::PPPusher))
/// is the PLAIN or CURVE server and the connecting one the client.
///
/// ```
/// # smol::block_on(async {
/// use zmq_sansio::easy::{Options, RRClient, RRServer};
/// use zmq_sansio::io::Authenticator;
/// use zmq_sansio::security::{AuthDecision, CurveKeyPair, Credentials};
///
/// let server_keys = CurveKeyPair::generate();
/// let client_keys = CurveKeyPair::generate();
/// let known = *client_keys.public();
/// let only_known = Authenticator::new(move |request| match &request.credentials {
///     Credentials::Curve { public_key } if *public_key == known => AuthDecision::allow(),
///     _ => AuthDecision::deny("unknown key"),
/// });
///
/// let server = RRServer::bind_with(
///     "tcp://127.0.0.1:*",
///     Options::curve_server(server_keys.secret().clone()).authenticator(only_known),
/// )?;
/// let client = RRClient::connect_with(
///     server.endpoint(),
///     Options::curve_client(*server_keys.public(), client_keys),
/// )?;
/// let _serving = smol::spawn(async move { server.run().await });
/// assert_eq!(client.request_text("secret").await?, "secret");
/// # Ok::<(), zmq_sansio::easy::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Default)]
pub struct Options {
    security: Security,
    authenticator: Option<Authenticator>,
    zap_domain: Bytes,
    #[cfg(feature = "tls")]
    tls_server: Option<TlsServerConfig>,
    #[cfg(feature = "tls")]
    tls_client: Option<TlsClientConfig>,
    monitor: Option<MonitorSink>,
    runtime: Option<Arc<dyn Runtime>>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("security", &self.security)
            .field("authenticator", &self.authenticator.is_some())
            .field("zap_domain", &self.zap_domain)
            .field("tls", &self.scheme())
            .field("monitor", &self.monitor.is_some())
            .field("runtime", &self.runtime)
            .finish()
    }
}

impl Options {
    /// No security (NULL) and no authenticator: the plain constructors' options.
    pub fn new() -> Self {
        Self::default()
    }

    /// PLAIN server: clients present a user name and password, checked by the
    /// [`authenticator`](Self::authenticator); without one every client is refused, as by
    /// libzmq without a ZAP handler. PLAIN travels in clear: use it on trusted networks
    /// only.
    pub fn plain_server() -> Self {
        Self::new().security(Security::PlainServer)
    }

    /// PLAIN client with these credentials (each at most 255 octets, checked when the
    /// socket is built).
    pub fn plain_client(username: impl Into<Bytes>, password: impl AsRef<[u8]>) -> Self {
        Self::new().security(Security::plain_client(username, password))
    }

    /// CURVE server with this secret key: traffic is encrypted, and clients must know the
    /// key's public half ([`CurveSecretKey::public_key`]). Any client that does is let in
    /// unless an [`authenticator`](Self::authenticator) decides by its public key.
    #[cfg(feature = "curve")]
    pub fn curve_server(secret: CurveSecretKey) -> Self {
        Self::new().security(Security::curve_server(secret))
    }

    /// CURVE client of the server whose public key is `server_key`, known to it by
    /// `keypair`'s public key (use [`CurveKeyPair::generate`] when the server does not
    /// check who its clients are).
    #[cfg(feature = "curve")]
    pub fn curve_client(server_key: CurvePublicKey, keypair: CurveKeyPair) -> Self {
        Self::new().security(Security::curve_client(server_key, keypair))
    }

    /// Sets the mechanism and our side of it, replacing the previous one.
    pub fn security(mut self, security: Security) -> Self {
        self.security = security;
        self
    }

    /// Decides which clients are let in (a ZAP handler; see [`Authenticator`]): PLAIN and
    /// CURVE servers ask it about every client, NULL sockets about every peer that
    /// connects. Refused clients are logged (warn level) and never exchange a message.
    pub fn authenticator(mut self, authenticator: Authenticator) -> Self {
        self.authenticator = Some(authenticator);
        self
    }

    /// The ZAP domain the authenticator is told (libzmq's ZMQ_ZAP_DOMAIN; empty by
    /// default).
    pub fn zap_domain(mut self, domain: impl Into<Bytes>) -> Self {
        self.zap_domain = domain.into();
        self
    }

    /// TLS for the classes that bind (cargo feature `tls`): the port constructors then bind
    /// `tls+tcp://` (TLS peers are zmq-sansio only; CURVE is the choice with libzmq).
    #[cfg(feature = "tls")]
    pub fn tls_server(mut self, config: TlsServerConfig) -> Self {
        self.tls_server = Some(config);
        self
    }

    /// TLS for the classes that connect (cargo feature `tls`): the host-and-port
    /// constructors then connect to `tls+tcp://`, checking the server's certificate.
    #[cfg(feature = "tls")]
    pub fn tls_client(mut self, config: TlsClientConfig) -> Self {
        self.tls_client = Some(config);
        self
    }

    /// `monitor` watches the class's socket from the start (its bind or connect
    /// included), and every socket the class opens later (an [`RRClient`](super::RRClient)
    /// reconnecting for a retry): see [`Monitor`].
    pub fn monitor(mut self, monitor: &Monitor) -> Self {
        self.monitor = Some(monitor.sink());
        self
    }

    /// Where the class's socket runs its connections and timers (see
    /// [`SocketBuilder::runtime`]): an executor of the application's, IO threads, or a
    /// simulated host (`simulation::Host::runtime`), where the class runs under virtual
    /// time on a simulated network.
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// The URL scheme the port constructors use: `tls+tcp` with TLS options, else `tcp`.
    pub(crate) fn scheme(&self) -> &'static str {
        #[cfg(feature = "tls")]
        if self.tls_server.is_some() || self.tls_client.is_some() {
            return "tls+tcp";
        }
        "tcp"
    }

    /// A socket builder of this type with these options applied; only what differs from
    /// the defaults is set, so default options build exactly `Socket::new`'s socket.
    pub(crate) fn builder(&self, socket_type: SocketType) -> SocketBuilder {
        let mut builder = Socket::builder(socket_type);
        if self.security != Security::Null {
            builder = builder.security(self.security.clone());
        }
        if !self.zap_domain.is_empty() {
            builder = builder.zap_domain(self.zap_domain.clone());
        }
        if let Some(authenticator) = &self.authenticator {
            builder = builder.authenticator(authenticator.clone());
        }
        #[cfg(feature = "tls")]
        if let Some(config) = &self.tls_server {
            builder = builder.tls_server(config.clone());
        }
        #[cfg(feature = "tls")]
        if let Some(config) = &self.tls_client {
            builder = builder.tls_client(config.clone());
        }
        if let Some(sink) = &self.monitor {
            builder = builder.monitor_sink(sink.clone());
        }
        if let Some(runtime) = &self.runtime {
            builder = builder.runtime(Arc::clone(runtime));
        }
        builder
    }

    /// The socket, built with these options.
    pub(crate) fn socket(&self, socket_type: SocketType) -> Result<Socket, crate::io::Error> {
        self.builder(socket_type).build()
    }
}

impl From<Security> for Options {
    fn from(security: Security) -> Self {
        Self::new().security(security)
    }
}
