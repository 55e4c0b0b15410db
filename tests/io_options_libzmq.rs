//! The socket options whose effect crosses the wire, between our `io::Socket` and libzmq
//! 4.3 (the `zmq` crate; stable API only, so ROUTER_NOTIFY, HELLO_MSG and DISCONNECT_MSG,
//! drafts there, are tested in `io_options.rs` alone). Each test names the libzmq
//! `tests/test_*.cpp` it follows.

mod support;

use std::time::Duration;

use bytes::Bytes;
use support::{PATIENCE, bounded, m};
use zmq_sansio::Msg;
use zmq_sansio::io::{Error, Socket, SocketBuilder};
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

/// A libzmq socket that gives up after [`PATIENCE`] instead of hanging the test.
fn libzmq(ctx: &zmq::Context, kind: zmq::SocketType) -> zmq::Socket {
    let socket = ctx.socket(kind).unwrap();
    socket.set_linger(0).unwrap();
    socket.set_rcvtimeo(PATIENCE.as_millis() as i32).unwrap();
    socket.set_sndtimeo(PATIENCE.as_millis() as i32).unwrap();
    socket
}

fn libzmq_bind(socket: &zmq::Socket) -> String {
    socket.bind(TCP).unwrap();
    socket.get_last_endpoint().unwrap().unwrap()
}

fn libzmq_recv(socket: &zmq::Socket) -> Vec<Vec<u8>> {
    socket.recv_multipart(0).expect("libzmq receives in time")
}

/// A loopback TCP endpoint nobody listens on yet (the port was free a moment ago).
fn unused_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("tcp://{}", listener.local_addr().unwrap())
}

fn number(i: u32) -> Vec<u8> {
    i.to_be_bytes().to_vec()
}

// test_conflate.cpp: libzmq PUSH to our conflating PULL, and our conflating PUSH to a libzmq
// PULL.
#[test]
fn conflate_with_libzmq() {
    let ctx = zmq::Context::new();
    let endpoint = unused_endpoint();
    let push = libzmq(&ctx, zmq::PUSH);
    push.connect(&endpoint).unwrap();
    for i in 0..20 {
        push.send(number(i), 0).unwrap(); // queued in libzmq until we bind
    }
    let pull = build(SocketType::Pull, |b| b.conflate(true));
    pull.bind(&endpoint).unwrap();
    let mut got = vec![recv(&pull)];
    while got.last().unwrap().frames()[0] != number(19) {
        got.push(recv(&pull));
    }
    assert!(got.len() < 20, "conflated: {} of 20 delivered", got.len());

    let endpoint = unused_endpoint();
    let push = build(SocketType::Push, |b| b.conflate(true));
    push.connect(&endpoint).unwrap();
    for i in 0..20 {
        bounded("send", push.send(Bytes::from(number(i)))).unwrap();
    }
    let pull = libzmq(&ctx, zmq::PULL);
    pull.bind(&endpoint).unwrap();
    assert_eq!(libzmq_recv(&pull), [number(19)]);
    pull.set_rcvtimeo(100).unwrap();
    assert!(pull.recv_bytes(0).is_err(), "only the newest was kept");
}

// test_conflate.cpp's check with PUB/SUB: our PUB to a conflating libzmq SUB.
#[test]
fn pub_to_a_conflating_libzmq_sub() {
    let ctx = zmq::Context::new();
    let publisher = build(SocketType::Pub, |b| b);
    let endpoint = publisher.bind(TCP).unwrap();
    let sub = libzmq(&ctx, zmq::SUB);
    sub.set_conflate(true).unwrap();
    sub.set_subscribe(b"").unwrap();
    sub.connect(&endpoint).unwrap();
    bounded("subscribed", publisher.wait_for_subscribers(1));
    for i in 0..20 {
        bounded("send", publisher.send(Bytes::from(number(i)))).unwrap();
    }
    // libzmq keeps the newest of what its I/O thread has read when the application asks:
    // how many that skips depends on timing, but the newest always arrives, in order.
    let mut got = vec![libzmq_recv(&sub)];
    while got.last().unwrap()[0] != number(19) {
        got.push(libzmq_recv(&sub));
    }
    assert!(got.windows(2).all(|w| w[0] < w[1]), "in order: {got:?}");
}

// test_probe_router.cpp: probes both ways.
#[test]
fn probe_router_with_libzmq() {
    let ctx = zmq::Context::new();
    // libzmq's DEALER and ROUTER probe our ROUTER.
    for kind in [zmq::DEALER, zmq::ROUTER] {
        let server = build(SocketType::Router, |b| b);
        let endpoint = server.bind(TCP).unwrap();
        let client = libzmq(&ctx, kind);
        client.set_identity(b"X").unwrap();
        client.set_probe_router(true).unwrap();
        client.connect(&endpoint).unwrap();
        assert_eq!(recv(&server), m(&["X", ""]));
        bounded("send", server.send(m(&["X", "Hello"]))).unwrap();
        assert_eq!(libzmq_recv(&client).last().unwrap(), b"Hello");
    }
    // Our DEALER and ROUTER probe libzmq's ROUTER.
    for kind in [SocketType::Dealer, SocketType::Router] {
        let server = libzmq(&ctx, zmq::ROUTER);
        let endpoint = libzmq_bind(&server);
        let client = build(kind, |b| b.routing_id("X").probe_router(true));
        client.connect(&endpoint).unwrap();
        assert_eq!(libzmq_recv(&server), [b"X".to_vec(), vec![]]);
        server.send_multipart(["X", "Hello"], 0).unwrap();
        assert_eq!(recv(&client).frames().last().unwrap(), "Hello");
    }
}

// test_xpub_welcome_msg.cpp: our XPUB welcomes a libzmq SUB; libzmq's XPUB welcomes ours.
#[test]
fn xpub_welcome_msg_with_libzmq() {
    let ctx = zmq::Context::new();
    let xpub = build(SocketType::XPub, |b| b.xpub_welcome_msg("W"));
    let endpoint = xpub.bind(TCP).unwrap();
    let sub = libzmq(&ctx, zmq::SUB);
    sub.set_subscribe(b"W").unwrap();
    sub.connect(&endpoint).unwrap();
    assert_eq!(recv(&xpub), Msg::from(&b"\x01W"[..]));
    assert_eq!(libzmq_recv(&sub), [b"W".to_vec()]);

    let xpub = libzmq(&ctx, zmq::XPUB);
    xpub.set_xpub_welcome_msg(Some("W")).unwrap();
    let endpoint = libzmq_bind(&xpub);
    let sub = build(SocketType::Sub, |b| b.subscribe("W"));
    sub.connect(&endpoint).unwrap();
    assert_eq!(libzmq_recv(&xpub), [b"\x01W".to_vec()]);
    assert_eq!(recv(&sub), m(&["W"]));
}

// test_xpub_nodrop.cpp: our NODROP XPUB loses nothing for a slow libzmq SUB.
#[test]
fn xpub_nodrop_with_a_libzmq_subscriber() {
    let ctx = zmq::Context::new();
    let xpub = build(SocketType::XPub, |b| b.xpub_nodrop(true).send_hwm(2));
    let endpoint = xpub.bind(TCP).unwrap();
    let sub = libzmq(&ctx, zmq::SUB);
    sub.set_rcvhwm(2).unwrap();
    sub.set_subscribe(b"").unwrap();
    sub.connect(&endpoint).unwrap();
    assert_eq!(recv(&xpub), Msg::from(&b"\x01"[..]));
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
    for i in 0..sent {
        assert_eq!(
            libzmq_recv(&sub)[0],
            i.to_string().as_bytes(),
            "nothing dropped"
        );
    }
    bounded("send", xpub.send(m(&["after"]))).unwrap();
    assert_eq!(libzmq_recv(&sub), [b"after".to_vec()]);
}

// test_xpub_manual.cpp's test_basic and test_unsubscribe_cleanup, with libzmq's XSUB and
// SUB as the subscribers of our manual XPUB.
#[test]
fn xpub_manual_with_libzmq_subscribers() {
    let ctx = zmq::Context::new();
    let xpub = build(SocketType::XPub, |b| b.xpub_manual(true));
    let endpoint = xpub.bind(TCP).unwrap();
    let xsub = libzmq(&ctx, zmq::XSUB);
    xsub.connect(&endpoint).unwrap();
    xsub.send(&b"\x01A"[..], 0).unwrap();
    assert_eq!(recv(&xpub), Msg::from(&b"\x01A"[..]));
    xpub.subscribe("B").unwrap();
    bounded("send", xpub.send("A")).unwrap();
    bounded("send", xpub.send("B")).unwrap();
    assert_eq!(libzmq_recv(&xsub), [b"B".to_vec()]);
    drop(xsub);
    assert_eq!(
        recv(&xpub),
        Msg::from(&b"\x00A"[..]),
        "the subscriber's cancel"
    );

    // A SUB subscribed to "news" gets nothing until the application grants it.
    let sub = libzmq(&ctx, zmq::SUB);
    sub.set_subscribe(b"news").unwrap();
    sub.connect(&endpoint).unwrap();
    assert_eq!(recv(&xpub), Msg::from(&b"\x01news"[..]));
    bounded("send", xpub.send("news 1")).unwrap();
    xpub.subscribe("news").unwrap();
    bounded("send", xpub.send("news 2")).unwrap();
    assert_eq!(libzmq_recv(&sub), [b"news 2".to_vec()]);
}

// test_pub_invert_matching.cpp, as far as the stable API goes: libzmq's XSUB does not filter,
// so it shows what our inverting PUB puts on the wire.
#[test]
fn invert_matching_publisher_to_libzmq() {
    let ctx = zmq::Context::new();
    let publisher = build(SocketType::Pub, |b| b.invert_matching(true));
    let endpoint = publisher.bind(TCP).unwrap();
    let xsub = libzmq(&ctx, zmq::XSUB);
    xsub.connect(&endpoint).unwrap();
    xsub.send(&b"\x01prefix1"[..], 0).unwrap();
    bounded("subscribed", publisher.wait_for_subscribers(1));
    for topic in ["prefix1", "prefix2", "p"] {
        bounded("send", publisher.send(topic)).unwrap();
    }
    assert_eq!(libzmq_recv(&xsub), [b"prefix2".to_vec()]);
    assert_eq!(libzmq_recv(&xsub), [b"p".to_vec()]);
}
