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
//!   password of the HELLO received; WELCOME goes out only after a valid HELLO and only
//!   once the authenticator allowed (without one, no client is ever let in, as libzmq
//!   without a ZAP handler); a decision nobody asked for changes nothing;
//! - the Ready event names the INITIATE's socket type and metadata, and the decision's
//!   user id and properties;
//! - with the valid preamble and an authenticator that allows at once the handshake
//!   completes (inputs are split after the preamble's HELLO, as a real client waits for
//!   WELCOME), and the events after Ready are exactly those the rest of the stream
//!   describes (a prefix if closed); without an authenticator it never completes.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use zmq_sansio::proto::{
    Command, Config, ConnectionError, Event, Frame, FrameKind, GREETING_LEN, MechanismError,
    MechanismName, Metadata, RawCommand, Role, SocketType, header_len,
};
use zmq_sansio::security::{AuthDecision, AuthRequest, Credentials, Security};
use zmq_sansio_fuzz::scenario::{compatible_peers, socket_type};
use zmq_sansio_fuzz::security::{
    Auth, Core, Decision, Harness, MAX_ERROR_FRAME, Step, Transcript, first_frames,
};
use zmq_sansio_fuzz::{check_traffic, wire};

/// A PING as we send it: short header, name, TTL, no context.
const PING_FRAME: usize = 2 + 1 + 4 + 2;
/// Upper bound on a SUBSCRIBE/CANCEL command (or 3.0-style message) beyond its prefix.
const SUBSCRIPTION_OVERHEAD: usize = 9 + 1 + 9;
/// What each received frame counts against `max_msg_size` besides its body.
const FRAME_BOOKKEEPING: usize = 32;

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
    steps: [Step<Action>; 4],
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
    // A real client waits for WELCOME before its INITIATE: with a HELLO in the preamble,
    // inputs are split after it (see `Harness::input`).
    let pause_at = match controls.preamble {
        Preamble::Hello | Preamble::Handshake => GREETING_LEN + hello(&username, &password).len(),
        _ => usize::MAX,
    };
    let mut h = Server::new(config, controls, pause_at);
    h.run(&controls.steps, &stream, controls.tail_chunk);
    h.finish();

    let core = &h.core;
    if controls.preamble == Preamble::Handshake
        && controls.authenticate
        && core.auth.allows_at_once()
        && !core.timed_out()
    {
        assert!(core.ready, "a valid handshake failed: {:?}", core.closed);
    }
    if !controls.authenticate {
        assert!(
            !core.ready,
            "a PLAIN server without an authenticator let a client in"
        );
    }
    if controls.preamble == Preamble::Handshake && core.ready {
        check_traffic(
            &h.events[1..],
            core.closed.is_none(),
            &stream[preamble.len()..],
            h.ours,
        );
    }
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
struct Server {
    core: Core,
    ours: SocketType,
    max_msg_size: u64,
    events: Vec<Event>,
    output: Output,
}

impl Server {
    fn new(config: Config, controls: &Controls, pause_at: usize) -> Self {
        let local_metadata = config.local_metadata();
        let ready_len = 6 + local_metadata.encoded_len();
        let tx_budget =
            GREETING_LEN + (2 + 8) + header_len(ready_len) + ready_len + MAX_ERROR_FRAME;
        let auth = Auth::new(
            controls.authenticate,
            controls.decision,
            controls.decide_at_once,
        );
        Self {
            ours: config.socket_type,
            max_msg_size: config.max_msg_size,
            core: Core::new(
                config,
                Role::Server,
                MechanismName::PLAIN,
                tx_budget,
                pause_at,
                auth,
            ),
            events: Vec::new(),
            output: Output::new(local_metadata),
        }
    }

    fn finish(&self) {
        let core = &self.core;
        core.check_errors(matches!(
            core.closed,
            Some(
                ConnectionError::IncompatibleSocketType { .. }
                    | ConnectionError::MissingSocketType
                    | ConnectionError::Mechanism(
                        MechanismError::Rejected { .. } | MechanismError::Denied { .. }
                    )
            )
        ));
    }
}

impl Harness for Server {
    type Action = Action;
    const PING: usize = PING_FRAME;

    fn core(&self) -> &Core {
        &self.core
    }

    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::None => {}
            Action::Timeout { advance_ms } => self.advance(advance_ms),
            Action::Send { frames, len } => {
                self.core.send(frames, len, |len| header_len(len) + len);
            }
            Action::Subscribe { len } => {
                let prefix = vec![b's'; len.into()];
                self.core.tx_budget += SUBSCRIPTION_OVERHEAD + prefix.len();
                let result = self.core.conn.subscribe(&prefix);
                self.core.check_send(result, false);
            }
            Action::Decide => self.decide(),
            Action::Transmit => self.transmit(),
        }
        self.core.check_state();
    }

    fn check_request(&mut self, request: &AuthRequest) {
        let Some((username, password)) = first_frames(&self.core.fed).first().and_then(parse_hello)
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

    fn check_allowed(&self) {
        assert!(!self.core.conn.is_ready(), "ready before INITIATE");
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.core.conn.poll_event() {
            match &event {
                Event::Ready(peer) => {
                    assert!(!self.core.ready, "Ready twice");
                    self.core.ready = true;
                    let frames = first_frames(&self.core.fed);
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
                    self.core.check_peer_auth(peer);
                }
                Event::Message(msg) => {
                    assert!(self.core.ready, "a message before Ready");
                    let cost = msg.byte_len() + msg.len() * FRAME_BOOKKEEPING;
                    assert!(!msg.is_empty() && cost as u64 <= self.max_msg_size);
                }
                Event::Subscribe(_) | Event::Cancel(_) => {
                    assert!(self.core.ready, "a subscription before Ready");
                }
                other => panic!("an event this target does not know: {other:?}"),
            }
            self.events.push(event);
        }
    }

    fn check_output(&mut self, chunk: &[u8]) {
        let output = &mut self.output;
        self.core
            .transcript
            .take(chunk, |frame, transcript| output.check(frame, transcript));
        if self.output.welcomed {
            assert!(
                self.core.auth.authenticate,
                "WELCOME from a PLAIN server without an authenticator"
            );
            assert!(
                matches!(self.core.auth.decided, Some(AuthDecision::Allow { .. })),
                "WELCOME before the authenticator allowed"
            );
        }
        if self.output.welcomed {
            assert!(
                first_frames(&self.core.fed)
                    .first()
                    .and_then(parse_hello)
                    .is_some(),
                "WELCOME without a valid HELLO"
            );
        }
    }
}

/// Checks what the server transmits: our PLAIN server greeting, WELCOME, READY with our
/// metadata, then valid traffic; or an ERROR, last.
struct Output {
    local_metadata: Metadata,
    welcomed: bool,
    readied: bool,
}

impl Output {
    fn new(local_metadata: Metadata) -> Self {
        Self {
            local_metadata,
            welcomed: false,
            readied: false,
        }
    }

    fn check(&mut self, frame: Frame, transcript: &mut Transcript) {
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
            return;
        }
        assert_eq!(frame.kind, FrameKind::Command, "a message before READY");
        let raw = RawCommand::parse(frame.body).expect("a malformed command");
        match &raw.name[..] {
            b"ERROR" => transcript.error(raw),
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
