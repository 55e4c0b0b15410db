//! Whole sockets in a `sim::Network`: a small topology of compatible sockets (PUSH/PULL
//! mesh, PUB or XPUB with SUB and XSUB subscribers, REQs and a REP, DEALERs and a ROUTER, a
//! PAIR pair; either side binding), tight HWMs, link capacities and transmit buffers,
//! optional heartbeats, and fuzzer-chosen operations: tagged sends, receives (REP and
//! ROUTER answer at once), subscriptions, disconnects, reconnects, partitions, the passing
//! of virtual time and the chunking of deliveries. Any link may be an `inproc://` one
//! (direct peers, messages moved by value) instead of ZMTP over a simulated transport.
//!
//! Every message carries a tag naming its sender and a sequence number. Invariants:
//! - no panics, and every socket call gives a result its type allows;
//! - nothing is delivered that was not sent, or delivered twice; messages from one sender
//!   arrive at one receiver in sending order (for replies, in the order the ROUTER sent
//!   them), except that an accepting socket reads what a closed transport left behind in
//!   its fair-queue turn, interleaved with what comes over the next transport of the link:
//!   what it receives from one sender is then a merge of at most as many increasing runs,
//!   each one older than the next, as the link has had transports (one if it connects);
//! - what reached a receiver's queue is received, even when the link then goes down (as in
//!   libzmq, a detached peer's unread messages stay readable): after every transport of a
//!   link that closes, its receivers get at least as many more messages from the other end
//!   as they held from it (the PUB/SUB topology aside: a SUB filters again at `recv`);
//! - PUB/SUB: every message a SUB receives matches a prefix that it holds when it
//!   receives it (SUB filters again at `recv`, so one that arrived under a subscription
//!   dropped since is never delivered); an XSUB, as libzmq's, returns everything the
//!   publisher sent it, so what it receives matches a prefix it has held at some time;
//! - REQ/REP: a REQ gets replies only to its own requests (with REQ_CORRELATE or in strict
//!   mode, only to its latest); `send` is refused exactly while a strict REQ awaits its
//!   reply, and `recv` says `NoRequest` exactly when nothing is outstanding; once the
//!   network has run with the reply to a strict REQ's request sent over the very transport
//!   that carried the request, up and not partitioned, the reply has reached the REQ and
//!   its next `recv` returns it, whatever happens to the link in between (the REQ keeps an
//!   accepted reply even when the peer it came from goes away);
//! - DEALER/ROUTER: the ROUTER sees each DEALER under its announced identity (or a
//!   generated one); a reply routed by that id reaches that DEALER;
//! - a link fails only when it was partitioned since it connected, or heartbeats are on;
//! - an inproc link holds at most one message beyond its receiver's HWM: what the
//!   receiving peer's queue holds plus what is in flight towards it;
//! - if no link ever went down, everything sent (PUSH, PAIR, DEALER, strict REQ) and
//!   everything the ROUTER accepted arrives;
//! - afterwards, with every link healed, each topology still works: fresh probes sent
//!   through every sender arrive (subscribers get a probe published under a prefix they
//!   just subscribed to; REQs that can still ask get their answers).
//!
//! Two more topologies put a proxy (`zmq_sansio::proxy`) in the network: a ROUTER/DEALER
//! broker and an XSUB/XPUB forwarder, with their own invariants (see
//! `zmq_sansio_fuzz::proxied`).
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use zmq_sansio::Msg;
use zmq_sansio::pattern::{PeerId, RecvError, SendError, SocketOptions};
use zmq_sansio::proto::{HeartbeatConfig, SocketType};
use zmq_sansio::sim::{LinkId, Network, SocketId};
use zmq_sansio_fuzz::sockets::{NetOp, NetworkScenario, Topology, octets, variant};

fuzz_target!(|scenario: NetworkScenario| run(&scenario));

/// Rounds of running and receiving before the network counts as settled.
const SETTLE_ROUNDS: usize = 50;

/// Subscription prefix of the final probes; fuzzed topics never contain 0x02.
const PROBE_TOPIC: &[u8] = b"\x02probe";

fn run(scenario: &NetworkScenario) {
    if scenario.topology().is_proxied() {
        return zmq_sansio_fuzz::proxied::run(scenario);
    }
    let mut t = Tracker::new(scenario);
    for op in &scenario.ops {
        t.count_held();
        t.step(op);
        // Receiving empties queues: what they held before is no measure after a `Recv`.
        t.check_links(!matches!(op, NetOp::Recv { .. }));
        t.check_inproc();
    }
    t.finish();
}

/// A message tag: who sent it, and its sequence number there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Tag {
    sender: usize,
    seq: u64,
}

impl Tag {
    fn frame(self) -> Bytes {
        Bytes::from(format!("{}:{}", self.sender, self.seq))
    }

    fn parse(frame: &[u8]) -> Tag {
        let text = std::str::from_utf8(frame).expect("a tag");
        let (sender, seq) = text.split_once(':').expect("a tag");
        Tag {
            sender: sender.parse().expect("a sender"),
            seq: seq.parse().expect("a sequence number"),
        }
    }
}

/// The reply a REP or ROUTER gives to a request tag.
fn reply_frame(tag: Tag) -> Bytes {
    Bytes::from(format!("re:{}:{}", tag.sender, tag.seq))
}

/// The tag a DEALER files the ROUTER's reply to `request` under.
fn reply_tag(request: Tag) -> Tag {
    Tag {
        sender: usize::MAX - request.sender,
        seq: request.seq,
    }
}

fn parse_reply(frame: &[u8]) -> Tag {
    let rest = frame.strip_prefix(b"re:").expect("a reply");
    Tag::parse(rest)
}

/// What one receiver got from one sender.
#[derive(Debug, Default)]
struct Arrivals {
    /// Sending order -> order of arrival.
    order: BTreeMap<u64, u64>,
    /// Neighbours in sending order that arrived the other way round: the increasing runs
    /// the arrivals split into, less one.
    breaks: usize,
}

/// A strict REQ's outstanding request, and how far its reply is known to have come.
#[derive(Debug, Clone, Copy)]
struct Asked {
    tag: Tag,
    /// The transport of the REQ's link when it asked (`None`: down, nothing is claimed).
    transport: Option<PeerId>,
    /// The REP answered it while that transport was still up.
    answered: bool,
    /// The network then ran with that transport up and delivering: the REQ has the reply.
    delivered: bool,
}

struct Tracker {
    topology: Topology,
    /// Every queue's HWM (0: the default).
    hwm: usize,
    heartbeats: bool,
    relaxed: bool,
    correlate: bool,
    net: Network,
    types: Vec<SocketType>,
    ids: Vec<SocketId>,
    links: Vec<LinkId>,
    /// Sockets whose `Send` ops send.
    senders: Vec<usize>,
    next_seq: u64,
    /// What each sender sent, accepted (`Ok`).
    sent: BTreeSet<Tag>,
    /// What arrived, and where.
    delivered: BTreeMap<(usize, Tag), usize>,
    /// What a receiver got from the socket at the other end of a link, by sending order.
    received: BTreeMap<(usize, usize), Arrivals>,
    /// Deliveries so far (the order of arrival).
    arrivals: u64,
    /// The sockets of each link: (connecting, binding).
    ends: Vec<(usize, usize)>,
    /// Transports each link has had.
    transports: Vec<usize>,
    /// Messages each receiving end of a link held when the link was last seen up, by
    /// link: (connecting end, binding end).
    held_in: Vec<(usize, usize)>,
    /// Messages a receiver must still get over a link (from what its queue held when a
    /// transport closed), by (link, receiver).
    owed: BTreeMap<(usize, usize), usize>,
    /// ROUTER: the order in which it sent each reply, by request tag.
    reply_order: BTreeMap<Tag, u64>,
    /// Some link went down (a disconnect, or a failure).
    any_down: bool,
    /// Links partitioned since they last connected.
    partitioned: Vec<bool>,
    was_up: Vec<bool>,
    /// PUB/SUB: the topic of every publish.
    published: BTreeMap<Tag, Bytes>,
    /// PUB/SUB: each subscriber's prefixes with reference counts.
    held: BTreeMap<usize, BTreeMap<Bytes, u32>>,
    /// PUB/SUB: every prefix each subscriber has ever subscribed to (what binds an XSUB,
    /// which does not filter at `recv`).
    ever_held: BTreeMap<usize, BTreeSet<Bytes>>,
    /// REQ: awaiting a reply, and the latest request.
    awaiting: BTreeMap<usize, bool>,
    latest: BTreeMap<usize, Tag>,
    /// REQ: the link each REQ talks over.
    req_link: BTreeMap<usize, usize>,
    /// Strict REQ: what is known of the outstanding request's reply.
    asked: BTreeMap<usize, Asked>,
    /// Links delivering nothing now (partitioned, and not reconnected since).
    partition_on: Vec<bool>,
    /// ROUTER: replies it accepted.
    replied: BTreeSet<Tag>,
    /// ROUTER: the routing id each DEALER was seen under, if announced.
    identities: BTreeMap<usize, Bytes>,
}

impl Tracker {
    fn new(s: &NetworkScenario) -> Self {
        use SocketType::*;
        let topology = s.topology();
        let servers_connect = s.has(variant::SERVERS_CONNECT);
        // (types, links as (client, server)); clients connect unless SERVERS_CONNECT.
        let (types, pairs, senders): (Vec<SocketType>, Vec<(usize, usize)>, Vec<usize>) =
            match topology {
                Topology::PushPull => (
                    vec![Push, Push, Pull, Pull],
                    vec![(0, 2), (0, 3), (1, 2), (1, 3)],
                    vec![0, 1],
                ),
                Topology::PubSub => {
                    let publisher = if s.has(variant::XPUB) { XPub } else { Pub };
                    let second = if s.has(variant::XSUB) { XSub } else { Sub };
                    (
                        vec![publisher, Sub, second, Sub],
                        vec![(1, 0), (2, 0), (3, 0)],
                        vec![0],
                    )
                }
                Topology::ReqRep => (
                    vec![Rep, Req, Req, Req],
                    vec![(1, 0), (2, 0), (3, 0)],
                    vec![1, 2, 3],
                ),
                Topology::DealerRouter => (
                    vec![Router, Dealer, Dealer],
                    vec![(1, 0), (2, 0)],
                    vec![1, 2],
                ),
                Topology::Pair => (vec![Pair, Pair], vec![(0, 1)], vec![0, 1]),
                Topology::Broker | Topology::Forwarder => {
                    unreachable!("proxied topologies run in zmq_sansio_fuzz::proxied")
                }
            };
        let mut net = Network::new(Instant::now());
        if s.capacity != 0 {
            net.set_link_capacity(usize::from(s.capacity) * 16);
        }
        let mut identities = BTreeMap::new();
        let ids: Vec<SocketId> = types
            .iter()
            .enumerate()
            .map(|(i, &ty)| {
                let mut options = SocketOptions::new(ty);
                if s.hwm() != 0 {
                    options.pattern.send_hwm = s.hwm();
                    options.pattern.recv_hwm = s.hwm();
                }
                if s.capacity != 0 {
                    options.transmit_buffer = usize::from(s.capacity) * 16;
                }
                options.pattern.req_relaxed = s.has(variant::REQ_RELAXED);
                options.pattern.req_correlate = s.has(variant::REQ_CORRELATE);
                // ROUTER reports full peers, so that the target knows which replies went.
                options.pattern.router_mandatory = true;
                if s.has(variant::HEARTBEATS) {
                    options.connection.heartbeat = HeartbeatConfig {
                        interval: Some(Duration::from_millis(100)),
                        ttl: Some(Duration::from_millis(300)),
                        timeout: Some(Duration::from_millis(300)),
                    };
                }
                if ty == Dealer && (i == 1 || s.has(variant::BOTH_IDENTITIES)) {
                    let identity = Bytes::from(format!("D{i}"));
                    options
                        .connection
                        .set_identity(identity.clone())
                        .expect("a valid identity");
                    identities.insert(i, identity);
                }
                net.add_socket(options)
            })
            .collect();
        let links: Vec<LinkId> = pairs
            .iter()
            .enumerate()
            .map(|(l, &(client, server))| {
                let (connector, binder) = if servers_connect {
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
        let n = links.len();
        let req_link = pairs
            .iter()
            .enumerate()
            .filter(|&(_, &(client, _))| types[client] == Req)
            .map(|(l, &(client, _))| (client, l))
            .collect();
        Self {
            topology,
            hwm: s.hwm(),
            heartbeats: s.has(variant::HEARTBEATS),
            relaxed: s.has(variant::REQ_RELAXED),
            correlate: s.has(variant::REQ_CORRELATE),
            net,
            types,
            ids,
            links,
            senders,
            next_seq: 0,
            sent: BTreeSet::new(),
            delivered: BTreeMap::new(),
            received: BTreeMap::new(),
            arrivals: 0,
            ends: if servers_connect {
                pairs
                    .iter()
                    .map(|&(client, server)| (server, client))
                    .collect()
            } else {
                pairs.clone()
            },
            transports: vec![1; n],
            held_in: vec![(0, 0); n],
            owed: BTreeMap::new(),
            reply_order: BTreeMap::new(),
            any_down: false,
            partitioned: vec![false; n],
            was_up: vec![true; n],
            published: BTreeMap::new(),
            held: BTreeMap::new(),
            ever_held: BTreeMap::new(),
            awaiting: BTreeMap::new(),
            latest: BTreeMap::new(),
            req_link,
            asked: BTreeMap::new(),
            partition_on: vec![false; n],
            replied: BTreeSet::new(),
            identities,
        }
    }

    fn step(&mut self, op: &NetOp) {
        match op {
            NetOp::Send { socket, topic } => {
                let sender = self.senders[usize::from(*socket) % self.senders.len()];
                self.send(sender, octets(topic));
            }
            NetOp::Recv { socket } => {
                self.recv(usize::from(*socket) % self.ids.len());
            }
            NetOp::Subscribe { socket, prefix } | NetOp::Unsubscribe { socket, prefix } => {
                let subscribe = matches!(op, NetOp::Subscribe { .. });
                let i = usize::from(*socket) % self.ids.len();
                self.subscribe(i, octets(prefix), subscribe);
            }
            NetOp::Disconnect { link } => {
                let l = usize::from(*link) % self.links.len();
                self.net.disconnect(self.links[l]);
            }
            NetOp::Reconnect { link } => {
                let l = usize::from(*link) % self.links.len();
                self.reconnect(l);
            }
            NetOp::Partition { link, on } => {
                let l = usize::from(*link) % self.links.len();
                self.net.partition(self.links[l], *on);
                self.partition_on[l] = *on;
                if *on && self.net.is_up(self.links[l]) {
                    self.partitioned[l] = true;
                }
            }
            NetOp::Advance { ms } => {
                // Every heartbeat interval costs a round of timers: keep those runs short.
                let ms = if self.heartbeats { ms % 2000 } else { *ms };
                self.net.advance(Duration::from_millis(u64::from(ms)));
                self.ran();
            }
            NetOp::MaxChunk { size } => self.net.set_max_chunk(match size {
                0 => usize::MAX,
                n => usize::from(*n),
            }),
            NetOp::Run => self.run_network(),
        }
    }

    /// Opens a fresh transport if the link is down (which also ends its partition).
    fn reconnect(&mut self, l: usize) {
        if !self.net.is_up(self.links[l]) {
            self.partition_on[l] = false;
        }
        self.net.reconnect(self.links[l]);
    }

    /// The link's current transport (its binding side's peer id, fresh for every
    /// transport), or `None` while it is down.
    fn transport(&self, l: usize) -> Option<PeerId> {
        self.net.link_peers(self.links[l]).1
    }

    fn run_network(&mut self) {
        self.net.run();
        self.ran();
    }

    /// The network just ran until nothing moved: a strict REQ's reply that the REP sent over
    /// the transport that carried the request has arrived if that transport is still up and
    /// delivering.
    fn ran(&mut self) {
        let arrived: Vec<usize> = self
            .asked
            .iter()
            .filter(|&(&r, a)| {
                let l = self.req_link[&r];
                a.answered
                    && a.transport.is_some()
                    && self.transport(l) == a.transport
                    && !self.partition_on[l]
            })
            .map(|(&r, _)| r)
            .collect();
        for r in arrived {
            self.asked.get_mut(&r).expect("listed").delivered = true;
        }
    }

    /// How many messages each receiving end of every link that is up holds from the other
    /// end. Queues only grow until the application reads, so when a transport closes
    /// (`Disconnect`) or fails (`Advance`, `Run`) they hold at least this much.
    fn count_held(&mut self) {
        for l in 0..self.links.len() {
            let (connector, binder) = self.net.link_peers(self.links[l]);
            let (c, b) = self.ends[l];
            let held = |t: &mut Self, i: usize, peer: Option<PeerId>| match (t.topology, peer) {
                // Subscribers filter again at `recv`: what they hold is not owed.
                (Topology::PubSub, _) | (_, None) => 0,
                (_, Some(peer)) => t
                    .net
                    .socket(t.ids[i])
                    .pattern()
                    .stats(peer)
                    .map_or(0, |s| s.inbound_msgs),
            };
            self.held_in[l] = (held(self, c, Some(connector)), held(self, b, binder));
        }
    }

    /// Links that went down, and links that failed on their own; `credit`: the queues held
    /// at least what `count_held` counted when the link went down.
    fn check_links(&mut self, credit: bool) {
        for (l, &link) in self.links.iter().enumerate() {
            let up = self.net.is_up(link);
            if self.was_up[l] && !up {
                self.any_down = true;
                if credit {
                    // The connecting end keeps its queue (which may hold what was owed
                    // before); the binding end's queue is left behind, on top of any
                    // earlier ones.
                    let (c, b) = self.ends[l];
                    let (held_c, held_b) = self.held_in[l];
                    let owed_c = self.owed.entry((l, c)).or_default();
                    *owed_c = (*owed_c).max(held_c);
                    *self.owed.entry((l, b)).or_default() += held_b;
                }
                if let Some(err) = self.net.link_error(link) {
                    assert!(
                        self.partitioned[l] || self.heartbeats,
                        "link {l} failed without a partition or heartbeats: {err}"
                    );
                }
            }
            if !self.was_up[l] && up {
                self.partitioned[l] = false; // a fresh transport
                self.transports[l] += 1;
            }
            self.was_up[l] = up;
        }
    }

    /// Each receiving peer of an inproc link that is up holds, with what is in flight
    /// towards it, at most its HWM and one.
    fn check_inproc(&mut self) {
        let hwm = if self.hwm == 0 { 1000 } else { self.hwm };
        for l in 0..self.links.len() {
            let link = self.links[l];
            let (Some((to_binder, to_connector)), true) =
                (self.net.in_flight(link), self.net.is_up(link))
            else {
                continue;
            };
            let (connector_peer, binder_peer) = self.net.link_peers(link);
            let (c, b) = self.ends[l];
            for (i, peer, in_flight) in [
                (c, Some(connector_peer), to_connector),
                (b, binder_peer, to_binder),
            ] {
                let queued = peer
                    .and_then(|peer| self.socket(i).pattern().stats(peer))
                    .map_or(0, |s| s.inbound_msgs);
                assert!(
                    queued + in_flight <= hwm + 1,
                    "inproc link {l}: socket {i} holds {queued} and {in_flight} are in flight \
                     (HWM {hwm})"
                );
            }
        }
    }

    fn socket(&mut self, i: usize) -> &mut zmq_sansio::pattern::Socket {
        self.net.socket(self.ids[i])
    }

    // -----------------------------------------------------------------------------------
    // Sending

    fn send(&mut self, sender: usize, topic: Bytes) -> Option<Tag> {
        let tag = Tag {
            sender,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        let ty = self.types[sender];
        let msg = match ty {
            SocketType::Pub | SocketType::XPub => Msg::from_frames([topic.clone(), tag.frame()]),
            _ => Msg::from(tag.frame()),
        };
        let result = self.socket(sender).send(msg);
        match ty {
            SocketType::Pub | SocketType::XPub => {
                assert_eq!(result, Ok(()), "{ty} send");
                self.published.insert(tag, topic);
            }
            SocketType::Req => {
                let awaiting = self.awaiting.get(&sender).copied().unwrap_or(false);
                match result {
                    Ok(()) => {
                        assert!(!awaiting || self.relaxed, "REQ {sender} sent twice");
                        self.awaiting.insert(sender, true);
                        self.latest.insert(sender, tag);
                        if !self.relaxed {
                            let transport = self.transport(self.req_link[&sender]);
                            let asked = Asked {
                                tag,
                                transport,
                                answered: false,
                                delivered: false,
                            };
                            self.asked.insert(sender, asked);
                        }
                    }
                    Err(SendError::RequestPending) => {
                        assert!(awaiting && !self.relaxed, "REQ {sender}: RequestPending");
                        return None;
                    }
                    // Nothing changes: an outstanding request stays outstanding.
                    Err(SendError::WouldBlock(_)) => return None,
                    Err(err) => panic!("REQ {sender}: {err}"),
                }
            }
            _ => match result {
                Ok(()) => {}
                Err(SendError::WouldBlock(_)) => return None,
                Err(err) => panic!("{ty} {sender}: {err}"),
            },
        }
        self.sent.insert(tag);
        Some(tag)
    }

    fn subscribe(&mut self, i: usize, prefix: Bytes, subscribe: bool) {
        let ty = self.types[i];
        let result = if subscribe {
            self.socket(i).subscribe(&prefix)
        } else {
            self.socket(i).unsubscribe(&prefix)
        };
        if !matches!(ty, SocketType::Sub | SocketType::XSub) {
            assert_eq!(result, Err(SendError::NotSupported(ty)));
            return;
        }
        assert_eq!(result, Ok(()));
        let held = self.held.entry(i).or_default();
        if subscribe {
            self.ever_held.entry(i).or_default().insert(prefix.clone());
            *held.entry(prefix).or_default() += 1;
        } else if let Some(count) = held.get_mut(&prefix) {
            *count -= 1;
            if *count == 0 {
                held.remove(&prefix);
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Receiving

    /// The link between two sockets.
    fn link_between(&self, a: usize, b: usize) -> usize {
        self.ends
            .iter()
            .position(|&(c, s)| (c, s) == (a, b) || (c, s) == (b, a))
            .expect("linked")
    }

    /// Records a delivery of `tag` at `receiver`, from socket `origin` and `order`-th in
    /// what that socket sent: sent, not seen there before, in order as far as the link's
    /// transports allow.
    fn arrived(&mut self, receiver: usize, tag: Tag, origin: usize, order: u64) {
        assert!(
            self.sent.contains(&tag),
            "{receiver} got {tag:?}, never sent"
        );
        // PUSH/PULL: once overall; elsewhere once per receiver.
        let key = match self.topology {
            Topology::PushPull => (usize::MAX, tag),
            _ => (receiver, tag),
        };
        if let Some(before) = self.delivered.insert(key, receiver) {
            panic!("{tag:?} delivered twice (to {before}, then {receiver})");
        }
        let l = self.link_between(origin, receiver);
        if let Some(owed) = self.owed.get_mut(&(l, receiver)) {
            *owed = owed.saturating_sub(1);
        }
        // Only an accepting socket has several queues for one link (the transports gone,
        // drained in their fair-queue turns, and the current one).
        let runs = if self.ends[l].1 == receiver {
            self.transports[l]
        } else {
            1
        };
        self.arrivals += 1;
        let arrivals = self.received.entry((origin, receiver)).or_default();
        let before = arrivals.order.range(..order).next_back().map(|(_, &a)| a);
        let after = arrivals.order.range(order + 1..).next().map(|(_, &a)| a);
        if let Some(after) = after {
            // `order` arrives after a later message: a new break, unless it goes between
            // two neighbours that were one already.
            if before.is_none_or(|before| before < after) {
                arrivals.breaks += 1;
            }
        }
        arrivals.order.insert(order, self.arrivals);
        assert!(
            arrivals.breaks < runs,
            "{receiver} got {tag:?} (#{order} from {origin}) out of order: {} runs over {runs} \
             transport(s) of link {l} ({:?})",
            arrivals.breaks + 1,
            arrivals.order
        );
    }

    /// Whether `tag` arrived anywhere.
    fn was_delivered(&self, tag: Tag) -> bool {
        self.delivered.keys().any(|&(_, t)| t == tag)
    }

    /// Receives everything the socket has; whether anything came.
    fn recv(&mut self, i: usize) -> bool {
        let ty = self.types[i];
        let mut any = false;
        match ty {
            SocketType::Push | SocketType::Pub => {
                assert_eq!(self.socket(i).recv(), Err(RecvError::NotSupported(ty)));
            }
            SocketType::XPub => {
                while let Some(notice) = self.socket(i).recv().expect("XPUB receives") {
                    let body = &notice.frames()[0];
                    assert!(
                        notice.len() == 1 && matches!(body.first(), Some(0 | 1)),
                        "XPUB got {notice:?}, not a subscription notice"
                    );
                    any = true;
                }
            }
            SocketType::Pull | SocketType::Pair => {
                while let Some(msg) = self.socket(i).recv().expect("receives") {
                    assert_eq!(msg.len(), 1, "{ty} {i}: {msg:?}");
                    let tag = Tag::parse(&msg.frames()[0]);
                    if ty == SocketType::Pair {
                        assert_ne!(tag.sender, i, "PAIR {i} got its own message");
                    }
                    self.arrived(i, tag, tag.sender, tag.seq);
                    any = true;
                }
            }
            SocketType::Sub | SocketType::XSub => {
                while let Some(msg) = self.socket(i).recv().expect("receives") {
                    assert_eq!(msg.len(), 2, "{ty} {i}: {msg:?}");
                    let topic = msg.frames()[0].clone();
                    let tag = Tag::parse(&msg.frames()[1]);
                    let sent_topic = self.published.get(&tag).expect("published");
                    assert_eq!(&topic, sent_topic, "topic of {tag:?}");
                    if ty == SocketType::Sub {
                        // Filtered at recv: only what matches a prefix held now is delivered.
                        let held = self.held.get(&i);
                        let matched =
                            held.is_some_and(|h| h.keys().any(|p| topic.starts_with(p)));
                        assert!(
                            matched,
                            "SUB {i} got {topic:?} ({tag:?}), matching no prefix it holds now \
                             (held: {held:?})"
                        );
                    } else {
                        let ever = self.ever_held.get(&i);
                        let matched = ever.is_some_and(|h| h.iter().any(|p| topic.starts_with(p)));
                        assert!(
                            matched,
                            "XSUB {i} got {topic:?} ({tag:?}), matching no prefix it ever held \
                             (held: {ever:?})"
                        );
                    }
                    self.arrived(i, tag, tag.sender, tag.seq);
                    any = true;
                }
            }
            SocketType::Rep => {
                while let Some(request) = self.socket(i).recv().expect("REP receives") {
                    assert_eq!(request.len(), 1, "REP: {request:?}");
                    let tag = Tag::parse(&request.frames()[0]);
                    assert_eq!(self.types[tag.sender], SocketType::Req);
                    // From a transport that may be gone since: the reply is then dropped.
                    self.arrived(i, tag, tag.sender, tag.seq);
                    let result = self.socket(i).send(Msg::from(reply_frame(tag)));
                    assert_eq!(result, Ok(()), "REP reply");
                    let l = self.req_link[&tag.sender];
                    let transport = self.transport(l);
                    if let Some(asked) = self.asked.get_mut(&tag.sender)
                        && asked.tag == tag
                        && asked.transport.is_some()
                        && transport == asked.transport
                    {
                        asked.answered = true;
                    }
                    any = true;
                }
            }
            SocketType::Req => {
                let awaiting = self.awaiting.get(&i).copied().unwrap_or(false);
                let result = self.socket(i).recv();
                if let Some(asked) = self.asked.get(&i)
                    && asked.delivered
                {
                    let expected = Msg::from(reply_frame(asked.tag));
                    assert_eq!(
                        result,
                        Ok(Some(expected)),
                        "REQ {i}: the reply to {:?} reached it, and must be received \
                         (even if its peer went away since)",
                        asked.tag
                    );
                }
                match result {
                    Ok(Some(reply)) => {
                        assert!(awaiting, "REQ {i}: a reply while not awaiting one");
                        assert_eq!(reply.len(), 1, "REQ {i}: {reply:?}");
                        let tag = parse_reply(&reply.frames()[0]);
                        assert_eq!(tag.sender, i, "REQ {i} got the reply to {tag:?}");
                        assert!(self.sent.contains(&tag));
                        if !self.relaxed || self.correlate {
                            assert_eq!(Some(&tag), self.latest.get(&i), "REQ {i}: stale reply");
                        }
                        self.awaiting.insert(i, false);
                        self.asked.remove(&i);
                        any = true;
                    }
                    Ok(None) => assert!(awaiting, "REQ {i}: Ok(None) while not awaiting"),
                    Err(RecvError::NoRequest) => {
                        assert!(!awaiting, "REQ {i}: NoRequest while awaiting");
                    }
                    Err(err) => panic!("REQ {i}: {err}"),
                }
            }
            SocketType::Router => {
                while let Some(mut request) = self.socket(i).recv().expect("ROUTER receives") {
                    assert_eq!(request.len(), 2, "ROUTER: {request:?}");
                    let routing_id = request.pop_front().expect("two frames");
                    let tag = Tag::parse(&request.frames()[0]);
                    match self.identities.get(&tag.sender) {
                        Some(identity) => assert_eq!(&routing_id, identity, "{tag:?}"),
                        None => assert!(
                            routing_id.len() == 5 && routing_id[0] == 0,
                            "generated id {routing_id:?}"
                        ),
                    }
                    self.arrived(i, tag, tag.sender, tag.seq);
                    let reply = Msg::from_frames([routing_id, reply_frame(tag)]);
                    if self.route(i, reply) {
                        self.replied.insert(tag);
                        let order = self.reply_order.len() as u64;
                        self.reply_order.insert(tag, order);
                    }
                    any = true;
                }
            }
            SocketType::Dealer => {
                while let Some(reply) = self.socket(i).recv().expect("DEALER receives") {
                    assert_eq!(reply.len(), 1, "DEALER {i}: {reply:?}");
                    let tag = parse_reply(&reply.frames()[0]);
                    assert_eq!(tag.sender, i, "DEALER {i} got the reply to {tag:?}");
                    assert!(self.replied.contains(&tag), "{tag:?} never replied");
                    // Replies travel under their own tags: one per request.
                    self.sent.insert(reply_tag(tag));
                    let order = self.reply_order[&tag];
                    self.arrived(i, reply_tag(tag), 0, order);
                    any = true;
                }
            }
        }
        any
    }

    /// ROUTER sends a reply, letting the network drain while the peer is full; whether it
    /// was accepted.
    fn route(&mut self, i: usize, reply: Msg) -> bool {
        let mut reply = reply;
        for _ in 0..4 {
            match self.socket(i).send(reply) {
                Ok(()) => return true,
                Err(SendError::WouldBlock(back)) => {
                    reply = back;
                    self.run_network();
                }
                // The DEALER's connection is gone: nobody to answer.
                Err(SendError::Unroutable(_)) => return false,
                Err(err) => panic!("ROUTER reply: {err}"),
            }
        }
        false
    }

    // -----------------------------------------------------------------------------------
    // The end

    /// Runs and receives everywhere until nothing more arrives.
    fn settle(&mut self) {
        for _ in 0..SETTLE_ROUNDS {
            self.run_network();
            let mut any = false;
            for i in 0..self.ids.len() {
                any |= self.recv(i);
            }
            self.run_network();
            if !any {
                return;
            }
        }
        panic!("the network never settled");
    }

    fn finish(&mut self) {
        // Heal everything.
        for l in 0..self.links.len() {
            self.net.partition(self.links[l], false);
            self.partition_on[l] = false;
            self.reconnect(l);
        }
        self.check_links(true);
        self.settle();

        let owed: Vec<_> = self.owed.iter().filter(|&(_, &n)| n > 0).collect();
        assert!(
            owed.is_empty(),
            "(link, receiver) never got this many of the messages it held when a transport \
             closed: {owed:?}"
        );

        if !self.any_down {
            let lost: Vec<Tag> = match self.topology {
                Topology::PushPull | Topology::Pair => self
                    .sent
                    .iter()
                    .filter(|t| !self.was_delivered(**t))
                    .copied()
                    .collect(),
                // Every request reaches the ROUTER, every reply it accepted its DEALER.
                Topology::DealerRouter => self
                    .sent
                    .iter()
                    .filter(|t| t.sender < self.ids.len() && !self.was_delivered(**t))
                    .chain(
                        self.replied
                            .iter()
                            .filter(|t| !self.was_delivered(reply_tag(**t))),
                    )
                    .copied()
                    .collect(),
                Topology::ReqRep if !self.relaxed => self
                    .awaiting
                    .iter()
                    .filter(|&(_, &a)| a)
                    .map(|(&i, _)| self.latest[&i])
                    .collect(),
                _ => Vec::new(),
            };
            assert!(
                lost.is_empty(),
                "lost without any link going down: {lost:?}"
            );
        }
        self.probe();
    }

    /// Fresh traffic through every sender still arrives.
    fn probe(&mut self) {
        let mut expected = Vec::new();
        match self.topology {
            Topology::PubSub => {
                let subscribers: Vec<usize> = (1..self.ids.len()).collect();
                for &s in &subscribers {
                    self.subscribe(s, Bytes::from_static(PROBE_TOPIC), true);
                }
                // An XPUB takes subscriptions only as fast as its application reads notices.
                self.settle();
                let tag = self
                    .send(0, Bytes::from_static(PROBE_TOPIC))
                    .expect("published");
                self.settle();
                for s in subscribers {
                    expected.push((s, tag));
                }
            }
            Topology::ReqRep => {
                for r in self.senders.clone() {
                    if !self.relaxed && self.awaiting.get(&r).copied().unwrap_or(false) {
                        continue; // a strict REQ whose request was lost is stuck, as in libzmq
                    }
                    let tag = self.send(r, Bytes::new()).expect("a REQ can ask");
                    expected.push((r, tag));
                }
                self.settle();
                for &(r, _) in &expected {
                    assert!(!self.awaiting[&r], "REQ {r} got no answer to its probe");
                }
                return;
            }
            _ => {
                for s in self.senders.clone() {
                    let tag = self.send(s, Bytes::new()).expect("a peer takes the probe");
                    expected.push((s, tag));
                }
                self.settle();
            }
        }
        for (receiver, tag) in expected {
            let arrived = match self.topology {
                Topology::PubSub => self.delivered.contains_key(&(receiver, tag)),
                Topology::DealerRouter => self.was_delivered(reply_tag(tag)),
                _ => self.was_delivered(tag),
            };
            assert!(arrived, "probe {tag:?} never arrived (at {receiver})");
        }
    }
}
