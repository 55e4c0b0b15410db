//! [`Publisher`] and [`Subscriber`]: PUB/SUB with the `"<msgid> <msgtype> <body>"` framing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::coding::Coding;
use super::envelope::{self, Clock, Envelope};
use super::framing::{
    self, DEFAULT_MSGID, Header, OutgoingPayload, Payload, RawPayload, to_python_json,
};
use super::options::Options;
use super::sequence::{Sequence, SequenceStats, SequenceTracker};
use super::{Error, tcp_any, tcp_host};
use crate::io::Socket;
use crate::proto::SocketType;

/// Broadcasts messages to every [`Subscriber`] of their message id (Python: `Publisher`).
///
/// By default the messages are the Python module's, byte for byte. With
/// [`with_envelope`](Self::with_envelope) (not in the Python module) each also carries
/// the time it was published, this publisher's source id and its sequence number, which
/// subscribers use to report gaps and duplicates (wire form: [`Envelope`]; for Python:
/// `python/zmq_envelope.py`).
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
    /// Set when the messages are enveloped.
    envelope: Option<Enveloping>,
}

/// What an enveloping publisher writes into each envelope.
#[derive(Debug)]
struct Enveloping {
    source: String,
    /// `source` escaped for the wire once, not per message.
    escaped_source: String,
    clock: Clock,
    /// The next sequence number of each message id published to (one small entry per id
    /// the application uses). An async lock, held across the send, so that concurrent
    /// publishes reach the socket in the order of their numbers.
    next_seq: smol::lock::Mutex<HashMap<i64, u64>>,
}

impl Enveloping {
    fn new(source: String, clock: Clock) -> Self {
        Self {
            escaped_source: envelope::escape_source(&source),
            source,
            clock,
            next_seq: smol::lock::Mutex::new(HashMap::new()),
        }
    }
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
            envelope: None,
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

    /// Envelopes every message from now on (opt-in; not in the Python module):
    /// `"<msgid> envelope 1 <unix_ms> <source> <seq> <msgtype> <body>"`, with the system
    /// clock's time in milliseconds, a source id unique to this publisher
    /// (`<host>-<pid>-<random hex>`, unless [`with_envelope_source`](Self::with_envelope_source)
    /// set one) and, per message id, a sequence number counting from 0.
    ///
    /// Our [`Subscriber`] reads both forms; the Python module's `Subscriber` receives an
    /// enveloped message as the text after the type (`"1 <unix_ms> <source> …"`), and
    /// `python/zmq_envelope.py` (standard library only) reads it fully.
    pub fn with_envelope(mut self) -> Self {
        if self.envelope.is_none() {
            self.envelope = Some(Enveloping::new(envelope::default_source(), Clock::system()));
        }
        self
    }

    /// Envelopes every message ([`with_envelope`](Self::with_envelope)) under this source
    /// id: any text of 1 to [`MAX_SOURCE_LEN`](super::MAX_SOURCE_LEN) octets of UTF-8
    /// (spaces and other characters are escaped on the wire), else
    /// [`Error::InvalidSource`]. Sequence numbers start again from 0.
    ///
    /// Give each running publisher its own id: subscribers tell sources apart by it, and
    /// a restarted publisher reusing an id starts again from 0, which they report as
    /// [`Sequence::Restart`] (or, if the previous run sent fewer than
    /// [`SEQUENCE_WINDOW`](super::SEQUENCE_WINDOW) messages, as duplicates).
    pub fn with_envelope_source(mut self, source: &str) -> Result<Self, Error> {
        envelope::validate_source(source)?;
        let clock = self.envelope.take().map_or_else(Clock::system, |e| e.clock);
        self.envelope = Some(Enveloping::new(source.to_owned(), clock));
        Ok(self)
    }

    /// Envelopes every message ([`with_envelope`](Self::with_envelope)), timestamped by
    /// `now` instead of the system clock: for tests, or a clock disciplined otherwise.
    pub fn with_envelope_clock(self, now: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        let mut publisher = self.with_envelope();
        if let Some(e) = &mut publisher.envelope {
            e.clock = Clock::new(now);
        }
        publisher
    }

    /// The source id of the envelope, if messages are enveloped.
    pub fn envelope_source(&self) -> Option<&str> {
        self.envelope.as_ref().map(|e| e.source.as_str())
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
        let Some(enveloping) = &self.envelope else {
            let wire = framing::encode(&self.coding, msgid, None, &payload)?;
            self.socket.send(wire).await?;
            return Ok(());
        };
        let mut next_seq = enveloping.next_seq.lock().await;
        let seq = next_seq.get(&msgid).copied().unwrap_or(0);
        let header = Header {
            timestamp_ms: enveloping.clock.unix_ms(),
            escaped_source: &enveloping.escaped_source,
            seq,
        };
        let wire = framing::encode(&self.coding, msgid, Some(header), &payload)?;
        self.socket.send(wire).await?;
        // Only a message handed to the socket uses up its number: one that could not be
        // encoded, or met a closed socket, leaves no gap. One the socket later drops for a
        // subscriber that cannot keep up does, and that subscriber reports it.
        next_seq.insert(msgid, seq.wrapping_add(1));
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
    /// Judges the sequence numbers of enveloped messages; locked only to judge one.
    tracker: Mutex<SequenceTracker>,
}

/// A message as [`Subscriber::subscribe_envelope`] returns it: the payload, and for an
/// enveloped message its envelope and where it stands in its source's sequence.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Delivery<T = Payload> {
    /// What [`Subscriber::subscribe`] (or [`subscribe_as`](Subscriber::subscribe_as))
    /// would have returned.
    pub payload: T,
    /// The envelope; `None` for a message in the default (Python) form.
    pub envelope: Option<Envelope>,
    /// The sequence judgement, set exactly when `envelope` is.
    pub sequence: Option<Sequence>,
}

/// A received message, its body not parsed yet.
struct Received {
    envelope: Option<Envelope>,
    sequence: Option<Sequence>,
    raw: RawPayload,
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
            tracker: Mutex::new(SequenceTracker::default()),
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

    /// Tracks the sequences of at most `max_streams` sources (default
    /// [`DEFAULT_MAX_STREAMS`](super::DEFAULT_MAX_STREAMS)), forgetting the least recently
    /// seen beyond that (see [`SequenceTracker`]); counts start again.
    pub fn with_max_streams(self, max_streams: usize) -> Self {
        *self.tracker() = SequenceTracker::new(max_streams);
        self
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
    ///
    /// Messages of both forms are accepted: an enveloped one gives its payload here (and
    /// its sequence is still tracked; see [`sequence_stats`](Self::sequence_stats)).
    pub async fn subscribe(&self) -> Result<Payload, Error> {
        let received = self.receive().await?;
        received.raw.parse().inspect_err(|err| self.dropped(err))
    }

    /// The next message with its envelope, if it has one, and its place in its source's
    /// sequence (gap, duplicate …): for publishers using
    /// [`Publisher::with_envelope`]. Default-form messages come with neither.
    ///
    /// ```
    /// # smol::block_on(async {
    /// use zmq_sansio::easy::{Payload, Publisher, Sequence, Subscriber};
    ///
    /// let publisher = Publisher::bind("tcp://127.0.0.1:*")?.with_envelope_source("lab-1")?;
    /// let subscriber = Subscriber::connect(publisher.endpoint(), 1000)?;
    /// publisher.wait_for_subscribers(1).await;
    /// publisher.publish("first").await?;
    /// publisher.publish("second").await?;
    /// let first = subscriber.subscribe_envelope().await?;
    /// assert_eq!(first.payload, Payload::Text("first".into()));
    /// assert_eq!(first.envelope.as_ref().map(|e| (e.source.as_str(), e.seq)), Some(("lab-1", 0)));
    /// assert_eq!(first.sequence, Some(Sequence::First));
    /// let second = subscriber.subscribe_envelope().await?;
    /// assert_eq!(second.sequence, Some(Sequence::InOrder));
    /// assert_eq!(subscriber.sequence_stats().gaps, 0);
    /// # Ok::<(), zmq_sansio::easy::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn subscribe_envelope(&self) -> Result<Delivery, Error> {
        let received = self.receive().await?;
        let payload = received.raw.parse().inspect_err(|err| self.dropped(err))?;
        Ok(Delivery {
            payload,
            envelope: received.envelope,
            sequence: received.sequence,
        })
    }

    /// [`subscribe_envelope`](Self::subscribe_envelope) with the payload read as a `T`
    /// (as [`subscribe_as`](Self::subscribe_as) does).
    pub async fn subscribe_envelope_as<T: DeserializeOwned>(&self) -> Result<Delivery<T>, Error> {
        let received = self.receive().await?;
        let payload = received.raw.deserialize().inspect_err(|err| {
            if matches!(err, Error::Malformed(_)) {
                self.dropped(err);
            }
        })?;
        Ok(Delivery {
            payload,
            envelope: received.envelope,
            sequence: received.sequence,
        })
    }

    /// Counts of the enveloped messages received so far: gaps and messages missed,
    /// duplicates, late arrivals, restarts, evicted sources.
    pub fn sequence_stats(&self) -> SequenceStats {
        self.tracker().stats()
    }

    fn tracker(&self) -> std::sync::MutexGuard<'_, SequenceTracker> {
        // Judging cannot leave the tracker half updated in a way that matters: a poisoned
        // lock is taken as it is.
        self.tracker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The next message as a `T`: JSON bodies are deserialized straight from their text
    /// (so `f64` fields receive NaN, `inf` and `-inf` as sent), text bodies are offered as
    /// a JSON string (so `String` reads both).
    pub async fn subscribe_as<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let received = self.receive().await?;
        received.raw.deserialize().inspect_err(|err| {
            if matches!(err, Error::Malformed(_)) {
                self.dropped(err);
            }
        })
    }

    /// The next message split into id, envelope, type and body, the body not parsed yet;
    /// an envelope's sequence number is judged here, before the body can fail to parse,
    /// so a message with a bad body still counts as received.
    async fn receive(&self) -> Result<Received, Error> {
        if !self.has_publisher.load(Ordering::SeqCst) {
            return Err(Error::NoPublisher);
        }
        let msg = self.socket.recv().await?;
        let first = msg.first().map(|f| &f[..]).unwrap_or_default();
        let (msgid, envelope, raw) =
            framing::split(&self.coding, first).inspect_err(|err| self.dropped(err))?;
        let sequence = envelope.as_ref().map(|e| {
            let sequence = self.tracker().observe(msgid, e);
            self.note(e, &sequence);
            sequence
        });
        Ok(Received {
            envelope,
            sequence,
            raw,
        })
    }

    /// Logs what the sequence numbers revealed.
    fn note(&self, envelope: &Envelope, sequence: &Sequence) {
        let (id, source) = (self.msgid, &envelope.source);
        match sequence {
            Sequence::Gap { missed } => log::warn!(
                "Subscriber for id {id}: missed {} message(s) from {source:?} (numbers {}..{})",
                missed.end - missed.start,
                missed.start,
                missed.end
            ),
            Sequence::Duplicate => log::info!(
                "Subscriber for id {id}: duplicate message {} from {source:?}",
                envelope.seq
            ),
            Sequence::Late => log::info!(
                "Subscriber for id {id}: message {} from {source:?} arrived late",
                envelope.seq
            ),
            Sequence::Restart { previous } => log::info!(
                "Subscriber for id {id}: {source:?} went from {previous} back to {}: restarted?",
                envelope.seq
            ),
            Sequence::First | Sequence::InOrder => {}
        }
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
