//! Whole sockets (pattern + ZMTP connections) wired back to back in memory with
//! `sim::Network`: every compatible pair, in both bind/connect arrangements, no IO at all.

use std::time::{Duration, Instant};

use bytes::Bytes;
use zmq_sansio::Msg;
use zmq_sansio::pattern::{PeerError, SendError, Socket, SocketEvent, SocketOptions};
use zmq_sansio::proto::{ConnectionError, SocketType};
use zmq_sansio::sim::{Network, SocketId};

fn options(socket_type: SocketType) -> SocketOptions {
    SocketOptions::new(socket_type)
}

/// Two sockets, `a` connecting to `b` or the other way round.
fn pair(a: SocketType, b: SocketType, a_connects: bool) -> (Network, SocketId, SocketId) {
    let mut net = Network::new(Instant::now());
    net.set_max_chunk(7); // every exchange is cut into awkward pieces
    let a_id = net.add_socket(options(a));
    let b_id = net.add_socket(options(b));
    if a_connects {
        net.connect(a_id, b_id);
    } else {
        net.connect(b_id, a_id);
    }
    net.run();
    (net, a_id, b_id)
}

fn m(frames: &[&str]) -> Msg {
    Msg::from_frames(frames.iter().map(|f| Bytes::copy_from_slice(f.as_bytes())))
}

fn recv(net: &mut Network, id: SocketId) -> Msg {
    net.run();
    net.socket(id)
        .recv()
        .unwrap()
        .expect("a message has arrived")
}

fn big() -> Bytes {
    Bytes::from((0..300_000u32).map(|i| i as u8).collect::<Vec<u8>>())
}

#[test]
fn req_rep_both_ways_round() {
    for req_connects in [true, false] {
        let (mut net, req, rep) = pair(SocketType::Req, SocketType::Rep, req_connects);
        for i in 0..3 {
            let request = Msg::from_frames([Bytes::from(format!("q{i}")), Bytes::new(), big()]);
            net.socket(req).send(request.clone()).unwrap();
            assert_eq!(
                recv(&mut net, rep),
                request,
                "REP sees the body without envelope"
            );
            net.socket(rep).send(m(&["answer", "two frames"])).unwrap();
            assert_eq!(recv(&mut net, req), m(&["answer", "two frames"]));
        }
    }
}

#[test]
fn req_router_envelope() {
    for req_connects in [true, false] {
        let (mut net, req, router) = pair(SocketType::Req, SocketType::Router, req_connects);
        net.socket(req).send(m(&["ABC", "DEF"])).unwrap();
        let got = recv(&mut net, router);
        assert_eq!(got.len(), 4, "routing id, delimiter, two body frames");
        assert_eq!(&got.frames()[1..], m(&["", "ABC", "DEF"]).frames());
        let reply = Msg::from_frames([
            got.frames()[0].clone(),
            Bytes::new(),
            Bytes::from_static(b"GHI"),
        ]);
        net.socket(router).send(reply).unwrap();
        assert_eq!(recv(&mut net, req), m(&["GHI"]));
    }
}

#[test]
fn dealer_rep_envelope() {
    for dealer_connects in [true, false] {
        let (mut net, dealer, rep) = pair(SocketType::Dealer, SocketType::Rep, dealer_connects);
        net.socket(dealer).send(m(&["X", "Y", "", "BODY"])).unwrap();
        assert_eq!(recv(&mut net, rep), m(&["BODY"]));
        net.socket(rep).send(m(&["REPLY"])).unwrap();
        assert_eq!(recv(&mut net, dealer), m(&["X", "Y", "", "REPLY"]));
    }
}

#[test]
fn dealer_router_both_directions() {
    for dealer_connects in [true, false] {
        let mut net = Network::new(Instant::now());
        let mut dealer_options = options(SocketType::Dealer);
        dealer_options.connection.set_identity("dealer-1").unwrap();
        let dealer = net.add_socket(dealer_options);
        let router = net.add_socket(options(SocketType::Router));
        if dealer_connects {
            net.connect(dealer, router);
        } else {
            net.connect(router, dealer);
        }
        net.run();
        net.socket(dealer).send(m(&["hello", "world"])).unwrap();
        assert_eq!(recv(&mut net, router), m(&["dealer-1", "hello", "world"]));
        net.socket(router).send(m(&["dealer-1", "back"])).unwrap();
        assert_eq!(recv(&mut net, dealer), m(&["back"]));
    }
}

#[test]
fn pub_sub_filters_at_the_publisher() {
    for sub_connects in [true, false] {
        let (mut net, sub, publisher) = pair(SocketType::Sub, SocketType::Pub, sub_connects);
        net.socket(sub).subscribe(b"1000 ").unwrap();
        net.run();
        for text in [
            "1000 text hi",
            "10001 text leak",
            "2000 text no",
            "1000 json {}",
        ] {
            net.socket(publisher).send(m(&[text])).unwrap();
        }
        net.run();
        let got: Vec<Msg> = std::iter::from_fn(|| net.socket(sub).recv().unwrap()).collect();
        assert_eq!(got, [m(&["1000 text hi"]), m(&["1000 json {}"])]);
        net.socket(sub).unsubscribe(b"1000 ").unwrap();
        net.run();
        net.socket(publisher).send(m(&["1000 text gone"])).unwrap();
        net.run();
        assert_eq!(net.socket(sub).recv().unwrap(), None);
    }
}

#[test]
fn xpub_xsub_subscriptions_and_upstream_messages() {
    for xsub_connects in [true, false] {
        let (mut net, xsub, xpub) = pair(SocketType::XSub, SocketType::XPub, xsub_connects);
        net.socket(xsub).send(Msg::from(&b"\x01news"[..])).unwrap();
        assert_eq!(recv(&mut net, xpub), Msg::from(&b"\x01news"[..]));
        net.socket(xsub).send(m(&["upstream", "multi"])).unwrap();
        assert_eq!(recv(&mut net, xpub), m(&["upstream", "multi"]));
        net.socket(xpub).send(m(&["news: ok", "body"])).unwrap();
        net.socket(xpub).send(m(&["weather: no"])).unwrap();
        assert_eq!(recv(&mut net, xsub), m(&["news: ok", "body"]));
        net.run();
        assert_eq!(net.socket(xsub).recv().unwrap(), None);
    }
}

#[test]
fn push_pull_both_ways() {
    for push_connects in [true, false] {
        let (mut net, push, pull) = pair(SocketType::Push, SocketType::Pull, push_connects);
        let msgs = [
            m(&["a"]),
            Msg::from_frames([big(), Bytes::new()]),
            m(&["c", "d", "e"]),
        ];
        for msg in &msgs {
            net.socket(push).send(msg.clone()).unwrap();
        }
        for msg in &msgs {
            assert_eq!(&recv(&mut net, pull), msg);
        }
    }
}

#[test]
fn pair_pair_and_a_second_pair_is_refused() {
    let mut net = Network::new(Instant::now());
    let a = net.add_socket(options(SocketType::Pair));
    let b = net.add_socket(options(SocketType::Pair));
    let c = net.add_socket(options(SocketType::Pair));
    net.connect(a, b);
    net.run();
    net.socket(a).send(m(&["to b"])).unwrap();
    assert_eq!(recv(&mut net, b), m(&["to b"]));
    net.socket(b).send(m(&["to a", "2"])).unwrap();
    assert_eq!(recv(&mut net, a), m(&["to a", "2"]));
    let intruder = net.connect(c, b);
    net.run();
    assert!(!net.is_up(intruder));
    assert!(
        matches!(net.link_error(intruder), Some(PeerError::Refused(_))),
        "{:?}",
        net.link_error(intruder)
    );
    net.socket(a).send(m(&["still fine"])).unwrap();
    assert_eq!(recv(&mut net, b), m(&["still fine"]));
}

#[test]
fn incompatible_sockets_never_connect() {
    let (mut net, req, publisher) = pair(SocketType::Req, SocketType::Pub, true);
    net.run();
    // The REQ's queue exists (libzmq semantics), but nothing will ever read it.
    net.socket(req).send(m(&["lost"])).unwrap();
    net.run();
    assert!(net.socket(publisher).pattern().peer_count() == 0);
}

#[test]
fn round_robin_over_several_pullers_and_fair_queue_from_several_pushers() {
    let mut net = Network::new(Instant::now());
    let push = net.add_socket(options(SocketType::Push));
    let pullers: Vec<SocketId> = (0..3)
        .map(|_| net.add_socket(options(SocketType::Pull)))
        .collect();
    for &pull in &pullers {
        net.connect(push, pull);
    }
    net.run();
    for i in 0..9 {
        net.socket(push).send(m(&[&i.to_string()])).unwrap();
    }
    net.run();
    for &pull in &pullers {
        let got: Vec<Msg> = std::iter::from_fn(|| net.socket(pull).recv().unwrap()).collect();
        assert_eq!(got.len(), 3, "each puller gets a third");
    }

    let pull = net.add_socket(options(SocketType::Pull));
    let pushers: Vec<SocketId> = (0..3)
        .map(|_| net.add_socket(options(SocketType::Push)))
        .collect();
    for (i, &p) in pushers.iter().enumerate() {
        net.connect(p, pull);
        net.run();
        for j in 0..3 {
            net.socket(p).send(m(&[&format!("{i}-{j}")])).unwrap();
        }
    }
    net.run();
    let got: Vec<String> = std::iter::from_fn(|| net.socket(pull).recv().unwrap())
        .map(|msg| String::from_utf8(msg.frames()[0].to_vec()).unwrap())
        .collect();
    assert_eq!(
        &got[..3],
        ["0-0", "1-0", "2-0"],
        "one message per pusher in turn"
    );
}

#[test]
fn a_slow_subscriber_does_not_stall_a_fast_one() {
    let mut net = Network::new(Instant::now());
    net.set_link_capacity(4096);
    let mut pub_options = options(SocketType::Pub);
    pub_options.pattern.send_hwm = 10;
    pub_options.transmit_buffer = 4096;
    let publisher = net.add_socket(pub_options);
    let mut sub_options = options(SocketType::Sub);
    sub_options.pattern.recv_hwm = 10;
    let fast = net.add_socket(sub_options.clone());
    let slow = net.add_socket(sub_options);
    for sub in [fast, slow] {
        net.connect(sub, publisher);
        net.socket(sub).subscribe(b"").unwrap();
    }
    net.run();
    let payload = Bytes::from(vec![7u8; 1000]);
    for i in 0..2_000u32 {
        net.socket(publisher)
            .send(Msg::from_frames([
                Bytes::from(i.to_string()),
                payload.clone(),
            ]))
            .unwrap();
        net.run();
        // The fast subscriber reads everything as it comes; the slow one never reads.
        let got = net
            .socket(fast)
            .recv()
            .unwrap()
            .expect("the fast subscriber keeps up");
        assert_eq!(got.frames()[0], i.to_string());
    }
    // The slow one got what fitted in its queues and buffers, the rest was dropped for it.
    let slow_got = std::iter::from_fn(|| net.socket(slow).recv().unwrap()).count();
    assert!(slow_got < 100, "slow subscriber got {slow_got}");
}

#[test]
fn push_blocks_at_the_high_water_mark_and_resumes() {
    let mut net = Network::new(Instant::now());
    net.set_link_capacity(1024);
    let mut push_options = options(SocketType::Push);
    push_options.pattern.send_hwm = 5;
    push_options.transmit_buffer = 1024;
    let push = net.add_socket(push_options);
    let mut pull_options = options(SocketType::Pull);
    pull_options.pattern.recv_hwm = 5;
    let pull = net.add_socket(pull_options);
    net.connect(push, pull);
    net.run();
    let payload = Bytes::from(vec![1u8; 500]);
    let mut sent = 0;
    loop {
        match net.socket(push).send(Msg::from(payload.clone())) {
            Ok(()) => sent += 1,
            Err(SendError::WouldBlock(_)) => break,
            Err(other) => panic!("{other}"),
        }
        net.run();
        assert!(sent < 100, "PUSH never blocked");
    }
    // Nothing was lost: the puller drains everything, then the pusher can send again.
    let mut received = 0;
    while net.socket(pull).recv().unwrap().is_some() {
        received += 1;
        net.run();
    }
    assert_eq!(received, sent);
    net.socket(push).send(Msg::from("after")).unwrap();
    assert_eq!(recv(&mut net, pull), Msg::from("after"));
}

#[test]
fn connect_side_queue_survives_a_reconnect() {
    let mut net = Network::new(Instant::now());
    let push = net.add_socket(options(SocketType::Push));
    let pull = net.add_socket(options(SocketType::Pull));
    let link = net.connect(push, pull);
    net.run();
    net.disconnect(link);
    // libzmq semantics: the connecting PUSH keeps the peer's queue while it is away.
    net.socket(push).send(m(&["queued while down"])).unwrap();
    net.run();
    assert_eq!(net.socket(pull).recv().unwrap(), None);
    net.reconnect(link);
    assert_eq!(recv(&mut net, pull), m(&["queued while down"]));
}

#[test]
fn subscriber_resubscribes_after_reconnect() {
    let mut net = Network::new(Instant::now());
    let publisher = net.add_socket(options(SocketType::Pub));
    let sub = net.add_socket(options(SocketType::Sub));
    let link = net.connect(sub, publisher);
    net.socket(sub).subscribe(b"t").unwrap();
    net.run();
    net.disconnect(link);
    net.reconnect(link);
    net.run();
    net.socket(publisher)
        .send(m(&["t after reconnect"]))
        .unwrap();
    assert_eq!(recv(&mut net, sub), m(&["t after reconnect"]));
}

#[test]
fn heartbeats_detect_a_silent_peer_under_virtual_time() {
    let mut net = Network::new(Instant::now());
    let mut dealer_options = options(SocketType::Dealer);
    dealer_options.connection.heartbeat.interval = Some(Duration::from_secs(1));
    dealer_options.connection.heartbeat.timeout = Some(Duration::from_secs(3));
    let dealer = net.add_socket(dealer_options);
    let router = net.add_socket(options(SocketType::Router));
    let link = net.connect(dealer, router);
    net.advance(Duration::from_secs(60));
    assert!(
        net.is_up(link),
        "PONGs keep the link alive: {:?}",
        net.link_error(link)
    );

    // The cable is pulled: nothing arrives any more, nothing is closed. The dealer's PING
    // goes unanswered and it gives up after the 3 s timeout (PINGs go every second).
    let (dealer_peer, _) = net.link_peers(link);
    net.partition(link, true);
    net.advance(Duration::from_millis(3_500));
    assert!(
        net.is_up(link),
        "not yet: the first unanswered PING is less than 3 s old"
    );
    net.advance(Duration::from_millis(600));
    assert!(!net.is_up(link));
    assert!(matches!(
        net.link_error(link),
        Some(PeerError::Protocol(ConnectionError::HeartbeatTimeout(_)))
    ));
    assert!(
        net.socket(dealer).pattern().has_peer(dealer_peer),
        "the connecting side keeps its queue"
    );
}

#[test]
fn socket_events_say_when_to_retry() {
    let now = Instant::now();
    let mut push = Socket::new(options(SocketType::Push));
    let mut pull = Socket::new(options(SocketType::Pull));
    let events = |s: &mut Socket| std::iter::from_fn(|| s.poll_event()).collect::<Vec<_>>();

    assert!(matches!(
        push.send(m(&["x"])),
        Err(SendError::WouldBlock(_))
    ));
    assert_eq!(pull.recv(), Ok(None));
    let push_peer = push.add_peer().unwrap();
    assert!(
        events(&mut push).contains(&SocketEvent::Writable),
        "a new peer can take messages"
    );
    push.send(m(&["x"])).unwrap();

    push.open(push_peer, now);
    let pull_peer = pull.accept(now);
    loop {
        let mut moved = false;
        while let Some(chunk) = push.poll_transmit(push_peer) {
            pull.handle_input(pull_peer, &chunk, now).unwrap();
            moved = true;
        }
        while let Some(chunk) = pull.poll_transmit(pull_peer) {
            push.handle_input(push_peer, &chunk, now).unwrap();
            moved = true;
        }
        if !moved {
            break;
        }
    }
    let pull_events = events(&mut pull);
    assert!(
        pull_events
            .iter()
            .any(|e| matches!(e, SocketEvent::Connected { peer, .. } if *peer == pull_peer))
    );
    assert!(
        pull_events.contains(&SocketEvent::Readable),
        "{pull_events:?}"
    );
    assert_eq!(pull.recv(), Ok(Some(m(&["x"]))));
}
