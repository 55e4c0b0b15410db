//! The libzmq socket options of `SocketBuilder`, between our own `io::Socket`s over loopback
//! TCP: what each one changes on the wire, as in libzmq's `tests/test_*.cpp`.

mod support;

use std::time::Duration;

use bytes::Bytes;
use support::{PATIENCE, bounded, m};
use zmq_sansio::Msg;
use zmq_sansio::io::{Error, Socket, SocketBuilder};
use zmq_sansio::pattern::RouterNotify;
use zmq_sansio::proto::SocketType;

const TCP: &str = "tcp://127.0.0.1:*";

fn build(socket_type: SocketType, set: impl FnOnce(SocketBuilder) -> SocketBuilder) -> Socket {
    set(Socket::builder(socket_type).linger(Duration::from_millis(100)))
        .build()
        .unwrap()
}

fn recv(socket: &Socket) -> Msg {
    bounded("recv", socket.recv()).unwrap()
}

/// A loopback TCP endpoint nobody listens on yet (the port was free a moment ago).
fn unused_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("tcp://{}", listener.local_addr().unwrap())
}

/// Nothing more arrives within a short while (a negative check: how long to wait is a
/// judgement, so it is short and only ever makes the test pass more easily).
fn nothing_more(socket: &Socket) {
    match bounded("recv", socket.recv_timeout(Duration::from_millis(100))) {
        Err(Error::Timeout(_)) => {}
        other => panic!("expected nothing more, got {other:?}"),
    }
}

fn number(i: u32) -> Msg {
    Msg::from(Bytes::from(i.to_be_bytes().to_vec()))
}

// test_conflate.cpp, with the conflating queue on either side.
#[test]
fn conflate_over_tcp() {
    // The pusher's own queue conflates: what it queued before its peer came is one message.
    let endpoint = unused_endpoint();
    let push = build(SocketType::Push, |b| b.conflate(true));
    push.connect(&endpoint).unwrap();
    for i in 0..20 {
        bounded("send", push.send(number(i))).unwrap();
    }
    let pull = build(SocketType::Pull, |b| b);
    pull.bind(&endpoint).unwrap();
    assert_eq!(recv(&pull), number(19));
    nothing_more(&pull);

    // The puller's queue conflates: 20 messages that arrive at once leave the last.
    let endpoint = unused_endpoint();
    let push = build(SocketType::Push, |b| b);
    push.connect(&endpoint).unwrap();
    for i in 0..20 {
        bounded("send", push.send(number(i))).unwrap();
    }
    let pull = build(SocketType::Pull, |b| b.conflate(true));
    pull.bind(&endpoint).unwrap();
    bounded("peer", pull.wait_for_peers(1));
    let mut got = vec![recv(&pull)];
    while got.last() != Some(&number(19)) {
        got.push(recv(&pull));
    }
    assert!(got.len() < 20, "conflated, not all 20: {got:?}");
    assert!(
        got.windows(2).all(|w| w[0].frames()[0] < w[1].frames()[0]),
        "in order: {got:?}"
    );
}

// test_probe_router.cpp.
#[test]
fn probe_router_over_tcp() {
    for client_type in [SocketType::Dealer, SocketType::Router] {
        let server = build(SocketType::Router, |b| b);
        let endpoint = server.bind(TCP).unwrap();
        let client = build(client_type, |b| b.routing_id("X").probe_router(true));
        client.connect(&endpoint).unwrap();
        assert_eq!(recv(&server), m(&["X", ""]), "{client_type}");
        bounded("send", server.send(m(&["X", "Hello"]))).unwrap();
        let got = recv(&client);
        assert_eq!(got.frames().last().unwrap(), "Hello");
    }
}

// test_xpub_welcome_msg.cpp.
#[test]
fn xpub_welcome_msg_over_tcp() {
    let xpub = build(SocketType::XPub, |b| b.xpub_welcome_msg("W"));
    let endpoint = xpub.bind(TCP).unwrap();
    let sub = build(SocketType::Sub, |b| b.subscribe("W"));
    sub.connect(&endpoint).unwrap();
    assert_eq!(recv(&xpub), Msg::from(&b"\x01W"[..]));
    assert_eq!(recv(&sub), m(&["W"]));
}

// test_xpub_nodrop.cpp: everything sent arrives; a full subscriber makes sending wait.
#[test]
fn xpub_nodrop_over_tcp() {
    let xpub = build(SocketType::XPub, |b| b.xpub_nodrop(true).send_hwm(2));
    let endpoint = xpub.bind(TCP).unwrap();
    let sub = build(SocketType::Sub, |b| b.subscribe("").recv_hwm(2));
    sub.connect(&endpoint).unwrap();
    assert_eq!(recv(&xpub), Msg::from(&b"\x01"[..]));
    // Large messages fill the socket buffers quickly; the subscriber does not read yet.
    let body = Bytes::from(vec![7u8; 256 * 1024]);
    let mut sent = 0u32;
    loop {
        match xpub.try_send(Msg::from_frames([
            Bytes::from(sent.to_string()),
            body.clone(),
        ])) {
            Ok(()) => sent += 1,
            Err(Error::WouldBlock(_)) => break,
            Err(other) => panic!("{other}"),
        }
        assert!(sent < 10_000, "never blocked");
    }
    // `send` waits while the subscriber is full, and goes once it reads.
    let waiting = {
        let xpub = xpub.clone();
        smol::spawn(async move { xpub.send(m(&["last"])).await })
    };
    for i in 0..sent {
        assert_eq!(recv(&sub).frames()[0], i.to_string(), "nothing dropped");
    }
    assert_eq!(recv(&sub), m(&["last"]));
    bounded("send", waiting).unwrap();
}

// test_xpub_manual.cpp: test_basic and test_unsubscribe_cleanup.
#[test]
fn xpub_manual_over_tcp() {
    let xpub = build(SocketType::XPub, |b| b.xpub_manual(true));
    let endpoint = xpub.bind(TCP).unwrap();
    let xsub = build(SocketType::XSub, |b| b);
    xsub.connect(&endpoint).unwrap();
    bounded("send", xsub.send(&b"\x01A"[..])).unwrap();
    assert_eq!(recv(&xpub), Msg::from(&b"\x01A"[..]));
    xpub.subscribe("B").unwrap();
    assert_eq!(xpub.subscribed_peers(), 1);
    bounded("send", xpub.send("A")).unwrap();
    bounded("send", xpub.send("B")).unwrap();
    assert_eq!(recv(&xsub), m(&["B"]));
    nothing_more(&xsub);
    bounded("close", xsub.close());
    assert_eq!(recv(&xpub), Msg::from(&b"\x00A"[..]));
    assert_eq!(xpub.subscribed_peers(), 0);
}

// test_pub_invert_matching.cpp.
#[test]
fn invert_matching_over_tcp() {
    let publisher = build(SocketType::Pub, |b| b.invert_matching(true));
    let endpoint = publisher.bind(TCP).unwrap();
    let sub = build(SocketType::Sub, |b| {
        b.invert_matching(true).subscribe("prefix1")
    });
    sub.connect(&endpoint).unwrap();
    bounded("subscribed", publisher.wait_for_subscribers(1));
    bounded("send", publisher.send("prefix1: not for sub")).unwrap();
    bounded("send", publisher.send("prefix2: for sub")).unwrap();
    assert_eq!(recv(&sub), m(&["prefix2: for sub"]));
}

// test_router_notify.cpp (draft in libzmq).
#[test]
fn router_notify_over_tcp() {
    let router = build(SocketType::Router, |b| b.router_notify(RouterNotify::BOTH));
    let endpoint = router.bind(TCP).unwrap();
    let dealer = build(SocketType::Dealer, |b| b.routing_id("dealer"));
    dealer.connect(&endpoint).unwrap();
    assert_eq!(recv(&router), m(&["dealer", ""]), "connect");
    bounded("send", dealer.send("Hello")).unwrap();
    assert_eq!(recv(&router), m(&["dealer", "Hello"]));
    bounded("close", dealer.close());
    assert_eq!(recv(&router), m(&["dealer", ""]), "disconnect");

    // Our own disconnect is not reported as the peer's.
    let dealer = build(SocketType::Dealer, |b| b.routing_id("dealer"));
    let endpoint = dealer.bind(TCP).unwrap();
    router.connect(&endpoint).unwrap();
    assert_eq!(recv(&router), m(&["dealer", ""]), "connect from our side");
    router.disconnect(&endpoint).unwrap();
    nothing_more(&router);
}

// test_hello_msg.cpp and test_disconnect_msg.cpp (drafts in libzmq).
#[test]
fn hello_and_disconnect_msgs_over_tcp() {
    let router = build(SocketType::Router, |b| b.hello_msg("H").disconnect_msg("D"));
    let endpoint = router.bind(TCP).unwrap();
    let dealer = build(SocketType::Dealer, |b| {
        b.hello_msg("h").routing_id("client")
    });
    dealer.connect(&endpoint).unwrap();
    assert_eq!(recv(&dealer), m(&["H"]));
    assert_eq!(recv(&router), m(&["client", "h"]));
    bounded("close", dealer.close());
    assert_eq!(recv(&router), m(&["client", "D"]));
}

// test_timeo.cpp: ZMQ_RCVTIMEO and ZMQ_SNDTIMEO.
#[test]
fn send_and_recv_timeouts() {
    let timeout = Duration::from_millis(50);
    let pull = build(SocketType::Pull, |b| b.recv_timeout(Some(timeout)));
    let endpoint = pull.bind(TCP).unwrap();
    let started = std::time::Instant::now();
    match bounded("recv", pull.recv()) {
        Err(Error::Timeout(t)) => assert_eq!(t, timeout),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() >= timeout);
    assert!(matches!(
        bounded("recv_from", pull.recv_from()),
        Err(Error::Timeout(_))
    ));

    // A PUSH with no peer cannot send.
    let push = build(SocketType::Push, |b| b.send_timeout(Some(timeout)));
    assert!(matches!(
        bounded("send", push.send("x")),
        Err(Error::Timeout(_))
    ));
    // Once it has one, the timeouts are only limits.
    push.connect(&endpoint).unwrap();
    let push_patient = build(SocketType::Push, |b| b.send_timeout(Some(PATIENCE)));
    push_patient.connect(&endpoint).unwrap();
    bounded("send", push_patient.send("y")).unwrap();
    assert_eq!(recv(&pull), m(&["y"]));
}

// ZMQ_TCP_KEEPALIVE, _CNT, _IDLE, _INTVL: applied to every connection, accepted and made
// (read back from the socket in `io::transport`'s unit tests); here, that connections so
// configured work both ways.
#[test]
fn tcp_keepalive_options_leave_connections_working() {
    let keepalive = |b: SocketBuilder| {
        b.tcp_keepalive(true)
            .tcp_keepalive_count(3)
            .tcp_keepalive_idle(Duration::from_secs(30))
            .tcp_keepalive_interval(Duration::from_secs(5))
    };
    let rep = build(SocketType::Rep, keepalive);
    let endpoint = rep.bind(TCP).unwrap();
    let req = build(SocketType::Req, keepalive);
    req.connect(&endpoint).unwrap();
    bounded("send", req.send("ping")).unwrap();
    assert_eq!(recv(&rep), m(&["ping"]));
    bounded("send", rep.send("pong")).unwrap();
    assert_eq!(recv(&req), m(&["pong"]));
}
