//! A CURVE server `Connection` whose client sends arbitrary octets, usually starting with a
//! genuine client stream that the fuzzer cuts and alters.
//!
//! Input: a `Controls` header (decoded with `arbitrary`: seeds of both sides' randomness,
//! the socket-type pair, whether the server asks an authenticator and what it answers and
//! when, whether the client was given another server key, how much of the genuine client
//! stream goes first and which of its octets are altered, steps that interleave feeding
//! with time, sends, decisions and transmission) followed by octets appended to it. The
//! genuine stream comes from a real seeded `CurveClient` connection talking to a seeded
//! server: greeting, HELLO, INITIATE, then traffic (messages with short, long and 33 KiB
//! frames, a SUBSCRIBE, a PING), all sealed. Invariants:
//! - nothing panics; once a call returns an error the connection is closed and every call
//!   keeps returning that error (`authenticate` too, sends `SendError::Closed`), no
//!   deadline remains, no auth request is pending and nothing more is queued;
//! - what is queued for the client stays within what our greeting, WELCOME, READY, one
//!   ERROR, the PONGs (sealed no larger than the sealed PINGs they answer) and our own
//!   sends account for;
//! - we transmit our CURVE server greeting, then WELCOME, READY, then only MESSAGE boxes
//!   with strictly increasing nonces above READY's, or an ERROR last (only on close, before
//!   READY, exactly when the handshake refused the client);
//! - the handshake completes, or an authenticator is asked, only if the HELLO and INITIATE
//!   received are exactly the genuine ones (but HELLO's 72 octets of padding, which
//!   RFC 26 leaves unauthenticated and libzmq does not check), never when the client has
//!   another server key; the request names the client's real key; the Ready event names
//!   the client's socket type and metadata and the decision's user id and properties;
//! - a genuine handshake completes (without an authenticator, or with one that allows at
//!   once; inputs are split where the genuine INITIATE ends, as a real client waits for
//!   READY before it sends traffic);
//! - after Ready, what arrives is a subsequence of the genuine traffic (frame by frame, in
//!   order: nothing altered, invented, replayed or reordered), and starts with all of the
//!   genuine traffic fed intact.
#![no_main]

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use zmq_sansio::Msg;
use zmq_sansio::proto::{
    Command, Config, Connection, ConnectionError, Event, FrameDecoder, FrameKind, GREETING_LEN,
    Greeting, GreetingDecoder, HeartbeatConfig, MechanismError, MechanismName, Metadata,
    RawCommand, Role, SendError, SocketType, header_len,
};
use zmq_sansio::security::{
    AuthDecision, AuthStatus, Credentials, CurveKeyPair, CurvePublicKey, Entropy, Security,
};
use zmq_sansio_fuzz::Chunker;
use zmq_sansio_fuzz::scenario::compatible_pairs;

/// Seeds per side: each combination's genuine stream is computed once and kept.
const SEEDS: u8 = 4;
/// HELLO's padding, as offsets into its command body (after `\x05HELLO` and the version).
const HELLO_PADDING: std::ops::Range<usize> = 8..80;
/// What a sealed frame adds to its body: `\x07MESSAGE`, nonce, tag, flags.
const SEAL_OVERHEAD: usize = 8 + 8 + 16 + 1;
/// An ERROR command with the longest reason.
const MAX_ERROR_FRAME: usize = 9 + 1 + 5 + 1 + 255;
/// Deadlines followed after the stream is exhausted.
const FINAL_DEADLINES: usize = 4;

#[derive(Arbitrary, Debug)]
struct Controls {
    /// Seed of the server's randomness (modulo [`SEEDS`]).
    server_seed: u8,
    /// Seed of the genuine client's randomness (modulo [`SEEDS`]).
    client_seed: u8,
    /// The (client, server) socket types: an index into `compatible_pairs`.
    pair: u8,
    /// The genuine client was given another server key than ours.
    wrong_key: bool,
    /// Ask an authenticator.
    authenticate: bool,
    /// What it answers.
    decision: Decision,
    /// Answer as soon as asked (else at a `Decide` step, or after the stream).
    decide_at_once: bool,
    /// How much of the genuine client stream goes first.
    preamble: Preamble,
    /// Cut the genuine part after this many octets (past the greeting).
    cut: Option<u16>,
    /// Octets of the genuine part altered: position (modulo its length) and XOR mask.
    flips: [(u16, u8); 2],
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
    Handshake,
    Session,
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

fn server_keys() -> &'static CurveKeyPair {
    static KEYS: std::sync::OnceLock<CurveKeyPair> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| CurveKeyPair::generate_with(&Entropy::seeded(0x5E)))
}

fn client_keys() -> &'static CurveKeyPair {
    static KEYS: std::sync::OnceLock<CurveKeyPair> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| CurveKeyPair::generate_with(&Entropy::seeded(0xC1)))
}

fn other_server_key() -> CurvePublicKey {
    *CurveKeyPair::generate_with(&Entropy::seeded(0xBAD)).public()
}

/// One unit of client traffic as the server reports it: a message frame (body, MORE) or a
/// subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Unit {
    Frame(Bytes, bool),
    Subscribe(Bytes),
}

/// The genuine client stream for one combination of seeds, types and key.
struct Reference {
    wire: Vec<u8>,
    hello: Option<Bytes>,
    initiate: Option<Bytes>,
    /// Where the INITIATE frame ends in `wire`.
    handshake_end: usize,
    /// The client's traffic after the handshake, each unit with the offset in `wire` at
    /// which the server can report it (the end of a message's last frame).
    units: Vec<(Unit, usize)>,
    client_type: SocketType,
    client_metadata: Metadata,
}

type Key = (u8, u8, u8, bool);

thread_local! {
    static REFERENCES: RefCell<HashMap<Key, Rc<Reference>>> = RefCell::new(HashMap::new());
}

fn server_config(server_type: SocketType, seed: u8) -> Config {
    let mut config = Config::new(server_type);
    config.security = Security::curve_server(server_keys().secret().clone());
    config.entropy = Entropy::seeded(u64::from(seed));
    config
}

fn reference(key: Key) -> Rc<Reference> {
    if let Some(found) = REFERENCES.with(|r| r.borrow().get(&key).cloned()) {
        return found;
    }
    let made = Rc::new(make_reference(key));
    REFERENCES.with(|r| r.borrow_mut().insert(key, made.clone()));
    made
}

fn make_reference((server_seed, client_seed, pair, wrong_key): Key) -> Reference {
    let pairs = compatible_pairs();
    let (client_type, server_type) = pairs[usize::from(pair) % pairs.len()];
    let server_key = if wrong_key {
        other_server_key()
    } else {
        *server_keys().public()
    };
    let mut config = Config::new(client_type);
    config.security = Security::curve_client(server_key, client_keys().clone());
    config.entropy = Entropy::seeded(u64::from(client_seed));
    config.heartbeat = HeartbeatConfig {
        interval: Some(Duration::from_secs(1)),
        ttl: Some(Duration::from_secs(60)),
        timeout: None,
    };
    let client_metadata = config.local_metadata();
    let mut now = Instant::now();
    let mut client = Connection::new(config, Role::Client, now);
    let mut server = Connection::new(server_config(server_type, server_seed), Role::Server, now);
    let mut wire = Vec::new();
    shuttle(&mut client, &mut server, &mut wire, now);
    assert_eq!(client.is_ready(), !wrong_key, "{:?}", client.error());
    let handshake_end = wire.len();
    let mut units = Vec::new();
    if client.is_ready() {
        let frame = |n: usize, fill: u8| Bytes::from(vec![fill; n]);
        let messages = [
            Msg::from("hello"),
            Msg::from_frames([frame(5, b'm'), frame(300, b'p'), Bytes::new()]),
            Msg::from_frames([frame(33 * 1024, b'L')]),
            Msg::from("bye"),
        ];
        for (i, msg) in messages.iter().enumerate() {
            if i == 1 {
                client.subscribe(b"topic").expect("ready");
                shuttle(&mut client, &mut server, &mut wire, now);
                units.push((Unit::Subscribe(Bytes::from_static(b"topic")), wire.len()));
            }
            if i == 3 {
                // A sealed PING: the server answers with a sealed PONG.
                now += Duration::from_secs(1);
                client.handle_timeout(now).expect("alive");
            }
            client.send(msg).expect("ready");
            shuttle(&mut client, &mut server, &mut wire, now);
            let last = msg.len() - 1;
            for (j, body) in msg.iter().enumerate() {
                units.push((Unit::Frame(body.clone(), j < last), wire.len()));
            }
        }
        assert!(server.is_ready(), "{:?}", server.error());
    }
    let frames = frames_after_greeting(&wire).0;
    Reference {
        hello: frames.first().cloned(),
        initiate: frames.get(1).cloned().filter(|_| !wrong_key),
        handshake_end,
        units,
        client_type,
        client_metadata,
        wire,
    }
}

/// Moves octets both ways until neither side has any; records the client's in `wire`.
fn shuttle(client: &mut Connection, server: &mut Connection, wire: &mut Vec<u8>, now: Instant) {
    loop {
        let mut moved = false;
        while let Some(chunk) = client.poll_transmit() {
            moved = true;
            wire.extend_from_slice(&chunk);
            let _ = server.handle_input(&chunk, now);
        }
        while let Some(chunk) = server.poll_transmit() {
            moved = true;
            let _ = client.handle_input(&chunk, now);
        }
        if !moved {
            return;
        }
    }
}

/// The command and message bodies in a client stream after its greeting, as far as they
/// decode, and whether the greeting decoded.
fn frames_after_greeting(wire: &[u8]) -> (Vec<Bytes>, bool) {
    let mut greeting = GreetingDecoder::new();
    let Ok((used, Some(_))) = greeting.feed(wire) else {
        return (Vec::new(), false);
    };
    let mut buf = BytesMut::from(&wire[used..]);
    let mut decoder = FrameDecoder::new();
    let mut out = Vec::new();
    while let Ok(Some(frame)) = decoder.decode(&mut buf, u64::MAX) {
        out.push(frame.body);
        if out.len() == 2 {
            break;
        }
    }
    (out, true)
}

/// Whether `fed` starts with the genuine HELLO (but its padding) and INITIATE.
fn genuine_handshake(fed: &[u8], reference: &Reference) -> Result<(), String> {
    let (frames, _) = frames_after_greeting(fed);
    let (Some(hello), Some(initiate)) = (&reference.hello, &reference.initiate) else {
        return Err("the genuine client has no valid handshake".into());
    };
    let [got_hello, got_initiate] = &frames[..] else {
        return Err(format!("{} frames after the greeting", frames.len()));
    };
    let unpadded = |body: &[u8]| {
        let mut body = body.to_vec();
        if body.len() >= HELLO_PADDING.end {
            body[HELLO_PADDING].fill(0);
        }
        body
    };
    if unpadded(got_hello) != unpadded(hello) {
        return Err("another HELLO".into());
    }
    if got_initiate != initiate {
        return Err("another INITIATE".into());
    }
    Ok(())
}

fn run(controls: &Controls, tail: &[u8]) {
    let pairs = compatible_pairs();
    let pair = controls.pair % u8::try_from(pairs.len()).expect("few pairs");
    let key = (
        controls.server_seed % SEEDS,
        controls.client_seed % SEEDS,
        pair,
        controls.wrong_key,
    );
    let reference = reference(key);
    let server_type = pairs[usize::from(pair)].1;

    // The genuine part: as much of the stream as the preamble says, cut, altered.
    let genuine_len = match controls.preamble {
        Preamble::None => 0,
        Preamble::Greeting => GREETING_LEN,
        Preamble::Hello => GREETING_LEN + 2 + 200,
        Preamble::Handshake => reference.handshake_end,
        Preamble::Session => reference.wire.len(),
    }
    .min(reference.wire.len());
    let genuine_len = match controls.cut {
        Some(cut) if genuine_len > GREETING_LEN => {
            GREETING_LEN + usize::from(cut) % (genuine_len - GREETING_LEN + 1)
        }
        _ => genuine_len,
    };
    let mut stream = reference.wire[..genuine_len].to_vec();
    for (at, xor) in controls.flips {
        if !stream.is_empty() {
            let at = usize::from(at) % stream.len();
            stream[at] ^= xor;
        }
    }
    stream.extend_from_slice(tail);

    let mut config = server_config(server_type, key.0);
    config.authenticate = controls.authenticate;
    config.zap_domain = Bytes::from_static(b"fuzz");
    let mut h = Harness::new(config, controls, reference.clone());

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
    if !matches!(controls.decision, Decision::Never) {
        h.decide();
    }
    h.transmit();
    for _ in 0..FINAL_DEADLINES {
        let Some(deadline) = h.conn.poll_timeout() else {
            break;
        };
        h.now = h.now.max(deadline);
        h.timeout();
    }
    h.transmit();
    h.finish(&stream);
}

/// The server under test and everything observed from it.
struct Harness {
    conn: Connection,
    reference: Rc<Reference>,
    controls_decision: Decision,
    decide_at_once: bool,
    authenticate: bool,
    wrong_key: bool,
    now: Instant,
    closed: Option<ConnectionError>,
    queued_at_close: Option<usize>,
    /// Every octet given to the connection.
    fed: Vec<u8>,
    /// Where inputs are split (see `input`).
    pause_at: usize,
    /// The request, once polled, until decided; whether one was ever seen.
    pending: bool,
    asked: bool,
    /// The decision given (and accepted), if any.
    decided: Option<AuthDecision>,
    ready: bool,
    /// Traffic reported after Ready.
    units: Vec<Unit>,
    output: Output,
    tx_budget: usize,
    tx_taken: usize,
    in_place: bool,
}

impl Harness {
    fn new(config: Config, controls: &Controls, reference: Rc<Reference>) -> Self {
        let ready_len = 6 + 24 + config.local_metadata().encoded_len();
        let now = Instant::now();
        Self {
            conn: Connection::new(config, Role::Server, now),
            pause_at: reference.handshake_end,
            reference,
            controls_decision: controls.decision,
            decide_at_once: controls.decide_at_once,
            authenticate: controls.authenticate,
            wrong_key: controls.wrong_key,
            now,
            closed: None,
            queued_at_close: None,
            fed: Vec::new(),
            pending: false,
            asked: false,
            decided: None,
            ready: false,
            units: Vec::new(),
            output: Output::default(),
            tx_budget: GREETING_LEN
                + (2 + 8 + 160)
                + header_len(ready_len)
                + ready_len
                + MAX_ERROR_FRAME,
            tx_taken: 0,
            in_place: false,
        }
    }

    /// A real client sends no traffic before our READY, so what arrives up to the end of
    /// the genuine INITIATE comes in inputs of its own: an authenticator that answers at
    /// once then sees traffic only after it let the client in.
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
        // A PONG is sealed no larger than the sealed PING it answers.
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
        // A sealed PING of ours: name, TTL, no context.
        self.tx_budget += 2 + SEAL_OVERHEAD + 7;
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
                self.tx_budget += msg.len() * (9 + SEAL_OVERHEAD + len);
                let result = self.conn.send(&msg);
                let expected = match &self.closed {
                    Some(err) => Err(SendError::Closed(err.clone())),
                    None if !self.conn.is_ready() => Err(SendError::NotReady),
                    None if msg.is_empty() => Err(SendError::EmptyMessage),
                    None => Ok(()),
                };
                assert_eq!(result, expected);
            }
            Action::Decide => self.decide(),
            Action::Transmit => self.transmit(),
        }
        self.check_state();
    }

    /// Answers the authenticator's request (if one is waiting, or the connection closed:
    /// then the answer must return the error).
    fn decide(&mut self) {
        let decision = match self.controls_decision {
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
        let result = self.conn.authenticate(decision.clone(), self.now);
        match (&self.closed, waiting) {
            (Some(closed), _) => assert_eq!(result.as_ref(), Err(closed)),
            // A decision nobody asked for is ignored.
            (None, false) => {
                assert_eq!(result, Ok(()));
                return;
            }
            (None, true) => {}
        }
        self.pending = false;
        if self.closed.is_none() {
            self.decided = Some(decision.clone());
        }
        match &decision {
            AuthDecision::Deny { status, .. } if self.closed.is_none() => {
                let expected = ConnectionError::Mechanism(MechanismError::Denied {
                    mechanism: MechanismName::CURVE,
                    status: *status,
                    text: "fuzz".into(),
                });
                assert_eq!(result.as_ref(), Err(&expected));
            }
            AuthDecision::Allow { .. } if self.closed.is_none() => {
                // The client's socket type is compatible: allowing completes the handshake.
                assert_eq!(result, Ok(()), "allowed, then failed");
                assert!(self.conn.is_ready(), "allowed but not ready");
            }
            _ => {}
        }
        self.after(result);
    }

    fn transmit(&mut self) {
        while let Some(chunk) = self.conn.poll_transmit() {
            self.tx_taken += chunk.len();
            self.output.push(&chunk);
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
            if let Err(why) = genuine_handshake(&self.fed, &self.reference) {
                panic!("asked about a client after a forged handshake: {why}");
            }
            assert_eq!(request.mechanism, MechanismName::CURVE);
            assert_eq!(request.domain, "fuzz");
            assert_eq!(
                request.credentials,
                Credentials::Curve {
                    public_key: *client_keys().public()
                }
            );
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
            match event {
                Event::Ready(peer) => {
                    assert!(!self.ready, "Ready twice");
                    assert!(!self.wrong_key, "ready with a client of another server key");
                    if let Err(why) = genuine_handshake(&self.fed, &self.reference) {
                        panic!("ready after a forged handshake: {why}");
                    }
                    self.ready = true;
                    assert_eq!(peer.mechanism, MechanismName::CURVE);
                    assert_eq!(peer.socket_type, self.reference.client_type);
                    assert_eq!(peer.metadata, self.reference.client_metadata);
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
                    let last = msg.len() - 1;
                    for (i, body) in msg.iter().enumerate() {
                        self.units.push(Unit::Frame(body.clone(), i < last));
                    }
                }
                Event::Subscribe(prefix) => {
                    assert!(self.ready, "a subscription before Ready");
                    self.units.push(Unit::Subscribe(prefix));
                }
                other => panic!("the genuine client sends no {other:?}"),
            }
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
    }

    fn finish(&self, stream: &[u8]) {
        assert!(
            self.output.at_boundary(),
            "stopped transmitting mid-frame (closed: {:?})",
            self.closed
        );
        let refused = matches!(
            self.closed,
            Some(ConnectionError::Mechanism(
                MechanismError::Rejected { .. } | MechanismError::Denied { .. }
            ))
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

        // How much of the stream is the genuine one (HELLO's padding aside).
        let reference = &self.reference;
        let hello_padding =
            GREETING_LEN + 2 + HELLO_PADDING.start..GREETING_LEN + 2 + HELLO_PADDING.end;
        let intact = stream
            .iter()
            .zip(&reference.wire)
            .enumerate()
            .take_while(|(i, (a, b))| a == b || hello_padding.contains(i))
            .count();
        let timed_out = matches!(
            self.closed,
            Some(
                ConnectionError::HandshakeTimeout(_)
                    | ConnectionError::HeartbeatTimeout(_)
                    | ConnectionError::PeerTtlExpired(_)
            )
        );
        // A genuine handshake completes, unless an authenticator holds it up.
        let allowed_at_once = self.decide_at_once
            && matches!(
                self.controls_decision,
                Decision::Allow | Decision::AllowAs { .. }
            );
        if intact >= reference.handshake_end
            && !self.wrong_key
            && (!self.authenticate || allowed_at_once)
            && !timed_out
            && self.fed.len() >= reference.handshake_end
        {
            assert!(self.ready, "a genuine handshake failed: {:?}", self.closed);
        }
        if !self.ready {
            assert!(self.units.is_empty());
            return;
        }
        // Nothing altered, invented, replayed or reordered.
        let mut genuine = reference.units.iter().map(|(unit, _)| unit);
        for unit in &self.units {
            assert!(
                genuine.any(|g| g == unit),
                "traffic that the client never sent, or out of order: {unit:?}"
            );
        }
        // And everything fed intact arrived (unless time or the authenticator cut in).
        if !timed_out {
            let fed_intact = intact.min(self.fed.len());
            let expected: Vec<&Unit> = reference
                .units
                .iter()
                .filter(|(_, end)| *end <= fed_intact)
                .map(|(unit, _)| unit)
                .collect();
            assert!(
                self.units.len() >= expected.len()
                    && self.units.iter().zip(&expected).all(|(a, b)| a == *b),
                "intact traffic lost: got {} units, {} fed intact (closed: {:?})",
                self.units.len(),
                expected.len(),
                self.closed
            );
        }
    }
}

/// Checks what the server transmits: our greeting, WELCOME, READY, then MESSAGE boxes with
/// strictly increasing nonces; or an ERROR, last.
#[derive(Default)]
struct Output {
    greeting: GreetingDecoder,
    greeted: bool,
    buf: BytesMut,
    decoder: FrameDecoder,
    welcomed: bool,
    /// The short nonce of READY, then of each MESSAGE.
    nonce: Option<u64>,
    errors: usize,
    last_error: Option<Bytes>,
}

impl Output {
    fn push(&mut self, mut chunk: &[u8]) {
        if !self.greeted {
            let (used, greeting) = self.greeting.feed(chunk).expect("we sent a bad greeting");
            chunk = &chunk[used..];
            let Some(greeting) = greeting else {
                return;
            };
            assert_eq!(greeting, Greeting::new(MechanismName::CURVE, true));
            self.greeted = true;
        }
        self.buf.extend_from_slice(chunk);
        while let Some(frame) = self
            .decoder
            .decode(&mut self.buf, u64::MAX)
            .expect("bad frame")
        {
            assert_eq!(self.errors, 0, "we sent a frame after our ERROR");
            let body = &frame.body;
            let nonce_at = |at: usize| u64::from_be_bytes(body[at..at + 8].try_into().unwrap());
            if self.nonce.is_some() {
                assert_eq!(frame.kind, FrameKind::Message { more: false });
                assert!(body.starts_with(b"\x07MESSAGE") && body.len() >= 16 + 17);
                let nonce = nonce_at(8);
                assert!(Some(nonce) > self.nonce, "MESSAGE nonce {nonce} repeats");
                self.nonce = Some(nonce);
                continue;
            }
            assert_eq!(frame.kind, FrameKind::Command);
            let raw = RawCommand::parse(frame.body.clone()).expect("we sent a malformed command");
            match &raw.name[..] {
                b"ERROR" => {
                    let Command::Error(reason) = Command::interpret(raw).expect("a valid ERROR")
                    else {
                        unreachable!("named ERROR");
                    };
                    self.errors += 1;
                    self.last_error = Some(reason);
                }
                b"WELCOME" => {
                    assert!(!self.welcomed, "WELCOME twice");
                    assert_eq!(raw.data.len(), 160);
                    self.welcomed = true;
                }
                b"READY" => {
                    assert!(self.welcomed, "READY before WELCOME");
                    assert!(raw.data.len() >= 24);
                    self.nonce = Some(nonce_at(6));
                }
                _ => panic!("unexpected handshake command {raw:?}"),
            }
        }
    }

    fn at_boundary(&self) -> bool {
        self.greeted && self.decoder.at_boundary(&self.buf)
    }
}
