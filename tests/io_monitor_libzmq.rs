//! Our monitor events against libzmq's (`zmq_socket_monitor`, libzmq 4.3 built by the
//! `zmq` crate): the same scenario, run once with a libzmq socket and once with ours in the
//! same place, reports the same events in the same order.

mod support;

use std::time::Duration;

use futures::StreamExt;
use support::{PATIENCE, bounded};
use zmq_sansio::io::{Monitor, MonitorEvent, Socket};
use zmq_sansio::pattern::monitor::libzmq as event;
use zmq_sansio::proto::SocketType;

const RECONNECT: Duration = Duration::from_millis(50);

/// A libzmq socket's monitor, read through the PAIR socket libzmq publishes it on.
struct LibzmqMonitor {
    pair: zmq::Socket,
}

impl LibzmqMonitor {
    /// Starts monitoring `socket` (before it binds or connects, like ours).
    fn new(ctx: &zmq::Context, socket: &zmq::Socket, name: &str) -> Self {
        let endpoint = format!("inproc://monitor-{name}");
        socket
            .monitor(&endpoint, zmq::SocketEvent::ALL as i32)
            .unwrap();
        let pair = ctx.socket(zmq::PAIR).unwrap();
        pair.set_rcvtimeo(PATIENCE.as_millis() as i32).unwrap();
        pair.connect(&endpoint).unwrap();
        Self { pair }
    }

    fn next(&self) -> u16 {
        let frames = self.pair.recv_multipart(0).expect("a libzmq monitor event");
        u16::from_le_bytes([frames[0][0], frames[0][1]])
    }

    /// Events until (and including) `last`.
    fn until(&self, last: u16) -> Vec<u16> {
        let mut events = Vec::new();
        loop {
            let event = self.next();
            events.push(event);
            if event == last {
                return events;
            }
        }
    }
}

/// Our events as libzmq numbers, until (and including) `last`.
fn ours_until(monitor: &mut Monitor, last: u16) -> Vec<u16> {
    let mut events = Vec::new();
    loop {
        let event: MonitorEvent =
            bounded("our next event", monitor.next()).expect("the monitor ended early");
        events.push(event.libzmq_event());
        if event.libzmq_event() == last {
            return events;
        }
    }
}

fn libzmq_socket(ctx: &zmq::Context, kind: zmq::SocketType) -> zmq::Socket {
    let socket = ctx.socket(kind).unwrap();
    socket.set_linger(0).unwrap();
    socket.set_rcvtimeo(PATIENCE.as_millis() as i32).unwrap();
    socket.set_sndtimeo(PATIENCE.as_millis() as i32).unwrap();
    socket
        .set_reconnect_ivl(RECONNECT.as_millis() as i32)
        .unwrap();
    socket
}

fn our_socket(kind: SocketType, monitor: &Monitor) -> Socket {
    Socket::builder(kind)
        .reconnect_interval(RECONNECT)
        .linger(Duration::ZERO)
        .monitor(monitor)
        .build()
        .unwrap()
}

/// A TCP endpoint where nothing listens.
fn dead_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("tcp://127.0.0.1:{port}")
}

#[test]
fn a_client_whose_server_goes_away() {
    let ctx = zmq::Context::new();
    let expected = [
        event::CONNECT_DELAYED,
        event::CONNECTED,
        event::HANDSHAKE_SUCCEEDED,
        event::DISCONNECTED,
        event::CONNECT_RETRIED,
    ];

    // libzmq's client.
    let server = libzmq_socket(&ctx, zmq::REP);
    server.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = server.get_last_endpoint().unwrap().unwrap();
    let client = libzmq_socket(&ctx, zmq::REQ);
    let theirs = LibzmqMonitor::new(&ctx, &client, "client");
    client.connect(&endpoint).unwrap();
    client.send("ping", 0).unwrap();
    server.send(server.recv_bytes(0).unwrap(), 0).unwrap();
    client.recv_bytes(0).unwrap();
    drop(server);
    assert_eq!(theirs.until(event::CONNECT_RETRIED), expected);

    // Ours, in the same place.
    let server = libzmq_socket(&ctx, zmq::REP);
    server.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = server.get_last_endpoint().unwrap().unwrap();
    let mut monitor = Monitor::new();
    let ours = our_socket(SocketType::Req, &monitor);
    ours.connect(&endpoint).unwrap();
    bounded("a request out", ours.send("ping")).unwrap();
    server.send(server.recv_bytes(0).unwrap(), 0).unwrap();
    bounded("the reply", ours.recv()).unwrap();
    drop(server);
    assert_eq!(ours_until(&mut monitor, event::CONNECT_RETRIED), expected);
    bounded("close", ours.close());
}

#[test]
fn a_server_whose_client_comes_and_goes() {
    let ctx = zmq::Context::new();
    let expected = [
        event::LISTENING,
        event::ACCEPTED,
        event::HANDSHAKE_SUCCEEDED,
        event::DISCONNECTED,
    ];
    let exchange = |endpoint: &str, serve: &dyn Fn()| {
        let client = libzmq_socket(&ctx, zmq::REQ);
        client.connect(endpoint).unwrap();
        client.send("ping", 0).unwrap();
        serve();
        client.recv_bytes(0).unwrap();
    };

    let server = libzmq_socket(&ctx, zmq::REP);
    let theirs = LibzmqMonitor::new(&ctx, &server, "server");
    server.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = server.get_last_endpoint().unwrap().unwrap();
    exchange(&endpoint, &|| {
        server.send(server.recv_bytes(0).unwrap(), 0).unwrap()
    });
    assert_eq!(theirs.until(event::DISCONNECTED), expected);

    let mut monitor = Monitor::new();
    let ours = our_socket(SocketType::Rep, &monitor);
    let endpoint = ours.bind("tcp://127.0.0.1:*").unwrap();
    exchange(&endpoint, &|| {
        bounded("serve", async {
            let request = ours.recv().await.unwrap();
            ours.send(request).await.unwrap();
        })
    });
    assert_eq!(ours_until(&mut monitor, event::DISCONNECTED), expected);
    bounded("close", ours.close());
}

#[test]
fn a_client_with_no_server() {
    let ctx = zmq::Context::new();
    let endpoint = dead_endpoint();
    let attempt = [
        event::CONNECT_DELAYED,
        event::CLOSED,
        event::CONNECT_RETRIED,
    ];
    let expected = [attempt, attempt].concat();

    let client = libzmq_socket(&ctx, zmq::PUSH);
    let theirs = LibzmqMonitor::new(&ctx, &client, "refused");
    client.connect(&endpoint).unwrap();
    let mut seen = theirs.until(event::CONNECT_RETRIED);
    seen.extend(theirs.until(event::CONNECT_RETRIED));
    assert_eq!(seen, expected);
    drop(client);

    let mut monitor = Monitor::new();
    let ours = our_socket(SocketType::Push, &monitor);
    ours.connect(&endpoint).unwrap();
    let mut seen = ours_until(&mut monitor, event::CONNECT_RETRIED);
    seen.extend(ours_until(&mut monitor, event::CONNECT_RETRIED));
    assert_eq!(seen, expected);
    bounded("close", ours.close());
}

#[test]
fn a_client_of_an_incompatible_server() {
    let ctx = zmq::Context::new();
    // libzmq 4.3 reports no handshake failure when the socket types do not match, only the
    // disconnection; we report the failure with its reason (as the event list asks), and
    // otherwise the same sequence.
    let theirs_expected = [
        event::CONNECT_DELAYED,
        event::CONNECTED,
        event::DISCONNECTED,
    ];
    let ours_expected = [
        event::CONNECT_DELAYED,
        event::CONNECTED,
        event::HANDSHAKE_FAILED_PROTOCOL,
        event::DISCONNECTED,
    ];
    let server = libzmq_socket(&ctx, zmq::PUB);
    server.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = server.get_last_endpoint().unwrap().unwrap();

    let client = libzmq_socket(&ctx, zmq::REQ);
    let theirs = LibzmqMonitor::new(&ctx, &client, "incompatible");
    client.connect(&endpoint).unwrap();
    assert_eq!(theirs.until(event::DISCONNECTED), theirs_expected);
    drop(client);

    let mut monitor = Monitor::new();
    let ours = our_socket(SocketType::Req, &monitor);
    ours.connect(&endpoint).unwrap();
    assert_eq!(ours_until(&mut monitor, event::DISCONNECTED), ours_expected);
    bounded("close", ours.close());
}
