//! The proxy machine in memory: a ROUTER/DEALER request broker and an XSUB/XPUB forwarder
//! between simulated sockets, steering, capture, and properties of the machine alone under
//! arbitrary back-pressure.

use std::time::Instant;

use proptest::prelude::*;
use zmq_sansio::Msg;
use zmq_sansio::pattern::SocketOptions;
use zmq_sansio::proto::SocketType;
use zmq_sansio::proxy::{Command, Output, Proxy, Side, State};
use zmq_sansio::sim::{Network, SocketId};

fn text(msg: &Msg) -> String {
    msg.frames()
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect::<Vec<_>>()
        .join("|")
}

/// A broker: ROUTER for clients, DEALER for workers, both bound.
fn broker(net: &mut Network, clients: usize, workers: usize) -> (Vec<SocketId>, Vec<SocketId>) {
    let router = net.add_socket(SocketOptions::new(SocketType::Router));
    let dealer = net.add_socket(SocketOptions::new(SocketType::Dealer));
    net.add_proxy(router, dealer, None);
    let clients = (0..clients)
        .map(|_| {
            let req = net.add_socket(SocketOptions::new(SocketType::Req));
            net.connect(req, router);
            req
        })
        .collect();
    let workers = (0..workers)
        .map(|_| {
            let rep = net.add_socket(SocketOptions::new(SocketType::Rep));
            net.connect(rep, dealer);
            rep
        })
        .collect();
    net.run();
    (clients, workers)
}

/// Workers answer everything they have, naming themselves, until nothing moves.
fn serve(net: &mut Network, workers: &[SocketId]) {
    loop {
        net.run();
        let mut served = false;
        for (w, &worker) in workers.iter().enumerate() {
            if let Some(request) = net.socket(worker).recv().unwrap() {
                let reply = Msg::from(format!("{} by {w}", text(&request)));
                net.socket(worker).send(reply).unwrap();
                served = true;
            }
        }
        if !served {
            return;
        }
    }
}

#[test]
fn req_clients_reach_rep_workers_through_a_broker_and_get_their_own_replies() {
    let mut net = Network::new(Instant::now());
    let (clients, workers) = broker(&mut net, 5, 3);
    let mut by_worker = [0; 3];
    for round in 0..4 {
        for (c, &client) in clients.iter().enumerate() {
            net.socket(client)
                .send(Msg::from(format!("c{c} r{round}")))
                .unwrap();
        }
        serve(&mut net, &workers);
        for (c, &client) in clients.iter().enumerate() {
            let reply = text(&net.socket(client).recv().unwrap().expect("a reply"));
            let (request, worker) = reply.split_once(" by ").unwrap();
            assert_eq!(request, format!("c{c} r{round}"));
            by_worker[worker.parse::<usize>().unwrap()] += 1;
        }
    }
    // The DEALER spreads requests round-robin: every worker served.
    assert!(by_worker.iter().all(|&n| n > 0), "{by_worker:?}");
}

#[test]
fn a_paused_broker_holds_requests_and_statistics_count_frames() {
    let mut net = Network::new(Instant::now());
    let (clients, workers) = broker(&mut net, 1, 1);
    let proxy = zmq_sansio::sim::ProxyId(0);
    net.proxy(proxy).command(Command::Pause);
    net.socket(clients[0]).send(Msg::from("hello")).unwrap();
    serve(&mut net, &workers);
    assert_eq!(net.socket(workers[0]).recv().unwrap(), None);
    assert_eq!(net.proxy(proxy).statistics().frontend.received.frames, 0);

    net.proxy(proxy).command(Command::Resume);
    serve(&mut net, &workers);
    assert_eq!(
        text(&net.socket(clients[0]).recv().unwrap().unwrap()),
        "hello by 0"
    );
    let stats = net.proxy(proxy).statistics();
    // ROUTER → DEALER: routing id, empty delimiter, body: three frames each way.
    assert_eq!(stats.frontend.received.frames, 3);
    assert_eq!(stats.backend.sent, stats.frontend.received);
    assert_eq!(stats.backend.received.frames, 3);
    assert_eq!(stats.frontend.sent, stats.backend.received);
    // The same envelope both ways; the reply's body is " by 0" longer.
    assert_eq!(
        stats.backend.received.octets,
        stats.frontend.received.octets + 5
    );

    net.proxy(proxy).command(Command::Terminate);
    net.socket(clients[0]).send(Msg::from("late")).unwrap();
    serve(&mut net, &workers);
    assert_eq!(net.proxy(proxy).state(), State::Terminated);
    assert_eq!(net.socket(workers[0]).recv().unwrap(), None);
}

#[test]
fn a_forwarder_carries_subscriptions_upstream_and_messages_down_with_a_capture() {
    let mut net = Network::new(Instant::now());
    let xsub = net.add_socket(SocketOptions::new(SocketType::XSub));
    let mut xpub_options = SocketOptions::new(SocketType::XPub);
    xpub_options.pattern.xpub_verbose = true;
    let xpub = net.add_socket(xpub_options);
    let capture = net.add_socket(SocketOptions::new(SocketType::Pair));
    let tap = net.add_socket(SocketOptions::new(SocketType::Pair));
    net.connect(tap, capture);
    net.add_proxy(xsub, xpub, Some(capture));
    let publisher = net.add_socket(SocketOptions::new(SocketType::Pub));
    net.connect(publisher, xsub);
    let subs: Vec<SocketId> = ["news", "weather"]
        .iter()
        .map(|topic| {
            let sub = net.add_socket(SocketOptions::new(SocketType::Sub));
            net.socket(sub).subscribe(topic.as_bytes()).unwrap();
            net.connect(sub, xpub);
            sub
        })
        .collect();
    net.run();
    // Both subscriptions went through the proxy to the publisher.
    assert_eq!(net.socket(publisher).pattern().subscribed_peers(), 1);

    for topic in ["news 1", "sports 1", "weather 1", "news 2"] {
        net.socket(publisher).send(Msg::from(topic)).unwrap();
    }
    net.run();
    let received = |net: &mut Network, sub| {
        std::iter::from_fn(|| net.socket(sub).recv().unwrap())
            .map(|m| text(&m))
            .collect::<Vec<_>>()
    };
    assert_eq!(received(&mut net, subs[0]), ["news 1", "news 2"]);
    assert_eq!(received(&mut net, subs[1]), ["weather 1"]);
    // The capture saw the subscriptions go up and the messages come down.
    let captured: Vec<String> = received(&mut net, tap);
    assert!(captured.contains(&"\u{1}news".to_owned()), "{captured:?}");
    assert!(
        captured.contains(&"\u{1}weather".to_owned()),
        "{captured:?}"
    );
    let messages: Vec<&String> = captured.iter().filter(|m| m.contains(' ')).collect();
    assert_eq!(messages, ["news 1", "weather 1", "news 2"]);
}

/// What the property test does to a lone proxy.
#[derive(Debug, Clone)]
enum Op {
    /// A message arrives on a side (taken only if the proxy wants it).
    Input(Side),
    /// An output accepts this many messages, then blocks.
    Transmit(Output, usize),
    Pause,
    Resume,
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Frontend), Just(Side::Backend)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => side().prop_map(Op::Input),
        4 => (prop_oneof![side().prop_map(Output::Side), Just(Output::Capture)], 0..3usize)
            .prop_map(|(to, n)| Op::Transmit(to, n)),
        1 => Just(Op::Pause),
        1 => Just(Op::Resume),
    ]
}

/// Messages carry their source side and a sequence number.
fn message(from: Side, seq: usize) -> Msg {
    Msg::from_frames([format!("{from:?}"), seq.to_string()])
}

proptest! {
    #[test]
    fn nothing_is_lost_duplicated_or_reordered_and_the_capture_sees_what_went(
        ops in prop::collection::vec(op(), 0..200),
        capture in any::<bool>(),
    ) {
        let mut proxy = Proxy::new(capture);
        let mut taken = [Vec::new(), Vec::new()];
        let mut delivered = [Vec::new(), Vec::new()];
        let mut captured = Vec::new();
        let mut seq = [0usize; 2];
        let index = |side: Side| side as usize;
        for op in ops.into_iter().chain([
            // At the end every output accepts all: everything taken must come out.
            Op::Resume,
            Op::Transmit(Output::Side(Side::Frontend), usize::MAX),
            Op::Transmit(Output::Side(Side::Backend), usize::MAX),
            Op::Transmit(Output::Capture, usize::MAX),
        ]) {
            match op {
                Op::Input(from) => {
                    let msg = message(from, seq[index(from)]);
                    let wanted = proxy.wants_input(from);
                    let result = proxy.handle_input(from, msg.clone());
                    prop_assert_eq!(result.is_ok(), wanted);
                    if wanted {
                        seq[index(from)] += 1;
                        taken[index(from)].push(msg);
                    }
                }
                Op::Transmit(to, mut room) => {
                    proxy.transmit(to, |msg| {
                        if room == 0 {
                            return Err(msg);
                        }
                        room -= 1;
                        match to {
                            Output::Side(side) => delivered[index(side)].push(msg),
                            Output::Capture => captured.push(msg),
                        }
                        Ok(())
                    });
                }
                Op::Pause => proxy.command(Command::Pause),
                Op::Resume => proxy.command(Command::Resume),
            }
            // Bounded: one message per direction, and its capture copy.
            let bound = if capture { 4 } else { 2 };
            prop_assert!(proxy.held() <= bound);
        }
        for from in [Side::Frontend, Side::Backend] {
            // Exactly what was taken from one side reached the other, in order.
            prop_assert_eq!(&delivered[index(from.other())], &taken[index(from)]);
            let copies: Vec<&Msg> = captured
                .iter()
                .filter(|m| m.frames()[0] == format!("{from:?}"))
                .collect();
            let expected: Vec<&Msg> = if capture { taken[index(from)].iter().collect() } else { Vec::new() };
            prop_assert_eq!(copies, expected);
        }
        prop_assert_eq!(proxy.held(), 0);
        let stats = proxy.statistics();
        prop_assert_eq!(stats.frontend.received, stats.backend.sent);
        prop_assert_eq!(stats.backend.received, stats.frontend.sent);
        prop_assert_eq!(stats.frontend.received.frames, 2 * taken[0].len() as u64);
    }
}
