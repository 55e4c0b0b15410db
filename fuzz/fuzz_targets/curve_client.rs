//! A CURVE client `Connection` whose server sends arbitrary octets, usually starting with a
//! genuine server stream that the fuzzer cuts and alters.
//!
//! Input: a `Controls` header (decoded with `arbitrary`: seeds of both sides' randomness,
//! the socket-type pair, whether we were given another server key, which genuine server
//! stream goes first (one that completes, or one whose authenticator denies us), how much of
//! it and which of its octets are altered, heartbeats, steps that interleave feeding with
//! time, sends and transmission) followed by octets appended to it. The genuine stream comes
//! from a real seeded `CurveServer` connection answering a client with our seed and
//! settings: greeting, WELCOME, READY, then traffic (messages with short, long and 33 KiB
//! frames, a SUBSCRIBE, a PING), all sealed; or greeting, WELCOME, ERROR "400". Invariants:
//! - nothing panics; once a call returns an error the connection is closed and every call
//!   keeps returning that error (sends `SendError::Closed`), no deadline remains and
//!   nothing more is queued;
//! - what is queued for the server stays within what our greeting, HELLO, INITIATE, one
//!   ERROR, our PINGs, the PONGs (sealed no larger than the sealed PINGs they answer) and
//!   our own sends account for;
//! - we transmit our CURVE client greeting, HELLO, INITIATE, then only MESSAGE boxes with
//!   strictly increasing nonces above INITIATE's, or an ERROR last (only on close, before
//!   Ready, exactly when the handshake refused the server);
//! - the handshake completes only if the WELCOME and READY received are exactly the
//!   genuine ones, never when we have another server key; the Ready event names the
//!   server's socket type and metadata;
//! - a genuine handshake completes; a genuine denial ends in
//!   `AuthenticationFailed { status: 400 }`;
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
    RawCommand, Role, SendError, SocketType,
};
use zmq_sansio::security::{AuthDecision, CurveKeyPair, CurvePublicKey, Entropy, Security};
use zmq_sansio_fuzz::Chunker;
use zmq_sansio_fuzz::scenario::compatible_pairs;

/// Seeds per side: each combination's genuine stream is computed once and kept.
const SEEDS: u8 = 4;
/// What a sealed frame adds to its body: `\x07MESSAGE`, nonce, tag, flags.
const SEAL_OVERHEAD: usize = 8 + 8 + 16 + 1;
/// An ERROR command with the longest reason.
const MAX_ERROR_FRAME: usize = 9 + 1 + 5 + 1 + 255;
/// Deadlines followed after the stream is exhausted.
const FINAL_DEADLINES: usize = 4;
/// The heartbeat interval of the client when the input asks for heartbeats.
const HEARTBEAT: Duration = Duration::from_millis(500);

#[derive(Arbitrary, Debug)]
struct Controls {
    /// Seed of the genuine server's randomness (modulo [`SEEDS`]).
    server_seed: u8,
    /// Seed of our randomness (modulo [`SEEDS`]).
    client_seed: u8,
    /// The (client, server) socket types: an index into `compatible_pairs`.
    pair: u8,
    /// We were given another server key than the server's.
    wrong_key: bool,
    /// We send heartbeats.
    heartbeat: bool,
    /// How much of which genuine server stream goes first.
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
    Welcome,
    Handshake,
    Session,
    /// The stream of a server whose authenticator denies us.
    Denied,
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

/// One unit of server traffic as the client reports it: a message frame (body, MORE) or a
/// subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Unit {
    Frame(Bytes, bool),
    Subscribe(Bytes),
}

/// A genuine server stream for one combination of seeds and types.
struct Reference {
    wire: Vec<u8>,
    /// WELCOME and READY (or ERROR) bodies.
    welcome: Bytes,
    ready: Option<Bytes>,
    /// Where READY (or the ERROR) ends in `wire`.
    handshake_end: usize,
    /// The server's traffic after the handshake, each unit with the offset in `wire` at
    /// which the client can report it (the end of a message's last frame).
    units: Vec<(Unit, usize)>,
    server_type: SocketType,
    server_metadata: Metadata,
}

/// Server seed, client seed, pair, denied.
type Key = (u8, u8, u8, bool);

thread_local! {
    static REFERENCES: RefCell<HashMap<Key, Rc<Reference>>> = RefCell::new(HashMap::new());
}

/// Our configuration (and the genuine server's client's: it must be the same, so that our
/// HELLO and INITIATE are those the genuine server answered).
fn client_config(client_type: SocketType, seed: u8, wrong_key: bool, heartbeat: bool) -> Config {
    let server_key = if wrong_key {
        other_server_key()
    } else {
        *server_keys().public()
    };
    let mut config = Config::new(client_type);
    config.security = Security::curve_client(server_key, client_keys().clone());
    config.entropy = Entropy::seeded(u64::from(seed));
    if heartbeat {
        config.heartbeat = HeartbeatConfig {
            interval: Some(HEARTBEAT),
            ttl: Some(Duration::from_secs(10)),
            timeout: None,
        };
    }
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

fn make_reference((server_seed, client_seed, pair, denied): Key) -> Reference {
    let pairs = compatible_pairs();
    let (client_type, server_type) = pairs[usize::from(pair)];
    let mut config = Config::new(server_type);
    config.security = Security::curve_server(server_keys().secret().clone());
    config.entropy = Entropy::seeded(u64::from(server_seed));
    config.authenticate = denied;
    config.heartbeat = HeartbeatConfig {
        interval: Some(Duration::from_secs(1)),
        ttl: Some(Duration::from_secs(60)),
        timeout: None,
    };
    let server_metadata = config.local_metadata();
    let mut now = Instant::now();
    let mut server = Connection::new(config, Role::Server, now);
    let mut client = Connection::new(
        client_config(client_type, client_seed, false, false),
        Role::Client,
        now,
    );
    let mut wire = Vec::new();
    shuttle(&mut client, &mut server, &mut wire, now);
    if denied {
        server.poll_auth_request().expect("asked");
        let _ = server.authenticate(AuthDecision::deny("fuzz"), now);
        shuttle(&mut client, &mut server, &mut wire, now);
        assert_eq!(
            client.error(),
            Some(&ConnectionError::AuthenticationFailed {
                mechanism: MechanismName::CURVE,
                status: 400
            })
        );
    } else {
        assert!(client.is_ready(), "{:?}", client.error());
    }
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
                server.subscribe(b"topic").expect("ready");
                shuttle(&mut client, &mut server, &mut wire, now);
                units.push((Unit::Subscribe(Bytes::from_static(b"topic")), wire.len()));
            }
            if i == 3 {
                // A sealed PING: the client answers with a sealed PONG.
                now += Duration::from_secs(1);
                server.handle_timeout(now).expect("alive");
            }
            server.send(msg).expect("ready");
            shuttle(&mut client, &mut server, &mut wire, now);
            let last = msg.len() - 1;
            for (j, body) in msg.iter().enumerate() {
                units.push((Unit::Frame(body.clone(), j < last), wire.len()));
            }
        }
        assert!(server.is_ready(), "{:?}", server.error());
    }
    let frames = frames_after_greeting(&wire);
    Reference {
        welcome: frames[0].clone(),
        ready: frames.get(1).cloned().filter(|_| !denied),
        handshake_end,
        units,
        server_type,
        server_metadata,
        wire,
    }
}

/// Moves octets both ways until neither side has any; records the server's in `wire`.
fn shuttle(client: &mut Connection, server: &mut Connection, wire: &mut Vec<u8>, now: Instant) {
    loop {
        let mut moved = false;
        while let Some(chunk) = client.poll_transmit() {
            moved = true;
            let _ = server.handle_input(&chunk, now);
        }
        while let Some(chunk) = server.poll_transmit() {
            moved = true;
            wire.extend_from_slice(&chunk);
            let _ = client.handle_input(&chunk, now);
        }
        if !moved {
            return;
        }
    }
}

/// The first two frame bodies of a stream after its greeting, as far as they decode.
fn frames_after_greeting(wire: &[u8]) -> Vec<Bytes> {
    let mut greeting = GreetingDecoder::new();
    let Ok((used, Some(_))) = greeting.feed(wire) else {
        return Vec::new();
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
    out
}

/// Whether `fed` starts with the genuine WELCOME and READY.
fn genuine_handshake(fed: &[u8], reference: &Reference) -> Result<(), String> {
    let Some(ready) = &reference.ready else {
        return Err("the genuine server denied us".into());
    };
    match &frames_after_greeting(fed)[..] {
        [welcome, _] if welcome != &reference.welcome => Err("another WELCOME".into()),
        [_, got] if got != ready => Err("another READY".into()),
        [_, _] => Ok(()),
        frames => Err(format!("{} frames after the greeting", frames.len())),
    }
}

fn run(controls: &Controls, tail: &[u8]) {
    let pairs = compatible_pairs();
    let pair = controls.pair % u8::try_from(pairs.len()).expect("few pairs");
    let denied = controls.preamble == Preamble::Denied;
    let key = (
        controls.server_seed % SEEDS,
        controls.client_seed % SEEDS,
        pair,
        denied,
    );
    let reference = reference(key);
    let client_type = pairs[usize::from(pair)].0;

    // The genuine part: as much of the stream as the preamble says, cut, altered.
    let genuine_len = match controls.preamble {
        Preamble::None => 0,
        Preamble::Greeting => GREETING_LEN,
        Preamble::Welcome => GREETING_LEN + 2 + 8 + 160,
        Preamble::Handshake | Preamble::Denied => reference.handshake_end,
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

    let config = client_config(client_type, key.1, controls.wrong_key, controls.heartbeat);
    let mut h = Harness::new(config, controls.wrong_key, reference.clone());

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

/// The client under test and everything observed from it.
struct Harness {
    conn: Connection,
    reference: Rc<Reference>,
    wrong_key: bool,
    now: Instant,
    closed: Option<ConnectionError>,
    queued_at_close: Option<usize>,
    /// Every octet given to the connection.
    fed: Vec<u8>,
    ready: bool,
    /// Traffic reported after Ready.
    units: Vec<Unit>,
    output: Output,
    tx_budget: usize,
    tx_taken: usize,
    in_place: bool,
}

impl Harness {
    fn new(config: Config, wrong_key: bool, reference: Rc<Reference>) -> Self {
        let initiate_len = 9 + 257 + config.local_metadata().encoded_len();
        let now = Instant::now();
        Self {
            conn: Connection::new(config, Role::Client, now),
            reference,
            wrong_key,
            now,
            closed: None,
            queued_at_close: None,
            fed: Vec::new(),
            ready: false,
            units: Vec::new(),
            output: Output::default(),
            tx_budget: GREETING_LEN + (2 + 200) + (9 + initiate_len) + MAX_ERROR_FRAME,
            tx_taken: 0,
            in_place: false,
        }
    }

    fn input(&mut self, octets: &[u8]) {
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
            Action::Transmit => self.transmit(),
        }
        self.check_state();
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
            }
        }
        assert!(self.conn.poll_auth_request().is_none(), "a client asked");
        assert!(!self.conn.awaits_authentication(), "a client waits");
        self.drain_events();
        self.check_state();
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.conn.poll_event() {
            match event {
                Event::Ready(peer) => {
                    assert!(!self.ready, "Ready twice");
                    assert!(!self.wrong_key, "ready with another server key");
                    if let Err(why) = genuine_handshake(&self.fed, &self.reference) {
                        panic!("ready after a forged handshake: {why}");
                    }
                    self.ready = true;
                    assert_eq!(peer.mechanism, MechanismName::CURVE);
                    assert_eq!(peer.socket_type, self.reference.server_type);
                    assert_eq!(peer.metadata, self.reference.server_metadata);
                    assert_eq!(peer.user_id, None);
                    assert!(peer.auth_metadata.is_empty());
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
                other => panic!("the genuine server sends no {other:?}"),
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
            Some(ConnectionError::Mechanism(MechanismError::Rejected { .. }))
        );
        assert_eq!(
            self.output.errors,
            usize::from(refused),
            "ERROR frames sent, closed with {:?}",
            self.closed
        );

        let reference = &self.reference;
        let intact = stream
            .iter()
            .zip(&reference.wire)
            .take_while(|(a, b)| a == b)
            .count()
            .min(self.fed.len());
        let timed_out = matches!(
            self.closed,
            Some(
                ConnectionError::HandshakeTimeout(_)
                    | ConnectionError::HeartbeatTimeout(_)
                    | ConnectionError::PeerTtlExpired(_)
            )
        );
        if intact >= reference.handshake_end && !self.wrong_key && !timed_out {
            if reference.ready.is_some() {
                assert!(self.ready, "a genuine handshake failed: {:?}", self.closed);
            } else {
                assert_eq!(
                    self.closed,
                    Some(ConnectionError::AuthenticationFailed {
                        mechanism: MechanismName::CURVE,
                        status: 400
                    }),
                    "a genuine denial"
                );
            }
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
                "traffic that the server never sent, or out of order: {unit:?}"
            );
        }
        // And everything fed intact arrived (unless time cut in).
        if !timed_out {
            let expected: Vec<&Unit> = reference
                .units
                .iter()
                .filter(|(_, end)| *end <= intact)
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

/// Checks what the client transmits: our greeting, HELLO, INITIATE, then MESSAGE boxes
/// with strictly increasing nonces; or an ERROR, last.
#[derive(Default)]
struct Output {
    greeting: GreetingDecoder,
    greeted: bool,
    buf: BytesMut,
    decoder: FrameDecoder,
    hello: bool,
    /// The short nonce of INITIATE, then of each MESSAGE.
    nonce: Option<u64>,
    errors: usize,
}

impl Output {
    fn push(&mut self, mut chunk: &[u8]) {
        if !self.greeted {
            let (used, greeting) = self.greeting.feed(chunk).expect("we sent a bad greeting");
            chunk = &chunk[used..];
            let Some(greeting) = greeting else {
                return;
            };
            assert_eq!(greeting, Greeting::new(MechanismName::CURVE, false));
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
            if self.nonce.is_some() && body.starts_with(b"\x07MESSAGE") {
                assert_eq!(frame.kind, FrameKind::Message { more: false });
                assert!(body.len() >= 16 + 17);
                let nonce = nonce_at(8);
                assert!(Some(nonce) > self.nonce, "MESSAGE nonce {nonce} repeats");
                self.nonce = Some(nonce);
                continue;
            }
            assert_eq!(frame.kind, FrameKind::Command);
            let raw = RawCommand::parse(frame.body.clone()).expect("we sent a malformed command");
            match &raw.name[..] {
                b"ERROR" => {
                    assert!(
                        matches!(Command::interpret(raw), Ok(Command::Error(_))),
                        "a malformed ERROR"
                    );
                    self.errors += 1;
                }
                b"HELLO" => {
                    assert!(!self.hello, "HELLO twice");
                    assert_eq!(raw.data.len(), 194);
                    self.hello = true;
                }
                b"INITIATE" => {
                    assert!(self.hello && self.nonce.is_none(), "INITIATE out of turn");
                    assert!(raw.data.len() >= 257);
                    self.nonce = Some(nonce_at(9 + 96));
                }
                _ => panic!("unexpected handshake command {raw:?}"),
            }
        }
    }

    fn at_boundary(&self) -> bool {
        self.greeted && self.decoder.at_boundary(&self.buf)
    }
}
