//! PUB and XPUB (RFC 29): fan-out to every peer whose subscriptions match the first frame,
//! dropping for peers at their high-water mark. XPUB also hands subscriptions and upstream
//! messages to the application.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;

use super::pipes::{Pipes, subscription_message};
use super::trie::SubscriptionTrie;
use super::{
    Behavior, InputError, LimitError, PatternOptions, PeerId, PeerInput, RecvError, SendError,
    SubscriptionCost, not_supported,
};
use crate::Msg;
use crate::proto::SocketType;

#[derive(Debug)]
pub(crate) struct Publish {
    socket_type: SocketType,
    verbose: bool,
    verboser: bool,
    /// Most heap octets one peer's subscriptions may be charged (see [`SubscriptionCost`]).
    per_peer_limit: usize,
    /// Most heap octets all subscriptions together may be charged.
    total_limit: usize,
    trie: SubscriptionTrie<PeerId>,
    /// What each peer holds, to clean up after it and to enforce the limits.
    held: BTreeMap<PeerId, Held>,
    /// Charged for every (peer, prefix) entry and every distinct prefix: an estimate of the
    /// heap the subscriptions take, kept within `total_limit`.
    total_cost: usize,
    /// XPUB: subscription changes for the application, at most `max_notices`; beyond that
    /// subscriptions are refused as "full" and the peer is read again once the application
    /// catches up.
    notices: VecDeque<Notice>,
    max_notices: usize,
    /// Peers whose subscriptions were refused because `notices` was full.
    blocked: BTreeSet<PeerId>,
    /// Scratch space for matching, kept to avoid an allocation per message.
    matched: Vec<PeerId>,
    /// XPUB: subscriptions are the application's to make (ZMQ_XPUB_MANUAL).
    manual: bool,
    /// XPUB manual: the peer of the last subscription notice the application received,
    /// for which [`Behavior::subscription`] subscribes (libzmq's `_last_pipe`).
    last_peer: Option<PeerId>,
    /// XPUB manual: what the application subscribed for each peer (in the trie).
    granted: BTreeMap<PeerId, BTreeSet<Box<[u8]>>>,
    /// Wait instead of dropping for a matching peer at its HWM (ZMQ_XPUB_NODROP).
    nodrop: bool,
    /// Send to the peers that do not match (ZMQ_INVERT_MATCHING).
    invert: bool,
    /// Queued to each new peer first (ZMQ_XPUB_WELCOME_MSG).
    welcome: Option<Msg>,
}

/// A subscription change for the XPUB application.
#[derive(Debug)]
struct Notice {
    peer: PeerId,
    msg: Msg,
    /// Sent by a connected peer (not made up for one that left): in manual mode, the
    /// application's next subscribe acts for it.
    live: bool,
}

/// One peer's distinct prefixes and what they are charged.
#[derive(Debug, Default)]
struct Held {
    /// Copies, not slices of the receive buffer: a kept slice would pin a whole slab.
    prefixes: BTreeSet<Box<[u8]>>,
    cost: usize,
}

fn unlimited_if_zero(limit: usize) -> usize {
    if limit == 0 { usize::MAX } else { limit }
}

impl Publish {
    pub(crate) fn new(socket_type: SocketType, options: &PatternOptions) -> Self {
        Self {
            socket_type,
            verbose: options.xpub_verbose || options.xpub_verboser,
            verboser: options.xpub_verboser,
            per_peer_limit: unlimited_if_zero(options.max_subscription_memory_per_peer),
            total_limit: unlimited_if_zero(options.max_subscription_memory),
            trie: SubscriptionTrie::new(),
            held: BTreeMap::new(),
            total_cost: 0,
            notices: VecDeque::new(),
            max_notices: unlimited_if_zero(options.recv_hwm),
            blocked: BTreeSet::new(),
            matched: Vec::new(),
            manual: options.xpub_manual && socket_type == SocketType::XPub,
            last_peer: None,
            granted: BTreeMap::new(),
            nodrop: options.xpub_nodrop,
            invert: options.invert_matching,
            welcome: options.xpub_welcome_msg.clone().map(Msg::from),
        }
    }

    fn is_xpub(&self) -> bool {
        self.socket_type == SocketType::XPub
    }

    fn notify(&mut self, peer: PeerId, subscribe: bool, prefix: &[u8], live: bool) {
        if self.is_xpub() {
            self.notices.push_back(Notice {
                peer,
                msg: subscription_message(subscribe, prefix),
                live,
            });
        }
    }

    fn subscribe(&mut self, peer: PeerId, prefix: Bytes) -> Result<(), InputError> {
        let held = self.held.entry(peer).or_default();
        if !held.prefixes.contains(&*prefix) {
            let cost = SubscriptionCost::of(prefix.len());
            // A peer is charged as if it held its prefixes alone; the socket pays for a
            // prefix's node once, however many peers hold it. A manual XPUB keeps peers'
            // prefixes out of the trie, so each is charged in full.
            let added = cost.entry
                + if !self.manual && self.trie.contains(&prefix) {
                    0
                } else {
                    cost.prefix
                };
            if held.cost + cost.entry + cost.prefix > self.per_peer_limit {
                return Err(InputError::Refused(LimitError::PeerSubscriptionMemory {
                    limit: self.per_peer_limit,
                }));
            }
            if self.total_cost + added > self.total_limit {
                return Err(InputError::Refused(LimitError::SubscriptionMemory {
                    limit: self.total_limit,
                }));
            }
            held.cost += cost.entry + cost.prefix;
            held.prefixes.insert(prefix.to_vec().into_boxed_slice());
            self.total_cost += added;
        }
        if self.manual {
            // Every one goes to the application, which decides (libzmq's xread_activated).
            self.notify(peer, true, &prefix, true);
            return Ok(());
        }
        let added = self.trie.add(&prefix, peer);
        if added.new_prefix || self.verbose {
            self.notify(peer, true, &prefix, true);
        }
        Ok(())
    }

    fn cancel(&mut self, peer: PeerId, prefix: &[u8]) {
        if self.manual {
            if let Some(held) = self.held.get_mut(&peer)
                && held.prefixes.remove(prefix)
            {
                let cost = SubscriptionCost::of(prefix.len());
                held.cost -= cost.entry + cost.prefix;
                self.refund(cost, true);
            }
            self.notify(peer, false, prefix, true);
            return;
        }
        let Some(removed) = self.trie.remove(prefix, peer, false) else {
            return; // cancelling what was never subscribed is ignored, as in libzmq
        };
        if removed.gone_for_subscriber
            && let Some(held) = self.held.get_mut(&peer)
            && held.prefixes.remove(prefix)
        {
            let cost = SubscriptionCost::of(prefix.len());
            held.cost -= cost.entry + cost.prefix;
            self.refund(cost, removed.prefix_gone);
        }
        if removed.prefix_gone || self.verboser {
            self.notify(peer, false, prefix, true);
        }
    }

    fn refund(&mut self, cost: SubscriptionCost, prefix_gone: bool) {
        self.total_cost -= cost.entry + if prefix_gone { cost.prefix } else { 0 };
    }

    /// A subscriber that leaves loses all its subscriptions; XPUB learns of vanished ones
    /// (of each one under VERBOSER, and in manual mode, as libzmq's xpipe_terminated).
    fn drop_subscriptions(&mut self, peer: PeerId) {
        if self.manual {
            if self.last_peer == Some(peer) {
                self.last_peer = None;
            }
            for prefix in self.granted.remove(&peer).unwrap_or_default() {
                self.trie.remove(&prefix, peer, true);
            }
        }
        let Some(held) = self.held.remove(&peer) else {
            return;
        };
        for prefix in held.prefixes {
            let cost = SubscriptionCost::of(prefix.len());
            if self.manual {
                self.refund(cost, true);
                self.notify(peer, false, &prefix, false);
            } else if let Some(removed) = self.trie.remove(&prefix, peer, true) {
                self.refund(cost, removed.prefix_gone);
                if removed.prefix_gone || self.verboser {
                    self.notify(peer, false, &prefix, false);
                }
            }
        }
    }
}

impl Behavior for Publish {
    fn attach(&mut self, pipes: &mut Pipes, peer: PeerId) -> Result<(), super::AttachError> {
        pipes.attach(peer);
        // Written straight into the new queue, whatever the peer subscribes to (libzmq's
        // xattach_pipe); its subscriber filters it like any message.
        if let Some(welcome) = &self.welcome {
            let _ = pipes.push_msg(peer, welcome.clone());
        }
        Ok(())
    }

    fn disconnected(&mut self, pipes: &mut Pipes, peer: PeerId) {
        // A reconnecting subscriber sends its subscriptions again; what was queued for it
        // under the old ones must not reach it.
        self.drop_subscriptions(peer);
        pipes.clear_output(peer);
        pipes.set_connected(peer, false);
    }

    fn detach(&mut self, pipes: &mut Pipes, peer: PeerId) {
        self.drop_subscriptions(peer);
        pipes.detach(peer);
    }

    fn on_message(&mut self, pipes: &mut Pipes, peer: PeerId, msg: Msg) -> Result<(), InputError> {
        if !self.is_xpub() {
            return Ok(()); // PUB discards what subscribers send
        }
        pipes
            .push_input(peer, msg)
            .map_err(|msg| InputError::Full(super::PeerInput::Message(msg)))
    }

    fn on_subscription(
        &mut self,
        _: &mut Pipes,
        peer: PeerId,
        prefix: Bytes,
        subscribe: bool,
    ) -> Result<(), InputError> {
        if self.is_xpub() && self.notices.len() >= self.max_notices {
            let input = if subscribe {
                PeerInput::Subscribe(prefix)
            } else {
                PeerInput::Cancel(prefix)
            };
            self.blocked.insert(peer);
            return Err(InputError::Full(input));
        }
        if subscribe {
            self.subscribe(peer, prefix)
        } else {
            self.cancel(peer, &prefix);
            Ok(())
        }
    }

    fn send(&mut self, pipes: &mut Pipes, msg: Msg) -> Result<(), SendError> {
        let topic = msg.first().expect("non-empty, checked by Pattern::send");
        let mut matched = std::mem::take(&mut self.matched);
        matched.clear();
        self.trie.for_each_match(topic, |peer| matched.push(peer));
        // A subscriber with several matching prefixes still gets the message once.
        matched.sort_unstable();
        matched.dedup();
        if self.invert {
            // Every peer with a queue that did not match, subscribed or not (libzmq's
            // dist_t::reverse_match over all its pipes).
            let others = pipes
                .ids()
                .filter(|peer| matched.binary_search(peer).is_err())
                .collect::<Vec<_>>();
            matched.clear();
            matched.extend(others);
        }
        let result = if self.nodrop && !matched.iter().all(|&peer| pipes.has_room(peer)) {
            // All or nothing, so that no subscriber sees a message twice on the retry.
            Err(SendError::WouldBlock(msg))
        } else {
            pipes.push_msg_to_all(&matched, msg);
            Ok(())
        };
        self.matched = matched;
        result
    }

    fn recv(&mut self, pipes: &mut Pipes) -> Result<Option<(PeerId, Msg)>, RecvError> {
        if !self.is_xpub() {
            return Err(RecvError::NotSupported(self.socket_type));
        }
        if let Some(notice) = self.notices.pop_front() {
            for peer in std::mem::take(&mut self.blocked) {
                pipes.wake(peer);
            }
            if self.manual {
                self.last_peer =
                    Some(notice.peer).filter(|&peer| notice.live && pipes.contains(peer));
            }
            return Ok(Some((notice.peer, notice.msg)));
        }
        Ok(pipes.pop_input())
    }

    /// XPUB manual: subscribes or unsubscribes the peer whose subscription notice the
    /// application received last; nothing if that peer has left since (as libzmq).
    fn subscription(
        &mut self,
        _: &mut Pipes,
        prefix: &[u8],
        subscribe: bool,
    ) -> Result<(), SendError> {
        if !self.manual {
            return Err(not_supported(self.socket_type));
        }
        let Some(peer) = self.last_peer else {
            return Ok(());
        };
        let granted = self.granted.entry(peer).or_default();
        if subscribe {
            if granted.insert(prefix.into()) {
                self.trie.add(prefix, peer);
            }
        } else if granted.remove(prefix) {
            self.trie.remove(prefix, peer, true);
        }
        Ok(())
    }

    fn subscribed_peers(&self) -> usize {
        if self.manual {
            return self.granted.values().filter(|g| !g.is_empty()).count();
        }
        self.held
            .values()
            .filter(|held| !held.prefixes.is_empty())
            .count()
    }
}
