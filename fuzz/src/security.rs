//! What the security targets (`plain_server`, `curve_server`, `curve_client`) share: the
//! fixed CURVE keys, genuine peers recorded once per combination of settings ([`shuttle`],
//! [`genuine_traffic`], [`memo`]), the controls they decode alike ([`Step`], [`Decision`]),
//! and [`Harness`], which drives one `Connection` through inputs, time, decisions and
//! transmission and checks after every call what every target checks: an error closes the
//! connection for good, nothing is queued beyond the budget, the authenticator is asked
//! at most once and only when configured, and what we transmit is a well-framed stream
//! with at most one ERROR, last ([`Transcript`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::rc::Rc;
use std::thread::LocalKey;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use zmq_sansio::Msg;
use zmq_sansio::proto::{
    Command, Config, Connection, ConnectionError, Event, Frame, FrameDecoder, FrameKind,
    GREETING_LEN, Greeting, GreetingDecoder, HeartbeatConfig, MechanismError, MechanismName,
    PeerInfo, RawCommand, Role, SendError,
};
use zmq_sansio::security::{
    AuthDecision, AuthRequest, AuthStatus, CurveKeyPair, CurvePublicKey, Entropy,
};

/// What a sealed frame adds to its body: `\x07MESSAGE`, nonce, tag, flags.
pub const SEAL_OVERHEAD: usize = 8 + 8 + 16 + 1;
/// A sealed PING as CURVE sends it: short header, sealed name, TTL and no context.
pub const SEALED_PING: usize = 2 + SEAL_OVERHEAD + 7;
/// An ERROR command with the longest reason.
pub const MAX_ERROR_FRAME: usize = 9 + 1 + 5 + 1 + 255;
/// Deadlines followed after the stream is exhausted.
pub const FINAL_DEADLINES: usize = 4;

/// What a sealed message frame of `len` octets costs on the wire (long header at most).
pub fn sealed_frame(len: usize) -> usize {
    9 + SEAL_OVERHEAD + len
}

/// The CURVE server's long-term keys.
pub fn server_keys() -> &'static CurveKeyPair {
    static KEYS: std::sync::OnceLock<CurveKeyPair> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| CurveKeyPair::generate_with(&Entropy::seeded(0x5E)))
}

/// The CURVE client's long-term keys.
pub fn client_keys() -> &'static CurveKeyPair {
    static KEYS: std::sync::OnceLock<CurveKeyPair> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| CurveKeyPair::generate_with(&Entropy::seeded(0xC1)))
}

/// A server key that is not [`server_keys`]'s.
pub fn other_server_key() -> CurvePublicKey {
    *CurveKeyPair::generate_with(&Entropy::seeded(0xBAD)).public()
}

/// One step of a run: feed this many octets of the stream (as one input), then act.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Step<A> {
    /// Octets of the stream to feed first (as one input).
    pub feed: u16,
    pub action: A,
}

/// What an authenticator answers.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Decision {
    Allow,
    AllowAs { user_id: u8 },
    Deny { status: u8 },
    Never,
}

impl Decision {
    /// The answer given, if any (a denial's text is "fuzz").
    pub fn auth_decision(self) -> Option<AuthDecision> {
        Some(match self {
            Decision::Allow => AuthDecision::allow(),
            Decision::AllowAs { user_id } => {
                let mut metadata = zmq_sansio::proto::Metadata::new();
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
            Decision::Never => return None,
        })
    }

    /// Whether the answer lets the client in.
    pub fn allows(self) -> bool {
        matches!(self, Decision::Allow | Decision::AllowAs { .. })
    }
}

/// The genuine side of a recorded conversation: whose transmissions [`shuttle`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// Moves octets both ways (the client's first) until neither side has any; records those
/// of `recorded` in `wire`.
pub fn shuttle(
    client: &mut Connection,
    server: &mut Connection,
    recorded: Side,
    wire: &mut Vec<u8>,
    now: Instant,
) {
    loop {
        let mut moved = false;
        while let Some(chunk) = client.poll_transmit() {
            moved = true;
            if recorded == Side::Client {
                wire.extend_from_slice(&chunk);
            }
            let _ = server.handle_input(&chunk, now);
        }
        while let Some(chunk) = server.poll_transmit() {
            moved = true;
            if recorded == Side::Server {
                wire.extend_from_slice(&chunk);
            }
            let _ = client.handle_input(&chunk, now);
        }
        if !moved {
            return;
        }
    }
}

/// The heartbeats of a genuine peer: one sealed PING in its traffic (see
/// [`genuine_traffic`]), and a TTL long enough not to matter.
pub fn genuine_heartbeat() -> HeartbeatConfig {
    HeartbeatConfig {
        interval: Some(Duration::from_secs(1)),
        ttl: Some(Duration::from_secs(60)),
        timeout: None,
    }
}

/// One unit of traffic as the receiving connection reports it: a message frame (body,
/// MORE) or a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    Frame(Bytes, bool),
    Subscribe(Bytes),
}

impl Unit {
    /// The frames of a message, in order.
    pub fn frames(msg: &Msg) -> impl Iterator<Item = Unit> + '_ {
        let last = msg.len() - 1;
        msg.iter()
            .enumerate()
            .map(move |(i, body)| Unit::Frame(body.clone(), i < last))
    }
}

/// Has `sender` (a ready side of `client` and `server`) send its genuine traffic —
/// messages with short, long and 33 KiB frames, a SUBSCRIBE, a PING (after a second, which
/// moves `now`) — appending its octets to `wire`; returns each unit with the offset in
/// `wire` at which the receiver can report it (the end of a message's last frame).
pub fn genuine_traffic(
    sender: Side,
    client: &mut Connection,
    server: &mut Connection,
    wire: &mut Vec<u8>,
    now: &mut Instant,
) -> Vec<(Unit, usize)> {
    fn pick<'a>(
        side: Side,
        client: &'a mut Connection,
        server: &'a mut Connection,
    ) -> &'a mut Connection {
        match side {
            Side::Client => client,
            Side::Server => server,
        }
    }
    let frame = |n: usize, fill: u8| Bytes::from(vec![fill; n]);
    let messages = [
        Msg::from("hello"),
        Msg::from_frames([frame(5, b'm'), frame(300, b'p'), Bytes::new()]),
        Msg::from_frames([frame(33 * 1024, b'L')]),
        Msg::from("bye"),
    ];
    let mut units = Vec::new();
    for (i, msg) in messages.iter().enumerate() {
        if i == 1 {
            pick(sender, client, server)
                .subscribe(b"topic")
                .expect("ready");
            shuttle(client, server, sender, wire, *now);
            units.push((Unit::Subscribe(Bytes::from_static(b"topic")), wire.len()));
        }
        if i == 3 {
            // A sealed PING: the receiver answers with a sealed PONG.
            *now += Duration::from_secs(1);
            pick(sender, client, server)
                .handle_timeout(*now)
                .expect("alive");
        }
        pick(sender, client, server).send(msg).expect("ready");
        shuttle(client, server, sender, wire, *now);
        units.extend(Unit::frames(msg).map(|unit| (unit, wire.len())));
    }
    assert!(server.is_ready(), "{:?}", server.error());
    units
}

/// The value made for `key` once per thread, kept in `cache`.
pub fn memo<K: Copy + Eq + Hash, V>(
    cache: &'static LocalKey<RefCell<HashMap<K, Rc<V>>>>,
    key: K,
    make: impl FnOnce(K) -> V,
) -> Rc<V> {
    if let Some(found) = cache.with(|c| c.borrow().get(&key).cloned()) {
        return found;
    }
    let made = Rc::new(make(key));
    cache.with(|c| c.borrow_mut().insert(key, made.clone()));
    made
}

/// The first `len` octets of a genuine stream (at most all of it), cut after `cut` octets
/// past the greeting (modulo what is left), with `flips` (position modulo the length, XOR
/// mask) applied, then `tail`.
pub fn altered(
    wire: &[u8],
    len: usize,
    cut: Option<u16>,
    flips: [(u16, u8); 2],
    tail: &[u8],
) -> Vec<u8> {
    let len = len.min(wire.len());
    let len = match cut {
        Some(cut) if len > GREETING_LEN => {
            GREETING_LEN + usize::from(cut) % (len - GREETING_LEN + 1)
        }
        _ => len,
    };
    let mut stream = wire[..len].to_vec();
    for (at, xor) in flips {
        if !stream.is_empty() {
            let at = usize::from(at) % stream.len();
            stream[at] ^= xor;
        }
    }
    stream.extend_from_slice(tail);
    stream
}

/// The first two frame bodies of a stream after its greeting (the handshake commands a
/// client or server starts with), as far as they decode.
pub fn first_frames(stream: &[u8]) -> Vec<Bytes> {
    let mut greeting = GreetingDecoder::new();
    let Ok((used, Some(_))) = greeting.feed(stream) else {
        return Vec::new();
    };
    let mut buf = BytesMut::from(&stream[used..]);
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

/// The short nonce at `at` in a command body.
pub fn nonce_at(body: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(body[at..at + 8].try_into().expect("eight octets"))
}

/// Checks a MESSAGE box we sent: one whole message frame, long enough for its nonce and
/// tag, with a short nonce above `last` (which it becomes).
pub fn check_message_box(frame: &Frame, last: &mut Option<u64>) {
    assert_eq!(frame.kind, FrameKind::Message { more: false });
    let body = &frame.body;
    assert!(body.starts_with(b"\x07MESSAGE") && body.len() >= 16 + 17);
    let nonce = nonce_at(body, 8);
    assert!(Some(nonce) > *last, "MESSAGE nonce {nonce} repeats");
    *last = Some(nonce);
}

/// What we transmit, decoded: our greeting, then frames (none after an ERROR).
pub struct Transcript {
    expected: Greeting,
    greeting: GreetingDecoder,
    greeted: bool,
    buf: BytesMut,
    decoder: FrameDecoder,
    /// ERROR commands sent, and the last one's reason.
    pub errors: usize,
    pub last_error: Option<Bytes>,
}

impl Transcript {
    /// Expecting the greeting of `mechanism` for this side.
    pub fn new(mechanism: MechanismName, as_server: bool) -> Self {
        Self {
            expected: Greeting::new(mechanism, as_server),
            greeting: GreetingDecoder::new(),
            greeted: false,
            buf: BytesMut::new(),
            decoder: FrameDecoder::new(),
            errors: 0,
            last_error: None,
        }
    }

    /// Takes a chunk we transmitted; its frames come out of [`Transcript::next_frame`].
    pub fn push(&mut self, mut chunk: &[u8]) {
        if !self.greeted {
            let (used, greeting) = self.greeting.feed(chunk).expect("we sent a bad greeting");
            chunk = &chunk[used..];
            let Some(greeting) = greeting else {
                return;
            };
            assert_eq!(greeting, self.expected);
            self.greeted = true;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete frame we sent (which must decode, and not follow our ERROR).
    pub fn next_frame(&mut self) -> Option<Frame> {
        let frame = self
            .decoder
            .decode(&mut self.buf, u64::MAX)
            .expect("bad frame")?;
        assert_eq!(self.errors, 0, "we sent a frame after our ERROR");
        Some(frame)
    }

    /// Counts an ERROR command we sent (which must be valid).
    pub fn error(&mut self, raw: RawCommand) {
        let Ok(Command::Error(reason)) = Command::interpret(raw) else {
            panic!("a malformed ERROR");
        };
        self.errors += 1;
        self.last_error = Some(reason);
    }

    /// Takes a chunk we transmitted and has `check` look at each frame it completes.
    pub fn take(&mut self, chunk: &[u8], mut check: impl FnMut(Frame, &mut Transcript)) {
        self.push(chunk);
        while let Some(frame) = self.next_frame() {
            check(frame, self);
        }
    }

    /// Whether we stopped transmitting after a whole greeting and whole frames.
    pub fn at_boundary(&self) -> bool {
        self.greeted && self.decoder.at_boundary(&self.buf)
    }
}

/// The authenticator side of a run: configuration and what was seen of it.
pub struct Auth {
    /// Ask an authenticator.
    pub authenticate: bool,
    /// What it answers, and whether as soon as asked.
    pub decision: Decision,
    pub decide_at_once: bool,
    /// A request polled and not yet answered; whether one was ever polled.
    pub pending: bool,
    pub asked: bool,
    /// The decision given (and accepted), if any.
    pub decided: Option<AuthDecision>,
}

impl Auth {
    /// An authenticator configured so.
    pub fn new(authenticate: bool, decision: Decision, decide_at_once: bool) -> Self {
        Self {
            authenticate,
            decision,
            decide_at_once,
            pending: false,
            asked: false,
            decided: None,
        }
    }

    /// No authenticator (a client, or a server without one).
    pub fn none() -> Self {
        Self::new(false, Decision::Never, false)
    }

    /// Whether the authenticator lets the client in as soon as asked.
    pub fn allows_at_once(&self) -> bool {
        self.authenticate && self.decide_at_once && self.decision.allows()
    }
}

/// The connection under test and what every target observes of it.
pub struct Core {
    pub conn: Connection,
    pub mechanism: MechanismName,
    pub now: Instant,
    pub closed: Option<ConnectionError>,
    queued_at_close: Option<usize>,
    /// Every octet given to the connection.
    pub fed: Vec<u8>,
    /// Where inputs are split (see [`Harness::input`]).
    pause_at: usize,
    pub ready: bool,
    /// Octets we may have queued or sent, and octets taken.
    pub tx_budget: usize,
    pub tx_taken: usize,
    in_place: bool,
    pub transcript: Transcript,
    pub auth: Auth,
}

impl Core {
    /// A connection with this configuration, role and mechanism; `tx_budget` covers the
    /// greeting, handshake and one ERROR, and inputs are split at `pause_at` octets.
    pub fn new(
        config: Config,
        role: Role,
        mechanism: MechanismName,
        tx_budget: usize,
        pause_at: usize,
        auth: Auth,
    ) -> Self {
        let now = Instant::now();
        Self {
            conn: Connection::new(config, role, now),
            mechanism,
            now,
            closed: None,
            queued_at_close: None,
            fed: Vec::new(),
            pause_at,
            ready: false,
            tx_budget,
            tx_taken: 0,
            in_place: false,
            transcript: Transcript::new(mechanism, matches!(role, Role::Server)),
            auth,
        }
    }

    /// Whether time, not the peer, closed the connection.
    pub fn timed_out(&self) -> bool {
        matches!(
            self.closed,
            Some(
                ConnectionError::HandshakeTimeout(_)
                    | ConnectionError::HeartbeatTimeout(_)
                    | ConnectionError::PeerTtlExpired(_)
            )
        )
    }

    /// Checks a call's result against the connection's state: once closed, every call
    /// returns the error that closed it. Returns whether this call closed it.
    fn record(&mut self, result: Result<(), ConnectionError>) -> bool {
        match (&self.closed, result) {
            (Some(closed), result) => {
                assert_eq!(result.as_ref(), Err(closed), "a closed connection changed");
                false
            }
            (None, Ok(())) => {
                assert!(!self.conn.is_closed(), "closed without an error");
                false
            }
            (None, Err(err)) => {
                assert!(self.conn.is_closed(), "returned {err} but stayed open");
                assert_eq!(self.conn.error(), Some(&err));
                self.queued_at_close = Some(self.tx_taken + self.conn.pending_transmit());
                self.closed = Some(err);
                true
            }
        }
    }

    /// Sends a message of `frames % 4` frames of `len & 0x3FFF` octets, each costing
    /// `frame_cost(len)` on the wire, and checks the result.
    pub fn send(&mut self, frames: u8, len: u16, frame_cost: fn(usize) -> usize) {
        let len = usize::from(len & 0x3FFF);
        let msg: Msg = (0..frames % 4).map(|i| Bytes::from(vec![i; len])).collect();
        self.tx_budget += msg.len() * frame_cost(len);
        let result = self.conn.send(&msg);
        self.check_send(result, msg.is_empty());
    }

    /// Checks what a send (of an empty message or not) returned.
    pub fn check_send(&self, result: Result<(), SendError>, empty: bool) {
        let expected = match &self.closed {
            Some(err) => Err(SendError::Closed(err.clone())),
            None if !self.conn.is_ready() => Err(SendError::NotReady),
            None if empty => Err(SendError::EmptyMessage),
            None => Ok(()),
        };
        assert_eq!(result, expected);
    }

    /// Checks the Ready event's authentication: the decision's user id and properties, or
    /// none without an authenticator.
    pub fn check_peer_auth(&self, peer: &PeerInfo) {
        match &self.auth.decided {
            Some(AuthDecision::Allow { user_id, metadata }) => {
                assert_eq!(peer.user_id.as_ref(), Some(user_id));
                assert_eq!(&peer.auth_metadata, metadata);
            }
            Some(other) => panic!("ready after {other:?}"),
            None => {
                assert!(!self.auth.authenticate, "ready without a decision");
                assert_eq!(peer.user_id, None);
                assert!(peer.auth_metadata.is_empty());
            }
        }
    }

    /// Takes the events of a connection whose peer sends only genuine traffic (see
    /// [`genuine_traffic`]): one Ready, checked by `check_ready` and [`Core::check_peer_auth`],
    /// then message frames and subscriptions, kept in `units`.
    pub fn drain_genuine(&mut self, units: &mut Vec<Unit>, check_ready: impl Fn(&Core, &PeerInfo)) {
        while let Some(event) = self.conn.poll_event() {
            match event {
                Event::Ready(peer) => {
                    assert!(!self.ready, "Ready twice");
                    check_ready(self, &peer);
                    self.ready = true;
                    self.check_peer_auth(&peer);
                }
                Event::Message(msg) => {
                    assert!(self.ready, "a message before Ready");
                    units.extend(Unit::frames(&msg));
                }
                Event::Subscribe(prefix) => {
                    assert!(self.ready, "a subscription before Ready");
                    units.push(Unit::Subscribe(prefix));
                }
                other => panic!("the genuine peer sends no {other:?}"),
            }
        }
    }

    /// What holds after every call: the budget, a closed connection staying closed and
    /// quiet, readiness as reported, and no authenticator unless configured.
    pub fn check_state(&self) {
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
        if !self.auth.authenticate {
            assert!(!self.auth.asked && !conn.awaits_authentication());
        }
    }

    /// At the end: we stopped transmitting at a frame boundary, sent an ERROR exactly when
    /// `refused`, and a denied client heard the bare status code.
    pub fn check_errors(&self, refused: bool) {
        let transcript = &self.transcript;
        assert!(
            transcript.at_boundary(),
            "stopped transmitting mid-frame (closed: {:?})",
            self.closed
        );
        assert_eq!(
            transcript.errors,
            usize::from(refused),
            "ERROR frames sent, closed with {:?}",
            self.closed
        );
        if let Some(ConnectionError::Mechanism(MechanismError::Denied { status, .. })) =
            &self.closed
        {
            assert_eq!(
                transcript.last_error.as_deref(),
                Some(status.code().to_string().as_bytes()),
                "a denied client hears the bare status code"
            );
        }
    }

    /// At the end, for traffic `got` after Ready from a peer whose genuine traffic is
    /// `genuine` (see [`genuine_traffic`]) and whose stream was genuine for its first
    /// `intact` octets: nothing altered, invented, replayed or reordered, and (unless time
    /// cut in) everything fed intact arrived. Nothing arrives without Ready.
    pub fn check_units(&self, got: &[Unit], genuine: &[(Unit, usize)], intact: usize) {
        if !self.ready {
            assert!(got.is_empty());
            return;
        }
        let mut sent = genuine.iter().map(|(unit, _)| unit);
        for unit in got {
            assert!(
                sent.any(|g| g == unit),
                "traffic that the peer never sent, or out of order: {unit:?}"
            );
        }
        if !self.timed_out() {
            let fed_intact = intact.min(self.fed.len());
            let expected: Vec<&Unit> = genuine
                .iter()
                .filter(|(_, end)| *end <= fed_intact)
                .map(|(unit, _)| unit)
                .collect();
            assert!(
                got.len() >= expected.len() && got.iter().zip(&expected).all(|(a, b)| a == *b),
                "intact traffic lost: got {} units, {} fed intact (closed: {:?})",
                got.len(),
                expected.len(),
                self.closed
            );
        }
    }
}

/// A target's harness around a [`Core`]: what it checks of its own, and the calls every
/// target makes alike.
pub trait Harness {
    /// The target's step actions.
    type Action: Copy;
    /// What a PING of ours costs on the wire.
    const PING: usize;

    fn core(&self) -> &Core;
    fn core_mut(&mut self) -> &mut Core;
    /// Performs one step's action.
    fn act(&mut self, action: Self::Action);
    /// Checks a request to the authenticator, beyond its mechanism and domain.
    fn check_request(&mut self, request: &AuthRequest);
    /// Takes and checks the connection's events.
    fn drain_events(&mut self);
    /// Checks a chunk we transmitted (see [`Transcript`]).
    fn check_output(&mut self, chunk: &[u8]);
    /// Checks the connection right after the authenticator allowed.
    fn check_allowed(&self);

    /// Feeds the stream: each step's octets then its action, then the rest in chunks of
    /// the `tail_chunk` pattern (see `Chunker`); then answers the authenticator, transmits,
    /// follows the last deadlines and transmits again.
    fn run(&mut self, steps: &[Step<Self::Action>], stream: &[u8], tail_chunk: u8) {
        let mut rest = stream;
        for step in steps {
            let (fed, later) = rest.split_at(usize::from(step.feed).min(rest.len()));
            rest = later;
            self.input(fed);
            self.act(step.action);
        }
        for piece in crate::Chunker::new(tail_chunk).split(rest) {
            self.input(piece);
        }
        self.decide();
        self.transmit();
        for _ in 0..FINAL_DEADLINES {
            let Some(deadline) = self.core().conn.poll_timeout() else {
                break;
            };
            let core = self.core_mut();
            core.now = core.now.max(deadline);
            self.timeout();
        }
        self.transmit();
    }

    /// A real peer waits for our answer to its handshake before it goes on, so what
    /// arrives up to `pause_at` comes in inputs of its own: an authenticator that answers
    /// at once then sees what follows only after it let the client in.
    fn input(&mut self, octets: &[u8]) {
        let core = self.core();
        let start = core.fed.len();
        if start < core.pause_at && start + octets.len() > core.pause_at {
            let (head, tail) = octets.split_at(core.pause_at - start);
            self.feed(head);
            self.feed(tail);
        } else {
            self.feed(octets);
        }
    }

    /// Gives octets to the connection, through the room it lends on every other input.
    fn feed(&mut self, octets: &[u8]) {
        let core = self.core_mut();
        core.fed.extend_from_slice(octets);
        // Input can make us reply with PONGs, each no larger than its PING.
        core.tx_budget += octets.len();
        // While a large body arrives the connection lends room to read it in place: use it
        // on every other input, so both ways of giving input meet every state.
        core.in_place = !core.in_place;
        let mut rest = octets;
        while self.core().in_place && !rest.is_empty() {
            let core = self.core_mut();
            let Some(room) = core.conn.receive_in_place() else {
                break;
            };
            assert!(!room.is_empty(), "room lent must not be empty");
            let n = room.len().min(rest.len());
            room[..n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            let result = core.conn.handle_received(n, core.now);
            let failed = result.is_err();
            self.after(result);
            if failed {
                return;
            }
        }
        if !rest.is_empty() || octets.is_empty() {
            let core = self.core_mut();
            let result = core.conn.handle_input(rest, core.now);
            self.after(result);
        }
    }

    /// Moves time on by `advance_ms` × 4 ms and handles it.
    fn advance(&mut self, advance_ms: u16) {
        self.core_mut().now += Duration::from_millis(u64::from(advance_ms) * 4);
        self.timeout();
    }

    /// Handles a deadline (now or not): no deadline left may have passed.
    fn timeout(&mut self) {
        let core = self.core_mut();
        core.tx_budget += Self::PING;
        let result = core.conn.handle_timeout(core.now);
        if result.is_ok()
            && let Some(deadline) = core.conn.poll_timeout()
        {
            assert!(deadline > core.now, "handle_timeout left a passed deadline");
        }
        self.after(result);
    }

    /// Takes what we transmit; an ERROR only on a closed connection.
    fn transmit(&mut self) {
        while let Some(chunk) = self.core_mut().conn.poll_transmit() {
            self.core_mut().tx_taken += chunk.len();
            self.check_output(&chunk);
        }
        let core = self.core();
        if core.transcript.errors > 0 {
            assert!(core.closed.is_some(), "an ERROR sent on an open connection");
        }
        self.core().check_state();
    }

    /// Checks a call's result and what follows from it: an authenticator asked at most
    /// once, only if configured (then answered at once if so), events, the state.
    fn after(&mut self, result: Result<(), ConnectionError>) {
        let core = self.core_mut();
        if core.record(result) {
            core.auth.pending = false;
        }
        if let Some(request) = core.conn.poll_auth_request() {
            assert!(core.auth.authenticate, "asked without an authenticator");
            assert!(!core.auth.asked, "asked twice");
            assert!(core.conn.awaits_authentication());
            core.auth.asked = true;
            core.auth.pending = true;
            assert_eq!(request.mechanism, core.mechanism);
            assert_eq!(request.domain, "fuzz");
            self.check_request(&request);
        }
        assert!(
            self.core_mut().conn.poll_auth_request().is_none(),
            "asked twice"
        );
        self.drain_events();
        self.core().check_state();
        let auth = &self.core().auth;
        if auth.pending && auth.decide_at_once {
            self.decide();
        }
    }

    /// Answers the authenticator's request (if one waits; otherwise the answer must change
    /// nothing, or return the error that closed the connection).
    fn decide(&mut self) {
        let core = self.core_mut();
        let Some(decision) = core.auth.decision.auth_decision() else {
            return;
        };
        let waiting = core.conn.awaits_authentication();
        assert_eq!(
            waiting, core.auth.pending,
            "awaits_authentication disagrees"
        );
        let pending_before = core.conn.pending_transmit();
        let result = core.conn.authenticate(decision.clone(), core.now);
        match (&core.closed, waiting) {
            (Some(closed), _) => {
                assert_eq!(result.as_ref(), Err(closed));
                self.after(result);
                return;
            }
            (None, false) => {
                assert_eq!(result, Ok(()), "a decision nobody asked for");
                assert_eq!(core.conn.pending_transmit(), pending_before);
                return;
            }
            (None, true) => {}
        }
        core.auth.pending = false;
        core.auth.decided = Some(decision.clone());
        match &decision {
            AuthDecision::Deny { status, .. } => {
                let expected = ConnectionError::Mechanism(MechanismError::Denied {
                    mechanism: core.mechanism,
                    status: *status,
                    text: "fuzz".into(),
                });
                assert_eq!(result.as_ref(), Err(&expected));
            }
            AuthDecision::Allow { .. } => {
                assert_eq!(result, Ok(()), "allowed, then failed");
                self.check_allowed();
            }
            _ => {}
        }
        self.after(result);
    }
}
