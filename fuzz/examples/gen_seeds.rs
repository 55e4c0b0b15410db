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
use zmq_sansio_fuzz::sockets::{
    NetOp, NetworkScenario, PatternOp, PatternScenario, Topology, flag, raw, variant,
};
use zmq_sansio_fuzz::wire::{self, RFC_DEALER_READY_FRAME, RFC_ROUTER_READY_FRAME};

/// Seeds stay small: libFuzzer's default input size limit follows the largest seed.
const MAX_SEED: usize = 64 * 1024;

type Seeds = Vec<(&'static str, Vec<u8>)>;

fn main() -> io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let corpora: [(&str, Seeds); 8] = [
        ("frame_decoder", frame_decoder()),
        ("greeting", greeting()),
        ("command", command()),
        ("connection", connection()),
        ("connection_pair", connection_pair()),
        ("pattern", pattern()),
        ("network", network()),
        ("simulation", simulation()),
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

fn pattern() -> Seeds {
    use PatternOp::*;
    use SocketType::*;
    let seed = |s: PatternScenario| {
        let octets = s.seed();
        let decoded = PatternScenario::arbitrary_take_rest(Unstructured::new(&octets));
        assert_eq!(
            decoded.as_ref(),
            Ok(&s),
            "seed does not decode to its scenario"
        );
        octets
    };
    let text = |t: &[u8]| raw(t);
    let frames = |fs: &[&[u8]]| fs.iter().map(|f| raw(f)).collect::<Vec<_>>();
    let connect = |slot| Connect {
        slot,
        identity: None,
    };
    let send = |fs: &[&[u8]]| Send {
        to: 0xFF,
        frames: frames(fs),
    };
    let pop = |slot| Pop { slot, count: 3 };

    // PUSH with a send HWM of 2 over three peers: round robin until all are full, a
    // WouldBlock, room again after a pop, and a detach that discards a queue.
    let mut push = PatternScenario::new(
        Push,
        [
            vec![Attach { slot: 0 }, connect(1), Attach { slot: 2 }],
            (0..7).map(|_| send(&[b"ab"])).collect(),
            vec![
                pop(1),
                send(&[b"ba"]),
                Detach { slot: 2 },
                send(&[b"a", b""]),
            ],
        ]
        .concat(),
    );
    push.send_hwm = 2;

    // A REQ's peer "answers" before the request has left: unsolicited, discarded; the
    // real reply comes after the pop. (The `pattern` target found REQ taking the early one,
    // then letting a second request leave behind the first.)
    let req_early_reply = PatternScenario::new(
        Req,
        vec![
            connect(0),
            connect(1),
            send(&[b"a"]),
            Reply {
                slot: 0,
                body: raw(b"ba"),
            },
            Recv,
            send(&[b"b"]),
            pop(1),
            pop(0),
            Reply {
                slot: 0,
                body: raw(b"ab"),
            },
            Recv,
        ],
    );

    // DEALER fair-queues input from two peers, with a receive HWM of 1 pushing back.
    let mut dealer = PatternScenario::new(
        Dealer,
        vec![
            connect(0),
            connect(1),
            Input {
                slot: 0,
                frames: frames(&[b"a"]),
            },
            Input {
                slot: 0,
                frames: frames(&[b"aa"]),
            },
            Input {
                slot: 1,
                frames: frames(&[b"b", b"b"]),
            },
            Recv,
            Input {
                slot: 0,
                frames: frames(&[b"aa"]),
            },
            Recv,
            Recv,
            Recv,
            send(&[b"ab"]),
            send(&[b"ba"]),
            pop(0),
            pop(1),
        ],
    );
    dealer.recv_hwm = 1;

    // Strict, correlating REQ: request, reply, lockstep refusals, a stale reply.
    let req_ops = |relaxed: bool| {
        let mut ops = vec![
            connect(0),
            connect(1),
            send(&[b"a"]),
            pop(0),
            pop(1),
            Recv,
            send(&[b"b"]),
            Reply {
                slot: 0,
                body: text(b"ab"),
            },
            Reply {
                slot: 1,
                body: text(b"ab"),
            },
            Recv,
            Recv,
            send(&[b"ba"]),
            pop(0),
            pop(1),
            Reply {
                slot: 0,
                body: text(b"b"),
            },
            Reply {
                slot: 1,
                body: text(b"b"),
            },
            Recv,
        ];
        if relaxed {
            ops.extend([send(&[b"aa"]), send(&[b"bb"]), pop(0), pop(1)]);
        }
        ops
    };
    let mut req = PatternScenario::new(Req, req_ops(false));
    req.flags = flag::REQ_CORRELATE;
    let mut req_relaxed = PatternScenario::new(Req, req_ops(true));
    req_relaxed.flags = flag::REQ_RELAXED | flag::REQ_CORRELATE;

    // REP answers two requesters in turn; a message without envelope is dropped.
    let rep = PatternScenario::new(
        Rep,
        vec![
            connect(0),
            connect(1),
            Reply {
                slot: 1,
                body: text(b"ab"),
            },
            Input {
                slot: 0,
                frames: frames(&[b"ba"]),
            },
            Reply {
                slot: 0,
                body: text(b"ba"),
            },
            send(&[b"a"]),
            Recv,
            Recv,
            send(&[b"a"]),
            Recv,
            send(&[b"b"]),
            pop(0),
            pop(1),
        ],
    );

    // ROUTER with handover and mandatory routing: an announced id, a generated one, a
    // newcomer taking an id over, replies routed by the ids received.
    let mut router = PatternScenario::new(
        Router,
        vec![
            Connect {
                slot: 0,
                identity: Some(0),
            },
            connect(1),
            Reply {
                slot: 0,
                body: text(b"a"),
            },
            Reply {
                slot: 1,
                body: text(b"b"),
            },
            Recv,
            Recv,
            Send {
                to: 1,
                frames: frames(&[b"ab"]),
            },
            Send {
                to: 0,
                frames: frames(&[b"ba"]),
            },
            send(&[b"ab", b"b"]),
            Connect {
                slot: 2,
                identity: Some(0),
            },
            Send {
                to: 2,
                frames: frames(&[b"a"]),
            },
            Reply {
                slot: 0,
                body: text(b"aa"),
            },
            pop(0),
            pop(1),
            pop(2),
        ],
    );
    router.flags = flag::ROUTER_HANDOVER | flag::ROUTER_MANDATORY;
    router.send_hwm = 1;

    // XPUB, verbose, small subscription limit: subscriptions, duplicates, cancels,
    // notices, fan-out by prefix, a disconnect dropping a subscriber's prefixes.
    let mut xpub = PatternScenario::new(
        XPub,
        vec![
            connect(0),
            connect(1),
            Subscribe {
                slot: 0,
                prefix: text(b"a"),
            },
            Subscribe {
                slot: 1,
                prefix: text(b"a"),
            },
            Subscribe {
                slot: 1,
                prefix: text(b"ab"),
            },
            Subscribe {
                slot: 1,
                prefix: text(b"bbbbbb"),
            },
            send(&[b"ab", b"b"]),
            send(&[b"b"]),
            Cancel {
                slot: 0,
                prefix: text(b"a"),
            },
            send(&[b"aa"]),
            Recv,
            Recv,
            Recv,
            Disconnect { slot: 1 },
            Recv,
            Recv,
            pop(0),
            pop(1),
        ],
    );
    xpub.flags = flag::XPUB_VERBOSE;
    xpub.subscription_memory = 5; // one short prefix per peer, two for the socket
    xpub.send_hwm = 1;

    // SUB: subscriptions to connected and later peers, filtering on receipt, a reconnect
    // that resends the set.
    let sub = PatternScenario::new(
        Sub,
        vec![
            OwnSubscribe { prefix: text(b"a") },
            connect(0),
            OwnSubscribe { prefix: text(b"b") },
            OwnSubscribe { prefix: text(b"a") },
            Input {
                slot: 0,
                frames: frames(&[b"ab"]),
            },
            Input {
                slot: 0,
                frames: frames(&[b"\x00a"]),
            },
            connect(1),
            OwnUnsubscribe { prefix: text(b"a") },
            OwnUnsubscribe { prefix: text(b"a") },
            Recv,
            Recv,
            connect(0),
            pop(0),
            pop(1),
        ],
    );

    // XSUB: subscriptions as messages, upstream traffic to every connected peer.
    let xsub = PatternScenario::new(
        XSub,
        vec![
            connect(0),
            Attach { slot: 1 },
            send(&[b"\x01ab"]),
            send(&[b"ba"]),
            send(&[b"\x00ab"]),
            Input {
                slot: 0,
                frames: frames(&[b"ab"]),
            },
            Recv,
            pop(0),
            pop(1),
        ],
    );

    // PAIR: a second peer is refused, the first one's queue fills up.
    let mut pair = PatternScenario::new(
        Pair,
        vec![
            Attach { slot: 0 },
            connect(1),
            connect(0),
            send(&[b"a"]),
            send(&[b"b"]),
            Input {
                slot: 0,
                frames: frames(&[b"ab"]),
            },
            Recv,
            Detach { slot: 0 },
            connect(1),
            send(&[b"a"]),
        ],
    );
    pair.send_hwm = 1;

    // PULL with a receive HWM of 1: input pushes back, and recv wakes the peer.
    let mut pull = PatternScenario::new(
        Pull,
        vec![
            connect(0),
            connect(1),
            Input {
                slot: 0,
                frames: frames(&[b"a"]),
            },
            Input {
                slot: 0,
                frames: frames(&[b"b"]),
            },
            Input {
                slot: 1,
                frames: frames(&[b"ab"]),
            },
            Recv,
            Input {
                slot: 0,
                frames: frames(&[b"b"]),
            },
            Recv,
            Recv,
            send(&[b"a"]),
        ],
    );
    pull.recv_hwm = 1;

    // PUB: a subscriber holds a 600-octet prefix, then leaves.
    let publisher = PatternScenario::new(
        Pub,
        vec![
            connect(0),
            LongSubscribe { slot: 0, len: 300 },
            Subscribe {
                slot: 0,
                prefix: text(b"a"),
            },
            send(&[b"aa"]),
            Disconnect { slot: 0 },
            send(&[b"aa"]),
            pop(0),
        ],
    );

    // REQ: the reply it accepted survives its peer's detach (a bug the fuzzers found: it
    // sat in the peer's queue and went with it).
    let req_detach = PatternScenario::new(
        Req,
        vec![
            connect(0),
            send(&[b"a"]),
            pop(0),
            Reply {
                slot: 0,
                body: text(b"ab"),
            },
            Detach { slot: 0 },
            Recv,
            Recv,
            connect(0),
            send(&[b"b"]),
            Recv,
        ],
    );

    // Relaxed REQ with a send HWM of 1: a send that would block abandons nothing, the
    // reply is still there; one that goes abandons the next unread reply.
    let mut req_relaxed_blocked = PatternScenario::new(
        Req,
        vec![
            connect(0),
            send(&[b"a"]),
            Reply {
                slot: 0,
                body: text(b"ab"),
            },
            send(&[b"b"]),
            Recv,
            send(&[b"b"]),
            pop(0),
            Reply {
                slot: 0,
                body: text(b"ba"),
            },
            send(&[b"aa"]),
            Recv,
            pop(0),
            Recv,
        ],
    );
    req_relaxed_blocked.flags = flag::REQ_RELAXED;
    req_relaxed_blocked.send_hwm = 1;

    // SUB filters again at recv: what arrived under a dropped subscription is skipped, in
    // fair-queue order over two peers, and what matches again after a resubscribe is not.
    let sub_recv_filter = PatternScenario::new(
        Sub,
        vec![
            OwnSubscribe { prefix: text(b"a") },
            OwnSubscribe { prefix: text(b"b") },
            connect(0),
            connect(1),
            Input {
                slot: 0,
                frames: frames(&[b"a"]),
            },
            Input {
                slot: 1,
                frames: frames(&[b"ab"]),
            },
            Input {
                slot: 0,
                frames: frames(&[b"b"]),
            },
            Input {
                slot: 1,
                frames: frames(&[b"ba"]),
            },
            Input {
                slot: 0,
                frames: frames(&[b"aa"]),
            },
            OwnUnsubscribe { prefix: text(b"a") },
            Recv,
            OwnSubscribe { prefix: text(b"a") },
            Recv,
            OwnUnsubscribe { prefix: text(b"b") },
            OwnUnsubscribe { prefix: text(b"a") },
            Recv,
            pop(0),
            pop(1),
        ],
    );

    // PUB: 100 000-octet prefixes, nested and sharing a long run (a bug the fuzzer found:
    // one trie node per octet, recursion per level, a stack overflow on removal and drop).
    let publisher_huge = PatternScenario::new(
        Pub,
        vec![
            connect(0),
            connect(1),
            LongSubscribe {
                slot: 0,
                len: 50_000,
            },
            LongSubscribe {
                slot: 1,
                len: 49_999,
            },
            LongSubscribe { slot: 1, len: 1 },
            send(&[b"aa"]),
            Disconnect { slot: 1 },
            send(&[b"aaaa"]),
            pop(0),
            pop(1),
            Detach { slot: 0 },
        ],
    );

    // PULL with a receive HWM of 2: a peer that leaves with two messages unread (and one
    // refused) still has them delivered in its fair-queue turns, behind another peer's and
    // interleaved with what its slot's next peer sends; it is never woken again.
    let mut pull_leftovers = PatternScenario::new(
        Pull,
        vec![
            connect(0),
            connect(1),
            Input {
                slot: 0,
                frames: frames(&[b"a"]),
            },
            Input {
                slot: 1,
                frames: frames(&[b"b"]),
            },
            Input {
                slot: 0,
                frames: frames(&[b"aa"]),
            },
            Input {
                slot: 0,
                frames: frames(&[b"aaa"]),
            },
            Detach { slot: 0 },
            connect(0),
            Input {
                slot: 0,
                frames: frames(&[b"ab"]),
            },
            Recv,
            Recv,
            Input {
                slot: 1,
                frames: frames(&[b"bb"]),
            },
            Recv,
            Recv,
            Recv,
            Recv,
        ],
    );
    pull_leftovers.recv_hwm = 2;

    // ROUTER: what a departed peer sent keeps its routing id; REP: a departed peer's
    // request is still received, and the reply to it goes nowhere.
    let router_leftovers = PatternScenario::new(
        Router,
        vec![
            Connect {
                slot: 0,
                identity: Some(0),
            },
            connect(1),
            Input {
                slot: 0,
                frames: frames(&[b"a"]),
            },
            Input {
                slot: 1,
                frames: frames(&[b"b"]),
            },
            Input {
                slot: 1,
                frames: frames(&[b"bb"]),
            },
            Detach { slot: 1 },
            Detach { slot: 0 },
            Recv,
            Recv,
            Recv,
            Recv,
        ],
    );
    let rep_leftovers = PatternScenario::new(
        Rep,
        vec![
            connect(0),
            connect(1),
            Reply {
                slot: 0,
                body: text(b"a"),
            },
            Reply {
                slot: 1,
                body: text(b"b"),
            },
            Detach { slot: 0 },
            Recv,
            send(&[b"ab"]),
            Recv,
            send(&[b"ba"]),
            pop(1),
        ],
    );

    vec![
        ("push-round-robin-hwm", seed(push)),
        ("pub-long-prefix-disconnect", seed(publisher)),
        ("dealer-fair-queue-hwm", seed(dealer)),
        ("req-correlate-lockstep", seed(req)),
        ("req-reply-before-the-request-left", seed(req_early_reply)),
        ("req-relaxed-correlate", seed(req_relaxed)),
        ("rep-two-requesters", seed(rep)),
        ("router-handover-mandatory", seed(router)),
        ("xpub-verbose-limit", seed(xpub)),
        ("sub-filter-reconnect", seed(sub)),
        ("xsub-subscription-messages", seed(xsub)),
        ("pair-second-peer-refused", seed(pair)),
        ("pull-push-back", seed(pull)),
        ("req-reply-survives-detach", seed(req_detach)),
        ("req-relaxed-blocked-keeps-reply", seed(req_relaxed_blocked)),
        ("sub-filter-at-recv", seed(sub_recv_filter)),
        ("pub-100k-prefixes-detach", seed(publisher_huge)),
        ("pull-leftovers-after-detach", seed(pull_leftovers)),
        ("router-leftovers-keep-routing-id", seed(router_leftovers)),
        ("rep-request-from-departed-peer", seed(rep_leftovers)),
    ]
}

fn network() -> Seeds {
    use NetOp::*;
    let seed = |s: NetworkScenario| {
        let octets = s.seed();
        let decoded = NetworkScenario::arbitrary_take_rest(Unstructured::new(&octets));
        assert_eq!(
            decoded.as_ref(),
            Ok(&s),
            "seed does not decode to its scenario"
        );
        octets
    };
    let scenario = |topology: Topology, variant: u8, hwm: u8, capacity: u8, ops| NetworkScenario {
        topology: topology.index(),
        variant,
        hwm,
        capacity,
        ops,
    };
    let send = |socket| Send {
        socket,
        topic: Vec::new(),
    };
    let publish = |topic: &[u8]| Send {
        socket: 0,
        topic: raw(topic),
    };

    // Two PUSH round-robin over two PULL with HWM 1 and 32-octet links; a puller drops
    // out and comes back.
    let push_pull = scenario(
        Topology::PushPull,
        0,
        1,
        2,
        [
            (0..6).map(|i| send(i % 2)).collect::<Vec<_>>(),
            vec![
                Run,
                Recv { socket: 2 },
                Disconnect { link: 0 },
                send(0),
                send(1),
                Reconnect { link: 0 },
                Run,
                Recv { socket: 2 },
                Recv { socket: 3 },
            ],
        ]
        .concat(),
    );

    // XPUB binds, SUB and XSUB connect; subscriptions change while messages flow,
    // deliveries arrive in 3-octet pieces.
    let pub_sub = scenario(
        Topology::PubSub,
        variant::XPUB | variant::XSUB,
        2,
        0,
        vec![
            MaxChunk { size: 3 },
            Subscribe {
                socket: 1,
                prefix: raw(b"a"),
            },
            Subscribe {
                socket: 2,
                prefix: raw(b"ab"),
            },
            Subscribe {
                socket: 3,
                prefix: Vec::new(),
            },
            Run,
            Recv { socket: 0 },
            Run,
            publish(b"ab"),
            publish(b"b"),
            Unsubscribe {
                socket: 1,
                prefix: raw(b"a"),
            },
            publish(b"aa"),
            Run,
            Recv { socket: 1 },
            Recv { socket: 2 },
            Recv { socket: 3 },
        ],
    );

    // REP connects to three relaxed, correlating REQs; a partition with heartbeats breaks
    // a link while a request is out.
    let req_rep = scenario(
        Topology::ReqRep,
        variant::SERVERS_CONNECT
            | variant::REQ_RELAXED
            | variant::REQ_CORRELATE
            | variant::HEARTBEATS,
        0,
        0,
        vec![
            send(0),
            send(1),
            Partition { link: 2, on: true },
            send(2),
            Run,
            Recv { socket: 0 },
            Run,
            Recv { socket: 1 },
            Advance { ms: 1000 },
            Reconnect { link: 2 },
            send(2),
            send(2),
            Run,
            Recv { socket: 0 },
            Run,
            Recv { socket: 3 },
        ],
    );

    // Strict REQs: lockstep, the second send refused until the reply is in.
    let req_strict = scenario(
        Topology::ReqRep,
        0,
        1,
        1,
        vec![
            send(0),
            send(0),
            Run,
            Recv { socket: 0 },
            Run,
            Recv { socket: 1 },
            Recv { socket: 1 },
            send(0),
        ],
    );

    // Two DEALERs, one anonymous, and a ROUTER replying by routing id; a reconnect.
    let dealer_router = scenario(
        Topology::DealerRouter,
        0,
        1,
        0,
        vec![
            send(0),
            send(1),
            send(0),
            Run,
            Recv { socket: 0 },
            Disconnect { link: 1 },
            Reconnect { link: 1 },
            send(1),
            Run,
            Recv { socket: 0 },
            Run,
            Recv { socket: 1 },
            Recv { socket: 2 },
        ],
    );

    // PAIR both ways with heartbeats over time, one octet at a time.
    let pair = scenario(
        Topology::Pair,
        variant::HEARTBEATS,
        3,
        1,
        vec![
            MaxChunk { size: 1 },
            send(0),
            send(1),
            Advance { ms: 250 },
            Recv { socket: 0 },
            Recv { socket: 1 },
            send(1),
            Advance { ms: 2000 },
            Recv { socket: 0 },
        ],
    );

    // A REQ that binds (its peer goes when the transport does) keeps the reply that reached
    // it before its link dropped.
    let req_reply_kept = scenario(
        Topology::ReqRep,
        variant::SERVERS_CONNECT,
        0,
        0,
        vec![
            send(0),
            Run,
            Recv { socket: 0 },
            Run,
            Disconnect { link: 0 },
            Recv { socket: 1 },
            Reconnect { link: 0 },
            send(0),
            Run,
            Recv { socket: 0 },
            Run,
            Recv { socket: 1 },
        ],
    );

    // SUB drops at recv what arrived under a subscription it has dropped since.
    let sub_recv_filter = scenario(
        Topology::PubSub,
        0,
        0,
        0,
        vec![
            Subscribe {
                socket: 1,
                prefix: raw(b"a"),
            },
            Subscribe {
                socket: 1,
                prefix: raw(b"b"),
            },
            Run,
            publish(b"a"),
            publish(b"b"),
            publish(b"ab"),
            Run,
            Unsubscribe {
                socket: 1,
                prefix: raw(b"a"),
            },
            Recv { socket: 1 },
        ],
    );

    // Each PUSH's messages reach a PULL, whose transports then close before it reads: what
    // arrived is still delivered, interleaved with what comes over the next transport.
    let push_pull_leftovers = scenario(
        Topology::PushPull,
        0,
        0,
        0,
        [
            (0..8).map(|i| send(i % 2)).collect::<Vec<_>>(),
            vec![
                Run,
                Disconnect { link: 0 },
                Disconnect { link: 2 },
                Reconnect { link: 0 },
                send(0),
                send(0),
                Run,
                Recv { socket: 2 },
                Recv { socket: 3 },
            ],
        ]
        .concat(),
    );

    // The ROUTER reads requests of a DEALER whose transport closed; its replies reach the
    // DEALER (by its identity) once it is back.
    let dealer_router_leftovers = scenario(
        Topology::DealerRouter,
        0,
        0,
        0,
        vec![
            send(0),
            send(1),
            send(0),
            Run,
            Disconnect { link: 0 },
            Disconnect { link: 1 },
            Reconnect { link: 0 },
            send(0),
            Run,
            Recv { socket: 0 },
            Run,
            Recv { socket: 1 },
        ],
    );

    // REQs through a ROUTER/DEALER broker to REPs with HWM 1; the proxy is paused (the
    // partition of the link past the last) while requests wait, then resumed.
    let broker = scenario(
        Topology::Broker,
        0,
        1,
        0,
        vec![
            send(0),
            send(1),
            Partition { link: 5, on: true },
            send(2),
            Run,
            Recv { socket: 3 },
            Recv { socket: 4 },
            Partition { link: 5, on: false },
            Run,
            Recv { socket: 3 },
            Recv { socket: 4 },
            Run,
            Recv { socket: 0 },
            Recv { socket: 1 },
            Recv { socket: 3 },
            Run,
            Recv { socket: 2 },
        ],
    );

    // A forwarder: two SUBs' subscriptions go up through the proxy, messages come down;
    // a paused proxy holds them until resumed.
    let forwarder = scenario(
        Topology::Forwarder,
        0,
        2,
        0,
        vec![
            Subscribe {
                socket: 0,
                prefix: raw(b"a"),
            },
            Subscribe {
                socket: 1,
                prefix: raw(b"b"),
            },
            Run,
            publish(b"a"),
            publish(b"b"),
            publish(b"ab"),
            Run,
            Recv { socket: 1 },
            Recv { socket: 2 },
            Partition { link: 3, on: true },
            publish(b"ba"),
            Run,
            Recv { socket: 2 },
            Partition { link: 3, on: false },
            Run,
            Recv { socket: 2 },
        ],
    );

    // The same scenarios with some or all links inproc (the bits above the HWM's).
    let inproc = |s: &NetworkScenario, links: u8| NetworkScenario {
        hwm: s.hwm | links << 2,
        ..s.clone()
    };
    vec![
        ("broker-inproc", seed(inproc(&broker, 0b1_1111))),
        (
            "forwarder-inproc-publisher",
            seed(inproc(&forwarder, 0b001)),
        ),
        ("push-pull-inproc-mixed", seed(inproc(&push_pull, 0b0101))),
        ("xpub-xsub-inproc", seed(inproc(&pub_sub, 0b111))),
        ("dealer-router-inproc", seed(inproc(&dealer_router, 0b11))),
        ("req-strict-inproc", seed(inproc(&req_strict, 0b111))),
        ("broker-pause-resume", seed(broker)),
        ("forwarder-subscriptions-pause", seed(forwarder)),
        ("push-pull-reconnect", seed(push_pull)),
        ("xpub-xsub-subscriptions", seed(pub_sub)),
        ("req-relaxed-partition-heartbeats", seed(req_rep)),
        ("req-strict-lockstep", seed(req_strict)),
        ("dealer-router-identities", seed(dealer_router)),
        ("pair-heartbeats-octet-by-octet", seed(pair)),
        ("req-reply-survives-disconnect", seed(req_reply_kept)),
        ("sub-unsubscribe-before-recv", seed(sub_recv_filter)),
        (
            "push-pull-leftovers-after-disconnect",
            seed(push_pull_leftovers),
        ),
        (
            "router-reads-departed-dealer",
            seed(dealer_router_leftovers),
        ),
    ]
}

/// `simulation`: eight octets of world seed, then steps of `FaultPlan::from_bytes` among
/// `["server", "client"]` within 5 s (time octets in thousandths of it: 20 is 100 ms). Each
/// seed is decoded again and compared with the script it stands for.
fn simulation() -> Seeds {
    use std::time::Duration;
    use zmq_sansio::simulation::FaultPlan;

    let seeds: [(&str, &[u8], &str); 5] = [
        ("no-faults", &[], "no faults"),
        (
            "partition-across-a-request",
            &[0, 0, 0, 20, 0, 0, 0, 250],
            "at 100ms: partition server | client\nat 1.25s: heal server | client",
        ),
        (
            "server-crash-and-restart",
            &[2, 0, 0, 100, 2, 0, 0, 140],
            "at 500ms: crash server\nat 700ms: restart server",
        ),
        (
            "slow-link-then-reset",
            &[3, 0, 0, 0, 250, 0x15, 1, 0, 0, 200],
            "at 0s: link server | client: latency 100ms, jitter 5ms, bandwidth 2000 B/s\n\
             at 1s: reset server | client",
        ),
        (
            "client-crash-left-to-recovery",
            &[2, 1, 0, 100],
            "at 500ms: crash client",
        ),
    ];
    (seeds.into_iter())
        .enumerate()
        .map(|(i, (name, steps, script))| {
            let plan = FaultPlan::from_bytes(steps, &["server", "client"], Duration::from_secs(5));
            assert_eq!(plan.to_string(), script, "simulation/{name}");
            let mut octets = (i as u64 + 1).to_le_bytes().to_vec();
            octets.extend_from_slice(steps);
            (name, octets)
        })
        .collect()
}
