//! [`Connection`]: one peer's whole ZMTP lifecycle as a sans-IO machine.

use std::collections::VecDeque;
use std::mem;
use std::time::{Duration, Instant};

use bytes::Bytes;
use thiserror::Error;

use super::command::{Command, CommandError, RawCommand};
use super::config::{Config, Role};
use super::frame::{Frame, FrameDecoder, FrameEncoder, FrameError, FrameKind};
use super::greeting::{Greeting, GreetingDecoder, GreetingError, MechanismName, ZmtpVersion};
use super::mechanism::{self, FrameCipher, HandshakeOutput, Mechanism, MechanismError, Progress};
use super::metadata::Metadata;
use super::recv_buffer::{IN_PLACE_BODY, RecvBuffer};
use super::socket_type::SocketType;
use super::timers::{Expired, Timers};
use crate::Msg;
use crate::security::{AuthDecision, AuthRequest};

/// Largest handshake command we buffer before the peer is authenticated. READY metadata and
/// CURVE's INITIATE are a few hundred octets; this keeps unauthenticated peers cheap.
pub const MAX_HANDSHAKE_COMMAND: u64 = 64 * 1024;

/// Unsent output beyond which PINGs are no longer answered.
const MAX_PONG_BACKLOG: usize = 1024 * 1024;

/// What each received frame counts against the message size limit on top of its body, so
/// that a flood of empty frames is bounded as well (the size of a `Bytes` handle).
const FRAME_BOOKKEEPING: u64 = mem::size_of::<Bytes>() as u64;

/// What the peer told us about itself in the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's socket type (compatible with ours, or the handshake would have failed).
    pub socket_type: SocketType,
    /// The peer's routing identity, if it announced a non-empty one.
    pub identity: Option<Bytes>,
    /// The protocol revision used with this peer.
    pub version: ZmtpVersion,
    /// The security mechanism in use.
    pub mechanism: MechanismName,
    /// All properties the peer sent, including ones we do not interpret.
    pub metadata: Metadata,
    /// The user id our authenticator gave the peer (libzmq's `User-Id` property).
    pub user_id: Option<Bytes>,
    /// Properties our authenticator attached to the peer (ZAP reply metadata).
    pub auth_metadata: Metadata,
}

/// Something the connection has to report, drained with [`Connection::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The handshake completed; messages can flow.
    Ready(PeerInfo),
    /// A complete message (all its frames) arrived.
    Message(Msg),
    /// The peer subscribed to a prefix (SUBSCRIBE command, or a `0x01` message from a
    /// ZMTP 3.0 subscriber when we are PUB or XPUB).
    Subscribe(Bytes),
    /// The peer cancelled one subscription.
    Cancel(Bytes),
}

/// Why a connection closed. The connection is unusable afterwards; whatever is still in
/// [`Connection::poll_transmit`] (an ERROR command, say) should be flushed before the
/// transport is closed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The peer's greeting was refused.
    #[error("greeting: {0}")]
    Greeting(#[from] GreetingError),
    /// The peer uses another security mechanism.
    #[error("security mechanism mismatch: we use {ours}, the peer uses {peer}")]
    MechanismMismatch {
        /// Ours.
        ours: MechanismName,
        /// The peer's.
        peer: MechanismName,
    },
    /// A malformed frame.
    #[error("framing: {0}")]
    Frame(#[from] FrameError),
    /// A message of so many frames that, at the bookkeeping each frame is counted, it
    /// exceeds the message size limit (a flood of tiny or empty frames).
    #[error(
        "a message of {frames} or more frames exceeds the message size limit of {limit} octets \
         (each frame counts {FRAME_BOOKKEEPING} octets besides its body)"
    )]
    TooManyFrames {
        /// Frames received in the message so far.
        frames: usize,
        /// The message size limit.
        limit: u64,
    },
    /// A malformed command.
    #[error("malformed command: {0}")]
    Command(#[from] CommandError),
    /// The security handshake (or cipher) failed.
    #[error("{0}")]
    Mechanism(#[from] MechanismError),
    /// A message frame arrived before the handshake completed.
    #[error("message frame received before the handshake completed")]
    MessageDuringHandshake,
    /// A command that is not allowed once the connection is up.
    #[error("unexpected {0} command after the handshake")]
    UnexpectedCommand(String),
    /// The peer's socket type cannot talk to ours; it was sent an ERROR command.
    #[error("incompatible socket type: our {ours} socket cannot talk to a {peer} peer")]
    IncompatibleSocketType {
        /// Our socket type.
        ours: SocketType,
        /// What the peer announced.
        peer: String,
    },
    /// The peer's metadata has no `Socket-Type`.
    #[error("the peer did not announce its Socket-Type")]
    MissingSocketType,
    /// The peer sent an ERROR command.
    #[error("the peer reported an error: {0}")]
    PeerError(String),
    /// The peer's authenticator refused us: an ERROR command with a ZAP status code
    /// during a PLAIN or CURVE handshake (wrong password, unknown key …).
    #[error(
        "the peer refused our {mechanism} credentials (ZAP status {status}: {})",
        match status / 100 { 3 => "temporary failure, may retry", 5 => "its authenticator failed", _ => "authentication failed" }
    )]
    AuthenticationFailed {
        /// The mechanism.
        mechanism: MechanismName,
        /// The status code (300, 400 or 500).
        status: u16,
    },
    /// The peer closed the transport before the handshake completed.
    #[error("the peer closed the connection during the {mechanism} handshake{}", hint.map(|h| format!(": {h}")).unwrap_or_default())]
    ClosedInHandshake {
        /// The mechanism.
        mechanism: MechanismName,
        /// What that usually means at this point of the handshake, if the mechanism knows.
        hint: Option<&'static str>,
    },
    /// Greeting and handshake did not complete in time.
    #[error("handshake did not complete within {0:?}")]
    HandshakeTimeout(Duration),
    /// Nothing came back within the heartbeat timeout after a PING.
    #[error("heartbeat: no traffic within {0:?} after our PING")]
    HeartbeatTimeout(Duration),
    /// The peer went silent past the TTL it announced in its own PING.
    #[error("heartbeat: the peer was silent past the {0:?} TTL it announced")]
    PeerTtlExpired(Duration),
}

impl ConnectionError {
    /// Whether this error is worth an ERROR command to the peer before closing: it is a
    /// considered refusal, not a broken or silent stream.
    fn peer_reason(&self) -> Option<String> {
        match self {
            Self::IncompatibleSocketType { .. } | Self::MissingSocketType => Some(self.to_string()),
            Self::Mechanism(err) => err.peer_reason(),
            _ => None,
        }
    }
}

/// Why [`Connection::send`] (or a subscription call) could not queue anything.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SendError {
    /// The handshake has not completed yet (wait for [`Event::Ready`]).
    #[error("connection is not ready (handshake in progress)")]
    NotReady,
    /// The connection has closed.
    #[error("connection is closed: {0}")]
    Closed(ConnectionError),
    /// A message needs at least one frame.
    #[error("cannot send a message with no frames")]
    EmptyMessage,
    /// The mechanism's cipher refused the frame.
    #[error("{0}")]
    Cipher(MechanismError),
}

enum State {
    Greeting {
        decoder: GreetingDecoder,
        mechanism: Box<dyn Mechanism>,
    },
    Handshake {
        mechanism: Box<dyn Mechanism>,
        version: ZmtpVersion,
        auth: AuthStage,
    },
    Ready {
        cipher: Option<Box<dyn FrameCipher>>,
        peer: PeerInfo,
    },
    Closed(ConnectionError),
}

/// Where a server-side handshake is with the application's authenticator.
enum AuthStage {
    /// Not asked (yet, or at all).
    None,
    /// Waiting for [`Connection::authenticate`]; the request until it is polled.
    Asked(Option<Box<AuthRequest>>),
    /// Let in, as this user with these properties.
    Allowed(Bytes, Metadata),
}

/// One peer's ZMTP lifecycle: greeting → security handshake → traffic → closed.
///
/// Inputs are method calls ([`handle_input`](Self::handle_input),
/// [`send`](Self::send), [`handle_timeout`](Self::handle_timeout)); outputs are drained with
/// [`poll_transmit`](Self::poll_transmit) (bytes for the peer), [`poll_event`](Self::poll_event)
/// (what the peer did) and [`poll_timeout`](Self::poll_timeout) (when to call back). The
/// connection never blocks, never does IO and never reads a clock.
///
/// A peer that breaks the protocol closes its own connection: the error is returned and kept
/// in [`error`](Self::error), nothing panics, and buffers stay bounded by the configured
/// limits.
///
/// # Driving a connection
///
/// An adapter (an async task, an event loop, a fuzzer, a simulation) keeps this contract:
///
/// 1. **Time comes only from the caller**, and never goes backwards: every `now` passed to
///    [`new`](Self::new), [`handle_input`](Self::handle_input) and
///    [`handle_timeout`](Self::handle_timeout) is at or after the previous one. Real time,
///    virtual time, or a constant in a test: the machine cannot tell.
/// 2. **Octets in any chunking**: pass whatever the transport delivered, in order, as soon
///    as convenient. An empty slice is allowed and changes nothing.
/// 3. **Drain after every input.** After any call, take [`poll_event`](Self::poll_event)
///    until it returns `None`, write every chunk of [`poll_transmit`](Self::poll_transmit)
///    to the transport in order until it returns `None`, and (re)arm a timer for
///    [`poll_timeout`](Self::poll_timeout). Drained means `None`: more may appear only
///    after the next call. Chunks can be written later or in batches, never reordered
///    or skipped; [`pending_transmit`](Self::pending_transmit) says how much waits.
/// 4. **Timers**: at or after the deadline, call [`handle_timeout`](Self::handle_timeout)
///    (early or late is harmless), then drain again. `None` means no timer is needed.
/// 5. **Errors are final.** A method that returns an error has closed the connection; it
///    keeps returning that error. Flush what [`poll_transmit`](Self::poll_transmit) still
///    holds (an ERROR command may tell the peer why), then close the transport. Events
///    decoded before the error are still in [`poll_event`](Self::poll_event).
/// 6. **End of stream**: when the transport reports EOF, drain the events and drop the
///    connection.
///
/// `examples/blocking_loop.rs` drives whole sockets this way over `std::net` with no
/// runtime at all; the `io` module does it with one task per connection.
pub struct Connection {
    config: Config,
    local_metadata: Metadata,
    state: State,
    rx: RecvBuffer,
    decoder: FrameDecoder,
    tx: FrameEncoder,
    events: VecDeque<Event>,
    /// Frames of a message whose last frame has not arrived yet.
    partial: Msg,
    /// The kind of the frame whose body is being read in place.
    in_place_kind: Option<FrameKind>,
    partial_cost: u64,
    timers: Timers,
    /// The peer's greeting has arrived, so commands (such as ERROR) may be sent.
    greeted: bool,
}

impl Connection {
    /// A connection using the mechanism `config.security` names, on `role`'s side of the
    /// transport. Our greeting is queued for transmission at once.
    pub fn new(config: Config, role: Role, now: Instant) -> Self {
        let mechanism = mechanism::for_config(&config, role);
        Self::with_mechanism(config, mechanism, now)
    }

    /// A connection using the given security mechanism.
    pub fn with_mechanism(config: Config, mechanism: Box<dyn Mechanism>, now: Instant) -> Self {
        let mut tx = FrameEncoder::new();
        // We send the whole greeting at once (RFC 37's second strategy): we never downgrade
        // below 3.0, so there is nothing to learn from the peer's first octets first.
        tx.push_raw(&Greeting::new(mechanism.name(), mechanism.as_server()).encode());
        Self {
            local_metadata: config.local_metadata(),
            timers: Timers::new(now, config.handshake_timeout, config.heartbeat),
            config,
            state: State::Greeting {
                decoder: GreetingDecoder::new(),
                mechanism,
            },
            rx: RecvBuffer::default(),
            decoder: FrameDecoder::new(),
            tx,
            events: VecDeque::new(),
            partial: Msg::new(),
            in_place_kind: None,
            partial_cost: 0,
            greeted: false,
        }
    }

    /// Octets received from the peer, in any chunking. Returns the error that closed the
    /// connection, if these octets (or earlier ones) broke the protocol.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) -> Result<(), ConnectionError> {
        if let State::Closed(err) = &self.state {
            return Err(err.clone());
        }
        if !data.is_empty() {
            self.timers.on_traffic();
        }
        self.process_input(data, now).map_err(|err| self.fail(err))
    }

    /// Room to read the peer's next octets into directly, while the body of a large frame
    /// (32 KiB or more) is arriving: it becomes the message's frame as it is, with no copy.
    /// Fill a prefix of it, then call [`handle_received`](Self::handle_received). `None`
    /// otherwise: pass octets to [`handle_input`](Self::handle_input) as usual. Either way
    /// of giving input may follow the other at any point.
    pub fn receive_in_place(&mut self) -> Option<&mut [u8]> {
        if self.is_closed() {
            return None;
        }
        self.rx.body_room().filter(|room| !room.is_empty())
    }

    /// `n` octets were read into the start of the buffer [`receive_in_place`] lent: the same
    /// as [`handle_input`](Self::handle_input) with those octets.
    ///
    /// [`receive_in_place`]: Self::receive_in_place
    pub fn handle_received(&mut self, n: usize, now: Instant) -> Result<(), ConnectionError> {
        if let State::Closed(err) = &self.state {
            return Err(err.clone());
        }
        if n > 0 {
            self.timers.on_traffic();
        }
        self.rx.filled(n);
        self.decode_frames(now).map_err(|err| self.fail(err))
    }

    /// Call when [`poll_timeout`](Self::poll_timeout)'s deadline has passed (calling early
    /// or late is harmless). Sends PINGs and closes the connection on a timeout.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), ConnectionError> {
        if let State::Closed(err) = &self.state {
            return Err(err.clone());
        }
        while let Some(expired) = self.timers.poll_expired(now) {
            let err = match expired {
                Expired::SendPing => {
                    let ttl_deciseconds = self.timers.ttl_deciseconds();
                    self.queue_command(&Command::Ping {
                        ttl_deciseconds,
                        context: Bytes::new(),
                    })
                    .map_err(|err| self.fail(err))?;
                    continue;
                }
                Expired::Handshake(limit) => ConnectionError::HandshakeTimeout(limit),
                Expired::Heartbeat(limit) => ConnectionError::HeartbeatTimeout(limit),
                Expired::PeerTtl(ttl) => ConnectionError::PeerTtlExpired(ttl),
            };
            return Err(self.fail(err));
        }
        Ok(())
    }

    /// The next deadline at which [`handle_timeout`](Self::handle_timeout) must be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// A client waiting for the application's decision ([`Config::authenticate`]), once:
    /// answer with [`authenticate`](Self::authenticate), at once or later (the handshake
    /// timeout keeps running meanwhile).
    #[must_use]
    pub fn poll_auth_request(&mut self) -> Option<AuthRequest> {
        match &mut self.state {
            State::Handshake {
                auth: AuthStage::Asked(request),
                ..
            } => request.take().map(|request| *request),
            _ => None,
        }
    }

    /// Whether the handshake waits for [`authenticate`](Self::authenticate).
    pub fn awaits_authentication(&self) -> bool {
        matches!(
            self.state,
            State::Handshake {
                auth: AuthStage::Asked(_),
                ..
            }
        )
    }

    /// The application's decision on the client of [`poll_auth_request`]: the handshake
    /// goes on, or the client is sent an ERROR with the status code and the connection
    /// closes (returning [`MechanismError::Denied`]). A decision nobody asked for is
    /// ignored.
    ///
    /// [`poll_auth_request`]: Self::poll_auth_request
    pub fn authenticate(
        &mut self,
        decision: AuthDecision,
        now: Instant,
    ) -> Result<(), ConnectionError> {
        let State::Handshake {
            mechanism,
            auth: auth @ AuthStage::Asked(_),
            ..
        } = &mut self.state
        else {
            return match &self.state {
                State::Closed(err) => Err(err.clone()),
                _ => Ok(()),
            };
        };
        match decision {
            AuthDecision::Allow { user_id, metadata } => {
                *auth = AuthStage::Allowed(user_id, metadata);
                let mut out = HandshakeOutput::default();
                let progress = mechanism.allowed(&self.local_metadata, &mut out);
                self.queue_handshake(out);
                let result = progress
                    .map_err(ConnectionError::from)
                    .and_then(|progress| self.on_progress(progress, now));
                result.map_err(|err| self.fail(err))
            }
            AuthDecision::Deny { status, text } => {
                let err = MechanismError::Denied {
                    mechanism: mechanism.name(),
                    status,
                    text,
                };
                Err(self.fail(err.into()))
            }
        }
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The transport reached its end: the connection closes. During the handshake (after
    /// the greeting) this is an error worth reporting ([`ConnectionError::ClosedInHandshake`],
    /// with the mechanism's hint: a CURVE server closes without a word on a HELLO sealed
    /// for another key); afterwards an ordinary end, `None`. Events decoded before stay to
    /// be drained.
    pub fn handle_end_of_stream(&mut self) -> Option<ConnectionError> {
        let err = match &self.state {
            // Before the greeting nothing was said: port probes and health checks do this.
            State::Closed(_) | State::Ready { .. } | State::Greeting { .. } => None,
            State::Handshake { mechanism, .. } => Some(ConnectionError::ClosedInHandshake {
                mechanism: mechanism.name(),
                hint: mechanism.closed_hint(),
            }),
        };
        if let Some(err) = &err {
            self.fail(err.clone());
        }
        err
    }

    /// Whether events are waiting for [`poll_event`](Self::poll_event).
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// The next chunk of octets to write to the peer. Small frames come batched into one
    /// chunk; large bodies come as chunks of their own, without a copy.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.tx.pop_chunk()
    }

    /// Octets queued for the peer and not yet taken by [`poll_transmit`](Self::poll_transmit).
    /// Adapters use it to stop feeding a connection whose peer does not read.
    pub fn pending_transmit(&self) -> usize {
        self.tx.pending_bytes()
    }

    /// Queues a message for the peer (all frames, atomically).
    pub fn send(&mut self, msg: &Msg) -> Result<(), SendError> {
        self.ensure_ready()?;
        if msg.is_empty() {
            return Err(SendError::EmptyMessage);
        }
        let last = msg.len() - 1;
        for (i, frame) in msg.iter().enumerate() {
            let kind = FrameKind::Message { more: i < last };
            self.queue_frame(kind, frame).map_err(SendError::Cipher)?;
        }
        Ok(())
    }

    /// Tells a publisher we want messages starting with `prefix`: a SUBSCRIBE command to a
    /// ZMTP 3.1 peer, a `0x01`-prefixed message to a ZMTP 3.0 peer.
    pub fn subscribe(&mut self, prefix: &[u8]) -> Result<(), SendError> {
        self.send_subscription(prefix, true)
    }

    /// Cancels one earlier [`subscribe`](Self::subscribe) to the same prefix.
    pub fn cancel(&mut self, prefix: &[u8]) -> Result<(), SendError> {
        self.send_subscription(prefix, false)
    }

    /// Whether the handshake has completed and the connection is open.
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready { .. })
    }

    /// Whether the connection has closed (see [`error`](Self::error) for why).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed(_))
    }

    /// Why the connection closed, if it has.
    pub fn error(&self) -> Option<&ConnectionError> {
        match &self.state {
            State::Closed(err) => Some(err),
            _ => None,
        }
    }

    /// The peer, once the handshake has completed.
    pub fn peer(&self) -> Option<&PeerInfo> {
        match &self.state {
            State::Ready { peer, .. } => Some(peer),
            _ => None,
        }
    }

    /// Our configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn ensure_ready(&self) -> Result<(), SendError> {
        match &self.state {
            State::Ready { .. } => Ok(()),
            State::Closed(err) => Err(SendError::Closed(err.clone())),
            _ => Err(SendError::NotReady),
        }
    }

    fn send_subscription(&mut self, prefix: &[u8], subscribe: bool) -> Result<(), SendError> {
        self.ensure_ready()?;
        let version = self.peer().map(|p| p.version);
        let prefix = Bytes::copy_from_slice(prefix);
        if version == Some(ZmtpVersion::V3_0) {
            let mut body = Vec::with_capacity(1 + prefix.len());
            body.push(u8::from(subscribe));
            body.extend_from_slice(&prefix);
            return self.send(&Msg::from(body));
        }
        let command = if subscribe {
            Command::Subscribe(prefix)
        } else {
            Command::Cancel(prefix)
        };
        self.queue_command(&command).map_err(|err| match err {
            ConnectionError::Mechanism(err) => SendError::Cipher(err),
            other => SendError::Closed(other),
        })
    }

    fn process_input(&mut self, mut data: &[u8], now: Instant) -> Result<(), ConnectionError> {
        if let State::Greeting { decoder, .. } = &mut self.state {
            let (used, greeting) = decoder.feed(data)?;
            data = &data[used..];
            match greeting {
                Some(greeting) => self.on_greeting(greeting)?,
                None => return Ok(()),
            }
        }
        loop {
            let frame_size = self
                .decoder
                .pending_size()
                .map(|size| usize::try_from(size).unwrap_or(usize::MAX));
            // Octets past the end of a body read in place are the next frames: they go to
            // the slab once the body is taken.
            data = self.rx.extend(data, frame_size);
            self.decode_frames(now)?;
            if data.is_empty() {
                return Ok(());
            }
        }
    }

    /// Decodes every complete frame received; a large body is read in place from its
    /// header on (see [`Connection::receive_in_place`]).
    fn decode_frames(&mut self, now: Instant) -> Result<(), ConnectionError> {
        loop {
            if self.rx.in_body() {
                let Some(body) = self.rx.take_body() else {
                    return Ok(());
                };
                let kind = self.in_place_kind.take().expect("set with the body");
                self.on_frame(Frame { kind, body }, now)?;
                continue;
            }
            let limit = self.frame_limit();
            if let Some(frame) = self.decoder.decode(self.rx.buf(), limit)? {
                self.on_frame(frame, now)?;
                continue;
            }
            // In place only when most of a large body is still to come: what has arrived
            // moves into the body's buffer, a copy worth making only to save a larger one.
            let arrived = self.rx.buf().len() as u64;
            match self.decoder.pending_size() {
                Some(size) if size.saturating_sub(arrived) >= IN_PLACE_BODY as u64 => {
                    let header = self.decoder.take_pending().expect("a frame is pending");
                    self.in_place_kind = Some(header.kind);
                    self.rx
                        .begin_body(usize::try_from(size).unwrap_or(usize::MAX));
                }
                _ => return Ok(()),
            }
        }
    }

    /// How large the next frame may be.
    fn frame_limit(&self) -> u64 {
        match self.state {
            State::Ready { .. } => self
                .config
                .max_msg_size
                .saturating_sub(self.partial_cost + FRAME_BOOKKEEPING),
            _ => MAX_HANDSHAKE_COMMAND.min(self.config.max_msg_size),
        }
    }

    fn on_greeting(&mut self, greeting: Greeting) -> Result<(), ConnectionError> {
        let State::Greeting { mut mechanism, .. } = mem::replace(&mut self.state, placeholder())
        else {
            unreachable!("called in the greeting state");
        };
        self.greeted = true;
        if greeting.mechanism != mechanism.name() {
            return Err(ConnectionError::MechanismMismatch {
                ours: mechanism.name(),
                peer: greeting.mechanism,
            });
        }
        mechanism.check_peer_greeting(&greeting)?;
        let mut out = HandshakeOutput::default();
        mechanism.start(&self.local_metadata, &mut out)?;
        self.state = State::Handshake {
            mechanism,
            version: greeting.version(),
            auth: AuthStage::None,
        };
        self.queue_handshake(out);
        Ok(())
    }

    fn on_frame(&mut self, frame: Frame, now: Instant) -> Result<(), ConnectionError> {
        match &mut self.state {
            State::Handshake { .. } => self.on_handshake_frame(frame, now),
            State::Ready { cipher, .. } => {
                let frame = match cipher {
                    Some(cipher) => cipher.open(frame)?,
                    None => frame,
                };
                match frame.kind {
                    FrameKind::Command => self.on_command(Command::parse(frame.body)?, now),
                    FrameKind::Message { more } => self.on_message_frame(frame.body, more),
                }
            }
            State::Greeting { .. } | State::Closed(_) => {
                unreachable!("frames are decoded only after the greeting")
            }
        }
    }

    fn on_handshake_frame(&mut self, frame: Frame, now: Instant) -> Result<(), ConnectionError> {
        if frame.kind != FrameKind::Command {
            return Err(ConnectionError::MessageDuringHandshake);
        }
        let raw = RawCommand::parse(frame.body)?;
        if raw.name == "ERROR" {
            let mechanism = self.mechanism_name();
            return Err(handshake_error(Command::interpret(raw)?, mechanism));
        }
        let State::Handshake {
            mechanism, auth, ..
        } = &mut self.state
        else {
            unreachable!("checked by the caller");
        };
        if matches!(auth, AuthStage::Asked(_)) {
            return Err(MechanismError::UnexpectedCommand {
                mechanism: mechanism.name(),
                command: raw.name_str(),
                when: "while the application decides on the client",
            }
            .into());
        }
        let mut out = HandshakeOutput::default();
        let progress = mechanism.handle_command(raw, &self.local_metadata, &mut out)?;
        self.queue_handshake(out);
        self.on_progress(progress, now)
    }

    /// Acts on how far the mechanism has come: asks the application about the client, or
    /// checks the peer's metadata and completes the handshake.
    fn on_progress(&mut self, progress: Progress, now: Instant) -> Result<(), ConnectionError> {
        let State::Handshake {
            mechanism,
            version,
            auth,
        } = &mut self.state
        else {
            unreachable!("called during the handshake");
        };
        let version = *version;
        match progress {
            Progress::Continue => Ok(()),
            Progress::Authenticate(credentials) => {
                *auth = AuthStage::Asked(Some(Box::new(AuthRequest {
                    domain: self.config.zap_domain.clone(),
                    address: String::new(),
                    routing_id: self.config.identity().cloned().unwrap_or_default(),
                    mechanism: mechanism.name(),
                    credentials,
                })));
                Ok(())
            }
            Progress::PeerReady(metadata) => {
                let (user_id, auth_metadata) = match mem::replace(auth, AuthStage::None) {
                    AuthStage::Allowed(user_id, metadata) => (Some(user_id), metadata),
                    _ => (None, Metadata::new()),
                };
                let mut peer = self.validate_peer(metadata, version)?;
                peer.user_id = user_id;
                peer.auth_metadata = auth_metadata;
                let State::Handshake { mechanism, .. } =
                    mem::replace(&mut self.state, placeholder())
                else {
                    unreachable!("checked above");
                };
                let mut out = HandshakeOutput::default();
                let cipher = mechanism.accept(&self.local_metadata, &mut out)?;
                self.queue_handshake(out);
                self.timers.on_ready(now, version >= ZmtpVersion::V3_1);
                self.events.push_back(Event::Ready(peer.clone()));
                self.state = State::Ready { cipher, peer };
                Ok(())
            }
        }
    }

    fn validate_peer(
        &self,
        metadata: Metadata,
        version: ZmtpVersion,
    ) -> Result<PeerInfo, ConnectionError> {
        let ours = self.config.socket_type;
        let raw = metadata
            .socket_type_raw()
            .ok_or(ConnectionError::MissingSocketType)?;
        let socket_type = SocketType::from_bytes(raw)
            .filter(|&peer| ours.is_compatible_with(peer))
            .ok_or_else(|| ConnectionError::IncompatibleSocketType {
                ours,
                peer: raw.escape_ascii().to_string(),
            })?;
        Ok(PeerInfo {
            socket_type,
            identity: metadata.identity().cloned(),
            version,
            mechanism: self.mechanism_name(),
            metadata,
            user_id: None,
            auth_metadata: Metadata::new(),
        })
    }

    fn mechanism_name(&self) -> MechanismName {
        match &self.state {
            State::Greeting { mechanism, .. } | State::Handshake { mechanism, .. } => {
                mechanism.name()
            }
            State::Ready { peer, .. } => peer.mechanism,
            State::Closed(_) => MechanismName::NULL,
        }
    }

    fn on_command(&mut self, command: Command, now: Instant) -> Result<(), ConnectionError> {
        match command {
            Command::Ping {
                ttl_deciseconds,
                context,
            } => {
                self.timers.on_peer_ping(now, ttl_deciseconds);
                // A peer that floods PINGs without reading our output must not grow it
                // without bound; with that much unsent, a PONG would arrive late anyway.
                if self.tx.pending_bytes() <= MAX_PONG_BACKLOG {
                    self.queue_command(&Command::Pong(context))?;
                }
            }
            // Receiving it was the point: any traffic already reset the heartbeat timers.
            Command::Pong(_) => {}
            Command::Subscribe(prefix) => self.events.push_back(Event::Subscribe(prefix)),
            Command::Cancel(prefix) => self.events.push_back(Event::Cancel(prefix)),
            Command::Error(_) => return Err(peer_error(command)),
            Command::Ready(_) => return Err(ConnectionError::UnexpectedCommand("READY".into())),
            // RFC 37: unknown commands are ignored, so newer peers can add their own.
            Command::Other(_) => {}
        }
        Ok(())
    }

    fn on_message_frame(&mut self, body: Bytes, more: bool) -> Result<(), ConnectionError> {
        self.partial_cost += body.len() as u64 + FRAME_BOOKKEEPING;
        // The decoder already bounded the body; this catches the frames too small for its
        // check to bite (empty ones once the budget is spent).
        if self.partial_cost > self.config.max_msg_size {
            return Err(ConnectionError::TooManyFrames {
                frames: self.partial.len() + 1,
                limit: self.config.max_msg_size,
            });
        }
        self.partial.push_back(body);
        if more {
            return Ok(());
        }
        self.partial_cost = 0;
        let msg = mem::take(&mut self.partial);
        self.events.push_back(self.classify(msg));
        Ok(())
    }

    /// A ZMTP 3.0 subscriber sends its subscriptions as messages; a publisher reads them so.
    fn classify(&self, msg: Msg) -> Event {
        let publisher = matches!(self.config.socket_type, SocketType::Pub | SocketType::XPub);
        if publisher && msg.len() == 1 {
            let body = &msg.frames()[0];
            match body.first() {
                Some(1) => return Event::Subscribe(body.slice(1..)),
                Some(0) => return Event::Cancel(body.slice(1..)),
                _ => {}
            }
        }
        Event::Message(msg)
    }

    fn queue_handshake(&mut self, mut out: HandshakeOutput) {
        for body in out.take() {
            // Handshake commands always travel in clear: no cipher exists before `accept`.
            self.tx.push(FrameKind::Command, &body);
        }
    }

    fn queue_command(&mut self, command: &Command) -> Result<(), ConnectionError> {
        self.queue_frame(FrameKind::Command, &command.to_bytes())?;
        Ok(())
    }

    fn queue_frame(&mut self, kind: FrameKind, body: &Bytes) -> Result<(), MechanismError> {
        match &mut self.state {
            State::Ready {
                cipher: Some(cipher),
                ..
            } => {
                let sealed = cipher.seal(kind, body)?;
                // A single message frame, as libzmq sends CURVE's MESSAGE (it reads either).
                self.tx.push(FrameKind::Message { more: false }, &sealed);
            }
            _ => self.tx.push(kind, body),
        }
        Ok(())
    }

    /// Closes the connection for `err`: stops the timers, and queues an ERROR command after
    /// whatever is already queued (our greeting, perhaps part of a frame the adapter is
    /// writing) when the peer deserves to know why.
    fn fail(&mut self, err: ConnectionError) -> ConnectionError {
        let handshaking = self.greeted && !self.is_ready();
        if let Some(reason) = err.peer_reason().filter(|_| handshaking) {
            let reason = Bytes::from(reason);
            self.tx
                .push(FrameKind::Command, &Command::Error(reason).to_bytes());
        }
        self.timers.clear();
        self.partial = Msg::new();
        self.in_place_kind = None;
        self.rx.clear();
        self.state = State::Closed(err.clone());
        err
    }
}

/// What the state holds while a transition moves its contents out.
fn placeholder() -> State {
    State::Closed(ConnectionError::PeerError(
        "internal: state in transition".into(),
    ))
}

/// An ERROR during the handshake: a ZAP status code from a PLAIN or CURVE server says our
/// credentials were refused.
fn handshake_error(command: Command, mechanism: MechanismName) -> ConnectionError {
    if let Command::Error(reason) = &command
        && mechanism != MechanismName::NULL
        && let [d @ b'3'..=b'5', b'0'..=b'9', b'0'..=b'9'] = reason[..]
    {
        let status = std::str::from_utf8(&reason[..])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(u16::from(d - b'0') * 100);
        return ConnectionError::AuthenticationFailed { mechanism, status };
    }
    peer_error(command)
}

fn peer_error(command: Command) -> ConnectionError {
    match command {
        Command::Error(reason) => {
            ConnectionError::PeerError(String::from_utf8_lossy(&reason).into_owned())
        }
        other => {
            ConnectionError::UnexpectedCommand(String::from_utf8_lossy(other.name()).into_owned())
        }
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Greeting { .. } => "greeting",
            State::Handshake { .. } => "handshake",
            State::Ready { .. } => "ready",
            State::Closed(_) => "closed",
        };
        f.debug_struct("Connection")
            .field("socket_type", &self.config.socket_type)
            .field("state", &state)
            .field("peer", &self.peer())
            .field("pending_transmit", &self.pending_transmit())
            .finish()
    }
}

#[cfg(test)]
mod tests;
