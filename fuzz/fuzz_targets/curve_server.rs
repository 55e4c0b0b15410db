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
use std::time::Instant;

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use zmq_sansio::proto::{
    Config, Connection, ConnectionError, Frame, FrameKind, GREETING_LEN, MechanismError,
    MechanismName, Metadata, RawCommand, Role, SocketType, header_len,
};
use zmq_sansio::security::{AuthRequest, Credentials, Entropy, Security};
use zmq_sansio_fuzz::scenario::compatible_pairs;
use zmq_sansio_fuzz::security::{
    Auth, Core, Decision, Harness, MAX_ERROR_FRAME, SEALED_PING, Side, Step, Transcript, Unit,
    altered, check_message_box, client_keys, first_frames, genuine_heartbeat, genuine_traffic,
    memo, nonce_at, other_server_key, sealed_frame, server_keys, shuttle,
};

/// Seeds per side: each combination's genuine stream is computed once and kept.
const SEEDS: u8 = 4;
/// HELLO's padding, as offsets into its command body (after `\x05HELLO` and the version).
const HELLO_PADDING: std::ops::Range<usize> = 8..80;

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
    steps: [Step<Action>; 4],
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

/// The genuine client stream for one combination of seeds, types and key.
struct Reference {
    wire: Vec<u8>,
    hello: Option<Bytes>,
    initiate: Option<Bytes>,
    /// Where the INITIATE frame ends in `wire`.
    handshake_end: usize,
    /// The client's traffic after the handshake (see `genuine_traffic`).
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
    config.heartbeat = genuine_heartbeat();
    let client_metadata = config.local_metadata();
    let mut now = Instant::now();
    let mut client = Connection::new(config, Role::Client, now);
    let mut server = Connection::new(server_config(server_type, server_seed), Role::Server, now);
    let mut wire = Vec::new();
    shuttle(&mut client, &mut server, Side::Client, &mut wire, now);
    assert_eq!(client.is_ready(), !wrong_key, "{:?}", client.error());
    let handshake_end = wire.len();
    let units = if client.is_ready() {
        genuine_traffic(Side::Client, &mut client, &mut server, &mut wire, &mut now)
    } else {
        Vec::new()
    };
    let frames = first_frames(&wire);
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

/// Whether `fed` starts with the genuine HELLO (but its padding) and INITIATE.
fn genuine_handshake(fed: &[u8], reference: &Reference) -> Result<(), String> {
    let frames = first_frames(fed);
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
    let reference = memo(&REFERENCES, key, make_reference);
    let server_type = pairs[usize::from(pair)].1;

    // The genuine part: as much of the stream as the preamble says, cut, altered.
    let genuine_len = match controls.preamble {
        Preamble::None => 0,
        Preamble::Greeting => GREETING_LEN,
        Preamble::Hello => GREETING_LEN + 2 + 200,
        Preamble::Handshake => reference.handshake_end,
        Preamble::Session => reference.wire.len(),
    };
    let stream = altered(
        &reference.wire,
        genuine_len,
        controls.cut,
        controls.flips,
        tail,
    );

    let mut config = server_config(server_type, key.0);
    config.authenticate = controls.authenticate;
    config.zap_domain = Bytes::from_static(b"fuzz");
    let mut h = Server::new(config, controls, reference.clone());
    // A real client sends no traffic before our READY: inputs are split where the genuine
    // INITIATE ends (see `Harness::input`).
    h.run(&controls.steps, &stream, controls.tail_chunk);
    h.finish(&stream);
}

/// The server under test and everything observed from it.
struct Server {
    core: Core,
    reference: Rc<Reference>,
    wrong_key: bool,
    /// Traffic reported after Ready.
    units: Vec<Unit>,
    output: Output,
}

impl Server {
    fn new(config: Config, controls: &Controls, reference: Rc<Reference>) -> Self {
        let ready_len = 6 + 24 + config.local_metadata().encoded_len();
        let tx_budget =
            GREETING_LEN + (2 + 8 + 160) + header_len(ready_len) + ready_len + MAX_ERROR_FRAME;
        let auth = Auth::new(
            controls.authenticate,
            controls.decision,
            controls.decide_at_once,
        );
        Self {
            core: Core::new(
                config,
                Role::Server,
                MechanismName::CURVE,
                tx_budget,
                reference.handshake_end,
                auth,
            ),
            reference,
            wrong_key: controls.wrong_key,
            units: Vec::new(),
            output: Output::default(),
        }
    }

    fn finish(&self, stream: &[u8]) {
        let core = &self.core;
        core.check_errors(matches!(
            core.closed,
            Some(ConnectionError::Mechanism(
                MechanismError::Rejected { .. } | MechanismError::Denied { .. }
            ))
        ));

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
        // A genuine handshake completes, unless an authenticator holds it up.
        if intact >= reference.handshake_end
            && !self.wrong_key
            && (!core.auth.authenticate || core.auth.allows_at_once())
            && !core.timed_out()
            && core.fed.len() >= reference.handshake_end
        {
            assert!(core.ready, "a genuine handshake failed: {:?}", core.closed);
        }
        core.check_units(&self.units, &reference.units, intact);
    }
}

impl Harness for Server {
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
            Action::Decide => self.decide(),
            Action::Transmit => self.transmit(),
        }
        self.core.check_state();
    }

    fn check_request(&mut self, request: &AuthRequest) {
        if let Err(why) = genuine_handshake(&self.core.fed, &self.reference) {
            panic!("asked about a client after a forged handshake: {why}");
        }
        assert_eq!(
            request.credentials,
            Credentials::Curve {
                public_key: *client_keys().public()
            }
        );
    }

    fn check_allowed(&self) {
        // The client's socket type is compatible: allowing completes the handshake.
        assert!(self.core.conn.is_ready(), "allowed but not ready");
    }

    fn drain_events(&mut self) {
        let (reference, wrong_key) = (&self.reference, self.wrong_key);
        self.core.drain_genuine(&mut self.units, |core, peer| {
            assert!(!wrong_key, "ready with a client of another server key");
            if let Err(why) = genuine_handshake(&core.fed, reference) {
                panic!("ready after a forged handshake: {why}");
            }
            assert_eq!(peer.mechanism, MechanismName::CURVE);
            assert_eq!(peer.socket_type, reference.client_type);
            assert_eq!(peer.metadata, reference.client_metadata);
        });
    }

    fn check_output(&mut self, chunk: &[u8]) {
        let output = &mut self.output;
        self.core
            .transcript
            .take(chunk, |frame, transcript| output.check(frame, transcript));
    }
}

/// Checks what the server transmits: our greeting, WELCOME, READY, then MESSAGE boxes with
/// strictly increasing nonces; or an ERROR, last.
#[derive(Default)]
struct Output {
    welcomed: bool,
    /// The short nonce of READY, then of each MESSAGE.
    nonce: Option<u64>,
}

impl Output {
    fn check(&mut self, frame: Frame, transcript: &mut Transcript) {
        if self.nonce.is_some() {
            check_message_box(&frame, &mut self.nonce);
            return;
        }
        assert_eq!(frame.kind, FrameKind::Command);
        let raw = RawCommand::parse(frame.body).expect("we sent a malformed command");
        match &raw.name[..] {
            b"ERROR" => transcript.error(raw),
            b"WELCOME" => {
                assert!(!self.welcomed, "WELCOME twice");
                assert_eq!(raw.data.len(), 160);
                self.welcomed = true;
            }
            b"READY" => {
                assert!(self.welcomed, "READY before WELCOME");
                assert!(raw.data.len() >= 24);
                // The short nonce follows the name.
                self.nonce = Some(nonce_at(&raw.data, 0));
            }
            _ => panic!("unexpected handshake command {raw:?}"),
        }
    }
}
