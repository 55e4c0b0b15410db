//! A PLAIN server `Connection` (with or without an authenticator) whose client sends
//! arbitrary octets, often after a valid greeting, HELLO and INITIATE.
//!
//! Input: a `Controls` header (decoded with `arbitrary`: our socket type, whether we ask an
//! authenticator, what it answers and when, which valid preamble goes first, with which
//! credentials, peer socket type and version, steps that interleave feeding with time,
//! sends, subscriptions, decisions and transmission) followed by the client's stream.
//! Invariants:
//! - nothing panics; once a call returns an error the connection is closed and every call
//!   keeps returning that error (`authenticate` too, sends `SendError::Closed`), no
//!   deadline remains, no auth request is pending and nothing more is queued;
//! - what is queued for the client stays within what our greeting, WELCOME, READY, one
//!   ERROR, the PONGs (never larger than the PINGs they answer) and our own sends and
//!   subscriptions account for;
//! - we transmit our PLAIN server greeting, then WELCOME and READY (our metadata), then
//!   valid traffic; or an ERROR last (only on close, before Ready, exactly when the
//!   handshake refused the client; a denied client hears the bare status code);
//! - an authenticator is asked only if configured, once, with exactly the user name and
//!   password of the HELLO received; WELCOME goes out only after a valid HELLO and, with an
//!   authenticator, only once it allowed; a decision nobody asked for changes nothing;
//! - the Ready event names the INITIATE's socket type and metadata, and the decision's
//!   user id and properties (none without an authenticator);
//! - with the valid preamble the handshake completes (without an authenticator, or with
//!   one that allows at once: inputs are split after the preamble's HELLO, as a real client
//!   waits for WELCOME), and the events after Ready are exactly those the rest of the
//!   stream describes (a prefix if closed).
#![no_main]

use std::mem;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use zmq_sansio::Msg;
use zmq_sansio::proto::{
    Command, Config, Connection, ConnectionError, Event, FrameDecoder, FrameKind, GREETING_LEN,
    Greeting, GreetingDecoder, MechanismError, MechanismName, Metadata, RawCommand, Role,
    SendError, SocketType, header_len,
};
use zmq_sansio::security::{AuthDecision, AuthStatus, Credentials, Security};
use zmq_sansio_fuzz::scenario::{compatible_peers, socket_type};
use zmq_sansio_fuzz::{Chunker, wire};

/// An ERROR command with the longest reason.
const MAX_ERROR_FRAME: usize = 9 + 1 + 5 + 1 + 255;
/// A PING as we send it: short header, name, TTL, no context.
const PING_FRAME: usize = 2 + 1 + 4 + 2;
/// Upper bound on a SUBSCRIBE/CANCEL command (or 3.0-style message) beyond its prefix.
const SUBSCRIPTION_OVERHEAD: usize = 9 + 1 + 9;
/// What each received frame counts against `max_msg_size` besides its body.
const FRAME_BOOKKEEPING: usize = 32;
/// Deadlines followed after the stream is exhausted.
const FINAL_DEADLINES: usize = 4;

#[derive(Arbitrary, Debug)]
struct Controls {
    /// Our socket type (see `scenario::socket_type`).
    socket_type: u8,
    /// The INITIATE's socket type: an index into the compatible peers of ours.
    peer_type: u8,
    /// Minor version of the client's greeting.
    peer_minor: u8,
    /// Ask an authenticator.
    authenticate: bool,
    /// What it answers.
    decision: Decision,
    /// Answer as soon as asked (else at a `Decide` step, or after the stream).
    decide_at_once: bool,
    /// Which valid octets go first.
    preamble: Preamble,
    /// Lengths of the preamble HELLO's user name and password.
    username_len: u8,
    password_len: u8,
    /// What happens while the stream is fed.
    steps: [Step; 4],
    /// The rest of the stream is fed in chunks of this pattern (see `Chunker`).
    tail_chunk: u8,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Preamble {
    None,
    Greeting,
    Hello,
    /// Greeting, HELLO and INITIATE: the stream is traffic.
    Handshake,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Decision {
    Allow,
    AllowAs { user_id: u8 },
    Deny { status: u8 },
    Never,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct Step {
    /// Octets of the stream to feed first (as one input).
    feed: u16,
    action: Action,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Action {
    None,
    Timeout { advance_ms: u16 },
    Send { frames: u8, len: u16 },
    Subscribe { len: u8 },
    Decide,
    Transmit,
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(controls) = Controls::arbitrary(&mut u) else {
        return;
    };
    run(&controls, u.take_rest());
});

/// A HELLO command frame with these credentials.
fn hello(username: &[u8], password: &[u8]) -> Vec<u8> {
    let mut data = vec![username.len() as u8];
    data.extend_from_slice(username);
    data.push(password.len() as u8);
    data.extend_from_slice(password);
    let mut body = BytesMut::new();
    RawCommand::encode("HELLO", &data, &mut body);
    wire::frame(FrameKind::Command, &body)
}

/// An INITIATE command frame with this metadata.
fn initiate(metadata: &Metadata) -> Vec<u8> {
    let mut data = BytesMut::new();
    metadata.encode(&mut data);
    let mut body = BytesMut::new();
    RawCommand::encode("INITIATE", &data, &mut body);
    wire::frame(FrameKind::Command, &body)
}

fn run(controls: &Controls, tail: &[u8]) {
    let ours = socket_type(controls.socket_type);
    let peers = compatible_peers(ours);
    let peer = peers[usize::from(controls.peer_type) % peers.len()];
    let username: Vec<u8> = (0..controls.username_len).map(|i| b'a' + i % 26).collect();
    let password: Vec<u8> = (0..controls.password_len)
        .map(|i| i.wrapping_mul(7))
        .collect();

    let mut preamble = Vec::new();
    if controls.preamble != Preamble::None {
        preamble.extend(wire::greeting(
            MechanismName::PLAIN,
            false,
            controls.peer_minor,
        ));
    }
    if matches!(controls.preamble, Preamble::Hello | Preamble::Handshake) {
        preamble.extend(hello(&username, &password));
    }
    if controls.preamble == Preamble::Handshake {
        preamble.extend(initiate(&wire::peer_metadata(peer)));
    }
    let stream = [&preamble[..], tail].concat();

    let mut config = Config::new(ours);
    config.security = Security::PlainServer;
    config.authenticate = controls.authenticate;
    config.zap_domain = Bytes::from_static(b"fuzz");
    // With a HELLO in the preamble, inputs are split after it (see `Harness::input`).
    let pause_at = match controls.preamble {
        Preamble::Hello | Preamble::Handshake => GREETING_LEN + hello(&username, &password).len(),
        _ => usize::MAX,
    };
    let mut h = Harness::new(config, controls, pause_at);

    let mut rest = &stream[..];
    for step in &controls.steps {
        let (fed, later) = rest.split_at(usize::from(step.feed).min(rest.len()));
        rest = later;
        h.input(fed);
        h.act(step.action);
    }
    for piece in Chunker::new(controls.tail_chunk).split(rest) {
        h.input(piece);
    }
    h.decide();
    h.transmit();
    for _ in 0..FINAL_DEADLINES {
        let Some(deadline) = h.conn.poll_timeout() else {
            break;
        };
        h.now = h.now.max(deadline);
        h.timeout();
    }
    h.transmit();
    h.finish();

    let allowed_at_once = controls.decide_at_once
        && matches!(
            controls.decision,
            Decision::Allow | Decision::AllowAs { .. }
        );
    if controls.preamble == Preamble::Handshake
        && (!controls.authenticate || allowed_at_once)
        && !h.timed_out()
    {
        assert!(h.ready, "a valid handshake failed: {:?}", h.closed);
    }
    if controls.preamble == Preamble::Handshake && h.ready {
        h.check_traffic(&stream[preamble.len()..]);
    }
}

/// The HELLO and INITIATE a stream starts with (after its greeting), as far as they decode.
fn handshake_frames(fed: &[u8]) -> Vec<Bytes> {
    let mut greeting = GreetingDecoder::new();
    let Ok((used, Some(_))) = greeting.feed(fed) else {
        return Vec::new();
    };
    let mut buf = BytesMut::from(&fed[used..]);
    let mut decoder = FrameDecoder::new();
    let mut out = Vec::new();
    while let Ok(Some(frame)) = decoder.decode(&mut buf, u64::MAX) {
        out.push(frame.body);
        if out.len() == 2 {
            break;
        }
    }
    out
}

/// User name and password of a HELLO command body, by RFC 24's layout.
fn parse_hello(body: &Bytes) -> Option<(Bytes, Vec<u8>)> {
    let raw = RawCommand::parse(body.clone()).ok()?;
    if raw.name != "HELLO" {
        return None;
    }
    let data = &raw.data;
    let user_len = usize::from(*data.first()?);
    let username = data.get(1..1 + user_len)?;
    let pass_len = usize::from(*data.get(1 + user_len)?);
    let password = data.get(2 + user_len..)?;
    (password.len() == pass_len).then(|| (Bytes::copy_from_slice(username), password.to_vec()))
}

/// The server under test and everything observed from it.
struct Harness {
    conn: Connection,
    ours: SocketType,
    decision: Decision,
    decide_at_once: bool,
    authenticate: bool,
    max_msg_size: u64,
    now: Instant,
    closed: Option<ConnectionError>,
    queued_at_close: Option<usize>,
    /// Every octet given to the connection.
    fed: Vec<u8>,
    /// Where inputs are split (see `input`).
    pause_at: usize,
    /// A request polled and not yet answered; whether one was ever polled.
    pending: bool,
    asked: bool,
    /// The decision given (and accepted), if any.
    decided: Option<AuthDecision>,
    ready: bool,
    events: Vec<Event>,
    output: Output,
    tx_budget: usize,
    tx_taken: usize,
    in_place: bool,
}

impl Harness {
    fn new(config: Config, controls: &Controls, pause_at: usize) -> Self {
        let local_metadata = config.local_metadata();
        let ready_len = 6 + local_metadata.encoded_len();
        let now = Instant::now();
        Self {
            ours: config.socket_type,
            max_msg_size: config.max_msg_size,
            conn: Connection::new(config, Role::Server, now),
            decision: controls.decision,
            decide_at_once: controls.decide_at_once,
            authenticate: controls.authenticate,
            now,
            closed: None,
            queued_at_close: None,
            fed: Vec::new(),
            pause_at,
            pending: false,
            asked: false,
            decided: None,
            ready: false,
            events: Vec::new(),
            output: Output::new(local_metadata),
            tx_budget: GREETING_LEN + (2 + 8) + header_len(ready_len) + ready_len + MAX_ERROR_FRAME,
            tx_taken: 0,
            in_place: false,
        }
    }

    fn timed_out(&self) -> bool {
        matches!(
            self.closed,
            Some(
                ConnectionError::HandshakeTimeout(_)
                    | ConnectionError::HeartbeatTimeout(_)
                    | ConnectionError::PeerTtlExpired(_)
            )
        )
    }

    /// A real client waits for WELCOME before its INITIATE, so what arrives up to the end
    /// of the preamble's HELLO comes in inputs of its own: an authenticator that answers
    /// at once then sees the INITIATE only after it let the client in.
    fn input(&mut self, octets: &[u8]) {
        let start = self.fed.len();
        if start < self.pause_at && start + octets.len() > self.pause_at {
            let (head, tail) = octets.split_at(self.pause_at - start);
            self.feed(head);
            self.feed(tail);
        } else {
            self.feed(octets);
        }
    }

    fn feed(&mut self, octets: &[u8]) {
        self.fed.extend_from_slice(octets);
        // Input can make us reply with PONGs, each no larger than its PING.
        self.tx_budget += octets.len();
        self.in_place = !self.in_place;
        let mut rest = octets;
        while self.in_place && !rest.is_empty() {
            let Some(room) = self.conn.receive_in_place() else {
                break;
            };
            assert!(!room.is_empty(), "room lent must not be empty");
            let n = room.len().min(rest.len());
            room[..n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            let result = self.conn.handle_received(n, self.now);
            let failed = result.is_err();
            self.after(result);
            if failed {
                return;
            }
        }
        if !rest.is_empty() || octets.is_empty() {
            let result = self.conn.handle_input(rest, self.now);
            self.after(result);
        }
    }

    fn timeout(&mut self) {
        self.tx_budget += PING_FRAME;
        let result = self.conn.handle_timeout(self.now);
        if result.is_ok()
            && let Some(deadline) = self.conn.poll_timeout()
        {
            assert!(deadline > self.now, "handle_timeout left a passed deadline");
        }
        self.after(result);
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::None => {}
            Action::Timeout { advance_ms } => {
                self.now += Duration::from_millis(u64::from(advance_ms) * 4);
                self.timeout();
            }
            Action::Send { frames, len } => {
                let len = usize::from(len & 0x3FFF);
                let msg: Msg = (0..frames % 4).map(|i| Bytes::from(vec![i; len])).collect();
                self.tx_budget += msg.len() * (header_len(len) + len);
                let result = self.conn.send(&msg);
                self.check_send(result, msg.is_empty());
            }
            Action::Subscribe { len } => {
                let prefix = vec![b's'; len.into()];
                self.tx_budget += SUBSCRIPTION_OVERHEAD + prefix.len();
                let result = self.conn.subscribe(&prefix);
                self.check_send(result, false);
            }
            Action::Decide => self.decide(),
            Action::Transmit => self.transmit(),
        }
        self.check_state();
    }

    fn check_send(&self, result: Result<(), SendError>, empty: bool) {
        let expected = match &self.closed {
            Some(err) => Err(SendError::Closed(err.clone())),
            None if !self.conn.is_ready() => Err(SendError::NotReady),
            None if empty => Err(SendError::EmptyMessage),
            None => Ok(()),
        };
        assert_eq!(result, expected);
    }

    /// Answers the authenticator's request (if one waits; otherwise the answer must change
    /// nothing, or return the error that closed the connection).
    fn decide(&mut self) {
        let decision = match self.decision {
            Decision::Allow => AuthDecision::allow(),
            Decision::AllowAs { user_id } => {
                let mut metadata = Metadata::new();
                metadata.insert("X-Fuzz", vec![user_id; 3]).expect("valid");
                AuthDecision::Allow {
                    user_id: Bytes::from(vec![b'u'; usize::from(user_id % 8)]),
                    metadata,
                }
            }
            Decision::Deny { status } => {
                let status = [
                    AuthStatus::TemporaryError,
                    AuthStatus::Denied,
                    AuthStatus::InternalError,
                ][usize::from(status % 3)];
                AuthDecision::deny_with(status, "fuzz")
            }
            Decision::Never => return,
        };
        let waiting = self.conn.awaits_authentication();
        assert_eq!(waiting, self.pending, "awaits_authentication disagrees");
        let pending_before = self.conn.pending_transmit();
        let result = self.conn.authenticate(decision.clone(), self.now);
        match (&self.closed, waiting) {
            (Some(closed), _) => {
                assert_eq!(result.as_ref(), Err(closed));
                return;
            }
            (None, false) => {
                assert_eq!(result, Ok(()), "a decision nobody asked for");
                assert_eq!(self.conn.pending_transmit(), pending_before);
                return;
            }
            (None, true) => {}
        }
        self.pending = false;
        self.decided = Some(decision.clone());
        match &decision {
            AuthDecision::Deny { status, .. } => {
                let expected = ConnectionError::Mechanism(MechanismError::Denied {
                    mechanism: MechanismName::PLAIN,
                    status: *status,
                    text: "fuzz".into(),
                });
                assert_eq!(result.as_ref(), Err(&expected));
            }
            AuthDecision::Allow { .. } => {
                assert_eq!(result, Ok(()), "allowed, then failed");
                assert!(!self.conn.is_ready(), "ready before INITIATE");
            }
            _ => {}
        }
        self.after(result);
    }

    fn transmit(&mut self) {
        while let Some(chunk) = self.conn.poll_transmit() {
            self.tx_taken += chunk.len();
            self.output.push(&chunk);
            if self.output.welcomed && self.authenticate {
                assert!(
                    matches!(self.decided, Some(AuthDecision::Allow { .. })),
                    "WELCOME before the authenticator allowed"
                );
            }
            if self.output.welcomed {
                assert!(
                    handshake_frames(&self.fed)
                        .first()
                        .and_then(parse_hello)
                        .is_some(),
                    "WELCOME without a valid HELLO"
                );
            }
        }
        if self.output.errors > 0 {
            assert!(self.closed.is_some(), "an ERROR sent on an open connection");
        }
        self.check_state();
    }

    fn after(&mut self, result: Result<(), ConnectionError>) {
        match (&self.closed, result) {
            (Some(closed), result) => {
                assert_eq!(result.as_ref(), Err(closed), "a closed connection changed");
            }
            (None, Ok(())) => assert!(!self.conn.is_closed(), "closed without an error"),
            (None, Err(err)) => {
                assert!(self.conn.is_closed(), "returned {err} but stayed open");
                assert_eq!(self.conn.error(), Some(&err));
                self.queued_at_close = Some(self.tx_taken + self.conn.pending_transmit());
                self.closed = Some(err);
                self.pending = false;
            }
        }
        if let Some(request) = self.conn.poll_auth_request() {
            assert!(self.authenticate, "asked without an authenticator");
            assert!(!self.asked, "asked twice");
            assert!(self.conn.awaits_authentication());
            self.asked = true;
            self.pending = true;
            assert_eq!(request.mechanism, MechanismName::PLAIN);
            assert_eq!(request.domain, "fuzz");
            let Some((username, password)) =
                handshake_frames(&self.fed).first().and_then(parse_hello)
            else {
                panic!("asked without a valid HELLO");
            };
            match &request.credentials {
                Credentials::Plain {
                    username: u,
                    password: p,
                } => assert!(
                    *u == username && p[..] == password[..],
                    "the credentials asked about are not the HELLO's"
                ),
                other => panic!("PLAIN credentials expected: {other:?}"),
            }
        }
        assert!(self.conn.poll_auth_request().is_none(), "asked twice");
        self.drain_events();
        self.check_state();
        if self.pending && self.decide_at_once {
            self.decide();
        }
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.conn.poll_event() {
            match &event {
                Event::Ready(peer) => {
                    assert!(!self.ready, "Ready twice");
                    self.ready = true;
                    let frames = handshake_frames(&self.fed);
                    assert!(
                        frames.first().and_then(parse_hello).is_some(),
                        "ready without a valid HELLO"
                    );
                    let initiate = frames.get(1).expect("an INITIATE");
                    let initiate = RawCommand::parse(initiate.clone()).expect("parsed before");
                    assert_eq!(initiate.name, "INITIATE");
                    let metadata = Metadata::parse(initiate.data).expect("parsed before");
                    assert_eq!(peer.metadata, metadata);
                    assert_eq!(Some(peer.socket_type), metadata.socket_type());
                    assert!(self.ours.is_compatible_with(peer.socket_type));
                    assert_eq!(peer.identity.as_ref(), metadata.identity());
                    assert_eq!(peer.mechanism, MechanismName::PLAIN);
                    match &self.decided {
                        Some(AuthDecision::Allow { user_id, metadata }) => {
                            assert_eq!(peer.user_id.as_ref(), Some(user_id));
                            assert_eq!(&peer.auth_metadata, metadata);
                        }
                        Some(other) => panic!("ready after {other:?}"),
                        None => {
                            assert!(!self.authenticate, "ready without a decision");
                            assert_eq!(peer.user_id, None);
                            assert!(peer.auth_metadata.is_empty());
                        }
                    }
                }
                Event::Message(msg) => {
                    assert!(self.ready, "a message before Ready");
                    let cost = msg.byte_len() + msg.len() * FRAME_BOOKKEEPING;
                    assert!(!msg.is_empty() && cost as u64 <= self.max_msg_size);
                }
                Event::Subscribe(_) | Event::Cancel(_) => {
                    assert!(self.ready, "a subscription before Ready");
                }
                other => panic!("an event this target does not know: {other:?}"),
            }
            self.events.push(event);
        }
    }

    fn check_state(&self) {
        let conn = &self.conn;
        assert!(
            self.tx_taken + conn.pending_transmit() <= self.tx_budget,
            "{} octets queued or sent, only {} accounted for",
            self.tx_taken + conn.pending_transmit(),
            self.tx_budget
        );
        if self.closed.is_some() {
            assert!(!conn.is_ready() && conn.peer().is_none());
            assert!(!conn.awaits_authentication());
            assert_eq!(
                conn.poll_timeout(),
                None,
                "a closed connection keeps a deadline"
            );
            assert_eq!(
                Some(self.tx_taken + conn.pending_transmit()),
                self.queued_at_close,
                "a closed connection queued more traffic"
            );
        }
        assert_eq!(conn.is_ready(), self.ready && self.closed.is_none());
        if !self.authenticate {
            assert!(!self.asked && !conn.awaits_authentication());
        }
    }

    fn finish(&self) {
        assert!(
            self.output.at_boundary(),
            "stopped transmitting mid-frame (closed: {:?})",
            self.closed
        );
        let refused = matches!(
            self.closed,
            Some(
                ConnectionError::IncompatibleSocketType { .. }
                    | ConnectionError::MissingSocketType
                    | ConnectionError::Mechanism(
                        MechanismError::Rejected { .. } | MechanismError::Denied { .. }
                    )
            )
        );
        assert_eq!(
            self.output.errors,
            usize::from(refused),
            "ERROR frames sent, closed with {:?}",
            self.closed
        );
        if let Some(ConnectionError::Mechanism(MechanismError::Denied { status, .. })) =
            &self.closed
        {
            assert_eq!(
                self.output.last_error.as_deref(),
                Some(status.code().to_string().as_bytes()),
                "a denied client hears the bare status code"
            );
        }
    }

    /// The events after Ready are those the post-handshake stream describes.
    fn check_traffic(&self, stream: &[u8]) {
        let (expected, clean) = expected_events(stream, self.ours);
        let actual = &self.events[1..];
        if self.closed.is_none() {
            assert!(clean, "a protocol error in the stream went unnoticed");
            assert_eq!(actual, expected, "events differ from the stream");
        } else {
            assert!(
                expected.starts_with(actual),
                "events differ from the stream: {actual:?}, expected a prefix of {expected:?}"
            );
        }
    }
}

/// What a correct connection reports for traffic octets: the events of every complete
/// message and subscription command, and whether the octets are free of protocol errors.
fn expected_events(stream: &[u8], ours: SocketType) -> (Vec<Event>, bool) {
    let publisher = matches!(ours, SocketType::Pub | SocketType::XPub);
    let mut buf = BytesMut::from(stream);
    let mut decoder = FrameDecoder::new();
    let mut events = Vec::new();
    let mut partial = Msg::new();
    loop {
        let frame = match decoder.decode(&mut buf, u64::MAX) {
            Ok(Some(frame)) => frame,
            Ok(None) => return (events, true),
            Err(_) => return (events, false),
        };
        match frame.kind {
            FrameKind::Message { more } => {
                partial.push_back(frame.body);
                if !more {
                    let msg = mem::take(&mut partial);
                    let body = &msg.frames()[0];
                    events.push(match body.first() {
                        Some(1) if publisher && msg.len() == 1 => Event::Subscribe(body.slice(1..)),
                        Some(0) if publisher && msg.len() == 1 => Event::Cancel(body.slice(1..)),
                        _ => Event::Message(msg),
                    });
                }
            }
            FrameKind::Command => match Command::parse(frame.body) {
                Ok(Command::Subscribe(prefix)) => events.push(Event::Subscribe(prefix)),
                Ok(Command::Cancel(prefix)) => events.push(Event::Cancel(prefix)),
                Ok(Command::Ping { .. } | Command::Pong(_) | Command::Other(_)) => {}
                _ => return (events, false),
            },
        }
    }
}

/// Checks what the server transmits: our PLAIN server greeting, WELCOME, READY with our
/// metadata, then valid traffic; or an ERROR, last.
struct Output {
    local_metadata: Metadata,
    greeting: GreetingDecoder,
    greeted: bool,
    buf: BytesMut,
    decoder: FrameDecoder,
    welcomed: bool,
    readied: bool,
    errors: usize,
    last_error: Option<Bytes>,
}

impl Output {
    fn new(local_metadata: Metadata) -> Self {
        Self {
            local_metadata,
            greeting: GreetingDecoder::new(),
            greeted: false,
            buf: BytesMut::new(),
            decoder: FrameDecoder::new(),
            welcomed: false,
            readied: false,
            errors: 0,
            last_error: None,
        }
    }

    fn push(&mut self, mut chunk: &[u8]) {
        if !self.greeted {
            let (used, greeting) = self.greeting.feed(chunk).expect("we sent a bad greeting");
            chunk = &chunk[used..];
            let Some(greeting) = greeting else {
                return;
            };
            assert_eq!(greeting, Greeting::new(MechanismName::PLAIN, true));
            self.greeted = true;
        }
        self.buf.extend_from_slice(chunk);
        while let Some(frame) = self
            .decoder
            .decode(&mut self.buf, u64::MAX)
            .expect("bad frame")
        {
            assert_eq!(self.errors, 0, "we sent a frame after our ERROR");
            if self.readied {
                if frame.kind == FrameKind::Command {
                    let command = Command::parse(frame.body).expect("a malformed command");
                    assert!(
                        matches!(
                            command,
                            Command::Pong(_) | Command::Subscribe(_) | Command::Cancel(_)
                        ),
                        "after READY: {command:?}"
                    );
                }
                continue;
            }
            assert_eq!(frame.kind, FrameKind::Command, "a message before READY");
            let raw = RawCommand::parse(frame.body).expect("a malformed command");
            match &raw.name[..] {
                b"ERROR" => {
                    let Ok(Command::Error(reason)) = Command::interpret(raw) else {
                        panic!("a malformed ERROR");
                    };
                    self.errors += 1;
                    self.last_error = Some(reason);
                }
                b"WELCOME" => {
                    assert!(!self.welcomed, "WELCOME twice");
                    assert!(raw.data.is_empty(), "WELCOME carries nothing");
                    self.welcomed = true;
                }
                b"READY" => {
                    assert!(self.welcomed, "READY before WELCOME");
                    let metadata = Metadata::parse(raw.data).expect("our metadata parses");
                    assert_eq!(metadata, self.local_metadata);
                    self.readied = true;
                }
                _ => panic!("unexpected handshake command {raw:?}"),
            }
        }
    }

    fn at_boundary(&self) -> bool {
        self.greeted && self.decoder.at_boundary(&self.buf)
    }
}
