//! The simulator against the real thing: scenarios from `io_pairs.rs` and `io_faults.rs`,
//! each written once over a [`Place`] (where its sockets are built and which endpoints they
//! bind) and run twice, over real loopback TCP on smol and on the hosts of a simulated
//! [`World`]; both runs must deliver the same messages in the same order. Faults are only
//! the deterministic kind (a server closed and bound again, a connection made before the
//! server exists), and every wait is on an event, never a sleep.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use smol::stream::StreamExt;
use zmq_sansio::Msg;
use zmq_sansio::io::{Monitor, Socket, SocketBuilder};
use zmq_sansio::pattern::MonitorEvent;
use zmq_sansio::proto::SocketType;
use zmq_sansio::simulation::World;

/// The longest any wait may take (virtual time in the simulation).
const PATIENCE: Duration = Duration::from_secs(10);

/// Makes a builder for a socket of a kind on the machine of a name.
type Builders = Arc<dyn Fn(&str, SocketType) -> SocketBuilder>;

/// Where a scenario's sockets live: real loopback TCP, or a simulated world's hosts.
#[derive(Clone)]
struct Place {
    /// A builder for a socket of this kind on the machine of this name.
    builder: Builders,
    /// An endpoint to bind on the machine of this name, its port left to the system.
    any_port: Arc<dyn Fn(&str) -> String>,
}

impl Place {
    fn socket(&self, machine: &str, kind: SocketType) -> Socket {
        self.configured(machine, kind, |b| b)
    }

    fn configured(
        &self,
        machine: &str,
        kind: SocketType,
        configure: impl FnOnce(SocketBuilder) -> SocketBuilder,
    ) -> Socket {
        let builder = (self.builder)(machine, kind).linger(Duration::from_millis(200));
        configure(builder).build().unwrap()
    }

    fn any_port(&self, machine: &str) -> String {
        (self.any_port)(machine)
    }
}

/// Runs `scenario` over real loopback TCP and in a simulated world (two seeds) and checks
/// that every run delivers the same.
fn same_deliveries<T, F, Fut>(scenario: F)
where
    T: PartialEq + Debug,
    F: Fn(Place) -> Fut,
    Fut: Future<Output = T>,
{
    let real = Place {
        builder: Arc::new(|_, kind| Socket::builder(kind)),
        any_port: Arc::new(|_| "tcp://127.0.0.1:*".to_owned()),
    };
    let real = smol::block_on(smol::future::or(scenario(real), async {
        smol::Timer::after(PATIENCE * 3).await;
        panic!("the real run did not finish within {:?}", PATIENCE * 3);
    }));
    for seed in [1, 2] {
        let world = Arc::new(World::new(seed));
        world.set_time_limit(PATIENCE * 3);
        let hosts = Arc::clone(&world);
        let simulated = Place {
            builder: Arc::new(move |machine, kind| {
                Socket::builder(kind).runtime(hosts.host(machine).runtime())
            }),
            any_port: Arc::new(|machine| format!("tcp://{machine}:*")),
        };
        let simulated = world.block_on(scenario(simulated));
        assert_eq!(
            simulated, real,
            "simulated (seed {seed}) and real runs differ"
        );
    }
}

fn m(frames: &[&str]) -> Msg {
    Msg::from_frames(frames.iter().map(|f| Bytes::copy_from_slice(f.as_bytes())))
}

fn text(msg: &Msg) -> String {
    (msg.frames().iter())
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect::<Vec<_>>()
        .join("|")
}

/// A received message without its first frame (a ROUTER's routing id, which names a peer
/// but is no part of what was sent).
fn after_id(msg: &Msg) -> String {
    text(&Msg::from_frames(msg.frames()[1..].iter().cloned()))
}

async fn recv(socket: &Socket) -> Msg {
    socket
        .recv_timeout(PATIENCE)
        .await
        .expect("a message within the patience window")
}

/// Waits for the monitored socket's next disconnection.
async fn disconnected(monitor: &mut Monitor) {
    while let Some(event) = monitor.next().await {
        if matches!(event, MonitorEvent::Disconnected { .. }) {
            return;
        }
    }
    panic!("the monitor ended");
}

/// `io_pairs::req_rep`: three multipart round trips.
async fn req_rep(place: Place) -> Vec<String> {
    let rep = place.socket("server", SocketType::Rep);
    let endpoint = rep.bind(&place.any_port("server")).unwrap();
    let req = place.socket("client", SocketType::Req);
    req.connect(&endpoint).unwrap();
    let mut got = Vec::new();
    for i in 0..3 {
        let i = i.to_string();
        req.send(m(&["hello", &i])).await.unwrap();
        got.push(format!("REP got {}", text(&recv(&rep).await)));
        rep.send(m(&["world", &i])).await.unwrap();
        got.push(format!("REQ got {}", text(&recv(&req).await)));
    }
    req.close().await;
    rep.close().await;
    got
}

/// `io_pairs::req_router_and_dealer_rep_and_dealer_router`: the envelopes each pair adds
/// and strips.
async fn envelopes(place: Place) -> Vec<String> {
    let mut got = Vec::new();
    let router = place.socket("server", SocketType::Router);
    let endpoint = router.bind(&place.any_port("server")).unwrap();
    let req = place.socket("client", SocketType::Req);
    req.connect(&endpoint).unwrap();
    req.send("q").await.unwrap();
    let request = recv(&router).await;
    got.push(format!("ROUTER got {}", after_id(&request)));
    let reply = [request.frames()[0].clone(), Bytes::new(), Bytes::from("a")];
    router.send(Msg::from_frames(reply)).await.unwrap();
    got.push(format!("REQ got {}", text(&recv(&req).await)));
    req.close().await;
    router.close().await;

    let rep = place.socket("server", SocketType::Rep);
    let endpoint = rep.bind(&place.any_port("server")).unwrap();
    let dealer = place.socket("client", SocketType::Dealer);
    dealer.connect(&endpoint).unwrap();
    dealer.send(m(&["", "q"])).await.unwrap();
    got.push(format!("REP got {}", text(&recv(&rep).await)));
    rep.send("a").await.unwrap();
    got.push(format!("DEALER got {}", text(&recv(&dealer).await)));
    dealer.close().await;
    rep.close().await;

    let router = place.socket("server", SocketType::Router);
    let endpoint = router.bind(&place.any_port("server")).unwrap();
    let dealer = place.socket("client", SocketType::Dealer);
    dealer.connect(&endpoint).unwrap();
    dealer.send(m(&["x", "y"])).await.unwrap();
    let request = recv(&router).await;
    got.push(format!("ROUTER got {}", after_id(&request)));
    let reply = [request.frames()[0].clone(), Bytes::from("z")];
    router.send(Msg::from_frames(reply)).await.unwrap();
    got.push(format!("DEALER got {}", text(&recv(&dealer).await)));
    dealer.close().await;
    router.close().await;
    got
}

/// `io_pairs::pub_sub_and_xpub_xsub`: SUB filters by prefix; XPUB sees subscriptions as
/// messages and sends only what was subscribed to; XSUB sends upstream.
async fn pub_sub(place: Place) -> Vec<String> {
    let mut got = Vec::new();
    let publisher = place.socket("server", SocketType::Pub);
    let endpoint = publisher.bind(&place.any_port("server")).unwrap();
    let sub = place.socket("client", SocketType::Sub);
    sub.subscribe("news").unwrap();
    sub.connect(&endpoint).unwrap();
    publisher.wait_for_subscribers(1).await;
    for msg in [
        m(&["weather", "x"]),
        m(&["news", "real"]),
        m(&["newsy", "y"]),
    ] {
        publisher.send(msg).await.unwrap();
    }
    got.push(format!("SUB got {}", text(&recv(&sub).await)));
    got.push(format!("SUB got {}", text(&recv(&sub).await)));
    publisher.close().await;
    sub.close().await;

    let xpub = place.socket("server", SocketType::XPub);
    let endpoint = xpub.bind(&place.any_port("server")).unwrap();
    let xsub = place.socket("client", SocketType::XSub);
    xsub.connect(&endpoint).unwrap();
    xsub.send(Msg::from(&b"\x01t"[..])).await.unwrap();
    got.push(format!("XPUB got {:?}", recv(&xpub).await.frames()[0]));
    xpub.send(m(&["u1"])).await.unwrap();
    xpub.send(m(&["t1"])).await.unwrap();
    got.push(format!("XSUB got {}", text(&recv(&xsub).await)));
    xsub.send(m(&["upstream"])).await.unwrap();
    got.push(format!("XPUB got {}", text(&recv(&xpub).await)));
    xpub.close().await;
    xsub.close().await;
    got
}

/// `io_pairs::push_pull_and_pair`: a 1 MiB frame, an empty message, PAIR both ways.
async fn push_pull_and_pair(place: Place) -> Vec<String> {
    let mut got = Vec::new();
    let pull = place.socket("server", SocketType::Pull);
    let endpoint = pull.bind(&place.any_port("server")).unwrap();
    let push = place.socket("client", SocketType::Push);
    push.connect(&endpoint).unwrap();
    let big = Bytes::from((0..1 << 20).map(|i| i as u8).collect::<Vec<u8>>());
    push.send(Msg::from_frames([Bytes::from("big"), big.clone()]))
        .await
        .unwrap();
    push.send(Msg::from(Bytes::new())).await.unwrap();
    let first = recv(&pull).await;
    got.push(format!(
        "PULL got {} frames, the big one intact: {}",
        first.frames().len(),
        first.frames()[1] == big
    ));
    got.push(format!("PULL got {:?}", recv(&pull).await.frames()));
    push.close().await;
    pull.close().await;

    let a = place.socket("server", SocketType::Pair);
    let endpoint = a.bind(&place.any_port("server")).unwrap();
    let b = place.socket("client", SocketType::Pair);
    b.connect(&endpoint).unwrap();
    a.send(m(&["ping", "1"])).await.unwrap();
    got.push(format!("PAIR b got {}", text(&recv(&b).await)));
    b.send("pong").await.unwrap();
    got.push(format!("PAIR a got {}", text(&recv(&a).await)));
    a.close().await;
    b.close().await;
    got
}

/// `io_pairs::many_messages_keep_order_under_load` with
/// `io_faults::send_blocks_at_the_high_water_mark_and_resumes_without_loss`'s small HWMs:
/// the sender waits at the HWM and nothing is lost or reordered.
async fn many_in_order_under_backpressure(place: Place) -> Vec<u32> {
    const COUNT: u32 = 3000;
    let pull = place.configured("server", SocketType::Pull, |b| b.recv_hwm(10));
    let endpoint = pull.bind(&place.any_port("server")).unwrap();
    let push = place.configured("client", SocketType::Push, |b| b.send_hwm(10));
    push.connect(&endpoint).unwrap();
    let sender = async {
        for i in 0..COUNT {
            let mut body = vec![0x5A; 1024];
            body[..4].copy_from_slice(&i.to_be_bytes());
            push.send(body).await.unwrap();
        }
    };
    let receiver = async {
        let mut got = Vec::new();
        for _ in 0..COUNT {
            let msg = recv(&pull).await;
            got.push(u32::from_be_bytes(msg.frames()[0][..4].try_into().unwrap()));
        }
        got
    };
    let ((), got) = smol::future::zip(sender, receiver).await;
    push.close().await;
    pull.close().await;
    got
}

/// `io_faults::connect_before_bind_delivers_queued_messages`: what PUSH and DEALER queue
/// before anyone listens is delivered once a server binds.
async fn connect_before_bind(place: Place) -> Vec<String> {
    let mut got = Vec::new();
    for (client_type, server_type) in [
        (SocketType::Push, SocketType::Pull),
        (SocketType::Dealer, SocketType::Router),
    ] {
        // An endpoint nobody listens on: bound by a throwaway socket, then released.
        let probe = place.socket("server", SocketType::Pull);
        let endpoint = probe.bind(&place.any_port("server")).unwrap();
        probe.close().await;
        let client = place.socket("client", client_type);
        client.connect(&endpoint).unwrap();
        for n in 0..3 {
            client.send(format!("queued {n}")).await.unwrap();
        }
        let server = place.socket("server", server_type);
        assert_eq!(server.bind(&endpoint).unwrap(), endpoint);
        for _ in 0..3 {
            let msg = recv(&server).await;
            let body = String::from_utf8_lossy(msg.frames().last().unwrap()).into_owned();
            got.push(format!("{server_type} got {body}"));
        }
        client.close().await;
        server.close().await;
    }
    got
}

/// `io_faults::client_reconnects_when_server_comes_back`: the server closes and another
/// binds the same endpoint; the DEALER reconnects, what it sent meanwhile arrives, and
/// traffic flows both ways again.
async fn server_comes_back(place: Place) -> Vec<String> {
    let mut got = Vec::new();
    let round_trip = async |dealer: &Socket, router: &Socket, text: &str, got: &mut Vec<String>| {
        dealer.send(text.to_owned()).await.unwrap();
        let request = recv(router).await;
        got.push(format!("ROUTER got {}", after_id(&request)));
        let reply = [
            request.frames()[0].clone(),
            Bytes::from(format!("re:{text}")),
        ];
        router.send(Msg::from_frames(reply)).await.unwrap();
        got.push(format!("DEALER got {}", self::text(&recv(dealer).await)));
    };
    let first = place.socket("server", SocketType::Router);
    let endpoint = first.bind(&place.any_port("server")).unwrap();
    let dealer = place.configured("client", SocketType::Dealer, |b| {
        b.reconnect_interval(Duration::from_millis(50))
    });
    let mut monitor = dealer.monitor();
    dealer.connect(&endpoint).unwrap();
    first.wait_for_peers(1).await;
    round_trip(&dealer, &first, "one", &mut got).await;

    first.close().await;
    disconnected(&mut monitor).await;
    dealer.send("while away").await.unwrap();

    let second = place.socket("server", SocketType::Router);
    assert_eq!(second.bind(&endpoint).unwrap(), endpoint);
    got.push(format!("ROUTER got {}", after_id(&recv(&second).await)));
    round_trip(&dealer, &second, "two", &mut got).await;
    dealer.close().await;
    second.close().await;
    got
}

#[test]
fn req_rep_same_in_both() {
    same_deliveries(req_rep);
}

#[test]
fn envelopes_same_in_both() {
    same_deliveries(envelopes);
}

#[test]
fn pub_sub_filtering_same_in_both() {
    same_deliveries(pub_sub);
}

#[test]
fn push_pull_and_pair_same_in_both() {
    same_deliveries(push_pull_and_pair);
}

#[test]
fn backpressure_keeps_order_in_both() {
    same_deliveries(many_in_order_under_backpressure);
}

#[test]
fn connect_before_bind_same_in_both() {
    same_deliveries(connect_before_bind);
}

#[test]
fn a_server_that_comes_back_same_in_both() {
    same_deliveries(server_comes_back);
}
