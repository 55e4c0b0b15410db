//! Two `Connection`s of a compatible socket-type pair wired back to back in memory, the
//! fuzzer choosing the pair, the chunking of the octets between them, the messages and
//! subscriptions each side sends, size limits, heartbeats and the passing of time.
//!
//! The input's last octet picks the security of the pair (see [`Secure`]): NULL, PLAIN or
//! CURVE, which side is the mechanism's server (whatever the transport roles), whether that
//! side asks an authenticator (which lets the client in, checking the credentials it is
//! shown), and the seed of CURVE's randomness. The octets before it are the scenario (so
//! the seeds of NULL pairs, ending in a zero octet, keep their meaning).
//!
//! Invariants:
//! - the handshake completes on both sides, each reporting exactly the other's metadata,
//!   the mechanism in use, and the user id its authenticator gave;
//! - every message arrives whole, unaltered and in order, as does every subscription and
//!   cancellation (a PUB or XPUB receiver reads a single-frame message starting with
//!   0x01/0x00 as a ZMTP 3.0 subscription/cancellation), and nothing else arrives;
//! - a message is refused exactly when its frames plus 32 octets each exceed the receiver's
//!   `max_msg_size` (with CURVE, when they come within the 33 octets a MESSAGE box adds of
//!   it: the limit bounds the frame on the wire), and only then does a connection close;
//! - with both sides serviced, heartbeats never time a live connection out, and after
//!   `handle_timeout(now)` no deadline is left at or before `now`.
#![no_main]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use zmq_sansio::Msg;
use zmq_sansio::proto::{
    Config, Connection, ConnectionError, Event, FrameError, HeartbeatConfig, MechanismName,
    PeerInfo, Role, SendError, SocketType, ZmtpVersion,
};
use zmq_sansio::security::{AuthDecision, Credentials, CurveKeyPair, Entropy, Security};
use zmq_sansio_fuzz::pieces;
use zmq_sansio_fuzz::scenario::{PAIR_MIN_MSG_SIZE, PairOp, PairScenario};

/// What each frame counts against `max_msg_size` besides its body (see `Config`).
const FRAME_BOOKKEEPING: u64 = 32;
/// Subscription prefixes are cut to this length, so that their commands always fit the
/// smallest size limit and only messages exercise it.
const MAX_PREFIX: usize = 128;

/// What a MESSAGE box adds to a frame: `\x07MESSAGE`, nonce, tag, flags.
const CURVE_OVERHEAD: u64 = 8 + 8 + 16 + 1;
/// Added to a CURVE pair's size limits, so that INITIATE (above 300 octets) always fits.
const CURVE_EXTRA_MSG_SIZE: u64 = 256;

fuzz_target!(|data: &[u8]| {
    let (secure, scenario) = match data.split_last() {
        Some((&last, rest)) => (Secure::from_octet(last), rest),
        None => (Secure::from_octet(0), data),
    };
    let Ok(scenario) = PairScenario::arbitrary_take_rest(Unstructured::new(scenario)) else {
        return;
    };
    run(&scenario, &secure);
});

/// The security of a pair, from one octet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Secure {
    mechanism: MechanismName,
    /// Side A is the mechanism's server (PLAIN, CURVE) or the side that asks (NULL: the
    /// transport server asks, whichever that is).
    a_serves: bool,
    /// The serving side asks an authenticator (a PLAIN server always does: without one it
    /// lets no one in).
    authenticate: bool,
    /// Seed of CURVE's randomness and of PLAIN's credentials.
    seed: u8,
}

impl Secure {
    /// `octet % 3`: NULL, PLAIN, CURVE; then one bit each for `a_serves` and `authenticate`;
    /// the rest is the seed. Zero is NULL without an authenticator.
    fn from_octet(octet: u8) -> Self {
        Self {
            mechanism: [
                MechanismName::NULL,
                MechanismName::PLAIN,
                MechanismName::CURVE,
            ][usize::from(octet % 3)],
            a_serves: (octet / 3) & 1 == 1,
            authenticate: (octet / 6) & 1 == 1,
            seed: octet / 12,
        }
    }

    /// Security settings for side A (`a`) or B, and whether that side asks.
    fn apply(&self, config: &mut Config, a: bool, role: Role) {
        let serves = a == self.a_serves;
        config.entropy = Entropy::seeded(u64::from(self.seed) * 2 + u64::from(a));
        config.security = match self.mechanism {
            MechanismName::PLAIN if serves => Security::PlainServer,
            MechanismName::PLAIN => Security::plain_client(self.username(), self.password()),
            MechanismName::CURVE if serves => {
                Security::curve_server(curve_server_keys().secret().clone())
            }
            MechanismName::CURVE => {
                Security::curve_client(*curve_server_keys().public(), curve_client_keys().clone())
            }
            _ => Security::Null,
        };
        let asks = self.authenticate || self.mechanism == MechanismName::PLAIN;
        config.authenticate = asks && self.asks(a, role);
        if self.mechanism == MechanismName::CURVE {
            config.max_msg_size += CURVE_EXTRA_MSG_SIZE;
        }
    }

    /// Whether side A (`a`) or B, in this transport role, is the one that authenticates.
    fn asks(&self, a: bool, role: Role) -> bool {
        if self.mechanism == MechanismName::NULL {
            role == Role::Server
        } else {
            a == self.a_serves
        }
    }

    fn username(&self) -> Bytes {
        Bytes::from(format!("user-{}", self.seed))
    }

    fn password(&self) -> Vec<u8> {
        vec![self.seed; usize::from(self.seed % 5)]
    }

    /// The user id the authenticator gives the client.
    fn user_id(&self) -> Bytes {
        Bytes::from(format!("id-{}", self.seed))
    }

    /// What the authenticator must be shown.
    fn credentials(&self) -> Credentials {
        match self.mechanism {
            MechanismName::PLAIN => Credentials::Plain {
                username: self.username(),
                password: self.password().into(),
            },
            MechanismName::CURVE => Credentials::Curve {
                public_key: *curve_client_keys().public(),
            },
            _ => Credentials::Null,
        }
    }

    /// Octets a MESSAGE box adds to each frame.
    fn overhead(&self) -> u64 {
        if self.mechanism == MechanismName::CURVE {
            CURVE_OVERHEAD
        } else {
            0
        }
    }
}

fn curve_server_keys() -> &'static CurveKeyPair {
    static KEYS: std::sync::OnceLock<CurveKeyPair> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| CurveKeyPair::generate_with(&Entropy::seeded(0x5E)))
}

fn curve_client_keys() -> &'static CurveKeyPair {
    static KEYS: std::sync::OnceLock<CurveKeyPair> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| CurveKeyPair::generate_with(&Entropy::seeded(0xC1)))
}

fn run(scenario: &PairScenario, secure: &Secure) {
    let (type_a, type_b) = scenario.types();
    let config = |socket_type| {
        let mut config = Config::new(socket_type);
        if let Some(extra) = scenario.max_msg_size {
            config.max_msg_size = PAIR_MIN_MSG_SIZE + u64::from(extra);
        }
        config.heartbeat = heartbeat(scenario);
        config
    };
    let (role_a, role_b) = if scenario.a_is_client {
        (Role::Client, Role::Server)
    } else {
        (Role::Server, Role::Client)
    };
    let now = Instant::now();
    let mut config_a = config(type_a);
    secure.apply(&mut config_a, true, role_a);
    let mut config_b = config(type_b);
    secure.apply(&mut config_b, false, role_b);
    let mut a = Side::new(config_a, role_a, now);
    let mut b = Side::new(config_b, role_b, now);
    // The side that asks gives the other this user id.
    let a_asks = a.conn.config().authenticate;
    let b_asks = b.conn.config().authenticate;
    // Each side's first event is Ready with exactly the other's metadata.
    a.expected
        .push_back(Event::Ready(peer_info(&b, secure, a_asks)));
    b.expected
        .push_back(Event::Ready(peer_info(&a, secure, b_asks)));
    let mut pair = Pair {
        sides: [a, b],
        now,
        chunk: scenario.handshake_chunk.into(),
        interval: config(type_a).heartbeat.interval,
        secure: *secure,
        asked: 0,
    };
    pair.pump();
    for side in &pair.sides {
        assert!(
            side.conn.is_ready(),
            "handshake failed: {:?}",
            side.conn.error()
        );
        assert!(side.expected.is_empty(), "no Ready event");
    }
    assert_eq!(
        pair.asked,
        usize::from(a_asks) + usize::from(b_asks),
        "authenticators asked"
    );

    for op in &scenario.ops {
        let going_on = match op {
            PairOp::Send { from_b, frames } => pair.send(*from_b, frames),
            PairOp::Subscribe { from_b, prefix } => pair.subscribe(*from_b, prefix, true),
            PairOp::Cancel { from_b, prefix } => pair.subscribe(*from_b, prefix, false),
            PairOp::Pump { chunk } => {
                pair.chunk = (*chunk).into();
                pair.pump();
                true
            }
            PairOp::Tick { ms } => {
                pair.tick(*ms);
                true
            }
        };
        if !going_on {
            return;
        }
    }
    pair.pump();
    for side in &pair.sides {
        assert!(side.conn.is_ready(), "closed: {:?}", side.conn.error());
        assert_eq!(
            side.expected,
            [],
            "{}: events never arrived",
            side.socket_type
        );
    }
}

/// Heartbeats as the scenario asks: interval of at least 10 ms, TTL of three intervals
/// (so a peer pinged every 1.5 intervals at worst never expires), timeout of one interval.
fn heartbeat(scenario: &PairScenario) -> HeartbeatConfig {
    let Some(ms) = scenario.heartbeat_ms else {
        return HeartbeatConfig::default();
    };
    let interval = Duration::from_millis(10 + u64::from(ms));
    HeartbeatConfig {
        interval: Some(interval),
        ttl: Some(3 * interval),
        timeout: None,
    }
}

/// What the other end must learn about `side` in the handshake (`asked`: the other end
/// authenticated it).
fn peer_info(side: &Side, secure: &Secure, asked: bool) -> PeerInfo {
    PeerInfo {
        socket_type: side.socket_type,
        identity: None,
        version: ZmtpVersion::V3_1,
        mechanism: secure.mechanism,
        metadata: side.conn.config().local_metadata(),
        user_id: asked.then(|| secure.user_id()),
        auth_metadata: Default::default(),
    }
}

/// One end and the events it still has to report, in order.
struct Side {
    conn: Connection,
    socket_type: SocketType,
    expected: VecDeque<Event>,
    /// A message above this side's size limit is on its way: it must close on it.
    doomed: bool,
}

impl Side {
    fn new(config: Config, role: Role, now: Instant) -> Self {
        Self {
            socket_type: config.socket_type,
            conn: Connection::new(config, role, now),
            expected: VecDeque::new(),
            doomed: false,
        }
    }

    fn check_events(&mut self) {
        while let Some(event) = self.conn.poll_event() {
            let expected = self.expected.pop_front();
            assert_eq!(Some(&event), expected.as_ref(), "{}", self.socket_type);
        }
    }
}

struct Pair {
    sides: [Side; 2],
    now: Instant,
    /// Piece size for shuttled octets (0: as `poll_transmit` hands them out).
    chunk: usize,
    interval: Option<Duration>,
    secure: Secure,
    /// Authentication requests answered.
    asked: usize,
}

impl Pair {
    /// Sender and receiver.
    fn ends(&mut self, from_b: bool) -> (&mut Side, &mut Side) {
        let [a, b] = &mut self.sides;
        if from_b { (b, a) } else { (a, b) }
    }

    /// Queues a message; returns false if it ended the scenario by being refused.
    fn send(&mut self, from_b: bool, frames: &[Vec<u8>]) -> bool {
        let overhead = self.secure.overhead();
        let (from, to) = self.ends(from_b);
        let msg = Msg::from_frames(frames.iter().cloned());
        let result = from.conn.send(&msg);
        if msg.is_empty() {
            assert_eq!(result, Err(SendError::EmptyMessage));
            return true;
        }
        assert_eq!(result, Ok(()));
        let limit = to.conn.config().max_msg_size;
        let cost: u64 = msg.iter().map(|f| f.len() as u64 + FRAME_BOOKKEEPING).sum();
        // The limit bounds each frame as it travels: sealed, with CURVE.
        if cost + overhead <= limit {
            to.expected.push_back(arrival(to.socket_type, msg));
            return true;
        }
        // Everything queued before it still arrives; then the receiver closes.
        to.doomed = true;
        self.pump();
        let (_, to) = self.ends(from_b);
        assert!(
            matches!(
                to.conn.error(),
                Some(
                    ConnectionError::Frame(FrameError::TooLarge { .. })
                        | ConnectionError::TooManyFrames { .. }
                )
            ),
            "a {cost}-octet message passed a {limit}-octet limit: {:?}",
            to.conn.error()
        );
        assert_eq!(
            to.expected,
            [],
            "events before the refused message were lost"
        );
        false
    }

    fn subscribe(&mut self, from_b: bool, prefix: &[u8], subscribe: bool) -> bool {
        let prefix = &prefix[..prefix.len().min(MAX_PREFIX)];
        let (from, to) = self.ends(from_b);
        let (result, event) = if subscribe {
            (
                from.conn.subscribe(prefix),
                Event::Subscribe(prefix.to_vec().into()),
            )
        } else {
            (
                from.conn.cancel(prefix),
                Event::Cancel(prefix.to_vec().into()),
            )
        };
        assert_eq!(result, Ok(()));
        // Both ends speak ZMTP 3.1, so this travels as a command whatever the socket types.
        to.expected.push_back(event);
        true
    }

    /// Advances the clock (by less than half an interval with heartbeats, so a serviced
    /// peer always answers in time), runs both sides' timers, then shuttles.
    fn tick(&mut self, ms: u16) {
        let mut ms = u64::from(ms);
        if let Some(interval) = self.interval {
            ms %= interval.as_millis() as u64 / 2 + 1;
        }
        self.now += Duration::from_millis(ms);
        for side in &mut self.sides {
            let result = side.conn.handle_timeout(self.now);
            assert_eq!(result, Ok(()), "{} timed out", side.socket_type);
            if let Some(deadline) = side.conn.poll_timeout() {
                assert!(deadline > self.now, "handle_timeout left a passed deadline");
            }
            side.check_events();
        }
        self.pump();
    }

    /// Shuttles octets both ways until neither side has anything left to send, answering
    /// authentication requests (checking the credentials shown) as they come.
    fn pump(&mut self) {
        loop {
            let [a, b] = &mut self.sides;
            let moved = shuttle(a, b, self.now, self.chunk) + shuttle(b, a, self.now, self.chunk);
            let mut answered = false;
            for side in &mut self.sides {
                let Some(request) = side.conn.poll_auth_request() else {
                    continue;
                };
                assert_eq!(request.mechanism, self.secure.mechanism);
                assert_eq!(request.credentials, self.secure.credentials());
                let allow = AuthDecision::allow_as(self.secure.user_id());
                assert_eq!(side.conn.authenticate(allow, self.now), Ok(()));
                side.check_events();
                self.asked += 1;
                answered = true;
            }
            if moved == 0 && !answered {
                break;
            }
        }
    }
}

/// Moves what `from` has queued into `to`; returns how many octets moved.
fn shuttle(from: &mut Side, to: &mut Side, now: Instant, chunk: usize) -> usize {
    let mut moved = 0;
    while let Some(octets) = from.conn.poll_transmit() {
        for piece in pieces(&octets, chunk) {
            moved += piece.len();
            // Read in place while the receiver lends room for a large body, as the io
            // drivers do; the rest as copies.
            let mut rest = piece;
            let mut result = Ok(());
            while result.is_ok() && !rest.is_empty() {
                match to.conn.receive_in_place() {
                    Some(room) => {
                        let n = room.len().min(rest.len());
                        room[..n].copy_from_slice(&rest[..n]);
                        rest = &rest[n..];
                        result = to.conn.handle_received(n, now);
                    }
                    None => {
                        result = to.conn.handle_input(rest, now);
                        rest = &[];
                    }
                }
            }
            to.check_events();
            if let Err(err) = result {
                assert!(to.doomed, "{} closed: {err}", to.socket_type);
            }
        }
    }
    moved
}

/// The event a message raises at a receiver of type `to`.
fn arrival(to: SocketType, msg: Msg) -> Event {
    // ZMTP 3.0 subscriptions are single-frame messages starting with 0x01 (subscribe) or
    // 0x00 (cancel); publishers read them so from any peer (`classify` in connection.rs).
    if matches!(to, SocketType::Pub | SocketType::XPub) && msg.len() == 1 {
        let body = &msg.frames()[0];
        match body.first() {
            Some(1) => return Event::Subscribe(body.slice(1..)),
            Some(0) => return Event::Cancel(body.slice(1..)),
            _ => {}
        }
    }
    Event::Message(msg)
}
