//! The `network` target's proxy topologies ([`Topology::Broker`], [`Topology::Forwarder`]):
//! a [`Proxy`](zmq_sansio::proxy::Proxy) between two sockets of a `sim::Network`, with
//! clients and workers (or a publisher and subscribers) around it, over ZMTP or `inproc://`
//! links as the scenario chooses, driven by the same [`NetOp`]s as the other topologies. A `Partition` of the link one past the last real
//! link pauses the proxy (`on`) or resumes it.
//!
//! Invariants:
//! - no panics, and every socket call gives a result its type allows;
//! - the proxy holds at most one message per direction; it sends no more than it took,
//!   and what it took but has not sent is what it holds (frames counted as libzmq does);
//!   while paused it takes nothing;
//! - broker: a worker sees only requests that clients sent, each at most once; a strict
//!   REQ client gets only the reply to its outstanding request, produced by a worker from
//!   that very request (the ROUTER/DEALER envelope took it there and back);
//! - forwarder: a subscriber receives only what the publisher published, each at most
//!   once, in publishing order while no link has gone down, and only under a prefix it
//!   holds;
//! - afterwards, with every link healed and the proxy resumed, the topology still works:
//!   a fresh client's request is answered; a probe published under a prefix every
//!   subscriber just subscribed to reaches each of them (its subscription travelled up
//!   through the proxy).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use zmq_sansio::Msg;
use zmq_sansio::pattern::{RecvError, SendError, SocketOptions};
use zmq_sansio::proto::{HeartbeatConfig, SocketType};
use zmq_sansio::proxy::{Command, Output, Side};
use zmq_sansio::sim::{LinkId, Network, ProxyId, SocketId};

use crate::sockets::{NetOp, NetworkScenario, Topology, octets, variant};

/// Rounds of running and serving before the network counts as settled.
const SETTLE_ROUNDS: usize = 50;

/// Subscription prefix of the final probes; fuzzed topics never contain 0x02.
const PROBE_TOPIC: &[u8] = b"\x02probe";

/// Runs a scenario whose topology is [`Topology::Broker`] or [`Topology::Forwarder`].
pub fn run(scenario: &NetworkScenario) {
    let mut t = Proxied::new(scenario);
    for op in &scenario.ops {
        t.step(op);
        t.check_proxy();
    }
    t.finish();
}

struct Proxied {
    broker: bool,
    heartbeats: bool,
    net: Network,
    proxy: ProxyId,
    /// Broker: ROUTER, DEALER, REQ clients, REP workers. Forwarder: XSUB, XPUB, PUB, SUBs.
    ids: Vec<SocketId>,
    types: Vec<SocketType>,
    /// Sockets that `Send` ops use (REQs, or the PUB).
    senders: Vec<usize>,
    links: Vec<LinkId>,
    paused: bool,
    /// The proxy's received frame counts when it was paused.
    paused_at: Option<(u64, u64)>,
    any_down: bool,
    next_seq: u64,
    /// Broker: what clients sent; forwarder: what was published, with its topic.
    sent: BTreeMap<u64, Bytes>,
    /// Broker: each REQ's outstanding request.
    outstanding: BTreeMap<usize, u64>,
    /// Broker: requests workers saw. Forwarder: (subscriber, seq) delivered.
    seen: BTreeSet<(usize, u64)>,
    /// Forwarder: the last sequence number each subscriber got.
    last: BTreeMap<usize, u64>,
    /// Forwarder: each subscriber's prefixes with reference counts.
    held: BTreeMap<usize, BTreeMap<Bytes, u32>>,
}

impl Proxied {
    fn new(s: &NetworkScenario) -> Self {
        use SocketType::*;
        let broker = s.topology() == Topology::Broker;
        let types = if broker {
            vec![Router, Dealer, Req, Req, Req, Rep, Rep]
        } else {
            vec![XSub, XPub, Pub, Sub, Sub]
        };
        // (client, server): clients connect unless SERVERS_CONNECT.
        let pairs: Vec<(usize, usize)> = if broker {
            vec![(2, 0), (3, 0), (4, 0), (5, 1), (6, 1)]
        } else {
            vec![(2, 0), (3, 1), (4, 1)]
        };
        let mut net = Network::new(Instant::now());
        if s.capacity != 0 {
            net.set_link_capacity(usize::from(s.capacity) * 16);
        }
        let heartbeats = s.has(variant::HEARTBEATS);
        let ids: Vec<SocketId> = types
            .iter()
            .map(|&ty| net.add_socket(options(s, ty)))
            .collect();
        let proxy = net.add_proxy(ids[0], ids[1], None);
        let links = pairs
            .iter()
            .enumerate()
            .map(|(l, &(client, server))| {
                let (connector, binder) = if s.has(variant::SERVERS_CONNECT) {
                    (ids[server], ids[client])
                } else {
                    (ids[client], ids[server])
                };
                if s.is_inproc(l) {
                    net.connect_inproc(connector, binder)
                } else {
                    net.connect(connector, binder)
                }
            })
            .collect();
        net.run();
        Self {
            broker,
            heartbeats,
            net,
            proxy,
            ids,
            senders: if broker { vec![2, 3, 4] } else { vec![2] },
            types,
            links,
            paused: false,
            paused_at: None,
            any_down: false,
            next_seq: 0,
            sent: BTreeMap::new(),
            outstanding: BTreeMap::new(),
            seen: BTreeSet::new(),
            last: BTreeMap::new(),
            held: BTreeMap::new(),
        }
    }

    fn step(&mut self, op: &NetOp) {
        match op {
            NetOp::Send { socket, topic } => {
                let sender = self.senders[usize::from(*socket) % self.senders.len()];
                self.send(sender, octets(topic));
            }
            NetOp::Recv { socket } => {
                self.recv(2 + usize::from(*socket) % (self.ids.len() - 2));
            }
            NetOp::Subscribe { socket, prefix } | NetOp::Unsubscribe { socket, prefix } => {
                if !self.broker {
                    let sub = 3 + usize::from(*socket) % 2;
                    self.subscribe(sub, octets(prefix), matches!(op, NetOp::Subscribe { .. }));
                }
            }
            NetOp::Disconnect { link } => {
                let link = self.links[usize::from(*link) % self.links.len()];
                self.any_down |= self.net.is_up(link);
                self.net.disconnect(link);
            }
            NetOp::Reconnect { link } => {
                self.net
                    .reconnect(self.links[usize::from(*link) % self.links.len()]);
            }
            NetOp::Partition { link, on } => {
                let l = usize::from(*link) % (self.links.len() + 1);
                if l == self.links.len() {
                    self.steer(*on);
                } else {
                    self.net.partition(self.links[l], *on);
                }
            }
            NetOp::Advance { ms } => {
                let ms = if self.heartbeats { ms % 2000 } else { *ms };
                self.net.advance(Duration::from_millis(u64::from(ms)));
            }
            NetOp::MaxChunk { size } => self.net.set_max_chunk(match size {
                0 => usize::MAX,
                n => usize::from(*n),
            }),
            NetOp::Run => self.net.run(),
        }
        // A link that failed (heartbeats) went down too.
        self.any_down |= self.links.iter().any(|&l| !self.net.is_up(l));
    }

    fn steer(&mut self, pause: bool) {
        self.paused = pause;
        let proxy = self.net.proxy(self.proxy);
        proxy.command(if pause {
            Command::Pause
        } else {
            Command::Resume
        });
        let stats = proxy.statistics();
        self.paused_at = pause.then_some((
            stats.frontend.received.frames,
            stats.backend.received.frames,
        ));
    }

    fn check_proxy(&mut self) {
        let paused_at = self.paused_at;
        let proxy = self.net.proxy(self.proxy);
        assert!(proxy.held() <= 2, "the proxy holds {}", proxy.held());
        let stats = proxy.statistics();
        for (from, to, side) in [
            (stats.frontend, stats.backend, Side::Frontend),
            (stats.backend, stats.frontend, Side::Backend),
        ] {
            assert!(to.sent.frames <= from.received.frames, "{stats:?}");
            assert!(to.sent.octets <= from.received.octets, "{stats:?}");
            let holding = proxy.has_output(Output::Side(side.other()));
            if to.sent != from.received {
                assert!(
                    holding,
                    "taken from {side:?} and neither sent nor held: {stats:?}"
                );
            }
        }
        if let Some(at) = paused_at {
            assert_eq!(
                at,
                (
                    stats.frontend.received.frames,
                    stats.backend.received.frames
                ),
                "a paused proxy took messages"
            );
        }
    }

    fn socket(&mut self, i: usize) -> &mut zmq_sansio::pattern::Socket {
        self.net.socket(self.ids[i])
    }

    fn send(&mut self, sender: usize, topic: Bytes) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let tag = Bytes::from(format!("{sender}:{seq}"));
        if !self.broker {
            let msg = Msg::from_frames([topic.clone(), tag]);
            assert_eq!(self.socket(sender).send(msg), Ok(()), "PUB send");
            self.sent.insert(seq, topic);
            return;
        }
        match self.socket(sender).send(Msg::from(tag)) {
            Ok(()) => {
                assert!(
                    !self.outstanding.contains_key(&sender),
                    "REQ {sender} sent twice"
                );
                self.outstanding.insert(sender, seq);
                self.sent.insert(seq, Bytes::new());
            }
            Err(SendError::RequestPending) => {
                assert!(
                    self.outstanding.contains_key(&sender),
                    "REQ {sender}: RequestPending"
                );
            }
            Err(SendError::WouldBlock(_)) => {}
            Err(err) => panic!("REQ {sender}: {err}"),
        }
    }

    /// Receives once on socket `i`, checking what comes (a REP answers at once); whether
    /// anything came.
    fn recv(&mut self, i: usize) -> bool {
        let ty = self.types[i];
        let got = self.socket(i).recv();
        let msg = match (ty, got) {
            (_, Ok(None)) => return false,
            (_, Ok(Some(msg))) => msg,
            (SocketType::Req, Err(RecvError::NoRequest)) => {
                assert!(!self.outstanding.contains_key(&i), "REQ {i}: NoRequest");
                return false;
            }
            (SocketType::Pub, Err(RecvError::NotSupported(_))) => return false,
            (_, Err(err)) => panic!("{ty} {i}: {err}"),
        };
        match ty {
            SocketType::Rep => {
                let (sender, seq) = parse_tag(&msg.frames()[0]);
                assert!(self.sent.contains_key(&seq), "REP {i}: {msg:?} never sent");
                assert!(self.seen.insert((sender, seq)), "REP {i}: {msg:?} twice");
                let reply = Msg::from(format!("re:{sender}:{seq}"));
                assert_eq!(self.socket(i).send(reply), Ok(()), "REP {i} reply");
            }
            SocketType::Req => {
                let frame = &msg.frames()[0];
                let (sender, seq) = parse_tag(frame.strip_prefix(b"re:").expect("a reply"));
                assert_eq!(sender, i, "REQ {i} got {sender}'s reply");
                assert_eq!(
                    self.outstanding.remove(&i),
                    Some(seq),
                    "REQ {i}: not the reply to its request"
                );
            }
            SocketType::Sub => {
                let (_, seq) = parse_tag(&msg.frames()[1]);
                let topic = self.sent.get(&seq).expect("published");
                assert_eq!(&msg.frames()[0], topic);
                assert!(
                    self.held
                        .get(&i)
                        .is_some_and(|held| held.keys().any(|p| topic.starts_with(p))),
                    "SUB {i} got {msg:?} under no prefix it holds"
                );
                assert!(self.seen.insert((i, seq)), "SUB {i} got {msg:?} twice");
                if !self.any_down {
                    let last = self.last.insert(i, seq);
                    assert!(last.is_none_or(|last| last < seq), "SUB {i}: out of order");
                }
            }
            other => panic!("{other} {i} is not received from"),
        }
        true
    }

    fn subscribe(&mut self, sub: usize, prefix: Bytes, subscribe: bool) {
        let held = self.held.entry(sub).or_default();
        if subscribe {
            self.net.socket(self.ids[sub]).subscribe(&prefix).unwrap();
            *held.entry(prefix).or_default() += 1;
        } else if let Some(count) = held.get_mut(&prefix) {
            self.net.socket(self.ids[sub]).unsubscribe(&prefix).unwrap();
            *count -= 1;
            if *count == 0 {
                held.remove(&prefix);
            }
        }
    }

    /// Heals everything, then checks the topology still works end to end.
    fn finish(mut self) {
        for &link in &self.links {
            self.net.partition(link, false);
            self.net.reconnect(link);
        }
        if self.paused {
            self.steer(false);
        }
        if self.broker {
            self.finish_broker();
        } else {
            self.finish_forwarder();
        }
        self.check_proxy();
    }

    /// Workers serve and clients take replies until nothing moves.
    fn settle(&mut self) {
        for _ in 0..SETTLE_ROUNDS {
            self.net.run();
            for i in 2..self.ids.len() {
                while self.recv(i) {}
            }
        }
    }

    fn finish_broker(&mut self) {
        self.settle();
        let options = SocketOptions::new(SocketType::Req);
        let client = self.net.add_socket(options);
        self.net.connect(client, self.ids[0]);
        self.net.run();
        self.net
            .socket(client)
            .send(Msg::from("probe"))
            .expect("a fresh REQ sends");
        for _ in 0..SETTLE_ROUNDS {
            self.net.run();
            for worker in [5, 6] {
                if let Ok(Some(request)) = self.socket(worker).recv() {
                    self.socket(worker).send(request).expect("REP replies");
                }
            }
            if let Ok(Some(reply)) = self.net.socket(client).recv() {
                assert_eq!(reply, Msg::from("probe"));
                return;
            }
        }
        panic!("the broker no longer answers a fresh client");
    }

    fn finish_forwarder(&mut self) {
        for sub in [3, 4] {
            self.net
                .socket(self.ids[sub])
                .subscribe(PROBE_TOPIC)
                .unwrap();
        }
        self.settle();
        let probe = Msg::from_frames([PROBE_TOPIC, b"probe"]);
        self.socket(2).send(probe.clone()).expect("PUB sends");
        for sub in [3, 4] {
            let mut got = false;
            for _ in 0..SETTLE_ROUNDS {
                self.net.run();
                while let Ok(Some(msg)) = self.socket(sub).recv() {
                    got |= msg == probe;
                }
                if got {
                    break;
                }
            }
            assert!(got, "SUB {sub} never got the probe through the forwarder");
        }
    }
}

fn options(s: &NetworkScenario, ty: SocketType) -> SocketOptions {
    let mut options = SocketOptions::new(ty);
    if s.hwm() != 0 {
        options.pattern.send_hwm = s.hwm();
        options.pattern.recv_hwm = s.hwm();
    }
    if s.capacity != 0 {
        options.transmit_buffer = usize::from(s.capacity) * 16;
    }
    // Forwarders set it, so that every subscription reaches the publisher.
    options.pattern.xpub_verbose = true;
    if s.has(variant::HEARTBEATS) {
        options.connection.heartbeat = HeartbeatConfig {
            interval: Some(Duration::from_millis(100)),
            ttl: Some(Duration::from_millis(300)),
            timeout: Some(Duration::from_millis(300)),
        };
    }
    options
}

fn parse_tag(frame: &[u8]) -> (usize, u64) {
    let text = std::str::from_utf8(frame).expect("a tag");
    let (sender, seq) = text.split_once(':').expect("a tag");
    (
        sender.parse().expect("a sender"),
        seq.parse().expect("a sequence number"),
    )
}
