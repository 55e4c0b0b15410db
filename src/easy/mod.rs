//! The Python `zmq_async` module in Rust: the same eight classes, the same bytes on the wire.
//!
//! | Python (`zmq_async`) | Rust (`zmq_sansio::easy`) | pattern |
//! |---|---|---|
//! | `Publisher(port, coding='utf-8', msgid=1000)` | [`Publisher::new`]`(port)?`[`.with_coding`](Publisher::with_coding)`("utf-8")?`[`.with_msgid`](Publisher::with_msgid)`(1000)` | PUB |
//! | `await pub.publish("hi")` | [`publisher.publish("hi").await`](Publisher::publish) | |
//! | `await pub.publish(obj, msgtype="json")` | [`publisher.publish_json(&obj).await`](Publisher::publish_json) | |
//! | `await pub.publish(x, msgid=7)` | [`publish_to(7, x)`](Publisher::publish_to) / [`publish_json_to`](Publisher::publish_json_to) | |
//! | `Subscriber(host, ports, msgid, coding)` | [`Subscriber::new`]`(host, &ports, msgid)?` | SUB |
//! | `sub.addPort(port)` | [`subscriber.add_port(port)`](Subscriber::add_port) | |
//! | `await sub.subscribe()` → `str` or `dict` | [`subscriber.subscribe().await`](Subscriber::subscribe) → [`Payload`], or [`subscribe_as::<T>()`](Subscriber::subscribe_as) | |
//! | `RRServer(port, handler)` + `await server.run()` | [`RRServer::new`]`(port)?`[`.with_handler(h)`](RRServer::with_handler) + [`run().await`](RRServer::run) | REP |
//! | `RRClient(host, port)` + `await client.request(b"x")` | [`RRClient::new`]`(host, port)?` + [`request("x").await`](RRClient::request) | REQ |
//! | `PPPusher(host, port)` + `await pusher.push(b"x")` | [`PPPusher::new`]`(host, port)?` + [`push("x").await`](PPPusher::push) | PUSH |
//! | `PPPuller(host, port, handler)` + `await puller.run()` | [`PPPuller::new`]`(host, port)?`[`.with_handler(h)`](PPPuller::with_handler) + [`run().await`](PPPuller::run) | PULL |
//! | `PairClient(host, port)` + `await client.request(b"x")` | [`PairClient::new`]`(host, port)?` + [`request("x").await`](PairClient::request) | PAIR |
//! | `PairServer(port, handler)` + `await server.run()` | [`PairServer::new`]`(port)?`[`.with_handler(h)`](PairServer::with_handler) + [`run().await`](PairServer::run) | PAIR |
//!
//! Envelope (not in the Python module; the module document's "扩展建议" asks for it): an
//! opt-in form `"<msgid> envelope 1 <unix_ms> <source> <seq> <msgtype> <body>"` carrying the
//! publishing time (Unix milliseconds), a source id and a sequence number per source and
//! message id (wire form and its reasons: [`Envelope`]; for Python, the standard-library module
//! `python/zmq_envelope.py`). The default stays the Python module's, byte for byte; the
//! [`Subscriber`] always reads both forms.
//!
//! | envelope | Rust |
//! |---|---|
//! | opt in (per publisher) | [`Publisher::with_envelope`]`()` (source `<host>-<pid>-<random>`), [`.with_envelope_source`](Publisher::with_envelope_source)`("sensor-1")?`, [`.with_envelope_clock`](Publisher::with_envelope_clock)`(f)` (tests) |
//! | receive with the envelope | [`subscriber.subscribe_envelope().await`](Subscriber::subscribe_envelope) → [`Delivery`] { payload, envelope: `Option<`[`Envelope`]`>`, sequence: `Option<`[`Sequence`]`>` }, or [`subscribe_envelope_as::<T>()`](Subscriber::subscribe_envelope_as) |
//! | gaps, duplicates, late, restarts | [`Sequence`] per message; [`subscriber.sequence_stats()`](Subscriber::sequence_stats) → [`SequenceStats`]; at most [`with_max_streams`](Subscriber::with_max_streams)`(n)` sources remembered (default [`DEFAULT_MAX_STREAMS`], least recently seen evicted) |
//! | build or read by hand | [`Frame`]`::parse(text)?`, [`frame.to_text()?`](Frame::to_text); [`SequenceTracker`] on its own |
//! | Python | `zmq_envelope.parse(text)`, `build(...)`, `EnvelopePublisher(publisher)`, `SequenceTracker()` |
//!
//! Security (not in the Python module): every constructor above has a `*_with` twin that
//! takes [`Options`] last, applied before the socket binds or connects; the plain
//! constructors are the `*_with` ones with [`Options::default`] (no security).
//!
//! | security | binding side (usually the mechanism's server) | connecting side |
//! |---|---|---|
//! | constructors | [`Publisher::new_with`]`(port, opts)`, [`bind_with`](Publisher::bind_with)`(endpoint, opts)`; the same on [`RRServer`], [`PairServer`], [`PPPusher`] (and [`PPPuller::bind_with`]) | [`Subscriber::new_with`]`(host, &ports, msgid, opts)`, [`connect_with`](Subscriber::connect_with)`(endpoint, msgid, opts)`; [`RRClient::new_with`]`(host, port, opts)`, [`connect_with`](RRClient::connect_with)`(endpoint, opts)`; the same on [`PPPuller`], [`PairClient`] |
//! | CURVE | [`Options::curve_server`]`(secret)` | [`Options::curve_client`]`(server_public, own_keypair)` |
//! | PLAIN | [`Options::plain_server`]`()` | [`Options::plain_client`]`(user, password)` |
//! | who is let in | [`.authenticator`](Options::authenticator)`(`[`io::Authenticator`](crate::io::Authenticator)`::new(\|request\| …))`, [`.zap_domain`](Options::zap_domain)`(d)` | |
//! | any other [`Security`](crate::security::Security) | [`Options::from`]`(security)` or [`.security`](Options::security)`(security)` | the same |
//!
//! Keys come from [`CurveKeyPair::generate`](crate::security::CurveKeyPair::generate), Z85
//! text ([`CurvePublicKey::from_z85`](crate::security::CurvePublicKey::from_z85)) or
//! czmq/pyzmq certificate files
//! ([`CurveKeyPair::from_certificate`](crate::security::CurveKeyPair::from_certificate)).
//! A client refused by the server (wrong server key, denied credentials) is logged at warn
//! level and never exchanges a message: bound the wait with a timeout
//! ([`RRClient::with_timeout`], [`PairClient::with_timeout`]).
//!
//! Where the original has defects, this one does not copy them: a subscriber asking for id
//! 1000 does not also receive 10001; `PairServer` handlers receive the message; only the
//! server of a pair binds; handlers that fail are answered instead of leaving the client
//! hanging; servers can be stopped ([`StopHandle`]); clients can time out and retry.
//!
//! Handlers are plain or async closures; they take the request as `String` (decoded with the
//! server's `coding`), `Bytes`, `Vec<u8>` or [`Msg`](crate::Msg), and return text, octets, a
//! `Msg`, `()` or a `Result` of those.
//!
//! Every class closes its socket when dropped (delivering queued messages for up to the
//! socket's linger time) and has an explicit async `close()`. Logging goes through the
//! [`log`] facade.

mod coding;
mod envelope;
mod framing;
mod handler;
mod options;
mod pair;
mod pipeline;
mod pubsub;
mod reqrep;
mod sequence;
mod server;
mod stop;

use std::time::Duration;

use thiserror::Error;

pub use crate::io::{Monitor, MonitorEvent};
pub use coding::Coding;
pub use envelope::{ENVELOPE_TOKEN, ENVELOPE_VERSION, Envelope, MAX_SOURCE_LEN};
pub use framing::{DEFAULT_MSGID, Frame, MalformedMessage, MsgType, Payload, to_python_json};
pub use handler::{ERROR_REPLY_PREFIX, FromRequest, Handler, IntoReply, error_reply_reason};
pub use options::Options;
pub use pair::PairClient;
pub use pipeline::{PPPuller, PPPusher};
pub use pubsub::{Delivery, Publisher, Subscriber};
pub use reqrep::RRClient;
pub use sequence::{
    DEFAULT_MAX_STREAMS, SEQUENCE_WINDOW, Sequence, SequenceStats, SequenceTracker,
};
pub use server::{ExclusivePair, PairServer, RRServer, RequestReply, Server, ServerKind};
pub use stop::{StopHandle, Stopped};

/// What can go wrong in the high-level API.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The socket layer failed (endpoint, transport, closed socket …).
    #[error(transparent)]
    Socket(#[from] crate::io::Error),
    /// `coding` names no known encoding.
    #[error(
        "unknown coding {0:?}: expected a WHATWG encoding label such as utf-8, gbk, gb18030, big5 or shift_jis"
    )]
    UnknownCoding(String),
    /// Text has characters the encoding cannot represent.
    #[error("text cannot be encoded as {coding}")]
    Unencodable {
        /// The encoding.
        coding: &'static str,
    },
    /// Octets are not valid in the encoding.
    #[error("message is not valid {coding}")]
    Undecodable {
        /// The encoding.
        coding: &'static str,
    },
    /// A received message does not follow the `"<msgid> <msgtype> <body>"` framing.
    #[error("malformed message: {0}")]
    Malformed(#[from] MalformedMessage),
    /// A source id for the envelope is empty or longer than [`MAX_SOURCE_LEN`] octets.
    #[error("invalid envelope source id: {0}")]
    InvalidSource(String),
    /// JSON could not be written or read as the requested type.
    #[error("JSON: {0}")]
    Json(String),
    /// A [`Subscriber`] was asked for a message before it was given any publisher to
    /// connect to ([`Subscriber::add_port`], [`Subscriber::add_endpoint`]).
    #[error("the subscriber has no publisher to receive from: add a port or an endpoint first")]
    NoPublisher,
    /// No reply came in time, after every attempt.
    #[error("no reply after {attempts} attempt(s) of {timeout:?} each")]
    NoReply {
        /// Requests sent.
        attempts: u32,
        /// Wait per attempt.
        timeout: Duration,
    },
}

/// `tcp://*:port` (`tls+tcp://` with TLS options): every interface, as the Python module
/// binds.
fn tcp_any(scheme: &str, port: u16) -> String {
    format!("{scheme}://*:{port}")
}

/// `tcp://host:port` (`tls+tcp://` with TLS options), with IPv6 literals bracketed.
fn tcp_host(scheme: &str, host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("{scheme}://[{host}]:{port}")
    } else {
        format!("{scheme}://{host}:{port}")
    }
}
