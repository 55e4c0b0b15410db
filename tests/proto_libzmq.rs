//! Wire compatibility of the bare `proto::Connection` with real libzmq (the `zmq` crate builds
//! libzmq 4.3 from source), before any async adapter exists: the connection is driven by a few
//! lines of blocking `std::net` code right here.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use zmq_sansio::Msg;
use zmq_sansio::proto::{
    Config, Connection, Event, HeartbeatConfig, Role, SocketType, ZmtpVersion,
};

const PATIENCE: Duration = Duration::from_secs(10);

/// Our connection plus the TCP stream it speaks over.
struct Wire {
    conn: Connection,
    stream: TcpStream,
}

impl Wire {
    fn connect(endpoint: &str, config: Config) -> Self {
        let addr = endpoint.trim_start_matches("tcp://");
        let stream = TcpStream::connect(addr).expect("connect to libzmq");
        Self::over(stream, config, Role::Client)
    }

    fn over(stream: TcpStream, config: Config, role: Role) -> Self {
        stream
            .set_read_timeout(Some(Duration::from_millis(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        let mut wire = Self {
            conn: Connection::new(config, role, Instant::now()),
            stream,
        };
        wire.flush();
        wire
    }

    fn flush(&mut self) {
        while let Some(chunk) = self.conn.poll_transmit() {
            self.stream.write_all(&chunk).expect("write to libzmq");
        }
    }

    /// Reads, feeds the connection, answers timers and flushes until an event comes.
    fn next_event(&mut self) -> Event {
        let give_up = Instant::now() + PATIENCE;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if let Some(event) = self.conn.poll_event() {
                return event;
            }
            assert!(
                Instant::now() < give_up,
                "no event from libzmq within {PATIENCE:?}"
            );
            self.step(&mut buf);
        }
    }

    /// Keeps the connection serviced for a while (heartbeats) without expecting events.
    fn idle(&mut self, period: Duration) {
        let until = Instant::now() + period;
        let mut buf = vec![0u8; 64 * 1024];
        while Instant::now() < until {
            self.step(&mut buf);
        }
    }

    fn step(&mut self, buf: &mut [u8]) {
        match self.stream.read(buf) {
            Ok(0) => panic!("libzmq closed the connection: {:?}", self.conn.error()),
            Ok(n) => self
                .conn
                .handle_input(&buf[..n], Instant::now())
                .expect("libzmq speaks ZMTP"),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
        if self
            .conn
            .poll_timeout()
            .is_some_and(|t| t <= Instant::now())
        {
            self.conn.handle_timeout(Instant::now()).expect("timers");
        }
        self.flush();
    }

    fn ready(&mut self) -> zmq_sansio::proto::PeerInfo {
        match self.next_event() {
            Event::Ready(peer) => peer,
            other => panic!("expected Ready, got {other:?}"),
        }
    }

    fn message(&mut self) -> Msg {
        match self.next_event() {
            Event::Message(msg) => msg,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

fn libzmq_socket(ctx: &zmq::Context, kind: zmq::SocketType) -> zmq::Socket {
    let socket = ctx.socket(kind).unwrap();
    socket.set_rcvtimeo(PATIENCE.as_millis() as i32).unwrap();
    socket.set_linger(0).unwrap();
    socket
}

fn bound_endpoint(socket: &zmq::Socket) -> String {
    socket.bind("tcp://127.0.0.1:*").unwrap();
    socket.get_last_endpoint().unwrap().unwrap()
}

/// A listener of ours on a free loopback port, and the endpoint libzmq should connect to.
fn our_listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("tcp://{}", listener.local_addr().unwrap());
    (listener, endpoint)
}

fn sample_messages() -> Vec<Msg> {
    vec![
        Msg::from("single"),
        Msg::from_frames([
            Bytes::from_static(b"multi"),
            Bytes::new(),
            Bytes::from_static(b"part"),
        ]),
        Msg::from(Bytes::new()),
        Msg::from(vec![0xA5u8; 1 << 20]),
        Msg::from_frames([vec![1u8; 300], vec![2u8; 70_000]]),
    ]
}

fn frames(msg: &Msg) -> Vec<Vec<u8>> {
    msg.iter().map(|f| f.to_vec()).collect()
}

/// Sends every sample both ways between our connection and a libzmq socket.
fn exchange_both_ways(wire: &mut Wire, theirs: &zmq::Socket) {
    for msg in sample_messages() {
        wire.conn.send(&msg).unwrap();
        wire.flush();
        assert_eq!(
            theirs.recv_multipart(0).expect("libzmq received"),
            frames(&msg)
        );
    }
    for msg in sample_messages() {
        theirs.send_multipart(frames(&msg), 0).unwrap();
        assert_eq!(wire.message(), msg);
    }
}

#[test]
fn pair_with_libzmq_binding() {
    let ctx = zmq::Context::new();
    let theirs = libzmq_socket(&ctx, zmq::PAIR);
    let endpoint = bound_endpoint(&theirs);
    let mut wire = Wire::connect(&endpoint, Config::new(SocketType::Pair));
    let peer = wire.ready();
    assert_eq!(peer.socket_type, SocketType::Pair);
    assert_eq!(
        peer.version,
        ZmtpVersion::V3_1,
        "libzmq 4.3 speaks ZMTP 3.1"
    );
    exchange_both_ways(&mut wire, &theirs);
}

#[test]
fn pair_with_libzmq_connecting() {
    let ctx = zmq::Context::new();
    let theirs = libzmq_socket(&ctx, zmq::PAIR);
    let (listener, endpoint) = our_listener();
    theirs.connect(&endpoint).unwrap();
    let (stream, _) = listener.accept().unwrap();
    let mut wire = Wire::over(stream, Config::new(SocketType::Pair), Role::Server);
    assert_eq!(wire.ready().socket_type, SocketType::Pair);
    exchange_both_ways(&mut wire, &theirs);
}

#[test]
fn our_push_to_libzmq_pull() {
    let ctx = zmq::Context::new();
    let theirs = libzmq_socket(&ctx, zmq::PULL);
    let endpoint = bound_endpoint(&theirs);
    let mut wire = Wire::connect(&endpoint, Config::new(SocketType::Push));
    assert_eq!(wire.ready().socket_type, SocketType::Pull);
    for msg in sample_messages() {
        wire.conn.send(&msg).unwrap();
        wire.flush();
        assert_eq!(theirs.recv_multipart(0).unwrap(), frames(&msg));
    }
}

#[test]
fn libzmq_push_to_our_pull() {
    let ctx = zmq::Context::new();
    let theirs = libzmq_socket(&ctx, zmq::PUSH);
    let (listener, endpoint) = our_listener();
    theirs.connect(&endpoint).unwrap();
    let (stream, _) = listener.accept().unwrap();
    let mut wire = Wire::over(stream, Config::new(SocketType::Pull), Role::Server);
    assert_eq!(wire.ready().socket_type, SocketType::Push);
    for msg in sample_messages() {
        theirs.send_multipart(frames(&msg), 0).unwrap();
        assert_eq!(wire.message(), msg);
    }
}

#[test]
fn our_subscriptions_filter_at_a_libzmq_publisher() {
    let ctx = zmq::Context::new();
    let theirs = libzmq_socket(&ctx, zmq::PUB);
    let endpoint = bound_endpoint(&theirs);
    let mut wire = Wire::connect(&endpoint, Config::new(SocketType::Sub));
    wire.ready();
    wire.conn.subscribe(b"weather.").unwrap();
    wire.flush();
    // The subscription travels asynchronously: publish until the first one gets through.
    let give_up = Instant::now() + PATIENCE;
    let first = loop {
        theirs.send("weather.probe", 0).unwrap();
        wire.idle(Duration::from_millis(20));
        if let Some(Event::Message(msg)) = wire.conn.poll_event() {
            break msg;
        }
        assert!(
            Instant::now() < give_up,
            "libzmq never honoured our SUBSCRIBE"
        );
    };
    assert_eq!(first.frames()[0], "weather.probe");
    while wire.conn.poll_event().is_some() {}
    theirs.send("sports.football", 0).unwrap();
    theirs.send("weather.rain", 0).unwrap();
    assert_eq!(
        wire.message().frames()[0],
        "weather.rain",
        "the non-matching message was filtered"
    );
}

#[test]
fn libzmq_subscriber_subscribes_at_our_publisher() {
    let ctx = zmq::Context::new();
    let theirs = libzmq_socket(&ctx, zmq::SUB);
    let (listener, endpoint) = our_listener();
    theirs.set_subscribe(b"news").unwrap();
    theirs.connect(&endpoint).unwrap();
    let (stream, _) = listener.accept().unwrap();
    let mut wire = Wire::over(stream, Config::new(SocketType::Pub), Role::Server);
    assert_eq!(wire.ready().socket_type, SocketType::Sub);
    assert_eq!(
        wire.next_event(),
        Event::Subscribe(Bytes::from_static(b"news"))
    );
    wire.conn.send(&Msg::from("news: it works")).unwrap();
    wire.flush();
    assert_eq!(theirs.recv_bytes(0).unwrap(), b"news: it works");
    theirs.set_unsubscribe(b"news").unwrap();
    assert_eq!(
        wire.next_event(),
        Event::Cancel(Bytes::from_static(b"news"))
    );
}

#[test]
fn heartbeats_both_ways_keep_the_connection_alive() {
    let ctx = zmq::Context::new();
    let theirs = libzmq_socket(&ctx, zmq::PAIR);
    theirs.set_heartbeat_ivl(30).unwrap();
    theirs.set_heartbeat_timeout(200).unwrap();
    theirs.set_heartbeat_ttl(500).unwrap();
    let endpoint = bound_endpoint(&theirs);
    let mut config = Config::new(SocketType::Pair);
    config.heartbeat = HeartbeatConfig {
        interval: Some(Duration::from_millis(30)),
        ttl: Some(Duration::from_secs(1)),
        timeout: Some(Duration::from_millis(200)),
    };
    let mut wire = Wire::connect(&endpoint, config);
    wire.ready();
    // Both sides ping every 30 ms and give up after 200 ms of silence: half a second of
    // idling only survives if PINGs are answered by PONGs in both directions.
    wire.idle(Duration::from_millis(500));
    assert!(!wire.conn.is_closed(), "{:?}", wire.conn.error());
    theirs.send("still here", 0).unwrap();
    assert_eq!(wire.message().frames()[0], "still here");
}

#[test]
fn an_incompatible_libzmq_peer_is_refused() {
    // Our REQ against a libzmq PUB: the handshake must fail on our side with a clear reason.
    let ctx = zmq::Context::new();
    let theirs = libzmq_socket(&ctx, zmq::PUB);
    let endpoint = bound_endpoint(&theirs);
    let addr = endpoint.trim_start_matches("tcp://");
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    let mut wire = Wire {
        conn: Connection::new(Config::new(SocketType::Req), Role::Client, Instant::now()),
        stream,
    };
    wire.flush();
    let give_up = Instant::now() + PATIENCE;
    let mut buf = vec![0u8; 4096];
    let err = loop {
        assert!(Instant::now() < give_up, "the handshake never failed");
        match wire.stream.read(&mut buf) {
            Ok(0) => panic!("libzmq closed before sending its READY"),
            Ok(n) => {
                if let Err(err) = wire.conn.handle_input(&buf[..n], Instant::now()) {
                    break err;
                }
                wire.flush();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
    };
    assert!(
        err.to_string().contains("REQ socket cannot talk to a PUB"),
        "{err}"
    );
}
