//! Faults over real TCP on loopback: hostile, silent and slow peers, servers that come late
//! or come back, backpressure, linger, and leaks after close.
//!
//! Misbehaving peers are written by hand ([`RawPeer`]: raw ZMTP bytes over a blocking std
//! `TcpStream`), so they do exactly what a test says and nothing else. Every wait is
//! bounded, so a regression fails instead of hanging.

use std::future::Future;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Mutex, Once, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use smol::Timer;
use smol::future::or;
use zmq_sansio::Msg;
use zmq_sansio::io::{Socket, live_tasks};
use zmq_sansio::proto::SocketType;

/// The longest any single step may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// Test plumbing: serialization, bounded waits, captured logs.
// ---------------------------------------------------------------------------------------

/// Tests in this file run in parallel threads, but the leak test counts process-wide
/// resources: it takes this lock exclusively while every other test holds it shared.
static SERIAL: RwLock<()> = RwLock::new(());

fn shared_lock() -> RwLockReadGuard<'static, ()> {
    install_logger();
    SERIAL
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn exclusive_lock() -> RwLockWriteGuard<'static, ()> {
    install_logger();
    SERIAL
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `fut`'s output, or a panic naming `what` once `limit` has passed.
async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    or(fut, async {
        Timer::after(limit).await;
        panic!("{what}: not done within {limit:?}");
    })
    .await
}

/// `fut`'s output, or `None` if it is still pending after `limit` (it is then dropped).
async fn timeout<T>(limit: Duration, fut: impl Future<Output = T>) -> Option<T> {
    or(async { Some(fut.await) }, async {
        Timer::after(limit).await;
        None
    })
    .await
}

/// Polls `condition` until it holds; panics naming `what` after `limit`.
async fn eventually(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "{what}: not true within {limit:?}"
        );
        Timer::after(Duration::from_millis(10)).await;
    }
}

/// Log records of level INFO and above, from every test (each test looks for its own).
static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct CaptureLogger;

impl log::Log for CaptureLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = format!("{} {}", record.level(), record.args());
            RECORDS.lock().unwrap_or_else(|p| p.into_inner()).push(line);
        }
    }

    fn flush(&self) {}
}

fn install_logger() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_logger(&CaptureLogger).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Info);
    });
}

/// Waits for a WARN record containing every one of `needles`: the reason a connection was
/// dropped must reach the log.
async fn expect_warning(needles: &[&str]) -> String {
    let found = || {
        RECORDS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|line| line.starts_with("WARN") && needles.iter().all(|n| line.contains(n)))
            .cloned()
    };
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(line) = found() {
            return line;
        }
        if Instant::now() >= deadline {
            let all = RECORDS.lock().unwrap_or_else(|p| p.into_inner()).join("\n");
            panic!("no WARN record with {needles:?}; records:\n{all}");
        }
        Timer::after(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Sockets and messages.
// ---------------------------------------------------------------------------------------

fn socket(socket_type: SocketType) -> Socket {
    Socket::builder(socket_type)
        .linger(Duration::from_millis(500))
        .build()
        .unwrap()
}

/// A numbered message of `size` octets (at least 4): the number leads, the rest is filler.
fn numbered(n: u32, size: usize) -> Msg {
    let mut body = vec![0xA5u8; size.max(4)];
    body[..4].copy_from_slice(&n.to_be_bytes());
    Msg::from(body)
}

fn number_of(msg: &Msg) -> u32 {
    let frame = msg.frames().last().expect("a frame");
    u32::from_be_bytes(frame[..4].try_into().expect("at least 4 octets"))
}

async fn recv(socket: &Socket) -> Msg {
    socket
        .recv_timeout(PATIENCE)
        .await
        .expect("a message within the patience window")
}

/// A loopback TCP endpoint nobody listens on: bound by a throwaway socket, then released.
async fn free_endpoint() -> String {
    let probe = socket(SocketType::Pull);
    let endpoint = probe.bind("tcp://127.0.0.1:*").unwrap();
    probe.close().await;
    endpoint
}

/// A ROUTER's view of a DEALER round trip: `dealer` asks, `router` answers.
async fn round_trip(dealer: &Socket, router: &Socket, text: &str) {
    dealer.send(text.to_owned()).await.unwrap();
    let request = recv(router).await;
    assert_eq!(request.frames()[1], text.as_bytes(), "request via ROUTER");
    let reply = Msg::from_frames([
        request.frames()[0].clone(),
        Bytes::from(format!("re:{text}")),
    ]);
    router.send(reply).await.unwrap();
    assert_eq!(recv(dealer).await, Msg::from(format!("re:{text}")));
}

// ---------------------------------------------------------------------------------------
// A ZMTP peer by hand.
// ---------------------------------------------------------------------------------------

/// Frame flags (RFC 23): 8-octet size, command frame.
const LONG: u8 = 0x02;
const COMMAND: u8 = 0x04;

/// One ZMTP 3.1 peer over a blocking std `TcpStream`, driven step by step: it never answers
/// a PING, never reads unless told, and never closes unless dropped.
struct RawPeer {
    stream: TcpStream,
    /// Octets read and not yet parsed into frames.
    buffer: Vec<u8>,
}

impl RawPeer {
    fn connect(endpoint: &str) -> Self {
        let addr: SocketAddr = endpoint
            .strip_prefix("tcp://")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{endpoint} is not tcp://ip:port"));
        let stream = TcpStream::connect_timeout(&addr, PATIENCE).unwrap();
        stream.set_nodelay(true).unwrap();
        Self {
            stream,
            buffer: Vec::new(),
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Greeting (ZMTP 3.1, NULL, as client) and READY with our `Socket-Type`; then reads the
    /// other side's greeting and READY, so the handshake is complete on both sides.
    fn handshake(&mut self, socket_type: &str) {
        let mut greeting = [0u8; 64];
        greeting[0] = 0xFF;
        greeting[9] = 0x7F;
        greeting[10] = 3; // major
        greeting[11] = 1; // minor
        greeting[12..16].copy_from_slice(b"NULL");
        self.write(&greeting);
        let mut ready = b"\x05READY\x0bSocket-Type".to_vec();
        ready.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
        ready.extend_from_slice(socket_type.as_bytes());
        self.send_frame(COMMAND, &ready);

        let deadline = Instant::now() + PATIENCE;
        while self.buffer.len() < 64 {
            assert!(self.fill(deadline), "no greeting from the socket");
        }
        assert_eq!(
            (self.buffer[0], self.buffer[9]),
            (0xFF, 0x7F),
            "greeting signature"
        );
        self.buffer.drain(..64);
        let (flags, body) = self.next_frame(deadline).expect("READY from the socket");
        assert!(flags & COMMAND != 0 && body.starts_with(b"\x05READY"));
    }

    fn send_frame(&mut self, flags: u8, body: &[u8]) {
        let mut frame = Vec::with_capacity(body.len() + 9);
        if let Ok(short) = u8::try_from(body.len()) {
            frame.extend_from_slice(&[flags, short]);
        } else {
            frame.push(flags | LONG);
            frame.extend_from_slice(&(body.len() as u64).to_be_bytes());
        }
        frame.extend_from_slice(body);
        self.write(&frame);
    }

    /// Reads whatever arrives before `deadline` into the buffer; false if nothing did.
    fn fill(&mut self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        self.stream.set_read_timeout(Some(left)).unwrap();
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => panic!("the socket closed the connection unexpectedly"),
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                true
            }
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(err) => panic!("read failed: {err}"),
        }
    }

    /// The next whole frame (flags, body), reading until `deadline` if needed.
    fn next_frame(&mut self, deadline: Instant) -> Option<(u8, Vec<u8>)> {
        loop {
            if let Some(&flags) = self.buffer.first() {
                let header = if flags & LONG != 0 { 9 } else { 2 };
                if self.buffer.len() >= header {
                    let size = if flags & LONG != 0 {
                        u64::from_be_bytes(self.buffer[1..9].try_into().unwrap()) as usize
                    } else {
                        usize::from(self.buffer[1])
                    };
                    if self.buffer.len() >= header + size {
                        let body = self.buffer[header..header + size].to_vec();
                        self.buffer.drain(..header + size);
                        return Some((flags, body));
                    }
                }
            }
            if !self.fill(deadline) {
                return None;
            }
        }
    }

    /// Reads and discards until the other side closes the connection (EOF or reset);
    /// returns how long that took, or panics after `limit`.
    fn wait_closed(&mut self, limit: Duration) -> Duration {
        let start = Instant::now();
        let mut sink = [0u8; 64 * 1024];
        loop {
            let left = limit.saturating_sub(start.elapsed());
            assert!(!left.is_zero(), "connection still open after {limit:?}");
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.stream.read(&mut sink) {
                Ok(0) => return start.elapsed(),
                Ok(_) => {}
                Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                // A reset also means we closed it (with unread input in our buffer).
                Err(_) => return start.elapsed(),
            }
        }
    }

    /// Reads everything that arrives until the stream stays quiet for `quiet`; the count.
    fn drain(&mut self, quiet: Duration) -> usize {
        let mut total = std::mem::take(&mut self.buffer).len();
        let mut sink = [0u8; 64 * 1024];
        self.stream.set_read_timeout(Some(quiet)).unwrap();
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            match self.stream.read(&mut sink) {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(_) => break,
            }
        }
        total
    }
}

// ---------------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------------

/// Non-ZMTP bytes, and a malformed frame after a valid handshake: each such connection is
/// closed by us with its reason logged, while a real DEALER on the same ROUTER keeps
/// exchanging messages in both directions.
#[test]
fn garbage_peers_are_dropped_while_good_peers_keep_working() {
    let _serial = shared_lock();
    smol::block_on(async {
        let router = socket(SocketType::Router);
        let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();
        let dealer = socket(SocketType::Dealer);
        dealer.connect(&endpoint).unwrap();
        within(PATIENCE, "dealer handshake", router.wait_for_peers(1)).await;
        round_trip(&dealer, &router, "before").await;

        // 1. Not ZeroMQ at all.
        let mut http = RawPeer::connect(&endpoint);
        http.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        http.wait_closed(Duration::from_secs(5));
        expect_warning(&["connection dropped", "bad greeting signature"]).await;
        round_trip(&dealer, &router, "after garbage").await;

        // 2. A proper handshake, then a frame with reserved flag bits set.
        let mut broken = RawPeer::connect(&endpoint);
        broken.handshake("DEALER");
        eventually(PATIENCE, "raw peer counted", || {
            router.connected_peers() == 2
        })
        .await;
        round_trip(&dealer, &router, "beside a raw peer").await;
        broken.write(&[0xF0, 0x01, 0x00]);
        broken.wait_closed(Duration::from_secs(5));
        expect_warning(&["connection dropped", "framing", "reserved bits"]).await;
        eventually(PATIENCE, "only the dealer left", || {
            router.connected_peers() == 1
        })
        .await;
        round_trip(&dealer, &router, "after a malformed frame").await;
        assert_eq!(
            dealer.connected_peers(),
            1,
            "the good peer never reconnected"
        );

        dealer.close().await;
        router.close().await;
    });
}

/// A peer that completes the handshake and then goes silent (no PONGs, TCP left open) is
/// dropped by our heartbeat; a real peer beside it answers PINGs and stays connected.
#[test]
fn silent_peer_is_dropped_by_heartbeats() {
    let _serial = shared_lock();
    smol::block_on(async {
        let timeout = Duration::from_millis(300);
        let pull = Socket::builder(SocketType::Pull)
            .heartbeat(Duration::from_millis(100), timeout)
            .linger(Duration::ZERO)
            .build()
            .unwrap();
        let endpoint = pull.bind("tcp://127.0.0.1:*").unwrap();
        // The good peer has no heartbeat of its own: it only answers our PINGs.
        let push = socket(SocketType::Push);
        push.connect(&endpoint).unwrap();
        within(PATIENCE, "push handshake", pull.wait_for_peers(1)).await;

        let mut silent = RawPeer::connect(&endpoint);
        silent.handshake("PUSH");
        eventually(PATIENCE, "silent peer counted", || {
            pull.connected_peers() == 2
        })
        .await;
        // From here on the raw peer neither writes nor answers; it only watches for EOF.
        let took = silent.wait_closed(Duration::from_secs(5));
        assert!(
            took >= timeout,
            "dropped after {took:?}, before the {timeout:?} heartbeat timeout"
        );
        assert!(took < Duration::from_secs(3), "dropped only after {took:?}");
        eventually(Duration::from_secs(2), "silent peer uncounted", || {
            pull.connected_peers() == 1
        })
        .await;
        expect_warning(&["connection dropped", "heartbeat"]).await;

        // Several more timeout windows later, the answering peer is still there and works.
        Timer::after(3 * timeout).await;
        assert_eq!(pull.connected_peers(), 1, "the live peer was dropped");
        push.send("still here").await.unwrap();
        assert_eq!(recv(&pull).await, Msg::from("still here"));

        push.close().await;
        pull.close().await;
    });
}

/// A subscriber that stops reading fills its buffers; PUB drops for it alone and keeps
/// serving a fast subscriber every message, without ever refusing a send.
#[test]
fn slow_subscriber_does_not_stall_publisher() {
    let _serial = shared_lock();
    const SIZE: usize = 8 * 1024;
    const BATCH: u32 = 50;
    const BATCHES: u32 = 80; // 4000 messages, 32 MiB
    smol::block_on(async {
        // A per-peer queue of 100 messages (800 KiB) keeps the slow peer's backlog small
        // next to what is published; batches of 50 never overflow the fast peer's queue.
        let publisher = Socket::builder(SocketType::Pub)
            .send_hwm(100)
            .linger(Duration::ZERO)
            .build()
            .unwrap();
        let endpoint = publisher.bind("tcp://127.0.0.1:*").unwrap();
        let fast = Socket::builder(SocketType::Sub)
            .subscribe("")
            .linger(Duration::ZERO)
            .build()
            .unwrap();
        fast.connect(&endpoint).unwrap();
        let mut slow = RawPeer::connect(&endpoint);
        slow.handshake("SUB");
        slow.send_frame(COMMAND, b"\x09SUBSCRIBE");
        within(PATIENCE, "both subscribers", publisher.wait_for_peers(2)).await;

        // Subscriptions travel asynchronously: probe until both subscribers get one.
        let (mut fast_in, mut slow_in) = (false, false);
        let deadline = Instant::now() + PATIENCE;
        while !(fast_in && slow_in) {
            assert!(Instant::now() < deadline, "subscriptions never took effect");
            publisher.try_send("probe").unwrap();
            fast_in |= fast.recv_timeout(Duration::from_millis(20)).await.is_ok();
            slow_in |= slow
                .next_frame(Instant::now() + Duration::from_millis(20))
                .is_some();
        }
        // The slow subscriber reads nothing more from here on.

        let started = Instant::now();
        let mut next = 0;
        for _ in 0..BATCHES {
            for _ in 0..BATCH {
                // PUB never waits: `try_send` would report WouldBlock if it had to.
                publisher.try_send(numbered(next, SIZE)).unwrap();
                next += 1;
            }
            let mut got = 0;
            while got < BATCH {
                let msg = recv(&fast).await;
                if msg.frames()[0] == "probe" {
                    continue;
                }
                assert_eq!(number_of(&msg), next - BATCH + got, "fast subscriber order");
                got += 1;
            }
        }
        let elapsed = started.elapsed();
        assert!(
            elapsed < PATIENCE,
            "fast subscriber served slowly: {elapsed:?}"
        );

        // What the slow peer could take is a fraction of what was published: PUB dropped
        // its share instead of waiting for it.
        let published = next as usize * SIZE;
        let slow_got = slow.drain(Duration::from_millis(300));
        assert!(
            slow_got < published / 2,
            "slow subscriber got {slow_got} of {published} octets: nothing was dropped"
        );
        fast.close().await;
        publisher.close().await;
    });
}

/// Connecting before anyone listens: the connector retries, and what PUSH and DEALER
/// queued meanwhile is delivered once a server binds the port.
#[test]
fn connect_before_bind_delivers_queued_messages() {
    let _serial = shared_lock();
    smol::block_on(async {
        for (client_type, server_type) in [
            (SocketType::Push, SocketType::Pull),
            (SocketType::Dealer, SocketType::Router),
        ] {
            let endpoint = free_endpoint().await;
            let client = socket(client_type);
            client.connect(&endpoint).unwrap();
            for n in 0..3 {
                within(
                    PATIENCE,
                    "queueing without a peer",
                    client.send(numbered(n, 8)),
                )
                .await
                .unwrap();
            }
            // Let a few connection attempts fail first.
            Timer::after(Duration::from_millis(300)).await;
            let server = socket(server_type);
            assert_eq!(server.bind(&endpoint).unwrap(), endpoint);
            for n in 0..3 {
                assert_eq!(number_of(&recv(&server).await), n, "{client_type} queued");
            }
            client.close().await;
            server.close().await;
        }
    });
}

/// A publisher that sends flat out from a task on the executor its connections run on
/// (where the `io` docs say socket-heavy code runs fastest), to a subscriber that reads
/// slower, never waits and soon drops: it must still let its connection run. It used to
/// starve it: once the queue was full nothing more went out while the publisher ran, so
/// the subscriber got the messages queued before the first drop and nothing after.
#[test]
fn a_publisher_flat_out_on_the_executor_keeps_its_connections_running() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    let _serial = shared_lock();
    const SIZE: usize = 4096;
    // More than loopback's largest socket buffers hold (tcp_rmem and tcp_wmem allow about
    // 36 MiB): the publisher has certainly dropped by then.
    const ENOUGH: usize = 64 * 1024 * 1024 / SIZE;
    const MOST: u32 = 2_000_000;
    smol::block_on(async {
        let publisher = socket(SocketType::Pub);
        let endpoint = publisher.bind("tcp://127.0.0.1:*").unwrap();
        let subscriber = Socket::builder(SocketType::Sub)
            .subscribe("")
            .linger(Duration::ZERO)
            .build()
            .unwrap();
        subscriber.connect(&endpoint).unwrap();
        eventually(PATIENCE, "the subscription arrives", || {
            publisher.subscribed_peers() == 1
        })
        .await;
        let done = Arc::new(AtomicBool::new(false));
        let got = Arc::new(AtomicUsize::new(0));
        // Publishes until the subscriber has had enough (or a bound far past it, which only
        // a starved connection reaches).
        let flat_out = smol::spawn({
            let (publisher, done, got) = (publisher.clone(), Arc::clone(&done), Arc::clone(&got));
            async move {
                let mut n = 0;
                while n < MOST && got.load(SeqCst) < ENOUGH {
                    publisher.send(numbered(n, SIZE)).await.unwrap();
                    n += 1;
                }
                done.store(true, SeqCst);
            }
        });
        // Bursts of 20 messages a millisecond (80 MB/s) while the publisher runs, a fraction
        // of its pace; then whatever is left.
        let mut received = Vec::new();
        while !done.load(SeqCst) {
            for _ in 0..20 {
                match subscriber.try_recv() {
                    Ok(Some(msg)) => received.push(number_of(&msg)),
                    _ => break,
                }
            }
            got.store(received.len(), SeqCst);
            Timer::after(Duration::from_millis(1)).await;
        }
        while let Ok(msg) = subscriber.recv_timeout(Duration::from_millis(500)).await {
            received.push(number_of(&msg));
        }
        within(PATIENCE, "the publisher finishes", flat_out).await;
        assert!(received.is_sorted(), "out of order");
        // A starved connection delivers exactly the messages queued before the first drop:
        // 0, 1, 2 … with no gap. Anything after a gap went out while the publisher ran.
        let last = *received.last().expect("messages") as usize;
        assert!(
            last >= received.len(),
            "the subscriber got messages 0 to {last} and nothing later: the connection did \
             not run while the publisher did"
        );
        subscriber.close().await;
        publisher.close().await;
    });
}

/// The server closes and a new one binds the same port: the client reconnects, messages
/// it sent while the server was away are delivered, and traffic flows both ways again.
#[test]
fn client_reconnects_when_server_comes_back() {
    let _serial = shared_lock();
    smol::block_on(async {
        let first = socket(SocketType::Router);
        let endpoint = first.bind("tcp://127.0.0.1:*").unwrap();
        let dealer = Socket::builder(SocketType::Dealer)
            .reconnect_interval(Duration::from_millis(50))
            .linger(Duration::ZERO)
            .build()
            .unwrap();
        dealer.connect(&endpoint).unwrap();
        within(PATIENCE, "first handshake", first.wait_for_peers(1)).await;
        round_trip(&dealer, &first, "one").await;

        first.close().await;
        eventually(PATIENCE, "dealer notices", || dealer.connected_peers() == 0).await;
        dealer.send("while away").await.unwrap();
        Timer::after(Duration::from_millis(200)).await;

        let second = socket(SocketType::Router);
        assert_eq!(second.bind(&endpoint).unwrap(), endpoint);
        within(PATIENCE, "reconnect", second.wait_for_peers(1)).await;
        let queued = recv(&second).await;
        assert_eq!(queued.frames()[1], "while away");
        round_trip(&dealer, &second, "two").await;

        dealer.close().await;
        second.close().await;
    });
}

/// A listener on loopback whose thread hands each accepted connection to `serve`, and
/// counts them; it stops when dropped.
struct Listener {
    endpoint: String,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Listener {
    fn spawn(serve: fn(TcpStream)) -> Self {
        use std::sync::atomic::Ordering::SeqCst;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let endpoint = format!("tcp://{}", listener.local_addr().unwrap());
        let accepted = std::sync::Arc::default();
        let stop = std::sync::Arc::<std::sync::atomic::AtomicBool>::default();
        let thread = {
            let (accepted, stop) = (
                std::sync::Arc::clone(&accepted),
                std::sync::Arc::clone(&stop),
            );
            std::thread::spawn(move || {
                while !stop.load(SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            std::sync::atomic::AtomicUsize::fetch_add(&accepted, 1, SeqCst);
                            stream.set_nonblocking(false).unwrap();
                            serve(stream);
                        }
                        // Polling keeps the thread stoppable; its pace decides nothing.
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
            })
        };
        Self {
            endpoint,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Completes a ZMTP handshake as a PULL, then hangs up.
fn handshake_then_hang_up(mut stream: TcpStream) {
    use zmq_sansio::proto::{Config, Connection, Role};
    let now = Instant::now();
    let mut conn = Connection::new(Config::new(SocketType::Pull), Role::Server, now);
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = [0u8; 4096];
    while !conn.is_ready() {
        while let Some(chunk) = conn.poll_transmit() {
            if stream.write_all(&chunk).is_err() {
                return;
            }
        }
        match stream.read(&mut buf) {
            Ok(n) if n > 0 => {
                if conn.handle_input(&buf[..n], now).is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
    while let Some(chunk) = conn.poll_transmit() {
        let _ = stream.write_all(&chunk);
    }
}

/// One connector whose connections complete their handshake and drop, again and again,
/// does not reset the backoff of another connector of the same socket whose connections
/// never get that far: that one still waits twice as long after every failure.
#[test]
fn each_connector_keeps_its_own_reconnect_backoff() {
    let _serial = shared_lock();
    const FIRST: Duration = Duration::from_millis(20);
    // Accepts, stays silent for a while, then hangs up before any ZMTP: meanwhile the
    // other connector completes handshakes, which must not count for this one.
    let refusing = Listener::spawn(|stream| {
        std::thread::sleep(Duration::from_millis(50));
        drop(stream);
    });
    let flapping = Listener::spawn(handshake_then_hang_up);
    smol::block_on(async {
        let push = Socket::builder(SocketType::Push)
            .reconnect_interval(FIRST)
            .reconnect_interval_max(Duration::from_secs(10))
            .linger(Duration::ZERO)
            .build()
            .unwrap();
        let start = Instant::now();
        push.connect(&refusing.endpoint).unwrap();
        push.connect(&flapping.endpoint).unwrap();
        eventually(PATIENCE, "60 handshakes with the flapping peer", || {
            flapping.accepted() >= 60
        })
        .await;
        let elapsed = start.elapsed();
        let attempts = refusing.accepted();
        // With doubling delays, n attempts take at least FIRST × (2^(n-1) − 1).
        let most = 2 + (elapsed.as_secs_f64() / FIRST.as_secs_f64() + 1.0).log2() as usize;
        assert!(
            attempts <= most,
            "{attempts} attempts on the refusing endpoint in {elapsed:?}: its backoff was reset \
             (at most {most} with its own doubling delays)"
        );
        push.close().await;
    });
}

/// PUSH with a small HWM to a PULL that does not read: `send` stays pending once every
/// buffer on the way is full, resumes as the PULL reads, and nothing is lost or reordered.
#[test]
fn send_blocks_at_the_high_water_mark_and_resumes_without_loss() {
    let _serial = shared_lock();
    const SIZE: usize = 64 * 1024;
    smol::block_on(async {
        let push = Socket::builder(SocketType::Push)
            .send_hwm(4)
            .linger(Duration::ZERO)
            .build()
            .unwrap();
        let pull = Socket::builder(SocketType::Pull)
            .recv_hwm(4)
            .linger(Duration::ZERO)
            .build()
            .unwrap();
        let endpoint = pull.bind("tcp://127.0.0.1:*").unwrap();
        push.connect(&endpoint).unwrap();
        within(PATIENCE, "handshake", pull.wait_for_peers(1)).await;

        // Send until a send stays pending (each octet buffer on the way is finite). A
        // timed-out send is dropped with its message, which is then sent again below.
        let mut accepted = 0u32;
        while timeout(
            Duration::from_millis(300),
            push.send(numbered(accepted, SIZE)),
        )
        .await
        .is_some()
        {
            accepted += 1;
            assert!(accepted < 2_000, "send never blocked (128 MiB accepted)");
        }
        assert!(accepted >= 4, "blocked before the HWM: {accepted}");
        // Still blocked a while later: nothing drains while the PULL does not read.
        assert!(
            timeout(
                Duration::from_millis(200),
                push.send(numbered(accepted, SIZE))
            )
            .await
            .is_none(),
            "send completed although nobody read"
        );

        // The blocked send completes as soon as the PULL reads; everything arrives in order.
        let total = accepted + 200;
        let sender = async {
            for n in accepted..total {
                push.send(numbered(n, SIZE)).await.unwrap();
            }
        };
        let receiver = async {
            for n in 0..total {
                let msg = recv(&pull).await;
                assert_eq!((number_of(&msg), msg.frames()[0].len()), (n, SIZE));
            }
        };
        within(PATIENCE, "resume", smol::future::zip(sender, receiver)).await;
        assert!(pull.try_recv().unwrap().is_none(), "nothing extra");

        push.close().await;
        pull.close().await;
    });
}

/// Messages still queued when the socket is closed (or its last handle dropped) are
/// delivered within linger, and `close` returns as soon as they are out, not at linger.
#[test]
fn close_and_drop_flush_pending_messages_within_linger() {
    let _serial = shared_lock();
    const COUNT: u32 = 200;
    const SIZE: usize = 64 * 1024; // 12.5 MiB in all: far more than the kernel buffers
    smol::block_on(async {
        for by_drop in [false, true] {
            let push = Socket::builder(SocketType::Push)
                .linger(Duration::from_secs(5))
                .build()
                .unwrap();
            let endpoint = push.bind("tcp://127.0.0.1:*").unwrap();
            let pull = socket(SocketType::Pull);
            pull.connect(&endpoint).unwrap();
            within(PATIENCE, "handshake", push.wait_for_peers(1)).await;
            for n in 0..COUNT {
                push.send(numbered(n, SIZE)).await.unwrap();
            }
            // Most of it is still queued in the PUSH socket now.
            let started = Instant::now();
            if by_drop {
                drop(push);
            } else {
                within(PATIENCE, "close", push.close()).await;
                let took = started.elapsed();
                assert!(
                    took < Duration::from_secs(4),
                    "close waited {took:?}: it should return once flushed, not at linger"
                );
            }
            for n in 0..COUNT {
                let msg = recv(&pull).await;
                assert_eq!(number_of(&msg), n, "by_drop = {by_drop}");
            }
            pull.close().await;
        }
    });
}

/// Closing a socket whose peer is not there yet keeps trying for the linger time: a server
/// that binds only after `close` (or drop) was called still receives every message, even
/// though the sender is gone by the time it reads them.
#[test]
fn close_delivers_to_a_server_that_binds_during_linger() {
    let _serial = shared_lock();
    smol::block_on(async {
        for by_drop in [false, true] {
            let endpoint = free_endpoint().await;
            let push = Socket::builder(SocketType::Push)
                .linger(Duration::from_secs(5))
                .reconnect_interval(Duration::from_millis(50))
                .build()
                .unwrap();
            push.connect(&endpoint).unwrap();
            for n in 0..100 {
                push.send(numbered(n, 100)).await.unwrap();
            }
            let closing = if by_drop {
                drop(push);
                None
            } else {
                Some(smol::spawn(async move { push.close().await }))
            };
            Timer::after(Duration::from_millis(300)).await;
            if let Some(closing) = &closing {
                assert!(!closing.is_finished(), "close gave up on queued messages");
            }

            let pull = socket(SocketType::Pull);
            pull.bind(&endpoint).unwrap();
            if let Some(closing) = closing {
                within(PATIENCE, "close after flushing", closing).await;
            }
            for n in 0..100 {
                assert_eq!(number_of(&recv(&pull).await), n, "by_drop = {by_drop}");
            }
            pull.close().await;
        }
    });
}

/// With its only peer gone, `close` keeps queued messages for exactly the linger time:
/// not less, not much more; with zero linger it returns at once.
#[test]
fn close_waits_linger_when_the_peer_is_gone() {
    let _serial = shared_lock();
    smol::block_on(async {
        for linger in [Duration::from_millis(500), Duration::ZERO] {
            let pull = socket(SocketType::Pull);
            let endpoint = pull.bind("tcp://127.0.0.1:*").unwrap();
            let push = Socket::builder(SocketType::Push)
                .linger(linger)
                .build()
                .unwrap();
            push.connect(&endpoint).unwrap();
            within(PATIENCE, "handshake", push.wait_for_peers(1)).await;
            pull.close().await;
            eventually(PATIENCE, "push notices", || push.connected_peers() == 0).await;
            push.send("undeliverable").await.unwrap();

            let started = Instant::now();
            within(PATIENCE, "close", push.close()).await;
            let took = started.elapsed();
            assert!(
                took >= linger,
                "close returned after {took:?} < linger {linger:?}"
            );
            assert!(
                took < linger + Duration::from_millis(750),
                "close took {took:?} for linger {linger:?}"
            );
        }
    });
}

/// With nothing left to send, `close` returns at once, even when the peer has just closed
/// and our connection is ending at that very moment. (`close` used to wait out its whole
/// linger when a connection ended between two of its checks; the REP closing on another
/// thread right before the REQ closes hits that window often.)
#[test]
fn close_returns_promptly_when_nothing_is_queued() {
    let _serial = shared_lock();
    let with_linger = |socket_type| {
        Socket::builder(socket_type)
            .linger(Duration::from_secs(5))
            .build()
            .unwrap()
    };
    for round in 0..300 {
        let rep = with_linger(SocketType::Rep);
        let endpoint = rep.bind("tcp://127.0.0.1:*").unwrap();
        let req = with_linger(SocketType::Req);
        req.connect(&endpoint).unwrap();
        let server = std::thread::spawn(move || {
            smol::block_on(async {
                for _ in 0..10 {
                    rep.send(recv(&rep).await).await.unwrap();
                }
                timed_close(&rep).await
            })
        });
        smol::block_on(async {
            for _ in 0..10 {
                req.send("q").await.unwrap();
                recv(&req).await;
            }
        });
        let rep_took = server.join().unwrap();
        let req_took = smol::block_on(timed_close(&req));
        for (side, took) in [("REP", rep_took), ("REQ", req_took)] {
            assert!(
                took < Duration::from_secs(1),
                "round {round}: {side} close took {took:?} with nothing queued"
            );
        }
    }
}

async fn timed_close(socket: &Socket) -> Duration {
    let started = Instant::now();
    within(PATIENCE, "close", socket.close()).await;
    started.elapsed()
}

// The leak test reads /proc.
#[cfg(target_os = "linux")]
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[cfg(target_os = "linux")]
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Several bound and connected sockets with traffic, then closed: tasks, file descriptors
/// and threads all return to what they were before.
#[test]
#[cfg(target_os = "linux")]
fn nothing_leaks_after_close() {
    let _serial = exclusive_lock();
    smol::block_on(async {
        // Sockets dropped by tests that ran before may still be lingering in the background.
        eventually(PATIENCE, "earlier tests' tasks end", || live_tasks() == 0).await;
        // The executor and reactor threads start on first use; they are not leaks.
        let (a, b) = pair(SocketType::Push, SocketType::Pull, "tcp://127.0.0.1:*").await;
        a.send("warm-up").await.unwrap();
        recv(&b).await;
        a.close().await;
        b.close().await;
        let baseline = (live_tasks(), open_fds(), threads());

        let ipc_dir = std::env::temp_dir().join(format!("zmq-sansio-leaks-{}", std::process::id()));
        std::fs::create_dir_all(&ipc_dir).unwrap();
        let ipc = format!("ipc://{}", ipc_dir.join("sock").display());
        let mut sockets = Vec::new();
        let (push, pull) = pair(SocketType::Push, SocketType::Pull, "tcp://127.0.0.1:*").await;
        let (req, rep) = pair(SocketType::Req, SocketType::Rep, &ipc).await;
        let (publisher, sub) = pair(SocketType::Pub, SocketType::Sub, "tcp://127.0.0.1:*").await;
        let router = socket(SocketType::Router);
        let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();
        let dealers: Vec<_> = (0..3)
            .map(|_| {
                let dealer = socket(SocketType::Dealer);
                dealer.connect(&endpoint).unwrap();
                dealer
            })
            .collect();
        within(PATIENCE, "dealers", router.wait_for_peers(3)).await;
        assert!(live_tasks() > baseline.0 && open_fds() > baseline.1);

        for i in 0..100 {
            push.send(numbered(i, 1000)).await.unwrap();
            req.send("q").await.unwrap();
            rep.send(recv(&rep).await).await.unwrap();
            recv(&req).await;
            for dealer in &dealers {
                round_trip(dealer, &router, "x").await;
            }
            publisher.try_send("news").unwrap();
        }
        for _ in 0..100 {
            recv(&pull).await;
        }
        sub.subscribe("").unwrap();
        // One disconnect and one unbind along the way, then everything closes.
        dealers[0].disconnect(&endpoint).unwrap();
        router.unbind(&endpoint).unwrap();
        sockets.extend([push, pull, req, rep, publisher, sub, router]);
        sockets.extend(dealers);
        for socket in &sockets {
            within(PATIENCE, "close", socket.close()).await;
        }
        drop(sockets);

        let settled = || (live_tasks(), open_fds(), threads()) == baseline;
        let deadline = Instant::now() + Duration::from_secs(5);
        while !settled() && Instant::now() < deadline {
            Timer::after(Duration::from_millis(20)).await;
        }
        assert_eq!(
            (live_tasks(), open_fds(), threads()),
            baseline,
            "(tasks, fds, threads) after closing vs. before"
        );
        let _ = std::fs::remove_dir_all(&ipc_dir);
    });
}

/// `a` bound on `endpoint`, `b` connected to it, both handshaken.
#[cfg(target_os = "linux")]
async fn pair(a: SocketType, b: SocketType, endpoint: &str) -> (Socket, Socket) {
    let (a, b) = (socket(a), socket(b));
    let bound = a.bind(endpoint).unwrap();
    b.connect(&bound).unwrap();
    within(PATIENCE, "pair handshake", async {
        a.wait_for_peers(1).await;
        b.wait_for_peers(1).await;
    })
    .await;
    (a, b)
}
