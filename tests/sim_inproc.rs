//! `inproc://` links in `sim::Network`: every pattern between direct peers (no ZMTP), both
//! sockets' high-water marks plus one message in flight, disconnects, partitions and
//! monitor events, and a property that a random workload gives the same results over an
//! inproc link as over a ZMTP one.

use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use zmq_sansio::Msg;
use zmq_sansio::pattern::{DisconnectReason, MonitorEvent, RecvError, SendError, SocketOptions};
use zmq_sansio::proto::{HeartbeatConfig, SocketType};
use zmq_sansio::sim::{LinkId, Network, SocketId};

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

/// Everything `id` can receive now, after running the network.
fn drain(net: &mut Network, id: SocketId) -> Vec<Msg> {
    let mut got = Vec::new();
    loop {
        net.run();
        match net.socket(id).recv().unwrap() {
            Some(msg) => got.push(msg),
            None => return got,
        }
    }
}

/// Two sockets over an inproc link, `a` connecting to `b` or the other way round.
fn pair(a: SocketOptions, b: SocketOptions, a_connects: bool) -> (Network, SocketId, SocketId) {
    let mut net = Network::new(Instant::now());
    let a = net.add_socket(a);
    let b = net.add_socket(b);
    let link = if a_connects {
        net.connect_inproc(a, b)
    } else {
        net.connect_inproc(b, a)
    };
    assert!(net.is_inproc(link) && net.is_up(link));
    net.run();
    (net, a, b)
}

fn options(socket_type: SocketType) -> SocketOptions {
    SocketOptions::new(socket_type)
}

fn with_hwm(socket_type: SocketType, send_hwm: usize, recv_hwm: usize) -> SocketOptions {
    let mut options = SocketOptions::new(socket_type);
    options.pattern.send_hwm = send_hwm;
    options.pattern.recv_hwm = recv_hwm;
    options
}

#[test]
fn req_rep_lockstep() {
    for req_connects in [true, false] {
        let (mut net, req, rep) = pair(
            options(SocketType::Req),
            options(SocketType::Rep),
            req_connects,
        );
        for i in 0..3 {
            let request = m(&[&format!("q{i}"), "two"]);
            net.socket(req).send(request.clone()).unwrap();
            assert_eq!(
                net.socket(req).send(m(&["again"])),
                Err(SendError::RequestPending),
                "a REQ asks once at a time"
            );
            assert_eq!(
                recv(&mut net, rep),
                request,
                "REP sees the body, no envelope"
            );
            assert_eq!(net.socket(rep).recv(), Err(RecvError::ReplyPending));
            net.socket(rep).send(m(&[&format!("a{i}")])).unwrap();
            assert_eq!(recv(&mut net, req), m(&[&format!("a{i}")]));
            assert_eq!(net.socket(req).recv(), Err(RecvError::NoRequest));
        }
    }
}

#[test]
fn router_routes_by_announced_and_generated_ids() {
    let mut net = Network::new(Instant::now());
    let router = net.add_socket(options(SocketType::Router));
    let mut named = options(SocketType::Dealer);
    named.connection.set_identity("alice").unwrap();
    let alice = net.add_socket(named);
    let anonymous = net.add_socket(options(SocketType::Dealer));
    net.connect_inproc(alice, router);
    net.connect_inproc(anonymous, router);
    net.run();

    net.socket(alice).send(m(&["from alice"])).unwrap();
    let got = recv(&mut net, router);
    assert_eq!(got, m(&["alice", "from alice"]), "the announced routing id");
    net.socket(anonymous).send(m(&["from anon"])).unwrap();
    let got = recv(&mut net, router);
    assert_eq!(got.len(), 2);
    let generated = got.frames()[0].clone();
    assert_eq!(generated.len(), 5, "a generated id: 0 and four octets");
    assert_eq!(generated[0], 0);
    assert_eq!(got.frames()[1], "from anon");

    net.socket(router)
        .send(Msg::from_frames([generated, Bytes::from("to anon")]))
        .unwrap();
    net.socket(router).send(m(&["alice", "to alice"])).unwrap();
    assert_eq!(recv(&mut net, anonymous), m(&["to anon"]));
    assert_eq!(recv(&mut net, alice), m(&["to alice"]));
    assert_eq!(net.socket(alice).recv(), Ok(None));
    assert_eq!(net.socket(anonymous).recv(), Ok(None));
}

#[test]
fn pub_sub_filters_by_subscription() {
    for sub_connects in [true, false] {
        let (mut net, sub, publisher) = pair(
            options(SocketType::Sub),
            options(SocketType::Pub),
            sub_connects,
        );
        net.socket(sub).subscribe(b"a").unwrap();
        net.run();
        for topic in ["a1", "b1", "a2", "ab"] {
            net.socket(publisher).send(m(&[topic, "body"])).unwrap();
        }
        let got = drain(&mut net, sub);
        assert_eq!(
            got,
            vec![m(&["a1", "body"]), m(&["a2", "body"]), m(&["ab", "body"])]
        );

        net.socket(sub).unsubscribe(b"a").unwrap();
        net.socket(sub).subscribe(b"b").unwrap();
        net.run();
        for topic in ["a3", "b2"] {
            net.socket(publisher).send(m(&[topic])).unwrap();
        }
        assert_eq!(drain(&mut net, sub), vec![m(&["b2"])]);
    }
}

#[test]
fn xpub_hears_subscriptions_and_cancels() {
    let (mut net, xsub, xpub) = pair(options(SocketType::XSub), options(SocketType::XPub), true);
    net.socket(xsub).send(Msg::from(&b"\x01top"[..])).unwrap();
    assert_eq!(recv(&mut net, xpub), Msg::from(&b"\x01top"[..]));
    net.socket(xpub).send(m(&["topic"])).unwrap();
    net.socket(xpub).send(m(&["other"])).unwrap();
    assert_eq!(drain(&mut net, xsub), vec![m(&["topic"])]);
    net.socket(xsub).send(Msg::from(&b"\x00top"[..])).unwrap();
    assert_eq!(recv(&mut net, xpub), Msg::from(&b"\x00top"[..]));
}

#[test]
fn push_round_robins_and_pull_fair_queues() {
    // One PUSH, three PULLs: each PULL gets every third message, in order.
    let mut net = Network::new(Instant::now());
    let push = net.add_socket(options(SocketType::Push));
    let pulls: Vec<SocketId> = (0..3)
        .map(|_| net.add_socket(options(SocketType::Pull)))
        .collect();
    for &pull in &pulls {
        net.connect_inproc(pull, push);
    }
    net.run();
    for i in 0..9 {
        net.socket(push).send(m(&[&i.to_string()])).unwrap();
    }
    for (p, &pull) in pulls.iter().enumerate() {
        let expected: Vec<Msg> = (0..3).map(|k| m(&[&(p + 3 * k).to_string()])).collect();
        assert_eq!(drain(&mut net, pull), expected, "PULL {p}");
    }

    // Three PUSHes, one PULL: the PULL takes one from each in turn.
    let mut net = Network::new(Instant::now());
    let pull = net.add_socket(options(SocketType::Pull));
    let pushes: Vec<SocketId> = (0..3)
        .map(|_| net.add_socket(options(SocketType::Push)))
        .collect();
    for &push in &pushes {
        net.connect_inproc(push, pull);
    }
    net.run();
    for (p, &push) in pushes.iter().enumerate() {
        for k in 0..3 {
            net.socket(push).send(m(&[&format!("{p}:{k}")])).unwrap();
        }
    }
    let got: Vec<Msg> = drain(&mut net, pull);
    let expected: Vec<Msg> = (0..3)
        .flat_map(|k| (0..3).map(move |p| m(&[&format!("{p}:{k}")])))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn pair_talks_both_ways_and_refuses_a_second_peer() {
    let (mut net, a, b) = pair(options(SocketType::Pair), options(SocketType::Pair), true);
    net.socket(a).send(m(&["to b"])).unwrap();
    net.socket(b).send(m(&["to a"])).unwrap();
    assert_eq!(recv(&mut net, b), m(&["to b"]));
    assert_eq!(recv(&mut net, a), m(&["to a"]));

    let third = net.add_socket(options(SocketType::Pair));
    let link = net.connect_inproc(third, b);
    assert!(!net.is_up(link), "a PAIR takes one peer");
    assert!(net.link_error(link).is_some());
    net.socket(a).send(m(&["still"])).unwrap();
    assert_eq!(recv(&mut net, b), m(&["still"]));
}

#[test]
fn incompatible_types_leave_the_link_down() {
    let mut net = Network::new(Instant::now());
    let push = net.add_socket(options(SocketType::Push));
    let publisher = net.add_socket(options(SocketType::Pub));
    let link = net.connect_inproc(push, publisher);
    net.run();
    assert!(!net.is_up(link));
    assert!(net.link_error(link).is_some(), "the refusal is reported");
    let events = net.take_monitor_events(publisher);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, MonitorEvent::HandshakeFailed { .. })),
        "{events:?}"
    );
}

/// PUSH/PULL over inproc: the sender's HWM, the receiver's, and exactly one message in
/// flight; nothing more is accepted until the PULL reads, and nothing is lost.
#[test]
fn push_pull_hold_both_hwms_plus_one() {
    for (send_hwm, recv_hwm) in [(1, 1), (3, 2), (2, 5), (10, 10)] {
        for pull_connects in [true, false] {
            let mut net = Network::new(Instant::now());
            let push = net.add_socket(with_hwm(SocketType::Push, send_hwm, recv_hwm));
            let pull = net.add_socket(with_hwm(SocketType::Pull, send_hwm, recv_hwm));
            let link = if pull_connects {
                net.connect_inproc(pull, push)
            } else {
                net.connect_inproc(push, pull)
            };
            net.run();
            let mut accepted = 0;
            loop {
                match net.socket(push).send(m(&[&accepted.to_string()])) {
                    Ok(()) => accepted += 1,
                    Err(SendError::WouldBlock(_)) => break,
                    Err(err) => panic!("{err}"),
                }
                net.run();
                assert!(
                    accepted <= send_hwm + recv_hwm + 1,
                    "more than both HWMs and one"
                );
            }
            assert_eq!(
                accepted,
                send_hwm + recv_hwm + 1,
                "({send_hwm}, {recv_hwm})"
            );
            let (to_binder, to_connector) = net.in_flight(link).expect("inproc");
            assert_eq!(to_binder + to_connector, 1, "one message in flight");
            let expected: Vec<Msg> = (0..accepted).map(|i| m(&[&i.to_string()])).collect();
            assert_eq!(drain(&mut net, pull), expected, "all of them, in order");
            assert_eq!(net.in_flight(link), Some((0, 0)));
        }
    }
}

/// PUB over inproc with a SUB that does not read: it drops what exceeds its HWM, the
/// SUB's and the one in flight, and the SUB gets the first ones in order.
#[test]
fn pub_drops_beyond_both_hwms_plus_one() {
    for (send_hwm, recv_hwm) in [(1, 1), (3, 2), (4, 7)] {
        let mut net = Network::new(Instant::now());
        let publisher = net.add_socket(with_hwm(SocketType::Pub, send_hwm, recv_hwm));
        let sub = net.add_socket(with_hwm(SocketType::Sub, send_hwm, recv_hwm));
        net.connect_inproc(sub, publisher);
        net.socket(sub).subscribe(b"").unwrap();
        net.run();
        for i in 0..50 {
            net.socket(publisher).send(m(&[&i.to_string()])).unwrap();
            net.run();
        }
        let kept = send_hwm + recv_hwm + 1;
        let expected: Vec<Msg> = (0..kept).map(|i| m(&[&i.to_string()])).collect();
        assert_eq!(drain(&mut net, sub), expected, "({send_hwm}, {recv_hwm})");
    }
}

#[test]
fn monitor_events_and_disconnect_reasons() {
    let mut net = Network::new(Instant::now());
    let binder = net.add_socket(options(SocketType::Pull));
    let connector = net.add_socket(options(SocketType::Push));
    let link = net.connect_inproc(connector, binder);
    net.run();
    let (peer, accepted) = net.link_peers(link);
    let accepted = accepted.expect("up");
    assert_eq!(
        net.socket(binder)
            .peer_info(accepted)
            .map(|i| i.socket_type),
        Some(SocketType::Push),
        "each side knows what the other would have announced"
    );
    assert_eq!(
        net.socket(connector).peer_info(peer).map(|i| i.socket_type),
        Some(SocketType::Pull)
    );
    let names = |events: &[MonitorEvent]| -> Vec<&'static str> {
        events
            .iter()
            .map(|e| match e {
                MonitorEvent::ConnectDelayed { .. } => "ConnectDelayed",
                MonitorEvent::Connected { .. } => "Connected",
                MonitorEvent::Accepted { .. } => "Accepted",
                MonitorEvent::HandshakeSucceeded { .. } => "HandshakeSucceeded",
                MonitorEvent::Disconnected { .. } => "Disconnected",
                _ => "other",
            })
            .collect()
    };
    let events = net.take_monitor_events(connector);
    assert_eq!(
        names(&events),
        ["ConnectDelayed", "Connected", "HandshakeSucceeded"]
    );
    match &events[1] {
        MonitorEvent::Connected {
            endpoint,
            peer: p,
            remote,
        } => {
            assert_eq!((&**endpoint, *p, &**remote), ("sim://0", peer, "sim://0"));
        }
        other => panic!("{other:?}"),
    }
    let events = net.take_monitor_events(binder);
    assert_eq!(names(&events), ["Accepted", "HandshakeSucceeded"]);
    match &events[0] {
        MonitorEvent::Accepted {
            endpoint,
            peer: p,
            remote,
        } => {
            assert_eq!(
                (&**endpoint, *p, &**remote),
                ("sim://0", accepted, "sim://1")
            );
        }
        other => panic!("{other:?}"),
    }

    // The binding side lets go: it ended the link, the connecting side sees it closed.
    net.disconnect(link);
    net.run();
    assert!(!net.is_up(link));
    assert!(net.link_error(link).is_none(), "a disconnect is no failure");
    let disconnected = |events: Vec<MonitorEvent>| {
        events.into_iter().find_map(|e| match e {
            MonitorEvent::Disconnected { reason, .. } => Some(reason),
            _ => None,
        })
    };
    assert_eq!(
        disconnected(net.take_monitor_events(binder)),
        Some(DisconnectReason::Local)
    );
    assert_eq!(
        disconnected(net.take_monitor_events(connector)),
        Some(DisconnectReason::PeerClosed)
    );

    // The connecting side keeps its queue while down; it flows after a reconnect.
    net.socket(connector).send(m(&["queued"])).unwrap();
    net.run();
    assert_eq!(net.socket(binder).recv(), Ok(None));
    net.reconnect(link);
    assert!(net.is_up(link));
    assert_ne!(
        net.link_peers(link).1,
        Some(accepted),
        "a fresh peer on the binding side"
    );
    assert_eq!(recv(&mut net, binder), m(&["queued"]));
}

#[test]
fn a_partitioned_link_stops_moving_and_heartbeats_do_not_break_it() {
    let heartbeat = HeartbeatConfig {
        interval: Some(Duration::from_millis(100)),
        ttl: Some(Duration::from_millis(300)),
        timeout: Some(Duration::from_millis(300)),
    };
    let mut push = options(SocketType::Push);
    push.connection.heartbeat = heartbeat;
    let mut pull = options(SocketType::Pull);
    pull.connection.heartbeat = heartbeat;
    let mut net = Network::new(Instant::now());
    let push = net.add_socket(push);
    let pull = net.add_socket(pull);
    let link = net.connect_inproc(push, pull);
    net.run();
    net.partition(link, true);
    net.socket(push).send(m(&["held"])).unwrap();
    net.advance(Duration::from_secs(5));
    assert_eq!(
        net.socket(pull).recv(),
        Ok(None),
        "nothing crosses a partition"
    );
    assert!(
        net.is_up(link),
        "direct peers have no heartbeats to time out"
    );
    net.partition(link, false);
    assert_eq!(recv(&mut net, pull), m(&["held"]));
}

// -----------------------------------------------------------------------------------------
// The same workload over ZMTP and over inproc

/// The sockets of a topology: the first binds, the others connect to it.
#[derive(Debug, Clone, Copy)]
enum Topology {
    PushToPulls,
    PushesToPull,
    DealersToRouter,
    PubToSubs,
    ReqsToRep,
    Pair,
}

impl Topology {
    fn types(self) -> Vec<SocketType> {
        use SocketType::*;
        match self {
            Topology::PushToPulls => vec![Push, Pull, Pull, Pull],
            Topology::PushesToPull => vec![Pull, Push, Push, Push],
            Topology::DealersToRouter => vec![Router, Dealer, Dealer],
            Topology::PubToSubs => vec![Pub, Sub, Sub, Sub],
            Topology::ReqsToRep => vec![Rep, Req, Req],
            Topology::Pair => vec![Pair, Pair],
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Send {
        socket: usize,
        body: u8,
    },
    Recv {
        socket: usize,
    },
    Subscribe {
        socket: usize,
        prefix: Vec<u8>,
    },
    Unsubscribe {
        socket: usize,
        prefix: Vec<u8>,
    },
    /// Runs, closes the link and opens it again, and runs: around a quiet network only.
    /// Messages that wait for a transport are released later over ZMTP (after its
    /// handshake) than over inproc, and a fair-queue's order across senders depends on
    /// such timing.
    Bounce {
        link: usize,
    },
    Run,
}

fn op() -> impl Strategy<Value = Op> {
    let prefix = proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b')], 0..2);
    prop_oneof![
        4 => (0..4usize, any::<u8>()).prop_map(|(socket, body)| Op::Send { socket, body }),
        4 => (0..4usize).prop_map(|socket| Op::Recv { socket }),
        1 => (0..4usize, prefix.clone()).prop_map(|(socket, prefix)| Op::Subscribe { socket, prefix }),
        1 => (0..4usize, prefix).prop_map(|(socket, prefix)| Op::Unsubscribe { socket, prefix }),
        1 => (0..3usize).prop_map(|link| Op::Bounce { link }),
        2 => Just(Op::Run),
    ]
}

fn topology() -> impl Strategy<Value = Topology> {
    prop_oneof![
        Just(Topology::PushToPulls),
        Just(Topology::PushesToPull),
        Just(Topology::DealersToRouter),
        Just(Topology::PubToSubs),
        Just(Topology::ReqsToRep),
        Just(Topology::Pair),
    ]
}

/// What every operation returned, in order (messages as their frames).
fn trace(topology: Topology, ops: &[Op], inproc: bool) -> Vec<String> {
    let types = topology.types();
    let mut net = Network::new(Instant::now());
    let ids: Vec<SocketId> = types
        .iter()
        .enumerate()
        .map(|(i, &ty)| {
            let mut options = SocketOptions::new(ty);
            if ty == SocketType::Dealer && i == 1 {
                options.connection.set_identity("D1").unwrap();
            }
            net.add_socket(options)
        })
        .collect();
    let links: Vec<LinkId> = ids[1..]
        .iter()
        .map(|&id| {
            if inproc {
                net.connect_inproc(id, ids[0])
            } else {
                net.connect(id, ids[0])
            }
        })
        .collect();
    net.run();
    // ROUTER: the routing id of the last message it received, to reply with.
    let mut last_id: Option<Bytes> = None;
    let mut out = Vec::new();
    for op in ops {
        let entry = match op {
            Op::Send { socket, body } => {
                let i = socket % ids.len();
                let body = Bytes::from(format!("{i}:{body}"));
                let msg = match types[i] {
                    SocketType::Router => match &last_id {
                        Some(id) => Msg::from_frames([id.clone(), body]),
                        None => continue,
                    },
                    SocketType::Pub => {
                        let topic = if body.len() % 2 == 0 { "ab" } else { "ba" };
                        Msg::from_frames([Bytes::from(topic), body])
                    }
                    _ => Msg::from(body),
                };
                format!(
                    "send {i}: {:?}",
                    net.socket(ids[i]).send(msg).map_err(|e| e.to_string())
                )
            }
            Op::Recv { socket } => {
                let i = socket % ids.len();
                let got = net.socket(ids[i]).recv();
                if let (SocketType::Router, Ok(Some(msg))) = (types[i], &got) {
                    last_id = Some(msg.frames()[0].clone());
                }
                format!("recv {i}: {got:?}")
            }
            Op::Subscribe { socket, prefix } | Op::Unsubscribe { socket, prefix } => {
                let i = socket % ids.len();
                let result = if matches!(op, Op::Subscribe { .. }) {
                    net.socket(ids[i]).subscribe(prefix)
                } else {
                    net.socket(ids[i]).unsubscribe(prefix)
                };
                format!("subscribe {i}: {result:?}")
            }
            Op::Bounce { link } => {
                net.run();
                net.disconnect(links[link % links.len()]);
                net.reconnect(links[link % links.len()]);
                net.run();
                continue;
            }
            Op::Run => {
                net.run();
                continue;
            }
        };
        out.push(entry);
    }
    // Whatever is left arrives the same way too.
    net.run();
    for (i, &id) in ids.iter().enumerate() {
        while let Ok(Some(msg)) = net.socket(id).recv() {
            out.push(format!("left {i}: {msg:?}"));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Below the HWMs, an inproc link and a ZMTP link are indistinguishable to the
    /// application: every send, receive and subscription gives the same result, so the
    /// same messages arrive in the same order (round-robin, fair-queue, routing ids,
    /// filtering and lockstep included), across reconnects of a quiet link.
    #[test]
    fn inproc_and_zmtp_deliver_alike(
        topology in topology(),
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let zmtp = trace(topology, &ops, false);
        let inproc = trace(topology, &ops, true);
        prop_assert_eq!(zmtp, inproc);
    }

    /// At any HWMs, a single PUSH/PULL link delivers everything a blocked sender retries,
    /// in order, over inproc as over ZMTP.
    #[test]
    fn a_blocking_sender_gets_everything_through_in_order(
        send_hwm in 1..4usize,
        recv_hwm in 1..4usize,
        ops in proptest::collection::vec(0..3u8, 1..80),
    ) {
        let mut results = Vec::new();
        for inproc in [false, true] {
            let mut net = Network::new(Instant::now());
            let push = net.add_socket(with_hwm(SocketType::Push, send_hwm, recv_hwm));
            let pull = net.add_socket(with_hwm(SocketType::Pull, send_hwm, recv_hwm));
            if inproc {
                net.connect_inproc(pull, push);
            } else {
                net.connect(pull, push);
            }
            net.run();
            let mut next = 0u32;
            let mut got = Vec::new();
            for &op in &ops {
                match op {
                    0 => {
                        if net.socket(push).send(m(&[&next.to_string()])).is_ok() {
                            next += 1;
                        }
                    }
                    1 => {
                        if let Some(msg) = net.socket(pull).recv().unwrap() {
                            got.push(msg);
                        }
                    }
                    _ => net.run(),
                }
            }
            got.extend(drain(&mut net, pull));
            let expected: Vec<Msg> = (0..next).map(|i| m(&[&i.to_string()])).collect();
            prop_assert_eq!(&got, &expected);
            results.push(next);
        }
        // The inproc link buffers less than the ZMTP one (no transport buffers): it never
        // accepts more.
        prop_assert!(results[1] <= results[0]);
    }
}
