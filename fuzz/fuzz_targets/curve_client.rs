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
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use zmq_sansio::proto::{
    Config, Connection, ConnectionError, Frame, FrameKind, GREETING_LEN, HeartbeatConfig,
    MechanismError, MechanismName, Metadata, RawCommand, Role, SocketType,
};
use zmq_sansio::security::{AuthDecision, AuthRequest, Entropy, Security};
use zmq_sansio_fuzz::scenario::compatible_pairs;
use zmq_sansio_fuzz::security::{
    Auth, Core, Harness, MAX_ERROR_FRAME, SEALED_PING, Side, Step, Transcript, Unit, altered,
    check_message_box, client_keys, first_frames, genuine_heartbeat, genuine_traffic, memo,
    nonce_at, other_server_key, sealed_frame, server_keys, shuttle,
};

/// Seeds per side: each combination's genuine stream is computed once and kept.
const SEEDS: u8 = 4;
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
    steps: [Step<Action>; 4],
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

/// A genuine server stream for one combination of seeds and types.
struct Reference {
    wire: Vec<u8>,
    /// WELCOME and READY (or ERROR) bodies.
    welcome: Bytes,
    ready: Option<Bytes>,
    /// Where READY (or the ERROR) ends in `wire`.
    handshake_end: usize,
    /// The server's traffic after the handshake (see `genuine_traffic`).
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

fn make_reference((server_seed, client_seed, pair, denied): Key) -> Reference {
    let pairs = compatible_pairs();
    let (client_type, server_type) = pairs[usize::from(pair)];
    let mut config = Config::new(server_type);
    config.security = Security::curve_server(server_keys().secret().clone());
    config.entropy = Entropy::seeded(u64::from(server_seed));
    config.authenticate = denied;
    config.heartbeat = genuine_heartbeat();
    let server_metadata = config.local_metadata();
    let mut now = Instant::now();
    let mut server = Connection::new(config, Role::Server, now);
    let mut client = Connection::new(
        client_config(client_type, client_seed, false, false),
        Role::Client,
        now,
    );
    let mut wire = Vec::new();
    shuttle(&mut client, &mut server, Side::Server, &mut wire, now);
    if denied {
        server.poll_auth_request().expect("asked");
        let _ = server.authenticate(AuthDecision::deny("fuzz"), now);
        shuttle(&mut client, &mut server, Side::Server, &mut wire, now);
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
    let units = if client.is_ready() {
        genuine_traffic(Side::Server, &mut client, &mut server, &mut wire, &mut now)
    } else {
        Vec::new()
    };
    let frames = first_frames(&wire);
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

/// Whether `fed` starts with the genuine WELCOME and READY.
fn genuine_handshake(fed: &[u8], reference: &Reference) -> Result<(), String> {
    let Some(ready) = &reference.ready else {
        return Err("the genuine server denied us".into());
    };
    match &first_frames(fed)[..] {
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
    let reference = memo(&REFERENCES, key, make_reference);
    let client_type = pairs[usize::from(pair)].0;

    // The genuine part: as much of the stream as the preamble says, cut, altered.
    let genuine_len = match controls.preamble {
        Preamble::None => 0,
        Preamble::Greeting => GREETING_LEN,
        Preamble::Welcome => GREETING_LEN + 2 + 8 + 160,
        Preamble::Handshake | Preamble::Denied => reference.handshake_end,
        Preamble::Session => reference.wire.len(),
    };
    let stream = altered(
        &reference.wire,
        genuine_len,
        controls.cut,
        controls.flips,
        tail,
    );

    let config = client_config(client_type, key.1, controls.wrong_key, controls.heartbeat);
    let mut h = Client::new(config, controls.wrong_key, reference.clone());
    h.run(&controls.steps, &stream, controls.tail_chunk);
    h.finish(&stream);
}

/// The client under test and everything observed from it.
struct Client {
    core: Core,
    reference: Rc<Reference>,
    wrong_key: bool,
    /// Traffic reported after Ready.
    units: Vec<Unit>,
    output: Output,
}

impl Client {
    fn new(config: Config, wrong_key: bool, reference: Rc<Reference>) -> Self {
        let initiate_len = 9 + 257 + config.local_metadata().encoded_len();
        let tx_budget = GREETING_LEN + (2 + 200) + (9 + initiate_len) + MAX_ERROR_FRAME;
        Self {
            core: Core::new(
                config,
                Role::Client,
                MechanismName::CURVE,
                tx_budget,
                usize::MAX,
                Auth::none(),
            ),
            reference,
            wrong_key,
            units: Vec::new(),
            output: Output::default(),
        }
    }

    fn finish(&self, stream: &[u8]) {
        let core = &self.core;
        core.check_errors(matches!(
            core.closed,
            Some(ConnectionError::Mechanism(MechanismError::Rejected { .. }))
        ));

        let reference = &self.reference;
        let intact = stream
            .iter()
            .zip(&reference.wire)
            .take_while(|(a, b)| a == b)
            .count()
            .min(core.fed.len());
        if intact >= reference.handshake_end && !self.wrong_key && !core.timed_out() {
            if reference.ready.is_some() {
                assert!(core.ready, "a genuine handshake failed: {:?}", core.closed);
            } else {
                assert_eq!(
                    core.closed,
                    Some(ConnectionError::AuthenticationFailed {
                        mechanism: MechanismName::CURVE,
                        status: 400
                    }),
                    "a genuine denial"
                );
            }
        }
        core.check_units(&self.units, &reference.units, intact);
    }
}

impl Harness for Client {
    type Action = Action;
    // A sealed PING of ours: name, TTL, no context.
    const PING: usize = SEALED_PING;

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
            Action::Send { frames, len } => self.core.send(frames, len, sealed_frame),
            Action::Transmit => self.transmit(),
        }
        self.core.check_state();
    }

    fn check_request(&mut self, request: &AuthRequest) {
        panic!("a client asked: {request:?}");
    }

    fn check_allowed(&self) {
        unreachable!("a client decides nothing");
    }

    fn drain_events(&mut self) {
        let (reference, wrong_key) = (&self.reference, self.wrong_key);
        self.core.drain_genuine(&mut self.units, |core, peer| {
            assert!(!wrong_key, "ready with another server key");
            if let Err(why) = genuine_handshake(&core.fed, reference) {
                panic!("ready after a forged handshake: {why}");
            }
            assert_eq!(peer.mechanism, MechanismName::CURVE);
            assert_eq!(peer.socket_type, reference.server_type);
            assert_eq!(peer.metadata, reference.server_metadata);
        });
    }

    fn check_output(&mut self, chunk: &[u8]) {
        let output = &mut self.output;
        self.core
            .transcript
            .take(chunk, |frame, transcript| output.check(frame, transcript));
    }
}

/// Checks what the client transmits: our greeting, HELLO, INITIATE, then MESSAGE boxes
/// with strictly increasing nonces; or an ERROR, last.
#[derive(Default)]
struct Output {
    hello: bool,
    /// The short nonce of INITIATE, then of each MESSAGE.
    nonce: Option<u64>,
}

impl Output {
    fn check(&mut self, frame: Frame, transcript: &mut Transcript) {
        if self.nonce.is_some() && frame.body.starts_with(b"\x07MESSAGE") {
            check_message_box(&frame, &mut self.nonce);
            return;
        }
        assert_eq!(frame.kind, FrameKind::Command);
        let raw = RawCommand::parse(frame.body).expect("we sent a malformed command");
        match &raw.name[..] {
            b"ERROR" => transcript.error(raw),
            b"HELLO" => {
                assert!(!self.hello, "HELLO twice");
                assert_eq!(raw.data.len(), 194);
                self.hello = true;
            }
            b"INITIATE" => {
                assert!(self.hello && self.nonce.is_none(), "INITIATE out of turn");
                assert!(raw.data.len() >= 257);
                // The short nonce follows the name (9) and the cookie (96).
                self.nonce = Some(nonce_at(&raw.data, 96));
            }
            _ => panic!("unexpected handshake command {raw:?}"),
        }
    }
}
