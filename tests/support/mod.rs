//! Shared by the interop tests (`io_interop_libzmq`, `io_interop_zmqrs`, `pyzmq_interop`):
//! the scenarios every real peer goes through against our `io::Socket`, written once over
//! the [`End`] trait, which our socket and each foreign peer implement in blocking form.
//!
//! A test picks a peer implementation ([`Peers`]), a pattern and which side binds; the
//! scenario connects the two sockets over loopback TCP (ephemeral port), exchanges messages
//! (multipart, empty frames, a 1 MiB frame, a 0-byte message) and checks every one.
#![allow(dead_code)] // each test binary uses a different subset

pub mod runtimes;

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use zmq_sansio::Msg;
use zmq_sansio::io::{Socket, SocketBuilder};
use zmq_sansio::proto::SocketType;

/// The longest any single wait may take: a failure never hangs CI.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// How long a subscriber waits for a probe before the publisher sends another one.
const PROBE_WAIT: Duration = Duration::from_millis(25);

/// One end of a connection, ours or theirs, driven in blocking style.
pub trait End {
    /// Who this is, for failure messages.
    fn name(&self) -> String;
    /// Sends (or panics after [`PATIENCE`]).
    fn send(&mut self, msg: &Msg);
    /// The next message, or `None` if nothing arrived within `timeout`.
    fn recv_within(&mut self, timeout: Duration) -> Option<Msg>;
    /// SUB: starts receiving messages beginning with `prefix`.
    fn subscribe(&mut self, prefix: &[u8]);
    /// SUB: stops receiving messages beginning with `prefix`.
    fn unsubscribe(&mut self, prefix: &[u8]);
    /// PUB: returns once subscription changes its subscriber just made can be assumed to have
    /// arrived, for an implementation that must not publish while it takes them (zmq.rs 0.7
    /// can deadlock then). Others publish straight away, and the scenarios still wait for
    /// every change to take effect.
    fn let_subscriptions_land(&mut self) {}

    /// The next message; panics if nothing arrives within [`PATIENCE`].
    fn recv(&mut self) -> Msg {
        self.recv_within(PATIENCE)
            .unwrap_or_else(|| panic!("{}: nothing received within {PATIENCE:?}", self.name()))
    }
}

/// How a foreign peer attaches: it binds a fresh loopback port, or connects to ours.
#[derive(Debug, Clone, Copy)]
pub enum Link<'a> {
    Bind,
    Connect(&'a str),
}

/// A foreign socket.
pub trait Peer: End {
    /// The endpoint it bound (after [`Link::Bind`]), with the real port.
    fn endpoint(&self) -> String;
    /// Waits (bounded) until the peer itself can carry messages, for implementations that
    /// drop or refuse messages before that (zmq.rs). The default has nothing to wait for.
    fn wait_connected(&mut self) {}
}

/// A foreign implementation that opens sockets.
pub trait Peers {
    /// A socket of `kind`, bound or connected, announcing `routing_id` if given.
    fn open(
        &mut self,
        kind: SocketType,
        link: Link<'_>,
        routing_id: Option<&[u8]>,
    ) -> Box<dyn Peer>;
}

/// Which side of a pair binds; the other connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binder {
    Ours,
    Theirs,
}

/// Runs `fut` to completion on the calling thread (where the current test runtime, if
/// any, makes progress: see [`runtimes::on_each`]), panicking with `what` after
/// [`PATIENCE`].
pub fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    let fut = smol::future::or(async { Some(fut.await) }, async {
        smol::Timer::after(PATIENCE).await;
        None
    });
    match runtimes::current() {
        Some(runtime) => runtime.block_on(fut),
        None => smol::block_on(fut),
    }
    .unwrap_or_else(|| panic!("{what}: not done within {PATIENCE:?}"))
}

/// Our `io::Socket` as an [`End`].
pub struct Ours {
    pub socket: Socket,
}

/// Options applied to a socket being built.
type Configure = std::rc::Rc<dyn Fn(SocketBuilder) -> SocketBuilder>;

thread_local! {
    /// Options every socket [`Ours::new`] builds on this thread gets (see [`with_options`]).
    static CONFIGURE: std::cell::RefCell<Option<Configure>> = const { std::cell::RefCell::new(None) };
}

/// Runs `scenario` with `configure` applied to each of our sockets it builds (security,
/// say), then restores the plain options.
#[allow(dead_code)] // not every test binary uses it
pub fn with_options<T>(
    configure: impl Fn(SocketBuilder) -> SocketBuilder + 'static,
    scenario: impl FnOnce() -> T,
) -> T {
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            CONFIGURE.with(|c| c.borrow_mut().take());
        }
    }
    CONFIGURE.with(|c| *c.borrow_mut() = Some(std::rc::Rc::new(configure)));
    let _restore = Restore;
    scenario()
}

impl Ours {
    pub fn new(kind: SocketType, routing_id: Option<&[u8]>) -> Self {
        let mut builder = Socket::builder(kind).linger(Duration::from_millis(200));
        if let Some(configure) = CONFIGURE.with(|c| c.borrow().clone()) {
            builder = configure(builder);
        }
        if let Some(runtime) = runtimes::current() {
            builder = builder.runtime(runtime.runtime.clone());
        }
        if let Some(id) = routing_id {
            builder = builder.routing_id(Bytes::copy_from_slice(id));
        }
        Self {
            socket: builder.build().expect("valid options"),
        }
    }

    /// Waits (bounded) until at least one peer completed its handshake with us.
    pub fn wait_for_peer(&self) {
        bounded(
            &format!("{}: handshake with the peer", self.name()),
            self.socket.wait_for_peers(1),
        );
    }
}

impl End for Ours {
    fn name(&self) -> String {
        format!("our {:?}", self.socket.socket_type())
    }

    fn send(&mut self, msg: &Msg) {
        let what = format!("{}: send", self.name());
        bounded(&what, self.socket.send(msg.clone())).unwrap_or_else(|err| panic!("{what}: {err}"));
    }

    fn recv_within(&mut self, timeout: Duration) -> Option<Msg> {
        let received = self.socket.recv_timeout(timeout);
        let received = match runtimes::current() {
            Some(runtime) => runtime.block_on(received),
            None => smol::block_on(received),
        };
        match received {
            Ok(msg) => Some(msg),
            Err(zmq_sansio::io::Error::Timeout(_)) => None,
            Err(err) => panic!("{}: recv: {err}", self.name()),
        }
    }

    fn subscribe(&mut self, prefix: &[u8]) {
        self.socket.subscribe(prefix).expect("subscribe");
    }

    fn unsubscribe(&mut self, prefix: &[u8]) {
        self.socket.unsubscribe(prefix).expect("unsubscribe");
    }
}

impl Drop for Ours {
    fn drop(&mut self) {
        // Bounded: a close that never finishes is a bug, but must not hang the run.
        if !std::thread::panicking() {
            bounded("closing our socket", self.socket.close());
        }
    }
}

/// Our socket of `ours` and their socket of `theirs`, connected over loopback TCP, with
/// `binder` binding; both handshakes are complete on return.
pub fn pair_up(
    peers: &mut dyn Peers,
    binder: Binder,
    (ours, our_id): (SocketType, Option<&[u8]>),
    (theirs, their_id): (SocketType, Option<&[u8]>),
) -> (Ours, Box<dyn Peer>) {
    let us = Ours::new(ours, our_id);
    let mut them = match binder {
        Binder::Ours => {
            let endpoint = us.socket.bind("tcp://127.0.0.1:*").expect("bind");
            peers.open(theirs, Link::Connect(&endpoint), their_id)
        }
        Binder::Theirs => {
            let them = peers.open(theirs, Link::Bind, their_id);
            us.socket.connect(&them.endpoint()).expect("connect");
            them
        }
    };
    us.wait_for_peer();
    them.wait_connected();
    (us, them)
}

/// Builds a message from text frames.
pub fn m(frames: &[&str]) -> Msg {
    Msg::from_frames(frames.iter().map(|f| Bytes::copy_from_slice(f.as_bytes())))
}

/// 1 MiB that is not one repeated byte, so a shifted or truncated copy cannot pass.
pub fn big() -> Bytes {
    (0..1usize << 20).map(|i| (i % 251) as u8).collect()
}

/// What every pattern carries: text, multipart with an empty frame inside, a 1 MiB
/// message, a 0-byte message (one empty frame), and a last one.
pub fn payloads() -> Vec<Msg> {
    vec![
        m(&["hello"]),
        m(&["multi", "", "part", "message"]),
        Msg::from(big()),
        Msg::from(Bytes::new()),
        m(&["last"]),
    ]
}

/// Fails with the first difference, without dumping megabytes.
pub fn assert_same(got: &Msg, want: &Msg, context: &str) {
    if got == want {
        return;
    }
    let detail = if got.len() != want.len() {
        format!("{} frames instead of {}", got.len(), want.len())
    } else {
        let (i, (g, w)) = got
            .frames()
            .iter()
            .zip(want.frames())
            .enumerate()
            .find(|(_, (g, w))| g != w)
            .expect("some frame differs");
        let at = g.iter().zip(w.iter()).take_while(|(a, b)| a == b).count();
        format!(
            "frame {i}: {} bytes instead of {}, first difference at byte {at}",
            g.len(),
            w.len()
        )
    };
    panic!("{context}: {detail}\n got: {got:?}\nwant: {want:?}");
}

/// `from` sends every payload, then `to` receives them all, intact and in order.
pub fn stream(from: &mut dyn End, to: &mut dyn End) {
    let payloads = payloads();
    for msg in &payloads {
        from.send(msg);
    }
    for (i, want) in payloads.iter().enumerate() {
        let got = to.recv();
        assert_same(
            &got,
            want,
            &format!("{} -> {}, message {i}", from.name(), to.name()),
        );
    }
}

/// The reply a REP/ROUTER side sends for `request`: the request with a frame added.
fn reply_to(request: &Msg) -> Msg {
    let mut reply = request.clone();
    reply.push_back("re");
    reply
}

/// REQ/REP lockstep over every payload.
pub fn lockstep(req: &mut dyn End, rep: &mut dyn End) {
    for (i, request) in payloads().iter().enumerate() {
        req.send(request);
        let got = rep.recv();
        assert_same(&got, request, &format!("request {i} at {}", rep.name()));
        rep.send(&reply_to(request));
        let got = req.recv();
        assert_same(
            &got,
            &reply_to(request),
            &format!("reply {i} at {}", req.name()),
        );
    }
}

/// The routing id a DEALER announces; the ROUTER must see it and route replies by it.
pub const DEALER_ID: &[u8] = b"dealer-7";

/// DEALER/ROUTER: every payload to the ROUTER, prefixed by the DEALER's routing id (the
/// announced `id`, or one the ROUTER made up, the same for every message), and an answer
/// routed back by that id.
pub fn routed(dealer: &mut dyn End, router: &mut dyn End, id: Option<&[u8]>) {
    let mut seen_id: Option<Bytes> = id.map(Bytes::copy_from_slice);
    for (i, msg) in payloads().iter().enumerate() {
        dealer.send(msg);
        let got = router.recv();
        let context = format!("message {i} at {}", router.name());
        let (got_id, body) = got.frames().split_first().expect("a routing id frame");
        assert!(!got_id.is_empty(), "{context}: empty routing id");
        let expected_id = seen_id.get_or_insert_with(|| got_id.clone());
        assert_eq!(got_id, expected_id, "{context}: routing id");
        assert_same(&Msg::from_frames(body.iter().cloned()), msg, &context);

        let mut answer = reply_to(msg);
        answer.push_front(expected_id.clone());
        router.send(&answer);
        let got = dealer.recv();
        assert_same(
            &got,
            &reply_to(msg),
            &format!("answer {i} at {}", dealer.name()),
        );
    }
}

/// Publishes `probe` until the subscriber receives one: its subscription has then reached
/// the publisher (subscriptions travel asynchronously; the slow-joiner problem).
fn await_subscription(publisher: &mut dyn End, subscriber: &mut dyn End, probe: &Msg) {
    let give_up = Instant::now() + PATIENCE;
    loop {
        publisher.send(probe);
        if let Some(got) = subscriber.recv_within(PROBE_WAIT) {
            assert_same(
                &got,
                probe,
                &format!("first message at {}", subscriber.name()),
            );
            return;
        }
        assert!(
            Instant::now() < give_up,
            "{}: the subscription never reached {} ({PATIENCE:?})",
            subscriber.name(),
            publisher.name()
        );
    }
}

/// The next message at `subscriber` that is not a leftover `probe`.
fn next_skipping(subscriber: &mut dyn End, probe: &Msg) -> Msg {
    loop {
        let got = subscriber.recv();
        if &got != probe {
            return got;
        }
    }
}

/// PUB/SUB: the subscriber receives exactly the messages whose first frame starts with one
/// of its prefixes, multipart and 1 MiB ones included, and none after unsubscribing.
pub fn filtered(publisher: &mut dyn End, subscriber: &mut dyn End) {
    // Subscriptions go out in order on one connection: once the later one ("news") is
    // seen to work, the earlier one ("sport") is in place too.
    subscriber.subscribe(b"sport");
    subscriber.subscribe(b"news");
    publisher.let_subscriptions_land();
    let probe = m(&["news.probe"]);
    await_subscription(publisher, subscriber, &probe);

    let big_news = Msg::from_frames([Bytes::from_static(b"news.big"), big()]);
    let sent = [
        m(&["weather.1"]),
        m(&["news.1"]),
        m(&["sp"]),
        m(&["new"]),
        m(&["NEWS.caps"]),
        m(&["sport.1"]),
        m(&["weather", "news.not-first-frame"]),
        m(&["news.multi", "", "part"]),
        big_news.clone(),
        m(&["sport.end"]),
    ];
    let wanted = [
        m(&["news.1"]),
        m(&["sport.1"]),
        m(&["news.multi", "", "part"]),
        big_news,
        m(&["sport.end"]),
    ];
    for msg in &sent {
        publisher.send(msg);
    }
    // Anything filtered wrongly would arrive before the last wanted message.
    for (i, want) in wanted.iter().enumerate() {
        let got = next_skipping(subscriber, &probe);
        assert_same(
            &got,
            want,
            &format!("filtered message {i} at {}", subscriber.name()),
        );
    }

    // Unsubscribing also travels asynchronously: publish a "sport" message followed by a
    // "news" marker until a marker comes alone; from then on no "sport" may come through.
    subscriber.unsubscribe(b"sport");
    publisher.let_subscriptions_land();
    let give_up = Instant::now() + PATIENCE;
    let mut round = 0u32;
    loop {
        round += 1;
        let marker = m(&["news.marker", &round.to_string()]);
        publisher.send(&m(&["sport.after", &round.to_string()]));
        publisher.send(&marker);
        let got = next_skipping(subscriber, &probe);
        if got == marker {
            break;
        }
        assert_same(
            &got,
            &m(&["sport.after", &round.to_string()]),
            &format!(
                "before the unsubscription took effect at {}",
                subscriber.name()
            ),
        );
        assert_same(&subscriber.recv(), &marker, "the marker after it");
        assert!(
            Instant::now() < give_up,
            "{}: the unsubscription never reached {}",
            subscriber.name(),
            publisher.name()
        );
    }
    publisher.send(&m(&["sport.late"]));
    publisher.send(&m(&["news.final"]));
    assert_same(
        &subscriber.recv(),
        &m(&["news.final"]),
        &format!("after unsubscribing at {}", subscriber.name()),
    );
}

// ---- the scenarios, one per pattern, each in both directions ------------------------------

/// PUSH/PULL: ours pushing to theirs, then theirs pushing to ours.
pub fn push_pull(peers: &mut dyn Peers, binder: Binder) {
    let (mut ours, mut theirs) = pair_up(
        peers,
        binder,
        (SocketType::Push, None),
        (SocketType::Pull, None),
    );
    stream(&mut ours, &mut *theirs);
    drop((ours, theirs));

    let (mut ours, mut theirs) = pair_up(
        peers,
        binder,
        (SocketType::Pull, None),
        (SocketType::Push, None),
    );
    stream(&mut *theirs, &mut ours);
}

/// REQ/REP: our REQ with their REP, then their REQ with our REP.
pub fn req_rep(peers: &mut dyn Peers, binder: Binder) {
    let (mut ours, mut theirs) = pair_up(
        peers,
        binder,
        (SocketType::Req, None),
        (SocketType::Rep, None),
    );
    lockstep(&mut ours, &mut *theirs);
    drop((ours, theirs));

    let (mut ours, mut theirs) = pair_up(
        peers,
        binder,
        (SocketType::Rep, None),
        (SocketType::Req, None),
    );
    lockstep(&mut *theirs, &mut ours);
}

/// DEALER/ROUTER: our DEALER with their ROUTER, then their DEALER with our ROUTER; the
/// DEALER announcing a routing id, then not.
pub fn dealer_router(peers: &mut dyn Peers, binder: Binder) {
    for id in [Some(DEALER_ID), None] {
        let (mut ours, mut theirs) = pair_up(
            peers,
            binder,
            (SocketType::Dealer, id),
            (SocketType::Router, None),
        );
        routed(&mut ours, &mut *theirs, id);
        drop((ours, theirs));

        let (mut ours, mut theirs) = pair_up(
            peers,
            binder,
            (SocketType::Router, None),
            (SocketType::Dealer, id),
        );
        routed(&mut *theirs, &mut ours, id);
    }
}

/// PUB/SUB: our PUB filtering for their SUB, then their PUB filtering for our SUB.
pub fn pub_sub(peers: &mut dyn Peers, binder: Binder) {
    let (mut ours, mut theirs) = pair_up(
        peers,
        binder,
        (SocketType::Pub, None),
        (SocketType::Sub, None),
    );
    filtered(&mut ours, &mut *theirs);
    drop((ours, theirs));

    let (mut ours, mut theirs) = pair_up(
        peers,
        binder,
        (SocketType::Sub, None),
        (SocketType::Pub, None),
    );
    filtered(&mut *theirs, &mut ours);
}

/// PAIR: everything both ways over one connection.
pub fn pair(peers: &mut dyn Peers, binder: Binder) {
    let (mut ours, mut theirs) = pair_up(
        peers,
        binder,
        (SocketType::Pair, None),
        (SocketType::Pair, None),
    );
    stream(&mut ours, &mut *theirs);
    stream(&mut *theirs, &mut ours);
}
