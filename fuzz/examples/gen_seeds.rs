//! Writes the checked-in seed corpora, `fuzz/seeds/<target>/<name>`: a handful of small,
//! valid inputs per target that start the fuzzer in interesting places (RFC 37's worked
//! example, multipart traffic with short and long frames, every ZMTP command, handshakes of
//! each kind of socket pair, heartbeats, size limits).
//!
//! ```text
//! cargo +nightly run --manifest-path fuzz/Cargo.toml --example gen_seeds
//! ```
//!
//! Each target's seed directory is replaced. Seeds of the `arbitrary`-decoded targets are
//! decoded again and compared with the scenario they were written from, so a change in
//! `arbitrary`'s encoding fails here rather than leaving meaningless seeds.
//!
//! (An example rather than a `[[bin]]`: cargo-fuzz treats every `[[bin]]` as a fuzz target.)

use std::fs;
use std::io;
use std::path::Path;

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use zmq_sansio::proto::{Command, MechanismName, Metadata, RawCommand, SocketType};
use zmq_sansio_fuzz::scenario::{
    Action, ConnectionControls, PairOp, PairScenario, Preamble, Step, compatible_peers,
    socket_type_index,
};
use zmq_sansio_fuzz::wire::{self, RFC_DEALER_READY_FRAME, RFC_ROUTER_READY_FRAME};

/// Seeds stay small: libFuzzer's default input size limit follows the largest seed.
const MAX_SEED: usize = 64 * 1024;

type Seeds = Vec<(&'static str, Vec<u8>)>;

fn main() -> io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let corpora: [(&str, Seeds); 5] = [
        ("frame_decoder", frame_decoder()),
        ("greeting", greeting()),
        ("command", command()),
        ("connection", connection()),
        ("connection_pair", connection_pair()),
    ];
    for (target, seeds) in corpora {
        let dir = root.join(target);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        for (name, octets) in &seeds {
            assert!(octets.len() < MAX_SEED, "{target}/{name} is too large");
            fs::write(dir.join(name), octets)?;
        }
        println!("{}: {} seeds", dir.display(), seeds.len());
    }
    Ok(())
}

fn cmd(command: Command) -> Vec<u8> {
    wire::command(&command)
}

fn ping(ttl_deciseconds: u16, context: &'static [u8]) -> Command {
    Command::Ping {
        ttl_deciseconds,
        context: Bytes::from_static(context),
    }
}

/// `[chunk seed, zero-copy threshold / 16, max size (u16 LE; 0xFFFF: none)]` + stream.
fn frame_decoder() -> Seeds {
    let input = |chunk_seed: u8, threshold: u8, limit: u16, stream: Vec<u8>| {
        [&[chunk_seed, threshold][..], &limit.to_le_bytes(), &stream].concat()
    };
    // The "at a glance" flag octets: short/long message frames with and without MORE,
    // short and long commands, the long forms carrying short bodies.
    let flag_octets = [
        &[0x00, 1, b'a', 0x01, 0, 0x04, 2, 1, b'X'][..],
        &[0x03, 0, 0, 0, 0, 0, 0, 0, 1, b'b'],
        &[0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0],
    ]
    .concat();
    let multipart = [
        wire::message(&[&b"key"[..], &[b'v'; 300], b""]),
        wire::message(&[b"single"]),
    ]
    .concat();
    let commands = [
        RFC_DEALER_READY_FRAME.to_vec(),
        cmd(ping(50, b"ctx")),
        cmd(Command::Pong(Bytes::from_static(b"ctx"))),
        cmd(Command::Subscribe(Bytes::from_static(b"topic"))),
        cmd(Command::Cancel(Bytes::from_static(b"topic"))),
        cmd(Command::Error(Bytes::from_static(b"bye"))),
    ]
    .concat();
    vec![
        (
            "rfc-flag-octets-by-octet",
            input(0, 0, u16::MAX, flag_octets),
        ),
        (
            "multipart-short-and-long",
            input(7, 4, u16::MAX, multipart.clone()),
        ),
        ("commands-in-small-chunks", input(3, 0, u16::MAX, commands)),
        ("limit-refuses-long-frame", input(40, 0, 100, multipart)),
        (
            "zero-copy-9k-body",
            input(
                255,
                32,
                u16::MAX,
                wire::message(&[&[b'z'; 9000][..], b"tail"]),
            ),
        ),
    ]
}

fn greeting() -> Seeds {
    let mut future = wire::greeting(MechanismName::NULL, false, 2);
    future[10] = 4; // ZMTP 4.2: spoken to as 3.1
    future[1..9].fill(0xAB); // padding and filler are not significant
    future[40..].fill(0xCD);
    vec![
        ("rfc-null-3.1", wire::null_greeting(1)),
        ("null-3.0", wire::null_greeting(0)),
        (
            "plain-as-server",
            wire::greeting(MechanismName::PLAIN, true, 1).to_vec(),
        ),
        (
            "curve-client",
            wire::greeting(MechanismName::CURVE, false, 1).to_vec(),
        ),
        ("future-4.2-with-padding", future.to_vec()),
        (
            "rfc-null-then-dealer-ready",
            [&wire::null_greeting(1)[..], RFC_DEALER_READY_FRAME].concat(),
        ),
    ]
}

/// Command bodies (and a bare metadata block: the target parses input as both).
fn command() -> Seeds {
    let body = |command: Command| command.to_bytes().to_vec();
    let mut metadata = Metadata::new();
    metadata.insert("Socket-Type", "SUB").unwrap();
    metadata.insert("Identity", "worker-7").unwrap();
    metadata.insert("X-Colour", "blue").unwrap();
    let mut hello = BytesMut::new();
    // PLAIN's HELLO (RFC 24): username and password, each with a length octet.
    RawCommand::encode("HELLO", b"\x05admin\x06secret", &mut hello);
    vec![
        ("rfc-dealer-ready", RFC_DEALER_READY_FRAME[2..].to_vec()),
        ("rfc-router-ready", RFC_ROUTER_READY_FRAME[2..].to_vec()),
        (
            "rfc-dealer-properties",
            RFC_DEALER_READY_FRAME[8..].to_vec(),
        ),
        ("ready-extra-properties", body(Command::Ready(metadata))),
        ("ping-ttl-context", body(ping(300, b"heartbeat-ctx"))),
        (
            "pong-context",
            body(Command::Pong(Bytes::from_static(b"hb"))),
        ),
        (
            "subscribe-topic",
            body(Command::Subscribe(Bytes::from_static(b"weather."))),
        ),
        ("cancel-empty", body(Command::Cancel(Bytes::new()))),
        (
            "error-reason",
            body(Command::Error(Bytes::from_static(b"no thanks"))),
        ),
        ("plain-hello", hello.to_vec()),
    ]
}

/// Controls for one of our socket types, the rest default (PAIR server, no preamble).
fn controls(ours: SocketType, server: bool, preamble: Preamble) -> ConnectionControls {
    ConnectionControls {
        socket_type: socket_type_index(ours),
        server,
        preamble,
        ..ConnectionControls::default()
    }
}

/// Selects `peer` as the prepended READY's socket type.
fn with_peer(mut c: ConnectionControls, peer: SocketType) -> ConnectionControls {
    let peers = compatible_peers(c.ours());
    c.peer_type = peers.iter().position(|&p| p == peer).expect("compatible") as u8;
    c
}

fn steps(list: &[(u8, Action)]) -> [Step; 6] {
    let mut steps = ConnectionControls::default().steps;
    for (step, &(feed, action)) in steps.iter_mut().zip(list) {
        *step = Step { feed, action };
    }
    steps
}

fn connection() -> Seeds {
    use Action::{Send, Subscribe, Timeout, Transmit};
    use SocketType::*;
    let seed = |c: ConnectionControls, stream: Vec<u8>| {
        let octets = c.seed(&stream);
        let decoded = ConnectionControls::split(&octets).expect("decodes");
        assert_eq!(
            decoded,
            (c, &stream[..]),
            "seed does not decode to its scenario"
        );
        octets
    };
    let hello_world = [
        wire::message(&[&b""[..], b"request"]),
        wire::message(&[&b"a"[..], &[b'b'; 300], b"c"]),
    ]
    .concat();

    // RFC 37's worked example, both sides: the stream is the peer's greeting and READY,
    // then traffic; we take our greeting out first, as an adapter would on connect.
    let mut router = controls(Router, true, Preamble::None);
    router.steps = steps(&[
        (0, Transmit { chunks: 0 }),
        (64 + 43, Transmit { chunks: 0 }),
        (0, Send { frames: 2, len: 5 }),
        (9, Timeout { advance_ms: 1000 }),
    ]);
    router.tail_chunk = 3;
    let rfc_dealer = [
        &wire::null_greeting(1)[..],
        RFC_DEALER_READY_FRAME,
        &hello_world,
    ]
    .concat();

    let mut dealer = controls(Dealer, false, Preamble::None);
    dealer.steps = steps(&[(10, Transmit { chunks: 1 }), (60, Transmit { chunks: 0 })]);
    let rfc_router = [
        &wire::null_greeting(1)[..],
        RFC_ROUTER_READY_FRAME,
        &hello_world,
    ]
    .concat();

    let mut publisher = with_peer(controls(Pub, true, Preamble::GreetingAndReady), Sub);
    publisher.steps = steps(&[
        (0, Transmit { chunks: 0 }),
        (20, Send { frames: 2, len: 8 }),
    ]);
    let subscriptions = [
        cmd(Command::Subscribe(Bytes::from_static(b"topic"))),
        wire::message(&[b"\x01old-style"]),
        cmd(Command::Cancel(Bytes::from_static(b"topic"))),
        cmd(ping(10, b"c")),
        cmd(Command::Pong(Bytes::new())),
    ]
    .concat();

    let mut xpub = with_peer(controls(XPub, false, Preamble::GreetingAndReady), XSub);
    xpub.peer_minor = 0; // a ZMTP 3.0 subscriber: subscriptions come as messages
    xpub.steps = steps(&[(0, Transmit { chunks: 0 }), (3, Subscribe { len: 4 })]);
    let zmtp30_subscriptions = [
        wire::message(&[b"\x01a"]),
        wire::message(&[b"\x00a"]),
        wire::message(&[&b"\x01not-a-subscription"[..], b"x"]),
    ]
    .concat();

    let mut pair = with_peer(controls(Pair, false, Preamble::GreetingAndReady), Pair);
    pair.heartbeat_interval_ms = Some(1000);
    pair.heartbeat_ttl_ms = Some(3000);
    pair.heartbeat_timeout_ms = Some(2000);
    pair.steps = steps(&[
        (0, Transmit { chunks: 0 }),
        (0, Timeout { advance_ms: 1000 }),
        (0, Transmit { chunks: 0 }),
        (11, Timeout { advance_ms: 500 }),
        (0, Timeout { advance_ms: 3000 }),
    ]);
    let heartbeats = [cmd(ping(20, b"p1")), cmd(Command::Pong(Bytes::new()))].concat();

    let mut pull = with_peer(controls(Pull, true, Preamble::GreetingAndReady), Push);
    pull.max_msg_size = 1200;
    pull.tail_chunk = 100;
    let over_limit = [
        wire::message(&[&[b'a'; 300][..], &[b'b'; 300]]),
        wire::message(&[&[b'c'; 1000][..]]),
    ]
    .concat();

    // Refused peer: we answer with an ERROR after our greeting.
    let mut push = controls(Push, true, Preamble::None);
    push.steps = steps(&[(0, Transmit { chunks: 0 })]);
    let push_peer = [wire::null_greeting(1), wire::ready(Push)].concat();

    let mut req = controls(Req, false, Preamble::None);
    req.steps = steps(&[(0, Transmit { chunks: 0 })]);
    req.tail_chunk = 1;
    let rep_peer = [
        wire::null_greeting(1),
        wire::ready(Rep),
        wire::message(&[&b""[..], b"reply"]),
    ]
    .concat();

    let sub = with_peer(controls(Sub, false, Preamble::GreetingAndReady), Pub);
    let publisher_error = [
        wire::message(&[&b"topic"[..], b"data"]),
        cmd(Command::Error(Bytes::from_static(b"shutting down"))),
    ]
    .concat();

    vec![
        ("rfc-router-server-dealer-peer", seed(router, rfc_dealer)),
        ("rfc-dealer-client-router-peer", seed(dealer, rfc_router)),
        ("pub-subscribe-cancel-ping", seed(publisher, subscriptions)),
        ("xpub-zmtp30-subscriber", seed(xpub, zmtp30_subscriptions)),
        ("pair-heartbeats", seed(pair, heartbeats)),
        ("pull-message-size-limit", seed(pull, over_limit)),
        ("push-refuses-push-peer", seed(push, push_peer)),
        ("req-handshake-octet-by-octet", seed(req, rep_peer)),
        ("sub-peer-sends-error", seed(sub, publisher_error)),
    ]
}

fn connection_pair() -> Seeds {
    use SocketType::*;
    let seed = |s: PairScenario| {
        let octets = s.seed();
        let decoded = PairScenario::arbitrary_take_rest(Unstructured::new(&octets));
        assert_eq!(
            decoded.as_ref(),
            Ok(&s),
            "seed does not decode to its scenario"
        );
        octets
    };
    let scenario = |a, b, ops| PairScenario {
        pair: PairScenario::pair_index(a, b),
        a_is_client: true,
        handshake_chunk: 0,
        max_msg_size: None,
        heartbeat_ms: None,
        ops,
    };
    let send = |from_b, frames: &[&[u8]]| PairOp::Send {
        from_b,
        frames: frames.iter().map(|f| f.to_vec()).collect(),
    };

    let dealer_router = scenario(
        Dealer,
        Router,
        vec![
            send(false, &[b"", b"hello"]),
            send(true, &[b"id", b"", b"world"]),
            PairOp::Pump { chunk: 0 },
            send(false, &[b"one", &[b'2'; 300], b"three"]),
            PairOp::Pump { chunk: 1 },
        ],
    );
    let pub_sub = scenario(
        Pub,
        Sub,
        vec![
            PairOp::Subscribe {
                from_b: true,
                prefix: b"news".to_vec(),
            },
            send(false, &[b"news", b"item"]),
            PairOp::Cancel {
                from_b: true,
                prefix: b"news".to_vec(),
            },
            send(true, &[b"\x01legacy"]),
            PairOp::Pump { chunk: 3 },
        ],
    );
    let mut push_pull = scenario(
        Push,
        Pull,
        vec![
            send(false, &[&[b'x'; 500]]),
            PairOp::Pump { chunk: 0 },
            send(false, &[&[b'y'; 2000]]),
        ],
    );
    push_pull.max_msg_size = Some(744); // a 1000-octet limit: 500 fits, 2000 does not
    let mut pair_heartbeats = scenario(
        Pair,
        Pair,
        (0..6)
            .flat_map(|i| [PairOp::Tick { ms: 400 }, send(i % 2 == 1, &[b"ping-pong"])])
            .collect(),
    );
    pair_heartbeats.heartbeat_ms = Some(990);
    pair_heartbeats.a_is_client = false;
    let req_rep = scenario(
        Req,
        Rep,
        vec![
            send(false, &[b"", b"request"]),
            PairOp::Pump { chunk: 2 },
            send(true, &[b"", b"reply"]),
        ],
    );
    let mut xsub_xpub = scenario(
        XSub,
        XPub,
        vec![
            send(false, &[b"\x01topic"]),
            send(false, &[b"\x00topic"]),
            PairOp::Subscribe {
                from_b: false,
                prefix: b"x".to_vec(),
            },
            PairOp::Pump { chunk: 1 },
        ],
    );
    xsub_xpub.handshake_chunk = 1;

    vec![
        ("dealer-router-multipart", seed(dealer_router)),
        ("pub-sub-subscriptions", seed(pub_sub)),
        ("push-pull-size-limit", seed(push_pull)),
        ("pair-heartbeat-ticks", seed(pair_heartbeats)),
        ("req-rep-envelope", seed(req_rep)),
        ("xsub-xpub-byte-by-byte", seed(xsub_xpub)),
    ]
}
