//! [`SocketBuilder`]: every socket option in one place, checked when the socket is built.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::Error;
use super::auth::Authenticator;
use super::monitor::{Monitor, MonitorSink};
use super::runtime::{Runtime, SmolRuntime};
use super::socket::Socket;
use super::transport::TlsSettings;
use crate::pattern::{RouterNotify, SocketOptions};
use crate::proto::{ConfigError, HeartbeatConfig, SocketType};
use crate::security::Security;
#[cfg(feature = "curve")]
use crate::security::{CurveKeyPair, CurvePublicKey, CurveSecretKey, Entropy};

/// Default time `close` (or dropping the last handle) keeps trying to deliver queued
/// messages. libzmq waits forever by default, which hangs programs on exit.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(30);
/// Default first reconnect delay (libzmq's ZMQ_RECONNECT_IVL).
pub const DEFAULT_RECONNECT_IVL: Duration = Duration::from_millis(100);
/// Default longest reconnect delay; delays double up to it (ZMQ_RECONNECT_IVL_MAX).
pub const DEFAULT_RECONNECT_IVL_MAX: Duration = Duration::from_secs(5);

/// TCP keepalive on a socket's TCP connections (libzmq's ZMQ_TCP_KEEPALIVE, _CNT, _IDLE
/// and _INTVL; `None` is libzmq's -1: the operating system's default). The count, idle
/// time and interval apply only when `enabled` is `Some(true)`, as in libzmq.
///
/// Applied on Unix (the count and interval not on OpenBSD, Haiku, QNX or Redox, the idle
/// time not on OpenBSD, Haiku or QNX: those systems have no such per-socket options);
/// elsewhere the settings are ignored. A setting the system refuses is logged, and the
/// connection goes on without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TcpKeepalive {
    /// SO_KEEPALIVE on (`Some(true)`) or off (`Some(false)`) (ZMQ_TCP_KEEPALIVE).
    pub enabled: Option<bool>,
    /// Unanswered probes before the connection is dropped (ZMQ_TCP_KEEPALIVE_CNT).
    pub count: Option<u32>,
    /// Idle time before the first probe, in whole seconds (ZMQ_TCP_KEEPALIVE_IDLE).
    pub idle: Option<Duration>,
    /// Time between probes, in whole seconds (ZMQ_TCP_KEEPALIVE_INTVL).
    pub interval: Option<Duration>,
}

impl TcpKeepalive {
    /// Whether anything differs from the system's defaults.
    pub(crate) fn is_default(&self) -> bool {
        self.enabled.is_none()
    }
}

/// Builds a [`Socket`] with options (libzmq's `setsockopt`, before first use).
///
/// ```
/// use std::time::Duration;
/// use zmq_sansio::io::Socket;
/// use zmq_sansio::proto::SocketType;
///
/// let sub = Socket::builder(SocketType::Sub)
///     .recv_hwm(10_000)
///     .heartbeat(Duration::from_secs(1), Duration::from_secs(3))
///     .subscribe("weather.")
///     .build()
///     .unwrap();
/// # drop(sub);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SocketBuilder {
    pub(crate) options: SocketOptions,
    pub(crate) linger: Duration,
    pub(crate) reconnect_ivl: Duration,
    pub(crate) reconnect_ivl_max: Duration,
    pub(crate) subscriptions: Vec<Bytes>,
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) authenticator: Option<Authenticator>,
    identity: Option<Bytes>,
    properties: Vec<(String, Bytes)>,
    /// TLS configurations for `tls+tcp://` endpoints (feature `tls`).
    pub(crate) tls: TlsSettings,
    /// Monitors that watch the socket from the start.
    pub(crate) monitors: Vec<MonitorSink>,
    /// How long `send` waits before [`Error::Timeout`] (ZMQ_SNDTIMEO); `None`: forever.
    pub(crate) send_timeout: Option<Duration>,
    /// How long `recv` waits before [`Error::Timeout`] (ZMQ_RCVTIMEO); `None`: forever.
    pub(crate) recv_timeout: Option<Duration>,
    /// Keepalive settings of TCP connections.
    pub(crate) tcp_keepalive: TcpKeepalive,
    /// Whether `send` and `recv` do the IO themselves; `None`: by socket type.
    pub(crate) inline_io: Option<bool>,
}

impl SocketBuilder {
    pub(crate) fn new(socket_type: SocketType) -> Self {
        Self {
            options: SocketOptions::new(socket_type),
            linger: DEFAULT_LINGER,
            reconnect_ivl: DEFAULT_RECONNECT_IVL,
            reconnect_ivl_max: DEFAULT_RECONNECT_IVL_MAX,
            subscriptions: Vec::new(),
            runtime: Arc::new(SmolRuntime),
            authenticator: None,
            identity: None,
            properties: Vec::new(),
            tls: TlsSettings::default(),
            monitors: Vec::new(),
            send_timeout: None,
            recv_timeout: None,
            tcp_keepalive: TcpKeepalive::default(),
            inline_io: None,
        }
    }

    /// Outgoing queue limit per peer, in messages (ZMQ_SNDHWM; 0 = unlimited).
    pub fn send_hwm(mut self, messages: usize) -> Self {
        self.options.pattern.send_hwm = messages;
        self
    }

    /// Incoming queue limit per peer, in messages (ZMQ_RCVHWM; 0 = unlimited).
    pub fn recv_hwm(mut self, messages: usize) -> Self {
        self.options.pattern.recv_hwm = messages;
        self
    }

    /// How long closing keeps trying to deliver queued messages (ZMQ_LINGER).
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// First delay before reconnecting (ZMQ_RECONNECT_IVL).
    pub fn reconnect_interval(mut self, interval: Duration) -> Self {
        self.reconnect_ivl = interval;
        self
    }

    /// Longest delay between reconnect attempts; delays double up to it
    /// (ZMQ_RECONNECT_IVL_MAX).
    pub fn reconnect_interval_max(mut self, interval: Duration) -> Self {
        self.reconnect_ivl_max = interval;
        self
    }

    /// Sends a PING every `interval` and drops a peer silent for `timeout` after one;
    /// peers are told to drop us after `timeout` of silence too (ZMQ_HEARTBEAT_IVL,
    /// _TIMEOUT and _TTL).
    pub fn heartbeat(mut self, interval: Duration, timeout: Duration) -> Self {
        self.options.connection.heartbeat = HeartbeatConfig {
            interval: Some(interval),
            ttl: Some(timeout),
            timeout: Some(timeout),
        };
        self
    }

    /// Heartbeats with every setting explicit.
    pub fn heartbeat_config(mut self, heartbeat: HeartbeatConfig) -> Self {
        self.options.connection.heartbeat = heartbeat;
        self
    }

    /// Time allowed for a connection's handshake (ZMQ_HANDSHAKE_IVL); `None`: forever.
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.options.connection.handshake_timeout = timeout;
        self
    }

    /// Largest message accepted from a peer, all frames together (ZMQ_MAXMSGSIZE).
    pub fn max_msg_size(mut self, octets: u64) -> Self {
        self.options.connection.max_msg_size = octets;
        self
    }

    /// The routing id announced to ROUTER peers (ZMQ_ROUTING_ID); checked by `build`.
    pub fn routing_id(mut self, id: impl Into<Bytes>) -> Self {
        self.identity = Some(id.into());
        self
    }

    /// An extra metadata property announced to peers (ZMQ_METADATA), e.g. `X-Service`.
    pub fn property(mut self, name: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.properties.push((name.into(), value.into()));
        self
    }

    /// Queue messages only for peers with a completed handshake (ZMQ_IMMEDIATE).
    pub fn immediate(mut self, immediate: bool) -> Self {
        self.options.immediate = immediate;
        self
    }

    /// REQ: allow a new request before the previous reply (ZMQ_REQ_RELAXED).
    pub fn req_relaxed(mut self, relaxed: bool) -> Self {
        self.options.pattern.req_relaxed = relaxed;
        self
    }

    /// REQ: match replies to requests by id (ZMQ_REQ_CORRELATE).
    pub fn req_correlate(mut self, correlate: bool) -> Self {
        self.options.pattern.req_correlate = correlate;
        self
    }

    /// ROUTER: fail on unroutable messages instead of dropping (ZMQ_ROUTER_MANDATORY).
    pub fn router_mandatory(mut self, mandatory: bool) -> Self {
        self.options.pattern.router_mandatory = mandatory;
        self
    }

    /// ROUTER: a newcomer with a known identity takes it over (ZMQ_ROUTER_HANDOVER).
    pub fn router_handover(mut self, handover: bool) -> Self {
        self.options.pattern.router_handover = handover;
        self
    }

    /// XPUB: pass on every subscription, not just new ones (ZMQ_XPUB_VERBOSE).
    pub fn xpub_verbose(mut self, verbose: bool) -> Self {
        self.options.pattern.xpub_verbose = verbose;
        self
    }

    /// XPUB: pass on every subscription and every cancel, not just the first and last of
    /// each prefix (ZMQ_XPUB_VERBOSER).
    pub fn xpub_verboser(mut self, verboser: bool) -> Self {
        self.options.pattern.xpub_verboser = verboser;
        self
    }

    /// XPUB: the application makes the subscriptions (ZMQ_XPUB_MANUAL): every
    /// subscription a peer sends is received as a `0x01`/`0x00` message and applied only
    /// when the application calls [`Socket::subscribe`] (or `unsubscribe`) on the XPUB,
    /// for the peer whose message it received last. See `examples/last_value_cache.rs`.
    pub fn xpub_manual(mut self, manual: bool) -> Self {
        self.options.pattern.xpub_manual = manual;
        self
    }

    /// PUB/XPUB: a message sent to each new subscriber first (ZMQ_XPUB_WELCOME_MSG);
    /// subscribers see it if they subscribe to it. Empty: none (the default).
    pub fn xpub_welcome_msg(mut self, msg: impl Into<Bytes>) -> Self {
        self.options.pattern.xpub_welcome_msg = Some(msg.into()).filter(|m| !m.is_empty());
        self
    }

    /// PUB/XPUB: wait while a matching subscriber is at its HWM instead of dropping the
    /// message for it (ZMQ_XPUB_NODROP): `send` waits, `try_send` returns
    /// [`Error::WouldBlock`].
    pub fn xpub_nodrop(mut self, nodrop: bool) -> Self {
        self.options.pattern.xpub_nodrop = nodrop;
        self
    }

    /// PUB/XPUB: send what matches no subscription of a peer; SUB/XSUB: receive what
    /// matches no subscription (ZMQ_INVERT_MATCHING). Set it on both ends.
    pub fn invert_matching(mut self, invert: bool) -> Self {
        self.options.pattern.invert_matching = invert;
        self
    }

    /// PUSH, PULL, DEALER, PUB, SUB: keep only the newest message in each queue
    /// (ZMQ_CONFLATE). Meant for single-part messages, as in libzmq (here a multipart
    /// message is kept or replaced whole).
    pub fn conflate(mut self, conflate: bool) -> Self {
        self.options.pattern.conflate = conflate;
        self
    }

    /// ROUTER, DEALER, REQ: send an empty message to each new peer, so that a ROUTER
    /// there learns our routing id at once (ZMQ_PROBE_ROUTER).
    pub fn probe_router(mut self, probe: bool) -> Self {
        self.options.pattern.probe_router = probe;
        self
    }

    /// ROUTER: receive `[routing id, empty]` when a peer connects or disconnects, as
    /// `notify` asks (ZMQ_ROUTER_NOTIFY, a libzmq draft option).
    pub fn router_notify(mut self, notify: RouterNotify) -> Self {
        self.options.pattern.router_notify = notify;
        self
    }

    /// ROUTER, DEALER: a message sent first on every new connection (ZMQ_HELLO_MSG, a
    /// libzmq draft option). Empty: none (the default).
    pub fn hello_msg(mut self, msg: impl Into<Bytes>) -> Self {
        self.options.pattern.hello_msg = Some(msg.into()).filter(|m| !m.is_empty());
        self
    }

    /// ROUTER: a message received as if from a peer whose accepted connection dropped
    /// (ZMQ_DISCONNECT_MSG, a libzmq draft option). Empty: none (the default).
    pub fn disconnect_msg(mut self, msg: impl Into<Bytes>) -> Self {
        self.options.pattern.disconnect_msg = Some(msg.into()).filter(|m| !m.is_empty());
        self
    }

    /// How long [`Socket::send`] waits for room before failing with [`Error::Timeout`]
    /// (ZMQ_SNDTIMEO); the message is then not sent. `None` (the default): forever.
    /// Timed by the socket's [`Runtime`].
    pub fn send_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// How long [`Socket::recv`] and [`Socket::recv_from`] wait for a message before
    /// failing with [`Error::Timeout`] (ZMQ_RCVTIMEO). `None` (the default): forever.
    /// Timed by the socket's [`Runtime`].
    pub fn recv_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.recv_timeout = timeout;
        self
    }

    /// Whether [`Socket::send`] and [`Socket::recv`] write and read their connections
    /// themselves, on the calling thread or task, instead of handing the work to the
    /// connections' tasks (on by default for REQ and REP, off for the other types).
    ///
    /// Handing a message to a connection's task and its answer back costs a thread
    /// switch each way when the application runs elsewhere (a plain thread in
    /// `block_on`, another executor), and a task switch otherwise: a round trip from a
    /// plain thread pays four. Done inline, a `send` writes at once and a waiting `recv`
    /// is woken by the reactor and reads itself. The connection's task still does
    /// everything nobody waits for (heartbeats, reconnection, reading while no `recv`
    /// waits). It is off for streaming patterns because their connection tasks batch a
    /// burst of small messages into one system call, where a caller writing each one
    /// itself would make one per message; turn it on for a DEALER or ROUTER used for
    /// request and reply.
    pub fn inline_io(mut self, inline: bool) -> Self {
        self.inline_io = Some(inline);
        self
    }

    /// Turns TCP keepalive on or off on the socket's TCP connections (ZMQ_TCP_KEEPALIVE;
    /// by default the system decides). See [`TcpKeepalive`] for the platforms.
    pub fn tcp_keepalive(mut self, enabled: bool) -> Self {
        self.tcp_keepalive.enabled = Some(enabled);
        self
    }

    /// Unanswered keepalive probes before a connection is dropped
    /// (ZMQ_TCP_KEEPALIVE_CNT); only with [`tcp_keepalive`](Self::tcp_keepalive) on.
    pub fn tcp_keepalive_count(mut self, probes: u32) -> Self {
        self.tcp_keepalive.count = Some(probes);
        self
    }

    /// Idle time before the first keepalive probe, in whole seconds
    /// (ZMQ_TCP_KEEPALIVE_IDLE); only with [`tcp_keepalive`](Self::tcp_keepalive) on.
    pub fn tcp_keepalive_idle(mut self, idle: Duration) -> Self {
        self.tcp_keepalive.idle = Some(idle);
        self
    }

    /// Time between keepalive probes, in whole seconds (ZMQ_TCP_KEEPALIVE_INTVL); only
    /// with [`tcp_keepalive`](Self::tcp_keepalive) on.
    pub fn tcp_keepalive_interval(mut self, interval: Duration) -> Self {
        self.tcp_keepalive.interval = Some(interval);
        self
    }

    /// PUB/XPUB: most heap octets one peer's subscriptions may take (0 = unlimited; default
    /// [`DEFAULT_MAX_SUBSCRIPTION_MEMORY_PER_PEER`](crate::pattern::DEFAULT_MAX_SUBSCRIPTION_MEMORY_PER_PEER)). A peer that would go beyond is
    /// disconnected. See [`SubscriptionCost`](crate::pattern::SubscriptionCost) for how a subscription is counted.
    pub fn max_subscription_memory_per_peer(mut self, octets: usize) -> Self {
        self.options.pattern.max_subscription_memory_per_peer = octets;
        self
    }

    /// PUB/XPUB: most heap octets all peers' subscriptions together may take (0 =
    /// unlimited; default [`DEFAULT_MAX_SUBSCRIPTION_MEMORY`](crate::pattern::DEFAULT_MAX_SUBSCRIPTION_MEMORY)). The peer whose
    /// subscription would go beyond is disconnected.
    pub fn max_subscription_memory(mut self, octets: usize) -> Self {
        self.options.pattern.max_subscription_memory = octets;
        self
    }

    /// SUB/XSUB: subscribe to a prefix from the start (ZMQ_SUBSCRIBE).
    pub fn subscribe(mut self, prefix: impl Into<Bytes>) -> Self {
        self.subscriptions.push(prefix.into());
        self
    }

    /// Octets a connection may buffer for its transport before the socket stops moving
    /// messages into it (the rest wait in the peer's queue, under the HWM).
    pub fn transmit_buffer(mut self, octets: usize) -> Self {
        self.options.transmit_buffer = octets;
        self
    }

    /// Where the socket's background tasks run and its timers tick (default:
    /// [`SmolRuntime`], smol's global executor). See the [`runtime`](super::runtime)
    /// module for the ones provided and how to write one.
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtime = runtime;
        self
    }

    /// TLS for the `tls+tcp://` endpoints this socket connects to: trusted CAs, the
    /// server name to expect, an optional client certificate (feature `tls`; see
    /// [`tls`](super::tls)). Without it, connecting to a `tls+tcp://` endpoint fails.
    #[cfg(feature = "tls")]
    pub fn tls_client(mut self, config: super::tls::TlsClientConfig) -> Self {
        self.tls.client = Some(config);
        self
    }

    /// TLS for the `tls+tcp://` endpoints this socket binds: its certificate and key, and
    /// whether clients must present certificates (feature `tls`; see [`tls`](super::tls)).
    /// Without it, binding a `tls+tcp://` endpoint fails.
    #[cfg(feature = "tls")]
    pub fn tls_server(mut self, config: super::tls::TlsServerConfig) -> Self {
        self.tls.server = Some(config);
        self
    }

    /// `monitor` watches the socket from the start, its first bind or connect included
    /// (libzmq's `zmq_socket_monitor` before any bind). One monitor may watch several
    /// sockets; see [`Monitor`].
    pub fn monitor(self, monitor: &Monitor) -> Self {
        self.monitor_sink(monitor.sink())
    }

    pub(crate) fn monitor_sink(mut self, sink: MonitorSink) -> Self {
        self.monitors.push(sink);
        self
    }

    /// The socket, ready to bind and connect.
    pub fn build(mut self) -> Result<Socket, Error> {
        if let Security::PlainClient { username, password } = &self.options.connection.security
            && (username.len() > 255 || password.len() > 255)
        {
            return Err(ConfigError::BadCredentials(
                "PLAIN user names and passwords are at most 255 octets".into(),
            )
            .into());
        }
        if let Some(id) = self.identity.take() {
            self.options.connection.set_identity(id)?;
        }
        for (name, value) in std::mem::take(&mut self.properties) {
            self.options
                .connection
                .properties
                .insert(&name, value)
                .map_err(|reason| ConfigError::BadProperty { name, reason })?;
        }
        Socket::from_builder(self)
    }
}

/// Security (PLAIN, CURVE) and authentication.
impl SocketBuilder {
    /// The security mechanism and our side of it ([`Security`]); the methods below set the
    /// common cases.
    pub fn security(mut self, security: Security) -> Self {
        self.options.connection.security = security;
        self
    }

    /// PLAIN server (ZMQ_PLAIN_SERVER): clients present a user name and password, checked
    /// by the [`authenticator`](Self::authenticator); without one every client is refused,
    /// as by libzmq without a ZAP handler.
    pub fn plain_server(self) -> Self {
        self.security(Security::PlainServer)
    }

    /// PLAIN client (ZMQ_PLAIN_USERNAME/_PASSWORD), each at most 255 octets. PLAIN sends
    /// them in clear: use it on trusted networks, or over TLS.
    pub fn plain_client(self, username: impl Into<Bytes>, password: impl AsRef<[u8]>) -> Self {
        self.security(Security::plain_client(username, password))
    }

    /// CURVE server (ZMQ_CURVE_SERVER + ZMQ_CURVE_SECRETKEY): traffic is encrypted, and
    /// clients must know this key's public half.
    #[cfg(feature = "curve")]
    pub fn curve_server(self, secret: CurveSecretKey) -> Self {
        self.security(Security::curve_server(secret))
    }

    /// CURVE client (ZMQ_CURVE_SERVERKEY + _PUBLICKEY + _SECRETKEY) of the server whose
    /// public key is `server_key`, known to it by `keypair`'s public key.
    #[cfg(feature = "curve")]
    pub fn curve_client(self, server_key: CurvePublicKey, keypair: CurveKeyPair) -> Self {
        self.security(Security::curve_client(server_key, keypair))
    }

    /// Where CURVE's keys and nonces draw randomness from (the operating system's
    /// generator by default; seed it only in tests).
    #[cfg(feature = "curve")]
    pub fn entropy(mut self, entropy: Entropy) -> Self {
        self.options.connection.entropy = entropy;
        self
    }

    /// The ZAP domain the authenticator is told (ZMQ_ZAP_DOMAIN).
    pub fn zap_domain(mut self, domain: impl Into<Bytes>) -> Self {
        self.options.connection.zap_domain = domain.into();
        self
    }

    /// Decides which clients are let in (a ZAP handler): PLAIN and CURVE servers ask it
    /// about every client, NULL sockets about every peer that connects to them. See
    /// [`Authenticator`] for sync and async forms.
    pub fn authenticator(mut self, authenticator: Authenticator) -> Self {
        self.options.connection.authenticate = true;
        self.authenticator = Some(authenticator);
        self
    }
}
