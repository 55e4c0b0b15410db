//! A whole `Connection` whose peer sends arbitrary octets.
//!
//! Input: a `ConnectionControls` header (decoded with `arbitrary`: our socket type and role,
//! an optional valid greeting/READY preamble, limits, heartbeats, and steps that interleave
//! feeding with timeouts, sends, subscriptions and transmission) followed by the peer's
//! stream. Invariants:
//! - nothing panics or hangs; once a call returns an error the connection is closed and
//!   every later call returns that same error (sends: `SendError::Closed` of it), no
//!   deadline remains, and nothing more is queued: what was queued before still goes out
//!   (the rest of our greeting, of a frame, of earlier traffic), followed by one ERROR
//!   exactly when the handshake was refused (incompatible or missing socket type, a
//!   mechanism's rejection);
//! - after `handle_timeout(now)` succeeds, `poll_timeout()` is later than `now`, so an
//!   adapter that sleeps until it never spins;
//! - what is queued for the peer never exceeds what our own sends, the PINGs, the PONGs
//!   (never larger than the PINGs they answer) and one READY and ERROR account for;
//! - everything transmitted is a well-formed ZMTP stream: our greeting, then frames whose
//!   commands parse, ending at a frame boundary once all is taken (closed or not); an ERROR
//!   is the last frame, sent only on close and before Ready, after a complete greeting and
//!   frame;
//! - the first event is Ready, exactly once, naming a compatible peer; messages respect
//!   `max_msg_size`; `send` and `subscribe` succeed exactly when the connection is ready;
//! - with a valid greeting and READY prepended, the handshake completes (unless the READY
//!   exceeds our size limit) and the events are exactly those the stream describes (a prefix
//!   of them if the connection closed): no message lost, reordered, altered or invented,
//!   and no protocol error in the stream goes unnoticed.
#![no_main]

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use zmq_sansio::Msg;
use zmq_sansio::proto::{
    Command, Config, Connection, ConnectionError, Event, FrameDecoder, FrameError, FrameKind,
    GREETING_LEN, Greeting, GreetingDecoder, HeartbeatConfig, MAX_HANDSHAKE_COMMAND,
    MechanismError, MechanismName, PeerInfo, Role, SendError, SocketType, ZmtpVersion, header_len,
};
use zmq_sansio_fuzz::scenario::{Action, ConnectionControls, Preamble};
use zmq_sansio_fuzz::{check_traffic, pieces, wire};

/// What each received frame counts against `max_msg_size` besides its body (see `Config`).
const FRAME_BOOKKEEPING: usize = 32;
/// An ERROR command with the longest reason (255 octets): long header and 262-octet body.
const MAX_ERROR_FRAME: usize = 9 + 1 + 5 + 1 + 255;
/// A PING as we send it: short header, name, TTL, no context.
const PING_FRAME: usize = 2 + 1 + 4 + 2;
/// Upper bound on a SUBSCRIBE/CANCEL command (or 3.0-style message) beyond its prefix.
const SUBSCRIPTION_OVERHEAD: usize = 9 + 1 + 9;
/// Deadlines followed after the stream is exhausted, as an adapter would.
const FINAL_DEADLINES: usize = 8;

fuzz_target!(|data: &[u8]| {
    let Ok((controls, stream)) = ConnectionControls::split(data) else {
        return;
    };
    run(&controls, stream);
});

fn run(controls: &ConnectionControls, stream: &[u8]) {
    let mut h = Harness::new(controls);
    match controls.preamble {
        Preamble::None => {}
        Preamble::Greeting => {
            h.input(&wire::null_greeting(controls.peer_minor));
            assert!(
                !h.conn.is_closed(),
                "valid greeting refused: {:?}",
                h.closed
            );
        }
        Preamble::GreetingAndReady => {
            let mut preamble = wire::null_greeting(controls.peer_minor);
            preamble.extend(wire::ready(controls.peer()));
            h.input(&preamble);
            h.check_handshake(controls);
        }
    }

    let mut rest = stream;
    for step in &controls.steps {
        let (fed, later) = rest.split_at(usize::from(step.feed).min(rest.len()));
        rest = later;
        h.input(fed);
        h.act(step.action);
    }
    for piece in pieces(rest, controls.tail_chunk.into()) {
        h.input(piece);
    }
    h.transmit(usize::MAX);
    for _ in 0..FINAL_DEADLINES {
        let Some(deadline) = h.conn.poll_timeout() else {
            break;
        };
        h.now = h.now.max(deadline);
        h.timeout();
    }
    h.transmit(usize::MAX);

    // Everything queued was taken: a closed connection too ends its stream cleanly.
    assert!(
        h.output.at_boundary(),
        "stopped transmitting {:?} (closed: {:?})",
        h.output.cut(),
        h.closed
    );
    let refused = matches!(
        h.closed,
        Some(
            ConnectionError::IncompatibleSocketType { .. }
                | ConnectionError::MissingSocketType
                | ConnectionError::Mechanism(MechanismError::Rejected { .. })
        )
    );
    assert_eq!(
        h.output.errors,
        usize::from(refused),
        "ERROR frames sent, closed with {:?}",
        h.closed
    );
    // With the preamble, the whole stream is traffic, so the events can be predicted.
    if controls.preamble == Preamble::GreetingAndReady && !h.events.is_empty() {
        h.check_traffic(stream);
    }
}

/// One connection under test and everything observed from it.
struct Harness {
    conn: Connection,
    ours: SocketType,
    max_msg_size: u64,
    now: Instant,
    /// The error a call returned, once one did.
    closed: Option<ConnectionError>,
    /// Octets taken and still queued when the connection closed: a closed connection
    /// queues nothing more.
    queued_at_close: Option<usize>,
    /// Every event so far, in order.
    events: Vec<Event>,
    output: Output,
    /// Octets the connection may have queued in total, given what it was asked to do.
    tx_budget: usize,
    /// Octets taken with `poll_transmit`.
    tx_taken: usize,
    /// The next input goes in place where the connection lends room.
    in_place: bool,
}

impl Harness {
    fn new(controls: &ConnectionControls) -> Self {
        let ours = controls.ours();
        let mut config = Config::new(ours);
        if controls.max_msg_size > 0 {
            config.max_msg_size = controls.max_msg_size.into();
        }
        config.handshake_timeout = controls.handshake_timeout();
        let [interval, ttl, timeout] = controls.heartbeat();
        config.heartbeat = HeartbeatConfig {
            interval,
            ttl,
            timeout,
        };
        if controls.pad_property {
            let pad = vec![b'p'; 9000];
            config.properties.insert("X-Pad", pad).expect("valid");
        }
        let ready = Command::Ready(config.local_metadata()).to_bytes().len();
        let role = if controls.server {
            Role::Server
        } else {
            Role::Client
        };
        let now = Instant::now();
        Self {
            max_msg_size: config.max_msg_size,
            conn: Connection::new(config, role, now),
            ours,
            now,
            closed: None,
            queued_at_close: None,
            events: Vec::new(),
            output: Output::default(),
            tx_budget: GREETING_LEN + header_len(ready) + ready + MAX_ERROR_FRAME,
            tx_taken: 0,
            in_place: false,
        }
    }

    fn input(&mut self, octets: &[u8]) {
        // Input can make us reply with PONGs, each no larger than its PING.
        self.tx_budget += octets.len();
        // While a large body arrives the connection lends room to read it in place: use it
        // on every other input, so both ways of giving input meet every state.
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
            assert!(
                deadline > self.now,
                "handle_timeout left a passed deadline: an adapter would spin"
            );
        }
        self.after(result);
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::None => {}
            Action::Timeout { advance_ms } => {
                self.now += Duration::from_millis(advance_ms.into());
                self.timeout();
            }
            Action::Send { frames, len } => {
                let len = usize::from(len & 0x3FFF);
                let msg: Msg = (0..frames % 4).map(|i| Bytes::from(vec![i; len])).collect();
                self.tx_budget += msg.len() * (header_len(len) + len);
                let result = self.conn.send(&msg);
                self.check_send(result, msg.is_empty());
            }
            Action::Subscribe { len } | Action::Cancel { len } => {
                let prefix = vec![b's'; len.into()];
                self.tx_budget += SUBSCRIPTION_OVERHEAD + prefix.len();
                let result = if matches!(action, Action::Subscribe { .. }) {
                    self.conn.subscribe(&prefix)
                } else {
                    self.conn.cancel(&prefix)
                };
                self.check_send(result, false);
            }
            Action::Transmit { chunks } => {
                self.transmit(if chunks == 0 {
                    usize::MAX
                } else {
                    chunks.into()
                });
            }
        }
        self.check_state();
    }

    /// Takes up to `max` chunks from `poll_transmit`.
    fn transmit(&mut self, max: usize) {
        for _ in 0..max {
            let Some(chunk) = self.conn.poll_transmit() else {
                break;
            };
            self.tx_taken += chunk.len();
            self.output.push(&chunk);
            if self.output.errors > 0 {
                assert!(self.closed.is_some(), "an ERROR sent on an open connection");
                assert!(self.events.is_empty(), "an ERROR sent after Ready");
            }
        }
        self.check_state();
    }

    /// Checks the outcome of `handle_input`/`handle_timeout`, then drains the events.
    fn after(&mut self, result: Result<(), ConnectionError>) {
        match (&self.closed, result) {
            (Some(closed), result) => {
                assert_eq!(
                    result.as_ref(),
                    Err(closed),
                    "a closed connection changed its error"
                );
            }
            (None, Ok(())) => assert!(!self.conn.is_closed(), "closed without an error"),
            (None, Err(err)) => {
                assert!(self.conn.is_closed(), "returned {err} but stayed open");
                assert_eq!(self.conn.error(), Some(&err));
                self.queued_at_close = Some(self.tx_taken + self.conn.pending_transmit());
                self.closed = Some(err);
            }
        }
        self.drain_events();
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

    fn drain_events(&mut self) {
        while let Some(event) = self.conn.poll_event() {
            match &event {
                Event::Ready(peer) => {
                    assert!(self.events.is_empty(), "Ready after other events");
                    assert!(self.ours.is_compatible_with(peer.socket_type));
                    assert_eq!(peer.mechanism, MechanismName::NULL);
                    assert_ne!(peer.identity.as_deref(), Some(&b""[..]), "empty identity");
                }
                Event::Message(msg) => {
                    assert!(!self.events.is_empty(), "message before Ready");
                    let cost = msg.byte_len() + msg.len() * FRAME_BOOKKEEPING;
                    assert!(!msg.is_empty() && cost as u64 <= self.max_msg_size);
                }
                Event::Subscribe(_) | Event::Cancel(_) => {
                    assert!(!self.events.is_empty(), "subscription before Ready");
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
        if let Some(peer) = conn.peer() {
            assert!(conn.is_ready());
            assert!(
                matches!(self.events.first(), Some(Event::Ready(p)) if p == peer),
                "ready without a matching Ready event"
            );
        }
    }

    /// After a valid greeting and READY: ready with exactly the announced peer, unless the
    /// READY is above our size limit.
    fn check_handshake(&self, controls: &ConnectionControls) {
        let peer = controls.peer();
        let metadata = wire::peer_metadata(peer);
        let ready = Command::Ready(metadata.clone()).to_bytes().len() as u64;
        if ready > MAX_HANDSHAKE_COMMAND.min(self.max_msg_size) {
            assert!(
                matches!(
                    self.closed,
                    Some(ConnectionError::Frame(FrameError::TooLarge { .. }))
                ),
                "oversized READY: {:?}",
                self.closed
            );
            return;
        }
        let expected = PeerInfo {
            socket_type: peer,
            identity: metadata.identity().cloned(),
            version: ZmtpVersion::negotiate(3, controls.peer_minor),
            mechanism: MechanismName::NULL,
            metadata,
            user_id: None,
            auth_metadata: Default::default(),
        };
        assert!(self.conn.is_ready(), "handshake failed: {:?}", self.closed);
        assert_eq!(self.events, [Event::Ready(expected)]);
    }

    /// The events after Ready are those the post-handshake stream describes.
    fn check_traffic(&self, stream: &[u8]) {
        check_traffic(&self.events[1..], self.closed.is_none(), stream, self.ours);
    }
}

/// Checks that what we transmit is a ZMTP stream: our NULL greeting, then frames whose
/// commands parse, nothing after an ERROR.
#[derive(Default)]
struct Output {
    greeting: GreetingDecoder,
    greeted: bool,
    buf: BytesMut,
    decoder: FrameDecoder,
    /// ERROR commands sent.
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
            assert_eq!(greeting, Greeting::new(MechanismName::NULL, false));
            self.greeted = true;
        }
        self.buf.extend_from_slice(chunk);
        while let Some(frame) = self
            .decoder
            .decode(&mut self.buf, u64::MAX)
            .expect("bad frame")
        {
            assert_eq!(self.errors, 0, "we sent a frame after our ERROR");
            if frame.kind == FrameKind::Command {
                let command = Command::parse(frame.body).expect("we sent a malformed command");
                if matches!(command, Command::Error(_)) {
                    self.errors += 1;
                }
            }
        }
    }

    /// Whether the octets so far end after the greeting, at a frame boundary.
    fn at_boundary(&self) -> bool {
        self.cut().is_none()
    }

    /// Where the octets so far stop, unless after the greeting at a frame boundary.
    fn cut(&self) -> Option<&'static str> {
        if !self.greeted {
            Some("before the end of our greeting")
        } else if !self.decoder.at_boundary(&self.buf) {
            Some("inside a frame")
        } else {
            None
        }
    }
}
