//! One `Pattern` of a fuzzer-chosen socket type and options (HWMs, REQ_RELAXED,
//! REQ_CORRELATE, ROUTER_MANDATORY, ROUTER_HANDOVER, XPUB_VERBOSE(R), subscription limit),
//! driven through arbitrary sequences of the events a `Socket` feeds it: peers attached,
//! connected (with or without a routing id), disconnected, detached; messages,
//! subscriptions (up to 128 KiB long, within the default per-peer limit) and cancellations
//! from peers; the application's send, recv, subscribe and unsubscribe; the socket taking
//! output for peers.
//!
//! A model of every peer's queues runs alongside; after every event:
//! - results are exactly what the socket type's rules say, and nothing panics;
//! - every queue holds exactly what the model holds (`stats`), so no queue exceeds its HWM,
//!   and `pop_output` hands out exactly the model's next item: nothing is lost, duplicated
//!   or reordered except as the rules say (a detach discards the peer's outgoing queue;
//!   PUB, XPUB, SUB and XSUB drop a peer's output when it disconnects);
//! - PUSH, DEALER, REQ: a message taken (`Ok`) goes to exactly one peer, one that had room;
//!   `WouldBlock` only when no peer has room; round-robin passes over a peer with room at
//!   most as many times as there were other peers ahead of it;
//! - every socket that receives fair-queues, exactly: peers with messages take turns in
//!   the order they started waiting, one message each (a peer that still has messages goes
//!   to the back), and `recv` returns the oldest message of the peer whose turn it is (so
//!   no peer is passed over more often than others have messages ahead of it); a full inbox
//!   refuses input with `InputError::Full` handing the input back unchanged, and taking
//!   from that inbox wakes the peer;
//! - what a peer sent that the application has not read yet outlives its detach, as in
//!   libzmq: those messages keep their turn in the fair queue (and their ROUTER routing id,
//!   REP envelope, SUB/XSUB filtering at `recv`), the peer is never woken or listed again
//!   and has no `stats`, and a REP reply to such a request is dropped silently;
//! - REQ: requests carry the empty delimiter (and the REQ_CORRELATE id); only the asked
//!   peer's well-formed reply to the outstanding request is accepted, and the REQ keeps it
//!   itself: no peer's inbox ever holds a message (`stats`), and the reply survives its
//!   peer's detach; `recv` returns exactly that reply once, `Ok(None)` exactly while
//!   awaiting one, `NoRequest` otherwise; unless REQ_RELAXED, no request leaves
//!   (`pop_output`) while an earlier one is outstanding (it left, and neither was its reply
//!   received by the application nor was its peer detached before replying); a relaxed
//!   `send` that finds no peer with room is `WouldBlock` and changes nothing (the earlier
//!   request and its unread reply stay), one that goes abandons them;
//! - REP: a request needs an envelope; the reply goes to the peer whose request was
//!   received last, with that request's envelope;
//! - ROUTER: received messages start with the routing id of the peer they came from (the
//!   announced identity, or a generated 5-octet id starting with 0x00, unique and stable
//!   per connection); sending to that id reaches that peer; duplicate ids are refused
//!   unless ROUTER_HANDOVER, which makes the old holder unroutable; ROUTER_MANDATORY
//!   reports unroutable messages and full peers;
//! - PUB/XPUB: a message goes to a peer iff that peer holds a matching subscription (a
//!   model of per-peer subscription multisets) and its queue has room; the subscription
//!   limit is enforced per peer; XPUB reports subscriptions as the verbose switches say,
//!   and refuses them as `Full` while the application has a receive HWM of notices
//!   unread, waking the refused peers when it reads one;
//! - SUB: only messages matching a subscription held when they arrive are queued,
//!   and `recv` filters again: it returns exactly the next queued message, in fair-queue
//!   order, that matches the subscriptions held now, dropping every non-matching one it
//!   reaches on the way (and waking their peers if they were refused input); XSUB, as
//!   libzmq's, queues and returns everything; for both,
//!   subscriptions go to every connected peer when they appear (XSUB: each time) and
//!   disappear, and in full (once each) to a peer that connects;
//! - PAIR: never two peers attached;
//! - `poll_wake` names only attached peers, and every peer whose outgoing queue became
//!   non-empty, or whose refused input found room.
#![no_main]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use zmq_sansio::Msg;
use zmq_sansio::pattern::{
    AttachError, InputError, LimitError, Pattern, PeerId, PeerInput, PeerOutput, QueueStats,
    RecvError, SendError, SubscriptionCost,
};
use zmq_sansio::proto::{MechanismName, Metadata, PeerInfo, SocketType, ZmtpVersion};
use zmq_sansio_fuzz::scenario::compatible_peers;
use zmq_sansio_fuzz::sockets::{PatternOp, PatternScenario, SLOTS, message, octets};

fuzz_target!(|scenario: PatternScenario| run(&scenario));

fn run(scenario: &PatternScenario) {
    let mut pattern = Pattern::new(scenario.socket_type(), &scenario.options());
    let mut model = Model::new(scenario);
    for op in &scenario.ops {
        model.step(&mut pattern, op);
        model.check(&mut pattern);
    }
}

/// A message from a peer, as the model keeps it for the application.
#[derive(Debug, Clone)]
struct Incoming {
    msg: Msg,
    /// ROUTER: the routing-id epoch of the peer when it arrived (the id goes in front).
    epoch: Option<usize>,
}

/// What the model knows of one attached peer.
#[derive(Debug, Default)]
struct Peer {
    connected: bool,
    out: VecDeque<PeerOutput>,
    inbox: VecDeque<Incoming>,
    /// Input was refused with `Full`: taking from the inbox must wake the peer.
    input_blocked: bool,
    /// PUB/XPUB: the subscriptions the peer holds, with reference counts.
    subs: BTreeMap<Bytes, u32>,
    /// PUB/XPUB: what the distinct prefixes held are charged against the per-peer limit.
    sub_cost: usize,
    /// ROUTER: the routing-id epoch that routes to this peer (`None`: unroutable).
    epoch: Option<usize>,
    /// REQ: the envelope of the last request handed out for this peer.
    envelope: Option<Msg>,
    /// REQ: indices (into `Model::requests`) of the requests queued for this peer.
    requests: VecDeque<usize>,
    /// Round robin: at most this many other peers are ahead of this one.
    rr_ahead: usize,
}

impl Peer {
    fn out_msgs(&self) -> usize {
        self.out
            .iter()
            .filter(|o| matches!(o, PeerOutput::Message(_)))
            .count()
    }
}

/// A request a REQ sent.
#[derive(Debug)]
struct Request {
    peer: PeerId,
    /// Handed out by `pop_output`.
    left: bool,
    /// Its reply was accepted (the REQ keeps it, whatever becomes of the peer).
    replied: bool,
    /// Its reply was received by the application.
    answered: bool,
    /// Its peer was detached before replying, and the request with it.
    gone: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ReqState {
    Idle,
    Awaiting {
        peer: PeerId,
        id: Option<Bytes>,
    },
    /// The accepted reply, held by the REQ itself until the application takes it.
    ReplyReady(Msg),
}

struct Model {
    ty: SocketType,
    send_hwm: usize,
    recv_hwm: usize,
    relaxed: bool,
    correlate: bool,
    mandatory: bool,
    handover: bool,
    verbose: bool,
    verboser: bool,
    max_sub_per_peer: usize,
    max_sub_total: usize,
    /// PUB/XPUB: what all subscriptions are charged against the socket-wide limit.
    sub_total: usize,
    info_type: SocketType,
    /// Attached peers.
    peers: BTreeMap<PeerId, Peer>,
    /// Fair queueing: the peers with messages, in turn order (each at most once), attached
    /// or detached with unread messages.
    fq: VecDeque<PeerId>,
    /// Unread messages of detached peers: still delivered in their fair-queue turn.
    orphans: BTreeMap<PeerId, VecDeque<Incoming>>,
    /// The id each slot names now.
    slots: [PeerId; SLOTS as usize],
    next_id: u64,
    /// Detached ids: never seen again.
    retired: BTreeSet<PeerId>,
    /// SUB/XSUB: our subscriptions.
    own_subs: BTreeMap<Bytes, u32>,
    /// XPUB: subscription notices for the application (at most the receive HWM, else
    /// subscriptions push back).
    notices: VecDeque<Msg>,
    /// XPUB: peers whose subscriptions were refused because `notices` was full.
    notices_blocked: BTreeSet<PeerId>,
    req: ReqState,
    req_next_id: u32,
    /// REQ: every request sent, in order, and the one the REQ waits on.
    requests: Vec<Request>,
    req_current: Option<usize>,
    /// REP: the peer and envelope of the request being answered.
    answering: Option<(PeerId, Msg)>,
    /// PAIR: the one peer.
    pair: Option<PeerId>,
    /// ROUTER: the routing id of each connection epoch (`None`: generated, not yet seen).
    ids: Vec<Option<Bytes>>,
    /// Peers that must be woken after this step.
    wakes: BTreeSet<PeerId>,
}

type Snapshot = BTreeMap<PeerId, QueueStats>;

fn unlimited(hwm: usize) -> usize {
    if hwm == 0 { usize::MAX } else { hwm }
}

/// REP: frames up to and including the first empty one, if a body follows it.
fn envelope_len(msg: &Msg) -> Option<usize> {
    let delimiter = msg.iter().position(|frame| frame.is_empty())?;
    (delimiter + 1 < msg.len()).then_some(delimiter + 1)
}

fn prefix_matches<V>(subs: &BTreeMap<Bytes, V>, topic: &[u8]) -> bool {
    subs.keys().any(|prefix| topic.starts_with(prefix))
}

fn subscription_message(subscribe: bool, prefix: &[u8]) -> Msg {
    let mut body = vec![u8::from(subscribe)];
    body.extend_from_slice(prefix);
    Msg::from(body)
}

fn snapshot(pattern: &Pattern) -> Snapshot {
    pattern
        .peers()
        .map(|p| (p, pattern.stats(p).expect("attached")))
        .collect()
}

impl Model {
    fn new(s: &PatternScenario) -> Self {
        let options = s.options();
        let ty = s.socket_type();
        Self {
            ty,
            send_hwm: unlimited(options.send_hwm),
            recv_hwm: unlimited(options.recv_hwm),
            relaxed: options.req_relaxed,
            correlate: options.req_correlate,
            mandatory: options.router_mandatory,
            handover: options.router_handover,
            verbose: options.xpub_verbose || options.xpub_verboser,
            verboser: options.xpub_verboser,
            max_sub_per_peer: unlimited(options.max_subscription_memory_per_peer),
            max_sub_total: unlimited(options.max_subscription_memory),
            sub_total: 0,
            info_type: compatible_peers(ty)[0],
            peers: BTreeMap::new(),
            fq: VecDeque::new(),
            orphans: BTreeMap::new(),
            slots: std::array::from_fn(|i| PeerId(i as u64)),
            next_id: u64::from(SLOTS),
            retired: BTreeSet::new(),
            own_subs: BTreeMap::new(),
            notices: VecDeque::new(),
            notices_blocked: BTreeSet::new(),
            req: ReqState::Idle,
            req_next_id: 1,
            requests: Vec::new(),
            req_current: None,
            answering: None,
            pair: None,
            ids: Vec::new(),
            wakes: BTreeSet::new(),
        }
    }

    fn slot(&self, slot: u8) -> PeerId {
        self.slots[usize::from(slot % SLOTS)]
    }

    fn connected(&self, id: PeerId) -> bool {
        self.peers.get(&id).is_some_and(|p| p.connected)
    }

    fn has_room(&self, id: PeerId) -> bool {
        self.peers
            .get(&id)
            .is_some_and(|p| p.out_msgs() < self.send_hwm)
    }

    fn is_pub(&self) -> bool {
        matches!(self.ty, SocketType::Pub | SocketType::XPub)
    }

    fn is_sub(&self) -> bool {
        matches!(self.ty, SocketType::Sub | SocketType::XSub)
    }

    // -----------------------------------------------------------------------------------
    // Driving

    fn step(&mut self, pattern: &mut Pattern, op: &PatternOp) {
        match op {
            PatternOp::Attach { slot } => {
                let id = self.slot(*slot);
                if self.peers.contains_key(&id) {
                    return; // a socket never attaches a peer twice
                }
                let result = pattern.attach(id);
                assert_eq!(result, self.attach(id), "attach {id}");
            }
            PatternOp::Connect { slot, identity } => {
                let id = self.slot(*slot);
                if self.connected(id) {
                    // A reconnect: the old connection drops first.
                    pattern.disconnected(id);
                    self.disconnected(id);
                }
                let identity = identity.map(|k| Bytes::from(format!("id{}", k % 4)));
                let info = PeerInfo {
                    socket_type: self.info_type,
                    identity: identity.clone(),
                    version: ZmtpVersion::V3_1,
                    mechanism: MechanismName::NULL,
                    metadata: Metadata::new(),
                    user_id: None,
                    auth_metadata: Default::default(),
                };
                let result = pattern.connected(id, &info);
                let expected = self.connect(id, identity);
                match (&result, &expected) {
                    (
                        Err(AttachError::DuplicateIdentity(_)),
                        Err(AttachError::DuplicateIdentity(_)),
                    ) => {}
                    _ => assert_eq!(result, expected, "connected {id}"),
                }
            }
            PatternOp::Disconnect { slot } => {
                let id = self.slot(*slot);
                pattern.disconnected(id);
                self.disconnected(id);
            }
            PatternOp::Detach { slot } => {
                let id = self.slot(*slot);
                pattern.detach(id);
                self.detach(id);
                if self.retired.contains(&id) {
                    self.slots[usize::from(slot % SLOTS)] = PeerId(self.next_id);
                    self.next_id += 1;
                }
            }
            PatternOp::Input { slot, frames } => {
                let id = self.slot(*slot);
                let mut msg = message(frames);
                if msg.is_empty() {
                    msg.push_back(Bytes::new()); // the wire has no empty messages
                }
                self.input(pattern, id, msg);
            }
            PatternOp::Reply { slot, body } => {
                let id = self.slot(*slot);
                let Some(peer) = self.peers.get(&id) else {
                    return;
                };
                let body = octets(body);
                let msg: Msg = match self.ty {
                    SocketType::Req => {
                        let mut msg = peer.envelope.clone().unwrap_or_else(|| Msg::from(""));
                        msg.push_back(body);
                        msg
                    }
                    SocketType::Rep => {
                        Msg::from_frames([Bytes::from(format!("r{}", id.0)), Bytes::new(), body])
                    }
                    _ => Msg::from(body),
                };
                self.input(pattern, id, msg);
            }
            PatternOp::Subscribe { slot, .. }
            | PatternOp::Cancel { slot, .. }
            | PatternOp::LongSubscribe { slot, .. } => {
                let id = self.slot(*slot);
                if !self.connected(id) {
                    return; // only connected peers speak
                }
                let (subscribe, prefix) = match op {
                    PatternOp::Subscribe { prefix, .. } => (true, octets(prefix)),
                    PatternOp::Cancel { prefix, .. } => (false, octets(prefix)),
                    PatternOp::LongSubscribe { len, .. } => {
                        (true, Bytes::from(vec![b'a'; usize::from(*len) * 2]))
                    }
                    _ => unreachable!(),
                };
                let input = if subscribe {
                    PeerInput::Subscribe(prefix.clone())
                } else {
                    PeerInput::Cancel(prefix.clone())
                };
                let result = pattern.on_input(id, input);
                let expected = if !self.is_pub() {
                    Ok(())
                } else if self.ty == SocketType::XPub && self.notices.len() >= self.recv_hwm {
                    // Notices push back like an inbox: the peer is read again after the
                    // application takes one.
                    self.notices_blocked.insert(id);
                    let input = if subscribe {
                        PeerInput::Subscribe(prefix)
                    } else {
                        PeerInput::Cancel(prefix)
                    };
                    Err(InputError::Full(input))
                } else if subscribe {
                    self.peer_subscribe(id, prefix)
                } else {
                    self.peer_cancel(id, &prefix);
                    Ok(())
                };
                assert_eq!(result, expected, "{op:?}");
            }
            PatternOp::Send { to, frames } => {
                let mut msg = message(frames);
                if self.ty == SocketType::Router {
                    let known = (*to < SLOTS)
                        .then(|| self.routing_id(self.slot(*to)))
                        .flatten();
                    match known {
                        Some(routing_id) => msg.push_front(routing_id),
                        // Generated ids start with 0x00: keep raw routing frames off them,
                        // so that a raw frame is never routable.
                        None => {
                            if let Some(first) = msg.frames_mut().first_mut()
                                && first.first() == Some(&0)
                            {
                                let mut octets = first.to_vec();
                                octets[0] = 1;
                                *first = Bytes::from(octets);
                            }
                        }
                    }
                }
                let before = snapshot(pattern);
                let result = pattern.send(msg.clone());
                let expected = self.send(pattern, &before, msg);
                match (&result, &expected) {
                    (Err(SendError::Unroutable(_)), Err(SendError::Unroutable(_))) => {}
                    _ => assert_eq!(result, expected, "send"),
                }
            }
            PatternOp::Recv => {
                let result = pattern.recv();
                self.recv(result);
            }
            PatternOp::Pop { slot, count } => {
                let id = self.slot(*slot);
                for _ in 0..=count % 4 {
                    let popped = pattern.pop_output(id);
                    let expected = self.pop(id);
                    assert_eq!(popped, expected, "pop_output {id}");
                    if popped.is_none() {
                        break;
                    }
                }
            }
            PatternOp::OwnSubscribe { prefix } | PatternOp::OwnUnsubscribe { prefix } => {
                let subscribe = matches!(op, PatternOp::OwnSubscribe { .. });
                let prefix = octets(prefix);
                let result = if subscribe {
                    pattern.subscribe(&prefix)
                } else {
                    pattern.unsubscribe(&prefix)
                };
                if self.is_sub() {
                    assert_eq!(result, Ok(()));
                    self.own_subscription(prefix, subscribe);
                } else {
                    assert_eq!(result, Err(SendError::NotSupported(self.ty)));
                }
            }
        }
    }

    /// After every step: queues, peers and wakes agree with the model.
    fn check(&mut self, pattern: &mut Pattern) {
        let mut woken = BTreeSet::new();
        while let Some(peer) = pattern.poll_wake() {
            assert!(
                self.peers.contains_key(&peer),
                "woke {peer}, which is not attached"
            );
            woken.insert(peer);
        }
        let missed: Vec<_> = self.wakes.difference(&woken).collect();
        assert!(missed.is_empty(), "no wake for {missed:?}");
        self.wakes.clear();

        assert_eq!(pattern.peer_count(), self.peers.len(), "peer count");
        let attached: BTreeSet<PeerId> = pattern.peers().collect();
        assert!(attached.iter().eq(self.peers.keys()), "attached peers");
        if self.ty == SocketType::Pair {
            assert!(self.peers.len() <= 1, "PAIR with two peers");
        }
        for (&id, peer) in &self.peers {
            let stats = pattern.stats(id).expect("attached peers have stats");
            assert!(
                stats.outbound_msgs <= self.send_hwm,
                "{id}: {} queued out, send HWM {}",
                stats.outbound_msgs,
                self.send_hwm
            );
            assert!(
                stats.inbound_msgs <= self.recv_hwm,
                "{id}: {} queued in, receive HWM {}",
                stats.inbound_msgs,
                self.recv_hwm
            );
            let expected = QueueStats {
                outbound_msgs: peer.out_msgs(),
                outbound_total: peer.out.len(),
                inbound_msgs: peer.inbox.len(),
            };
            assert_eq!(stats, expected, "{id}: queues differ from the model");
        }
        for &id in &self.retired {
            assert!(
                !pattern.has_peer(id) && pattern.stats(id).is_none(),
                "{id} is back"
            );
        }
        for (&id, orphan) in &self.orphans {
            assert!(
                !orphan.is_empty() && self.fq.contains(&id),
                "{id}: orphan turn"
            );
        }
    }

    // -----------------------------------------------------------------------------------
    // Peers coming and going

    fn attach(&mut self, id: PeerId) -> Result<(), AttachError> {
        if self.ty == SocketType::Pair {
            if self.pair.is_some_and(|p| p != id) {
                return Err(AttachError::PairTaken);
            }
            self.pair = Some(id);
        }
        let others = self.peers.len();
        self.peers.insert(
            id,
            Peer {
                rr_ahead: others,
                ..Peer::default()
            },
        );
        Ok(())
    }

    fn connect(&mut self, id: PeerId, identity: Option<Bytes>) -> Result<(), AttachError> {
        if !self.peers.contains_key(&id) {
            self.attach(id)?;
        }
        if self.ty == SocketType::Router {
            self.peers.get_mut(&id).expect("attached").epoch = None;
            if let Some(identity) = &identity
                && let Some(holder) = self.router_lookup(identity)
            {
                if !self.handover {
                    return Err(AttachError::DuplicateIdentity(
                        identity.escape_ascii().to_string(),
                    ));
                }
                // The newcomer takes the id over; the holder is unroutable from now on.
                self.peers.get_mut(&holder).expect("attached").epoch = None;
            }
            self.ids.push(identity);
            self.peers.get_mut(&id).expect("attached").epoch = Some(self.ids.len() - 1);
        }
        self.peers.get_mut(&id).expect("attached").connected = true;
        if self.is_sub() {
            // The whole subscription set, once each, in order.
            let prefixes: Vec<Bytes> = self.own_subs.keys().cloned().collect();
            for prefix in prefixes {
                self.push_out(id, PeerOutput::Subscribe(prefix));
            }
        }
        Ok(())
    }

    fn disconnected(&mut self, id: PeerId) {
        if !self.connected(id) {
            return;
        }
        if self.is_pub() {
            self.drop_subscriptions(id);
        }
        let peer = self.peers.get_mut(&id).expect("connected");
        peer.connected = false;
        peer.epoch = None;
        if self.is_pub() || self.is_sub() {
            // What was queued under the old subscriptions must not reach the next connection.
            self.clear_out(id);
        }
    }

    fn detach(&mut self, id: PeerId) {
        if !self.peers.contains_key(&id) {
            return;
        }
        self.disconnected(id);
        if self.is_pub() {
            self.drop_subscriptions(id);
        }
        if self.pair == Some(id) {
            self.pair = None;
        }
        for request in &mut self.requests {
            if request.peer == id && !request.replied {
                request.gone = true; // with the peer's queues; an accepted reply stays
            }
        }
        // Its outgoing queue goes; what it sent stays readable, keeping its turn in `fq`.
        let peer = self.peers.remove(&id).expect("attached");
        if !peer.inbox.is_empty() {
            assert!(self.fq.contains(&id), "a peer with messages waits its turn");
            self.orphans.insert(id, peer.inbox);
        }
        self.retired.insert(id);
    }

    // -----------------------------------------------------------------------------------
    // Queues

    fn push_out(&mut self, id: PeerId, output: PeerOutput) {
        let peer = self.peers.get_mut(&id).expect("attached");
        if peer.out.is_empty() {
            self.wakes.insert(id);
        }
        peer.out.push_back(output);
    }

    /// Queues a message for `id` if it is attached and has room; whether it did.
    fn push_msg(&mut self, id: PeerId, msg: Msg) -> bool {
        if !self.has_room(id) {
            return false;
        }
        self.push_out(id, PeerOutput::Message(msg));
        true
    }

    fn clear_out(&mut self, id: PeerId) {
        let others = self.peers.len() - 1;
        let peer = self.peers.get_mut(&id).expect("attached");
        peer.out.clear();
        peer.rr_ahead = peer.rr_ahead.max(others);
    }

    fn pop(&mut self, id: PeerId) -> Option<PeerOutput> {
        let others = self.peers.len().saturating_sub(1);
        let was_full = !self.has_room(id);
        let peer = self.peers.get_mut(&id)?;
        let output = peer.out.pop_front()?;
        if was_full {
            // Back in the rotation, behind at most every other peer.
            peer.rr_ahead = peer.rr_ahead.max(others);
        }
        if self.ty == SocketType::Req
            && let PeerOutput::Message(request) = &output
        {
            // RFC 28: the envelope is everything up to the empty delimiter.
            let delimiter = request.iter().position(|f| f.is_empty());
            let delimiter = delimiter.expect("a request carries an empty delimiter");
            peer.envelope = Some(request.iter().take(delimiter + 1).cloned().collect());
            let index = peer.requests.pop_front().expect("a request");
            if !self.relaxed {
                let outstanding: Vec<&Request> = self
                    .requests
                    .iter()
                    .filter(|r| r.left && !r.answered && !r.gone)
                    .collect();
                assert!(
                    outstanding.is_empty(),
                    "REQ: a request leaves while {outstanding:?} is outstanding"
                );
            }
            self.requests[index].left = true;
        }
        Some(output)
    }

    /// Stores a message from a peer for the application, or refuses it when the inbox is
    /// full (the error hands back `returned`).
    fn push_input(
        &mut self,
        id: PeerId,
        incoming: Incoming,
        returned: Msg,
    ) -> Result<(), InputError> {
        let peer = self.peers.get_mut(&id).expect("attached");
        if peer.inbox.len() >= self.recv_hwm {
            peer.input_blocked = true;
            return Err(InputError::Full(PeerInput::Message(returned)));
        }
        if peer.inbox.is_empty() {
            self.fq.push_back(id); // its turn comes after every peer already waiting
        }
        peer.inbox.push_back(incoming);
        Ok(())
    }

    /// Takes the next message in fair-queue order (the oldest of the peer whose turn it
    /// is, attached or not), waking the peer if it is attached and its input was refused.
    fn pop_input(&mut self) -> Option<(PeerId, Incoming)> {
        let id = self.fq.pop_front()?;
        if let Some(orphan) = self.orphans.get_mut(&id) {
            let incoming = orphan.pop_front().expect("orphans are never empty");
            if orphan.is_empty() {
                self.orphans.remove(&id);
            } else {
                self.fq.push_back(id);
            }
            return Some((id, incoming));
        }
        let peer = self.peers.get_mut(&id).expect("waiting peers are attached");
        let incoming = peer.inbox.pop_front().expect("waiting peers have messages");
        if !peer.inbox.is_empty() {
            self.fq.push_back(id);
        }
        if peer.input_blocked {
            peer.input_blocked = false;
            self.wakes.insert(id);
        }
        Some((id, incoming))
    }

    // -----------------------------------------------------------------------------------
    // Peer input

    fn input(&mut self, pattern: &mut Pattern, id: PeerId, msg: Msg) {
        if !self.connected(id) {
            return; // only connected peers speak
        }
        let result = pattern.on_input(id, PeerInput::Message(msg.clone()));
        let expected = self.on_message(id, msg);
        assert_eq!(result, expected, "input from {id}");
    }

    fn on_message(&mut self, id: PeerId, msg: Msg) -> Result<(), InputError> {
        let plain = |msg: &Msg| Incoming {
            msg: msg.clone(),
            epoch: None,
        };
        match self.ty {
            SocketType::Push | SocketType::Pub => Ok(()),
            SocketType::Pull | SocketType::Dealer | SocketType::Pair | SocketType::XPub => {
                self.push_input(id, plain(&msg), msg)
            }
            // XSUB takes everything, as libzmq's (the publisher has filtered).
            SocketType::XSub => self.push_input(id, plain(&msg), msg),
            SocketType::Sub => {
                if !prefix_matches(&self.own_subs, &msg.frames()[0]) {
                    return Ok(());
                }
                self.push_input(id, plain(&msg), msg)
            }
            SocketType::Rep => {
                if envelope_len(&msg).is_none() {
                    return Ok(()); // not a request
                }
                self.push_input(id, plain(&msg), msg)
            }
            SocketType::Router => {
                let Some(epoch) = self.peers[&id].epoch else {
                    return Ok(()); // unroutable: discarded
                };
                let incoming = Incoming {
                    msg: msg.clone(),
                    epoch: Some(epoch),
                };
                self.push_input(id, incoming, msg)
            }
            SocketType::Req => {
                let ReqState::Awaiting { peer, id: tag } = &self.req else {
                    return Ok(());
                };
                if *peer != id {
                    return Ok(()); // not from the asked peer
                }
                let mut reply = msg;
                if let Some(tag) = tag
                    && reply.pop_front().as_ref() != Some(tag)
                {
                    return Ok(()); // a reply to another request
                }
                if reply.len() < 2 || !reply.frames()[0].is_empty() {
                    return Ok(()); // malformed
                }
                let current = self.req_current.expect("a request was sent");
                if !self.requests[current].left {
                    return Ok(()); // unsolicited: the request has not left yet
                }
                reply.pop_front();
                // Kept by the REQ, not queued in the peer's inbox.
                self.req = ReqState::ReplyReady(reply);
                self.requests[current].replied = true;
                Ok(())
            }
        }
    }

    fn notify(&mut self, subscribe: bool, prefix: &[u8]) {
        if self.ty == SocketType::XPub {
            self.notices
                .push_back(subscription_message(subscribe, prefix));
        }
    }

    fn held_by_anyone(&self, prefix: &[u8]) -> bool {
        self.peers.values().any(|p| p.subs.contains_key(prefix))
    }

    fn peer_subscribe(&mut self, id: PeerId, prefix: Bytes) -> Result<(), InputError> {
        let new_prefix = !self.held_by_anyone(&prefix);
        let peer = self.peers.get_mut(&id).expect("connected");
        if !peer.subs.contains_key(&prefix) {
            // Each peer pays for its prefixes as if alone; the socket pays a prefix once.
            let cost = SubscriptionCost::of(prefix.len());
            if peer.sub_cost + cost.entry + cost.prefix > self.max_sub_per_peer {
                return Err(InputError::Refused(LimitError::PeerSubscriptionMemory {
                    limit: self.max_sub_per_peer,
                }));
            }
            let added = cost.entry + if new_prefix { cost.prefix } else { 0 };
            if self.sub_total + added > self.max_sub_total {
                return Err(InputError::Refused(LimitError::SubscriptionMemory {
                    limit: self.max_sub_total,
                }));
            }
            peer.sub_cost += cost.entry + cost.prefix;
            self.sub_total += added;
        }
        *peer.subs.entry(prefix.clone()).or_default() += 1;
        if new_prefix || self.verbose {
            self.notify(true, &prefix);
        }
        Ok(())
    }

    fn peer_cancel(&mut self, id: PeerId, prefix: &Bytes) {
        let peer = self.peers.get_mut(&id).expect("connected");
        let Some(count) = peer.subs.get_mut(prefix) else {
            return; // never subscribed: ignored
        };
        *count -= 1;
        let gone_for_peer = *count == 0;
        if gone_for_peer {
            peer.subs.remove(prefix);
            let cost = SubscriptionCost::of(prefix.len());
            peer.sub_cost -= cost.entry + cost.prefix;
        }
        let prefix_gone = !self.held_by_anyone(prefix);
        if gone_for_peer {
            self.refund(prefix.len(), prefix_gone);
        }
        if prefix_gone || self.verboser {
            self.notify(false, prefix);
        }
    }

    /// A subscriber leaves: its subscriptions go, and XPUB learns of prefixes that vanish.
    fn drop_subscriptions(&mut self, id: PeerId) {
        let peer = self.peers.get_mut(&id).expect("attached");
        let subs = std::mem::take(&mut peer.subs);
        peer.sub_cost = 0;
        for prefix in subs.keys() {
            let prefix_gone = !self.held_by_anyone(prefix);
            self.refund(prefix.len(), prefix_gone);
            // XPUB_VERBOSER reports every prefix of a subscriber that leaves (libzmq's
            // xpipe_terminated), not only those nobody else holds.
            if prefix_gone || self.verboser {
                self.notify(false, prefix);
            }
        }
    }

    /// A peer's entry for a prefix of `len` octets goes; the prefix too if nobody holds it.
    fn refund(&mut self, len: usize, prefix_gone: bool) {
        let cost = SubscriptionCost::of(len);
        self.sub_total -= cost.entry + if prefix_gone { cost.prefix } else { 0 };
    }

    // -----------------------------------------------------------------------------------
    // The application

    fn own_subscription(&mut self, prefix: Bytes, subscribe: bool) {
        let connected: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.connected)
            .map(|(&id, _)| id)
            .collect();
        if subscribe {
            let count = self.own_subs.entry(prefix.clone()).or_default();
            *count += 1;
            if *count == 1 || self.ty == SocketType::XSub {
                for id in connected {
                    self.push_out(id, PeerOutput::Subscribe(prefix.clone()));
                }
            }
        } else if let Some(count) = self.own_subs.get_mut(&prefix) {
            *count -= 1;
            if *count == 0 {
                self.own_subs.remove(&prefix);
                for id in connected {
                    self.push_out(id, PeerOutput::Cancel(prefix.clone()));
                }
            }
        }
    }

    /// Round robin took the message: the one peer whose outgoing queue grew. Checks that it
    /// had room and that no peer with room was passed over too often.
    fn round_robin(&mut self, pattern: &Pattern, before: &Snapshot, msg: Msg) -> PeerId {
        let grown: Vec<PeerId> = self
            .peers
            .keys()
            .copied()
            .filter(|p| {
                pattern.stats(*p).map(|s| s.outbound_msgs) > before.get(p).map(|s| s.outbound_msgs)
            })
            .collect();
        assert_eq!(grown.len(), 1, "a round-robin message went to {grown:?}");
        let chosen = grown[0];
        assert!(
            self.has_room(chosen),
            "round robin chose {chosen}, which is full"
        );
        let others = self.peers.len() - 1;
        let with_room: BTreeSet<PeerId> = self
            .peers
            .keys()
            .copied()
            .filter(|&p| self.has_room(p))
            .collect();
        for (&p, peer) in &mut self.peers {
            if p == chosen {
                peer.rr_ahead = others;
            } else if with_room.contains(&p) {
                assert!(peer.rr_ahead > 0, "round robin passed over {p} too often");
                peer.rr_ahead -= 1;
            } else {
                peer.rr_ahead = peer.rr_ahead.saturating_sub(1);
            }
        }
        assert!(self.push_msg(chosen, msg));
        chosen
    }

    fn send(&mut self, pattern: &Pattern, before: &Snapshot, msg: Msg) -> Result<(), SendError> {
        if msg.is_empty() {
            return Err(SendError::EmptyMessage);
        }
        let any_room = self.peers.keys().any(|&p| self.has_room(p));
        match self.ty {
            SocketType::Pull | SocketType::Sub => Err(SendError::NotSupported(self.ty)),
            SocketType::Push | SocketType::Dealer => {
                if !any_room {
                    return Err(SendError::WouldBlock(msg));
                }
                self.round_robin(pattern, before, msg);
                Ok(())
            }
            SocketType::Req => {
                if self.req != ReqState::Idle && !self.relaxed {
                    return Err(SendError::RequestPending);
                }
                if !any_room {
                    // Nothing changes: an earlier request, and any reply it got, stay.
                    return Err(SendError::WouldBlock(msg));
                }
                // Relaxed: the earlier request, and any unread reply, are abandoned (the
                // new state below replaces them).
                let mut request = msg;
                request.push_front(Bytes::new());
                let tag = self.correlate.then(|| {
                    let tag = Bytes::copy_from_slice(&self.req_next_id.to_be_bytes());
                    self.req_next_id = self.req_next_id.wrapping_add(1);
                    request.push_front(tag.clone());
                    tag
                });
                let peer = self.round_robin(pattern, before, request);
                self.req = ReqState::Awaiting { peer, id: tag };
                self.req_current = Some(self.requests.len());
                self.peers
                    .get_mut(&peer)
                    .expect("attached")
                    .requests
                    .push_back(self.requests.len());
                self.requests.push(Request {
                    peer,
                    left: false,
                    replied: false,
                    answered: false,
                    gone: false,
                });
                Ok(())
            }
            SocketType::Rep => {
                let (peer, envelope) = self.answering.take().ok_or(SendError::NoRequest)?;
                let mut reply = envelope;
                reply.extend(msg);
                self.push_msg(peer, reply); // a requester that left or is full loses it
                Ok(())
            }
            SocketType::Router => {
                if msg.len() < 2 {
                    return Err(SendError::MissingRoutingId);
                }
                let mut body = msg.clone();
                let routing_id = body.pop_front().expect("two frames");
                let Some(peer) = self.router_lookup(&routing_id) else {
                    return if self.mandatory {
                        Err(SendError::Unroutable(String::new()))
                    } else {
                        Ok(())
                    };
                };
                if self.push_msg(peer, body) || !self.mandatory {
                    Ok(())
                } else {
                    Err(SendError::WouldBlock(msg))
                }
            }
            SocketType::Pub | SocketType::XPub => {
                let topic = &msg.frames()[0];
                let matched: Vec<PeerId> = self
                    .peers
                    .iter()
                    .filter(|(_, p)| prefix_matches(&p.subs, topic))
                    .map(|(&id, _)| id)
                    .collect();
                for id in matched {
                    self.push_msg(id, msg.clone()); // a full peer misses it
                }
                Ok(())
            }
            SocketType::XSub => {
                let first = msg.frames()[0].clone();
                match first.first() {
                    Some(&flag @ (0 | 1)) => self.own_subscription(first.slice(1..), flag == 1),
                    _ => {
                        let connected: Vec<PeerId> = self
                            .peers
                            .iter()
                            .filter(|(_, p)| p.connected)
                            .map(|(&id, _)| id)
                            .collect();
                        for id in connected {
                            self.push_msg(id, msg.clone());
                        }
                    }
                }
                Ok(())
            }
            SocketType::Pair => {
                let taken = self
                    .pair
                    .is_some_and(|peer| self.push_msg(peer, msg.clone()));
                if taken {
                    Ok(())
                } else {
                    Err(SendError::WouldBlock(msg))
                }
            }
        }
    }

    fn recv(&mut self, result: Result<Option<Msg>, RecvError>) {
        let got = match self.ty {
            SocketType::Push | SocketType::Pub => {
                assert_eq!(result, Err(RecvError::NotSupported(self.ty)));
                return;
            }
            SocketType::Req => {
                match std::mem::replace(&mut self.req, ReqState::Idle) {
                    ReqState::Idle => assert_eq!(result, Err(RecvError::NoRequest)),
                    awaiting @ ReqState::Awaiting { .. } => {
                        assert_eq!(result, Ok(None), "REQ: a reply out of nowhere");
                        self.req = awaiting;
                    }
                    ReqState::ReplyReady(reply) => {
                        assert_eq!(
                            result,
                            Ok(Some(reply)),
                            "REQ: recv must return the accepted reply (even if its peer left)"
                        );
                        let current = self.req_current.expect("a request was sent");
                        self.requests[current].answered = true;
                    }
                }
                return;
            }
            SocketType::Rep if self.answering.is_some() => {
                assert_eq!(result, Err(RecvError::ReplyPending));
                return;
            }
            SocketType::XPub if !self.notices.is_empty() => {
                let notice = self.notices.pop_front();
                assert_eq!(result, Ok(notice), "XPUB notice");
                for peer in std::mem::take(&mut self.notices_blocked) {
                    if self.peers.contains_key(&peer) {
                        self.wakes.insert(peer);
                    }
                }
                return;
            }
            _ => result.expect("this socket type receives"),
        };
        let next = if self.ty == SocketType::Sub {
            // Filtered again when taken: what no longer matches is dropped on the way.
            loop {
                match self.pop_input() {
                    Some((_, incoming))
                        if !prefix_matches(&self.own_subs, &incoming.msg.frames()[0]) => {}
                    next => break next,
                }
            }
        } else {
            self.pop_input()
        };
        let Some((peer, incoming)) = next else {
            assert_eq!(got, None, "recv returned a message though none is due");
            return;
        };
        let Some(got) = got else {
            panic!(
                "recv returned nothing though {:?} from {peer} is due",
                incoming.msg
            );
        };
        match self.ty {
            SocketType::Rep => {
                let split = envelope_len(&incoming.msg).expect("checked on arrival");
                let envelope: Msg = incoming.msg.iter().take(split).cloned().collect();
                let body: Msg = incoming.msg.iter().skip(split).cloned().collect();
                assert_eq!(got, body, "REP: request body from {peer}");
                self.answering = Some((peer, envelope));
            }
            SocketType::Router => {
                let epoch = incoming.epoch.expect("routable on arrival");
                let mut got = got;
                let routing_id = got.pop_front().expect("a routing id");
                match &self.ids[epoch] {
                    Some(known) => assert_eq!(&routing_id, known, "ROUTER: routing id of {peer}"),
                    None => {
                        assert!(
                            routing_id.len() == 5 && routing_id[0] == 0,
                            "ROUTER: generated id {routing_id:?}"
                        );
                        assert!(
                            !self.ids.iter().flatten().any(|id| *id == routing_id),
                            "ROUTER: generated id {routing_id:?} is not unique"
                        );
                        self.ids[epoch] = Some(routing_id);
                    }
                }
                assert_eq!(got, incoming.msg, "ROUTER: message from {peer}");
            }
            _ => assert_eq!(got, incoming.msg, "message from {peer}"),
        }
    }

    // -----------------------------------------------------------------------------------
    // ROUTER routing ids

    /// The peer that `routing_id` routes to, as far as the model knows.
    fn router_lookup(&self, routing_id: &[u8]) -> Option<PeerId> {
        self.peers
            .iter()
            .find(|(_, p)| {
                p.epoch
                    .and_then(|e| self.ids[e].as_deref())
                    .is_some_and(|id| id == routing_id)
            })
            .map(|(&id, _)| id)
    }

    /// The routing id of `peer`, if it is routable and the model knows the id.
    fn routing_id(&self, peer: PeerId) -> Option<Bytes> {
        let epoch = self.peers.get(&peer)?.epoch?;
        self.ids[epoch].clone()
    }
}
