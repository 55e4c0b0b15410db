//! [`Publisher`] and [`Subscriber`]: PUB/SUB with the `"<msgid> <msgtype> <body>"` framing.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::coding::Coding;
use super::framing::{self, DEFAULT_MSGID, OutgoingPayload, Payload, RawPayload, to_python_json};
use super::options::Options;
use super::{Error, tcp_any, tcp_host};
use crate::io::Socket;
use crate::proto::SocketType;

/// Broadcasts messages to every [`Subscriber`] of their message id (Python: `Publisher`).
///
/// ```
/// # smol::block_on(async {
/// use zmq_sansio::easy::{Payload, Publisher, Subscriber};
///
/// let publisher = Publisher::bind("tcp://127.0.0.1:*")?;
/// let subscriber = Subscriber::connect(publisher.endpoint(), 1000)?;
/// publisher.wait_for_subscribers(1).await;
///
/// publisher.publish("Hi there!").await?;                       // "1000 text Hi there!"
/// publisher.publish_json(&serde_json::json!({"data": 42})).await?; // "1000 json {\"data\": 42}"
/// assert_eq!(subscriber.subscribe().await?, Payload::Text("Hi there!".into()));
/// assert_eq!(subscriber.subscribe().await?, Payload::Json(serde_json::json!({"data": 42})));
/// # Ok::<(), zmq_sansio::easy::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct Publisher {
    socket: Socket,
    endpoint: String,
    coding: Coding,
    msgid: i64,
}

impl Publisher {
    /// Binds `tcp://*:port`, as the Python `Publisher(port)` does.
    pub fn new(port: u16) -> Result<Self, Error> {
        Self::bind(&tcp_any("tcp", port))
    }

    /// [`Publisher::new`] with security ([`Options`]): e.g. a CURVE server whose
    /// subscribers must know its public key, or a PLAIN server with an authenticator.
    pub fn new_with(port: u16, options: Options) -> Result<Self, Error> {
        Self::bind_with(&tcp_any(options.scheme(), port), options)
    }

    /// Binds any endpoint (`tcp://127.0.0.1:*` picks a free port; see [`Publisher::endpoint`]).
    pub fn bind(endpoint: &str) -> Result<Self, Error> {
        Self::bind_with(endpoint, Options::default())
    }

    /// [`Publisher::bind`] with security ([`Options`]).
    pub fn bind_with(endpoint: &str, options: Options) -> Result<Self, Error> {
        let socket = options.socket(SocketType::Pub)?;
        let endpoint = socket.bind(endpoint)?;
        log::info!("Publisher bound to {endpoint}");
        Ok(Self {
            socket,
            endpoint,
            coding: Coding::UTF_8,
            msgid: DEFAULT_MSGID,
        })
    }

    /// Encodes text with the encoding of this WHATWG label (Python: `coding`).
    pub fn with_coding(mut self, label: &str) -> Result<Self, Error> {
        self.coding = Coding::for_label(label)?;
        Ok(self)
    }

    /// The message id used when none is given (Python: `msgid`, default 1000).
    pub fn with_msgid(mut self, msgid: i64) -> Self {
        self.msgid = msgid;
        self
    }

    /// The endpoint as bound, for subscribers to connect to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Publishes text under the default id: `"<msgid> text <text>"`.
    pub async fn publish(&self, text: &str) -> Result<(), Error> {
        self.publish_to(self.msgid, text).await
    }

    /// Publishes text under `msgid`.
    pub async fn publish_to(&self, msgid: i64, text: &str) -> Result<(), Error> {
        self.send(msgid, OutgoingPayload::Text(text)).await
    }

    /// Publishes any serializable value under the default id: `"<msgid> json <json>"`, the
    /// JSON written exactly as Python's `json.dumps` writes it (NaN and ±Infinity as
    /// `NaN`, `Infinity` and `-Infinity`; see [`crate::python_json`]).
    pub async fn publish_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), Error> {
        self.publish_json_to(self.msgid, value).await
    }

    /// Publishes a serializable value under `msgid`.
    pub async fn publish_json_to<T: Serialize + ?Sized>(
        &self,
        msgid: i64,
        value: &T,
    ) -> Result<(), Error> {
        self.send(msgid, OutgoingPayload::Json(to_python_json(value)?))
            .await
    }

    async fn send(&self, msgid: i64, payload: OutgoingPayload<'_>) -> Result<(), Error> {
        let wire = framing::encode(&self.coding, msgid, &payload)?;
        self.socket.send(wire).await?;
        Ok(())
    }

    /// Waits until `count` subscribers have connected and subscribed to something, so
    /// the next message reaches them (PUB/SUB drops what is published before a subscriber
    /// has joined).
    pub async fn wait_for_subscribers(&self, count: usize) {
        self.socket.wait_for_subscribers(count).await;
    }

    /// The underlying socket, for options and monitoring.
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// Closes the socket, delivering what is queued for up to the linger time.
    pub async fn close(&self) {
        self.socket.close().await;
    }
}

/// Receives the messages of one message id from one or more publishers (Python:
/// `Subscriber`).
///
/// Unlike the Python original, which subscribes to the bare id and so also receives id
/// 10001 when asking for 1000, it matches the id exactly.
///
/// ```
/// # smol::block_on(async {
/// use serde::Deserialize;
/// use zmq_sansio::easy::{Publisher, Subscriber};
///
/// #[derive(Deserialize, PartialEq, Debug)]
/// struct Reading { celsius: f64 }
///
/// let publisher = Publisher::bind("tcp://127.0.0.1:*")?;
/// let subscriber = Subscriber::connect(publisher.endpoint(), 7)?;
/// publisher.wait_for_subscribers(1).await;
/// publisher.publish_json_to(70, &serde_json::json!({"celsius": 0.0})).await?; // not ours
/// publisher.publish_json_to(7, &serde_json::json!({"celsius": 21.5})).await?;
/// assert_eq!(subscriber.subscribe_as::<Reading>().await?, Reading { celsius: 21.5 });
/// # Ok::<(), zmq_sansio::easy::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct Subscriber {
    socket: Socket,
    host: String,
    /// `tcp` or `tls+tcp`, for the ports added later.
    scheme: &'static str,
    coding: Coding,
    msgid: i64,
    /// Whether a publisher was ever given: without one, receiving would wait forever.
    has_publisher: AtomicBool,
}

impl Subscriber {
    /// Connects to `tcp://host:port` for each port (Python: `Subscriber(host, ports, msgid)`).
    /// With no ports, add some with [`Subscriber::add_port`] before subscribing: until
    /// then [`Subscriber::subscribe`] fails with [`Error::NoPublisher`] instead of waiting
    /// forever.
    pub fn new(host: &str, ports: &[u16], msgid: i64) -> Result<Self, Error> {
        Self::new_with(host, ports, msgid, Options::default())
    }

    /// [`Subscriber::new`] with security ([`Options`]), used for every publisher it
    /// connects to, those added later included: e.g. a CURVE client of publishers that
    /// share one key pair.
    pub fn new_with(
        host: &str,
        ports: &[u16],
        msgid: i64,
        options: Options,
    ) -> Result<Self, Error> {
        let subscriber = Self::unconnected(host, msgid, &options)?;
        for &port in ports {
            subscriber.add_port(port)?;
        }
        Ok(subscriber)
    }

    /// Connects to one endpoint of any kind.
    pub fn connect(endpoint: &str, msgid: i64) -> Result<Self, Error> {
        Self::connect_with(endpoint, msgid, Options::default())
    }

    /// [`Subscriber::connect`] with security ([`Options`]).
    pub fn connect_with(endpoint: &str, msgid: i64, options: Options) -> Result<Self, Error> {
        let subscriber = Self::unconnected("localhost", msgid, &options)?;
        subscriber.add_endpoint(endpoint)?;
        Ok(subscriber)
    }

    fn unconnected(host: &str, msgid: i64, options: &Options) -> Result<Self, Error> {
        let subscriber = Self {
            socket: options.socket(SocketType::Sub)?,
            host: host.to_owned(),
            scheme: options.scheme(),
            coding: Coding::UTF_8,
            msgid,
            has_publisher: AtomicBool::new(false),
        };
        subscriber.socket.subscribe(subscriber.prefix()?)?;
        Ok(subscriber)
    }

    /// The subscription: the id followed by the space that ends it, so 1000 does not match
    /// 10001.
    fn prefix(&self) -> Result<bytes::Bytes, Error> {
        self.coding.encode(&format!("{} ", self.msgid))
    }

    /// Decodes text with the encoding of this WHATWG label (Python: `coding`).
    pub fn with_coding(mut self, label: &str) -> Result<Self, Error> {
        let old = self.prefix()?;
        self.coding = Coding::for_label(label)?;
        self.socket.subscribe(self.prefix()?)?;
        self.socket.unsubscribe(old)?;
        Ok(self)
    }

    /// Also connects to `tcp://<host>:port` (Python: `addPort`).
    pub fn add_port(&self, port: u16) -> Result<(), Error> {
        self.add_endpoint(&tcp_host(self.scheme, &self.host, port))
    }

    /// Also connects to any endpoint.
    pub fn add_endpoint(&self, endpoint: &str) -> Result<(), Error> {
        self.socket.connect(endpoint)?;
        self.has_publisher.store(true, Ordering::SeqCst);
        log::info!("Subscriber for id {} connecting to {endpoint}", self.msgid);
        Ok(())
    }

    /// The message id subscribed to.
    pub fn msgid(&self) -> i64 {
        self.msgid
    }

    /// The next message: its text, or its JSON value. A malformed message is an error for
    /// that message only; the next call goes on with the next one.
    ///
    /// JSON is read as Python's `json.loads` reads it. A [`serde_json::Value`] cannot hold
    /// the NaN, `Infinity` and `-Infinity` a Python publisher sends for non-finite floats,
    /// so they arrive here as `null`; [`subscribe_as`](Self::subscribe_as) with `f64`
    /// fields gets the real values.
    pub async fn subscribe(&self) -> Result<Payload, Error> {
        let raw = self.receive().await?;
        raw.parse().inspect_err(|err| self.dropped(err))
    }

    /// The next message as a `T`: JSON bodies are deserialized straight from their text
    /// (so `f64` fields receive NaN, `inf` and `-inf` as sent), text bodies are offered as
    /// a JSON string (so `String` reads both).
    pub async fn subscribe_as<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let raw = self.receive().await?;
        raw.deserialize().inspect_err(|err| {
            if matches!(err, Error::Malformed(_)) {
                self.dropped(err);
            }
        })
    }

    /// The next message split into id, type and body, the body not parsed yet.
    async fn receive(&self) -> Result<RawPayload, Error> {
        if !self.has_publisher.load(Ordering::SeqCst) {
            return Err(Error::NoPublisher);
        }
        let msg = self.socket.recv().await?;
        let first = msg.first().map(|f| &f[..]).unwrap_or_default();
        let (_, raw) = framing::split(&self.coding, first).inspect_err(|err| self.dropped(err))?;
        Ok(raw)
    }

    /// Logs a message lost to malformation; the subscriber goes on with the next one.
    fn dropped(&self, err: &Error) {
        log::warn!(
            "Subscriber for id {}: dropping a message: {err}",
            self.msgid
        );
    }

    /// The underlying socket.
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// Closes the socket.
    pub async fn close(&self) {
        self.socket.close().await;
    }
}
