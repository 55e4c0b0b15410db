//! Per-peer double queues with high-water marks, round-robin and fair-queue selection: the
//! machinery every pattern shares (libzmq's `pipe_t`, `lb_t` and `fq_t` in one place).

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use super::{PeerId, PeerOutput, QueueStats};
use crate::Msg;

/// One peer's queues.
#[derive(Debug, Default)]
struct Pipe {
    /// Outgoing traffic not yet taken by the connection.
    out: VecDeque<PeerOutput>,
    /// How many entries of `out` are messages (only messages count against the HWM).
    out_msgs: usize,
    /// Complete messages from the peer, waiting for the application.
    inbox: VecDeque<Msg>,
    /// Has a live, handshaken connection.
    connected: bool,
    /// We refused input from this peer because its inbox was full.
    input_blocked: bool,
    /// The peer's connection has ended: what it decoded before is taken whatever the HWM.
    final_input: bool,
    /// The socket has not yet been told that this peer changed.
    wake_pending: bool,
    /// Listed in the round-robin rotation (entries there are cleaned up lazily).
    in_rotation: bool,
    /// Which attach this pipe came from: a rotation entry of an earlier attach of the same
    /// peer is stale and must not give it a second turn.
    serial: u64,
    /// Messages dropped because the queue was full since the connection last took output.
    drops: u32,
    /// Octets queued since the socket last reported send pressure, counted from the
    /// report numbered `batch_epoch` (older counts are stale and start over).
    batch_octets: usize,
    batch_epoch: u64,
}

/// Octets queued for one peer that make a batch worth a write of its own: a sender that
/// never waits should let the connection write them (see `Pipes::take_send_pressure`).
const WRITE_BATCH_OCTETS: usize = 64 * 1024;

/// Messages dropped for a full queue between two reports of send pressure.
const DROPS_PER_PRESSURE: u32 = 64;

/// The peers of one socket and their queues. Ordered maps keep every run of a machine
/// deterministic, which fuzzers and property tests rely on.
///
/// The three orderings below may hold stale entries (peers that left, or filled up since);
/// they are skipped when reached, which keeps attach, detach and fan-out O(1) per peer.
#[derive(Debug)]
pub(crate) struct Pipes {
    pipes: BTreeMap<PeerId, Pipe>,
    /// Peers whose outgoing queue had room, in round-robin order, with the serial of the
    /// attach each entry belongs to.
    rotation: VecDeque<(PeerId, u64)>,
    /// Entries of `rotation` whose peer has left; compacted once they outnumber the peers,
    /// so a socket that never sends round-robin (PULL, ROUTER, PUB) does not keep one entry
    /// per peer it ever had.
    stale_in_rotation: usize,
    next_serial: u64,
    /// Peers with messages in their inbox, in fair-queue order.
    with_input: VecDeque<PeerId>,
    /// Peers whose queues changed in a way the socket must act on.
    wakes: VecDeque<PeerId>,
    /// Inboxes of detached peers that still hold messages: what a peer sent before it left
    /// is delivered, as libzmq does. Their peers stay in `with_input` until drained.
    orphans: BTreeMap<PeerId, VecDeque<Msg>>,
    send_hwm: usize,
    recv_hwm: usize,
    /// An outgoing queue has just filled to half its HWM, gathered a write batch or dropped
    /// messages when full (see `take_send_pressure`).
    send_pressure: bool,
    /// Reports of send pressure so far: resets every pipe's batch count at once.
    pressure_epoch: u64,
    /// Every queue keeps only its newest message (ZMQ_CONFLATE).
    conflate: bool,
}

impl Pipes {
    /// `0` as a mark means unlimited, as in libzmq.
    pub(crate) fn new(send_hwm: usize, recv_hwm: usize) -> Self {
        let unlimited = |hwm: usize| if hwm == 0 { usize::MAX } else { hwm };
        Self {
            pipes: BTreeMap::new(),
            rotation: VecDeque::new(),
            stale_in_rotation: 0,
            next_serial: 0,
            with_input: VecDeque::new(),
            wakes: VecDeque::new(),
            orphans: BTreeMap::new(),
            send_hwm: unlimited(send_hwm),
            recv_hwm: unlimited(recv_hwm),
            send_pressure: false,
            pressure_epoch: 0,
            conflate: false,
        }
    }

    /// From now on each queue keeps only its newest message, which replaces the one
    /// waiting (libzmq's `ypipe_conflate`): no queue fills up, so the HWMs do not apply.
    pub(crate) fn set_conflate(&mut self) {
        self.conflate = true;
        self.send_hwm = usize::MAX;
        self.recv_hwm = usize::MAX;
    }

    /// Whether `peer`'s outgoing queue can take another message.
    pub(crate) fn has_room(&self, peer: PeerId) -> bool {
        self.pipes
            .get(&peer)
            .is_some_and(|p| p.out_msgs < self.send_hwm)
    }

    pub(crate) fn contains(&self, peer: PeerId) -> bool {
        self.pipes.contains_key(&peer)
    }

    pub(crate) fn len(&self) -> usize {
        self.pipes.len()
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.pipes.keys().copied()
    }

    /// Peers with a live connection.
    pub(crate) fn connected_ids(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.pipes
            .iter()
            .filter(|(_, p)| p.connected)
            .map(|(&id, _)| id)
    }

    pub(crate) fn attach(&mut self, peer: PeerId) {
        let serial = self.next_serial;
        self.next_serial += 1;
        let pipe = Pipe {
            in_rotation: true,
            serial,
            ..Pipe::default()
        };
        if let Some(old) = self.pipes.insert(peer, pipe) {
            self.retire_from_rotation(&old);
        }
        self.rotation.push_back((peer, serial));
    }

    /// Removes the peer and discards its outgoing queue; messages it sent that the
    /// application has not read yet stay readable.
    pub(crate) fn detach(&mut self, peer: PeerId) {
        let Some(pipe) = self.pipes.remove(&peer) else {
            return;
        };
        self.retire_from_rotation(&pipe);
        if !pipe.inbox.is_empty() {
            self.orphans.entry(peer).or_default().extend(pipe.inbox);
        }
    }

    /// A pipe that goes leaves a stale rotation entry behind; they are swept out once they
    /// outnumber the live peers (amortised O(1) per detach).
    fn retire_from_rotation(&mut self, pipe: &Pipe) {
        if !pipe.in_rotation {
            return;
        }
        self.stale_in_rotation += 1;
        if self.stale_in_rotation > self.pipes.len().max(16) {
            let pipes = &self.pipes;
            self.rotation
                .retain(|(peer, serial)| pipes.get(peer).is_some_and(|p| p.serial == *serial));
            self.stale_in_rotation = 0;
        }
    }

    pub(crate) fn set_connected(&mut self, peer: PeerId, connected: bool) {
        if let Some(pipe) = self.pipes.get_mut(&peer) {
            pipe.connected = connected;
            if connected {
                pipe.final_input = false;
            }
        }
    }

    /// The peer's connection has ended: the input it left (one read's worth at most, as
    /// nothing more is read once a queue is full) is taken beyond the receive HWM, so what
    /// is delivered does not depend on where the transport cut the stream.
    pub(crate) fn accept_final_input(&mut self, peer: PeerId) {
        if let Some(pipe) = self.pipes.get_mut(&peer) {
            pipe.final_input = true;
        }
    }

    pub(crate) fn is_connected(&self, peer: PeerId) -> bool {
        self.pipes.get(&peer).is_some_and(|p| p.connected)
    }

    /// The next peer in round-robin order whose outgoing queue has room.
    pub(crate) fn next_with_room(&mut self) -> Option<PeerId> {
        while let Some(&(peer, serial)) = self.rotation.front() {
            match self.pipes.get_mut(&peer) {
                Some(pipe) if pipe.serial == serial => {
                    if pipe.out_msgs < self.send_hwm {
                        return Some(peer);
                    }
                    pipe.in_rotation = false;
                }
                _ => self.stale_in_rotation = self.stale_in_rotation.saturating_sub(1),
            }
            self.rotation.pop_front();
        }
        None
    }

    /// Queues a message for the next peer in round-robin order that has room, and moves
    /// that peer to the back of the rotation; gives the message back if no peer has room.
    pub(crate) fn push_round_robin(&mut self, msg: Msg) -> Result<PeerId, Msg> {
        let Some(peer) = self.next_with_room() else {
            return Err(msg);
        };
        let entry = self
            .rotation
            .pop_front()
            .expect("next_with_room found it at the front");
        self.rotation.push_back(entry);
        self.push_msg(peer, msg)?;
        Ok(peer)
    }

    /// Queues a message for `peer` if its queue has room; gives it back otherwise.
    pub(crate) fn push_msg(&mut self, peer: PeerId, msg: Msg) -> Result<(), Msg> {
        let Some(pipe) = self.pipes.get_mut(&peer) else {
            return Err(msg);
        };
        if pipe.out_msgs >= self.send_hwm {
            // Senders that drop here (PUB, XPUB, ROUTER, REP) never wait, so a full queue
            // is their moment to let the connection write: at the first drop since the
            // connection last took output, then every `DROPS_PER_PRESSURE`, so that a
            // sender on the connection's own thread cannot starve it of turns, nor yield
            // for every message a stalled peer misses.
            pipe.drops = pipe.drops.wrapping_add(1);
            if pipe.drops % DROPS_PER_PRESSURE == 1 {
                self.send_pressure = true;
            }
            return Err(msg);
        }
        if self.conflate
            && pipe.out_msgs > 0
            && let Some(at) = pipe
                .out
                .iter()
                .position(|o| matches!(o, PeerOutput::Message(_)))
        {
            // Subscription commands around it keep their order.
            pipe.out.remove(at);
            pipe.out_msgs -= 1;
        }
        pipe.out_msgs += 1;
        if pipe.batch_epoch != self.pressure_epoch {
            pipe.batch_epoch = self.pressure_epoch;
            pipe.batch_octets = 0;
        }
        pipe.batch_octets += msg.byte_len();
        // At half the HWM once per filling (not for every message above the mark): one
        // chance to drain before it overflows.
        if pipe.out_msgs == self.send_hwm / 2 || pipe.batch_octets >= WRITE_BATCH_OCTETS {
            self.send_pressure = true;
        }
        pipe.out.push_back(PeerOutput::Message(msg));
        if pipe.out.len() == 1 {
            self.wake(peer);
        }
        Ok(())
    }

    /// Queues a subscription command for `peer`; control traffic ignores the HWM.
    pub(crate) fn push_control(&mut self, peer: PeerId, output: PeerOutput) {
        if let Some(pipe) = self.pipes.get_mut(&peer) {
            pipe.out.push_back(output);
            if pipe.out.len() == 1 {
                self.wake(peer);
            }
        }
    }

    /// Whether, since the last call, an outgoing queue has filled to half its HWM (never
    /// for an unlimited one), gathered a write batch (64 KiB), or dropped a message because
    /// it was full (the first since its connection last took output, then every 64th).
    pub(crate) fn take_send_pressure(&mut self) -> bool {
        let pressure = std::mem::take(&mut self.send_pressure);
        if pressure {
            self.pressure_epoch += 1;
        }
        pressure
    }

    /// Takes the next outgoing item for `peer`.
    pub(crate) fn pop_output(&mut self, peer: PeerId) -> Option<PeerOutput> {
        let pipe = self.pipes.get_mut(&peer)?;
        let output = pipe.out.pop_front()?;
        if matches!(output, PeerOutput::Message(_)) {
            pipe.out_msgs -= 1;
        }
        pipe.drops = 0;
        self.return_to_rotation(peer);
        Some(output)
    }

    /// Drops everything queued for `peer` (its subscriptions changed meaning, or it left).
    pub(crate) fn clear_output(&mut self, peer: PeerId) {
        if let Some(pipe) = self.pipes.get_mut(&peer) {
            pipe.out.clear();
            pipe.out_msgs = 0;
        }
        self.return_to_rotation(peer);
    }

    fn return_to_rotation(&mut self, peer: PeerId) {
        if let Some(pipe) = self.pipes.get_mut(&peer)
            && !pipe.in_rotation
            && pipe.out_msgs < self.send_hwm
        {
            pipe.in_rotation = true;
            self.rotation.push_back((peer, pipe.serial));
        }
    }

    /// Stores a message from `peer` for the application; gives it back if the inbox is at
    /// its mark, and remembers to wake the peer once there is room again.
    pub(crate) fn push_input(&mut self, peer: PeerId, msg: Msg) -> Result<(), Msg> {
        let Some(pipe) = self.pipes.get_mut(&peer) else {
            return Ok(()); // a peer that is gone: its traffic is discarded
        };
        if pipe.inbox.len() >= self.recv_hwm && !pipe.final_input {
            pipe.input_blocked = true;
            return Err(msg);
        }
        if self.conflate
            && let Some(waiting) = pipe.inbox.back_mut()
        {
            // The peer already has its turn in `with_input`.
            *waiting = msg;
            return Ok(());
        }
        pipe.inbox.push_back(msg);
        // A re-attached peer (a connect-side peer under `immediate`) with leftovers from its
        // previous connection already has its turn: it must not get two.
        if pipe.inbox.len() == 1 && !self.orphans.contains_key(&peer) {
            self.with_input.push_back(peer);
        }
        Ok(())
    }

    /// The next message in fair-queue order: one message per peer in turn.
    pub(crate) fn pop_input(&mut self) -> Option<(PeerId, Msg)> {
        let (peer, pipe, msg) = loop {
            let peer = self.with_input.pop_front()?;
            // A detached peer's leftovers come first (they are older than anything a
            // re-attached pipe of the same peer holds).
            if let Some(orphan) = self.orphans.get_mut(&peer)
                && let Some(msg) = orphan.pop_front()
            {
                if orphan.is_empty() {
                    self.orphans.remove(&peer);
                }
                if self.orphans.contains_key(&peer)
                    || self.pipes.get(&peer).is_some_and(|p| !p.inbox.is_empty())
                {
                    self.with_input.push_back(peer);
                }
                return Some((peer, msg));
            }
            if let Some(pipe) = self.pipes.get_mut(&peer)
                && let Some(msg) = pipe.inbox.pop_front()
            {
                break (peer, pipe, msg);
            }
        };
        if !pipe.inbox.is_empty() {
            self.with_input.push_back(peer);
        }
        if pipe.input_blocked {
            pipe.input_blocked = false;
            self.wake(peer);
        }
        Some((peer, msg))
    }

    /// Peers whose queues changed since last asked (new output, or room for input).
    pub(crate) fn poll_wake(&mut self) -> Option<PeerId> {
        loop {
            let peer = self.wakes.pop_front()?;
            if let Some(pipe) = self.pipes.get_mut(&peer) {
                pipe.wake_pending = false;
                return Some(peer);
            }
        }
    }

    /// Tells the socket that `peer` changed (its driver should run).
    pub(crate) fn wake(&mut self, peer: PeerId) {
        if let Some(pipe) = self.pipes.get_mut(&peer)
            && !pipe.wake_pending
        {
            pipe.wake_pending = true;
            self.wakes.push_back(peer);
        }
    }

    /// Whether messages from `peer` wait to be received (detached peers' included).
    pub(crate) fn has_input(&self, peer: PeerId) -> bool {
        self.pipes.get(&peer).is_some_and(|p| !p.inbox.is_empty())
            || self
                .orphans
                .get(&peer)
                .is_some_and(|inbox| !inbox.is_empty())
    }

    pub(crate) fn stats(&self, peer: PeerId) -> Option<QueueStats> {
        self.pipes.get(&peer).map(|p| QueueStats {
            outbound_msgs: p.out_msgs,
            outbound_total: p.out.len(),
            inbound_msgs: p.inbox.len(),
        })
    }

    /// Broadcast helper: queues the message for every peer with room, skipping full ones.
    /// The last peer gets the message itself rather than a copy: with one subscriber,
    /// publishing then touches no reference count.
    pub(crate) fn push_msg_to_all(&mut self, peers: &[PeerId], msg: Msg) {
        let Some((&last, others)) = peers.split_last() else {
            return;
        };
        for &peer in others {
            let _ = self.push_msg(peer, msg.clone());
        }
        let _ = self.push_msg(last, msg);
    }

    /// Queues a subscription command for every connected peer.
    pub(crate) fn push_control_to_connected(&mut self, make: impl Fn() -> PeerOutput) {
        let peers: Vec<PeerId> = self.connected_ids().collect();
        for peer in peers {
            self.push_control(peer, make());
        }
    }
}

/// Turns a `0x01`/`0x00`-prefixed message into a subscription command (XSUB's send and
/// XPUB's deliveries use this form).
pub(crate) fn subscription_message(subscribe: bool, prefix: &[u8]) -> Msg {
    let mut body = Vec::with_capacity(prefix.len() + 1);
    body.push(u8::from(subscribe));
    body.extend_from_slice(prefix);
    Msg::from(Bytes::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_that_come_and_go_leave_no_trace_in_the_rotation() {
        // A PULL or ROUTER never sends round-robin, so nothing else sweeps the rotation.
        let mut pipes = Pipes::new(10, 10);
        pipes.attach(PeerId(0)); // one that stays
        for id in 1..100_000 {
            pipes.attach(PeerId(id));
            pipes.detach(PeerId(id));
        }
        assert!(
            pipes.rotation.len() <= 2 * pipes.pipes.len() + 16,
            "{} rotation entries for {} peers",
            pipes.rotation.len(),
            pipes.pipes.len()
        );
    }

    #[test]
    fn a_peer_attached_again_gets_one_turn_not_two() {
        let mut pipes = Pipes::new(0, 0);
        for id in 0..3 {
            pipes.attach(PeerId(id));
        }
        // Peer 1 leaves and comes back (a connect-side peer under ZMQ_IMMEDIATE does).
        pipes.detach(PeerId(1));
        pipes.attach(PeerId(1));
        let turns: Vec<u64> = (0..6)
            .map(|_| pipes.push_round_robin(Msg::from("m")).unwrap().0)
            .collect();
        assert_eq!(turns, [0, 2, 1, 0, 2, 1]);
    }
}
