//! The `pattern` layer: what each socket type does with messages, over any number of peers,
//! still without IO (RFC 28 REQREP, 29 PUBSUB, 30 PIPELINE, 31 EXPAIR; libzmq where they are
//! silent).
//!
//! A [`Pattern`] knows peers only by [`PeerId`]. It is told when a peer's queue is created
//! ([`Pattern::attach`]), when a connection to it completes its handshake
//! ([`Pattern::connected`]) or drops ([`Pattern::disconnected`]), and when the queue goes
//! away ([`Pattern::detach`]); it receives what peers send ([`Pattern::on_input`]) and what
//! the application sends ([`Pattern::send`]); and it hands out, per peer, what must go on
//! the wire ([`Pattern::pop_output`]) and, for the application, what has arrived
//! ([`Pattern::recv`]). [`Socket`] composes a pattern with one
//! [`Connection`](crate::proto::Connection) per peer into a whole sans-IO socket.
//!
//! Queues are bounded by high-water marks in messages. Where a pattern may not drop
//! (PUSH, DEALER, REQ, PAIR) a full queue makes [`Pattern::send`] return
//! [`SendError::WouldBlock`] with the message; PUB, XPUB and ROUTER drop for a full peer
//! without affecting the others. Incoming queues push back instead of dropping:
//! [`Pattern::on_input`] returns the input when a peer's queue is full, and the socket stops
//! reading from that peer until the application catches up.

mod core;
pub mod monitor;
mod pair;
mod pipeline;
mod pipes;
mod publish;
mod reply;
mod request;
mod router;
mod socket;
mod subscribe;
pub mod trie;

use std::fmt;

use bytes::Bytes;
use thiserror::Error;

use crate::Msg;
use crate::proto::{PeerInfo, SocketType};
use pipes::Pipes;

pub use core::{DEFAULT_TRANSMIT_BUFFER, Link, PeerError, SocketCore, SocketEvent, SocketOptions};
pub use monitor::{DisconnectReason, MonitorEvent, MonitorQueue};
pub use socket::Socket;

/// Identifies one peer (one double queue) of a socket. Never reused within a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer#{}", self.0)
    }
}

/// What a peer sent, as the pattern sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerInput {
    /// A complete message.
    Message(Msg),
    /// A subscription to a prefix.
    Subscribe(Bytes),
    /// A cancelled subscription.
    Cancel(Bytes),
}

/// What must be sent to a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerOutput {
    /// A message.
    Message(Msg),
    /// Subscribe to a prefix.
    Subscribe(Bytes),
    /// Cancel a subscription.
    Cancel(Bytes),
}

/// Queue sizes of one peer, for tests and monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Messages waiting to be sent (bounded by the send HWM).
    pub outbound_msgs: usize,
    /// Messages and subscription commands waiting to be sent.
    pub outbound_total: usize,
    /// Messages waiting for the application (bounded by the receive HWM).
    pub inbound_msgs: usize,
}

/// Default high-water mark, in messages, as in libzmq.
pub const DEFAULT_HWM: usize = 1000;

/// Default bound on the memory one peer's subscriptions may take in a PUB or XPUB, in heap
/// octets as [`SubscriptionCost`] charges them: about 16 000 distinct short prefixes.
/// Keeps one hostile subscriber from growing a publisher's trie without bound.
pub const DEFAULT_MAX_SUBSCRIPTION_MEMORY_PER_PEER: usize = 4 * 1024 * 1024;

/// Default bound on the memory all peers' subscriptions together may take in a PUB or
/// XPUB, in heap octets as [`SubscriptionCost`] charges them. Many peers each under their
/// own limit still cannot take more than this.
pub const DEFAULT_MAX_SUBSCRIPTION_MEMORY: usize = 64 * 1024 * 1024;

/// What a subscription is charged against the subscription memory limits: an upper bound
/// of the heap it takes, measured with a counting allocator (`tests/pattern_memory.rs`
/// checks the bound and that it is not loose by more than a small factor).
///
/// A peer's first subscription to a prefix costs `entry` (its record of the prefix and its
/// place among the prefix's subscribers) and, when no other peer holds the prefix yet,
/// `prefix` (the node that stores it). Each peer is charged both against its own limit, as
/// if it held the prefix alone; the socket-wide total charges a shared prefix's node once.
/// Subscribing again to a prefix already held only counts a reference and costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionCost {
    /// Charged per (peer, prefix).
    pub entry: usize,
    /// Charged per distinct prefix.
    pub prefix: usize,
}

impl SubscriptionCost {
    /// Fixed part of [`SubscriptionCost::entry`]: a slot in the peer's ordered set of
    /// prefixes and among the prefix's subscribers, and the allocation of the copy.
    pub const ENTRY_OVERHEAD: usize = 64;
    /// Fixed part of [`SubscriptionCost::prefix`]: a trie edge and node (growing vectors
    /// included), the label's allocation, and the extra edge of a split.
    pub const PREFIX_OVERHEAD: usize = 192;

    /// The charge for a prefix of `len` octets (each stored once per entry and once in the
    /// trie).
    pub fn of(len: usize) -> Self {
        Self {
            entry: Self::ENTRY_OVERHEAD + len,
            prefix: Self::PREFIX_OVERHEAD + len,
        }
    }
}

/// Behaviour switches of the patterns (libzmq socket options of the same meaning).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PatternOptions {
    /// Outgoing queue limit per peer in messages (ZMQ_SNDHWM); 0 means unlimited.
    pub send_hwm: usize,
    /// Incoming queue limit per peer in messages (ZMQ_RCVHWM); 0 means unlimited.
    pub recv_hwm: usize,
    /// REQ: allow a new request before the reply to the previous one (ZMQ_REQ_RELAXED).
    pub req_relaxed: bool,
    /// REQ: tag requests with an id and accept only the matching reply (ZMQ_REQ_CORRELATE).
    pub req_correlate: bool,
    /// ROUTER: report unroutable messages and full peers instead of dropping
    /// (ZMQ_ROUTER_MANDATORY).
    pub router_mandatory: bool,
    /// ROUTER: a new peer with an identity already in use takes it over
    /// (ZMQ_ROUTER_HANDOVER); otherwise the newcomer is refused.
    pub router_handover: bool,
    /// XPUB: deliver every subscription, not only new prefixes (ZMQ_XPUB_VERBOSE).
    pub xpub_verbose: bool,
    /// XPUB: also deliver every cancel, not only vanishing prefixes (ZMQ_XPUB_VERBOSER).
    pub xpub_verboser: bool,
    /// PUB/XPUB: most heap octets one peer's subscriptions may take, as
    /// [`SubscriptionCost`] charges them; 0 means unlimited. A peer that would exceed it
    /// is disconnected ([`LimitError::PeerSubscriptionMemory`]).
    pub max_subscription_memory_per_peer: usize,
    /// PUB/XPUB: most heap octets all subscriptions together may take; 0 means unlimited.
    /// The peer whose subscription would exceed it is disconnected
    /// ([`LimitError::SubscriptionMemory`]). libzmq has neither limit.
    pub max_subscription_memory: usize,
    /// PUSH, PULL, DEALER, PUB, SUB: every queue keeps only its newest message
    /// (ZMQ_CONFLATE), so a reader sees the latest state, not a backlog; the HWMs no
    /// longer apply and sending never waits for a peer with a queue. Other types ignore
    /// it, as libzmq does. libzmq does not support multipart messages under conflate;
    /// here a message is kept or replaced whole.
    pub conflate: bool,
    /// ROUTER, DEALER, REQ: queue an empty message to each new peer as its first message
    /// (ZMQ_PROBE_ROUTER), so that a ROUTER on the other side learns our routing id at once.
    pub probe_router: bool,
    /// ROUTER: report peers connecting and disconnecting to the application as
    /// `[routing id, empty]` messages (ZMQ_ROUTER_NOTIFY, a libzmq draft option).
    pub router_notify: RouterNotify,
    /// XPUB: the application decides the subscriptions (ZMQ_XPUB_MANUAL). Every
    /// subscription and cancel a peer sends is handed to the application and changes
    /// nothing by itself; [`Pattern::subscribe`] and [`Pattern::unsubscribe`] on the XPUB
    /// then act for the peer whose notice the application received last.
    pub xpub_manual: bool,
    /// PUB/XPUB: a message queued to each new peer as its first (ZMQ_XPUB_WELCOME_MSG).
    /// Subscribers filter it like any other: they see it only if they subscribe to it.
    pub xpub_welcome_msg: Option<Bytes>,
    /// PUB/XPUB: a subscriber at its HWM makes [`Pattern::send`] return
    /// [`SendError::WouldBlock`] instead of losing the message (ZMQ_XPUB_NODROP).
    pub xpub_nodrop: bool,
    /// PUB/XPUB: send each message to the peers whose subscriptions do *not* match it;
    /// SUB/XSUB: receive what does not match a subscription (ZMQ_INVERT_MATCHING). Both
    /// ends must agree, since the publisher filters first.
    pub invert_matching: bool,
    /// ROUTER, DEALER: a message sent on every new connection before anything else, as soon
    /// as its handshake completes (ZMQ_HELLO_MSG, a libzmq draft option).
    pub hello_msg: Option<Bytes>,
    /// ROUTER: when an accepted connection that completed its handshake drops, this
    /// message is delivered to the application as if that peer had sent it
    /// (ZMQ_DISCONNECT_MSG, a libzmq draft option).
    pub disconnect_msg: Option<Bytes>,
}

/// Which peer events a ROUTER reports as `[routing id, empty]` messages
/// ([`PatternOptions::router_notify`]; libzmq's ZMQ_NOTIFY_CONNECT and
/// ZMQ_NOTIFY_DISCONNECT flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RouterNotify {
    /// A connection to a peer completed its handshake (ZMQ_NOTIFY_CONNECT).
    pub connect: bool,
    /// A connection that had completed its handshake dropped (ZMQ_NOTIFY_DISCONNECT).
    pub disconnect: bool,
}

impl RouterNotify {
    /// No notifications (the default).
    pub const NONE: Self = Self {
        connect: false,
        disconnect: false,
    };
    /// Connects only.
    pub const CONNECT: Self = Self {
        connect: true,
        disconnect: false,
    };
    /// Disconnects only.
    pub const DISCONNECT: Self = Self {
        connect: false,
        disconnect: true,
    };
    /// Both.
    pub const BOTH: Self = Self {
        connect: true,
        disconnect: true,
    };

    /// From libzmq's flag bits (`ZMQ_NOTIFY_CONNECT = 1`, `ZMQ_NOTIFY_DISCONNECT = 2`);
    /// other bits are ignored.
    pub fn from_bits(bits: u32) -> Self {
        Self {
            connect: bits & 1 != 0,
            disconnect: bits & 2 != 0,
        }
    }
}

impl Default for PatternOptions {
    fn default() -> Self {
        Self {
            send_hwm: DEFAULT_HWM,
            recv_hwm: DEFAULT_HWM,
            req_relaxed: false,
            req_correlate: false,
            router_mandatory: false,
            router_handover: false,
            xpub_verbose: false,
            xpub_verboser: false,
            max_subscription_memory_per_peer: DEFAULT_MAX_SUBSCRIPTION_MEMORY_PER_PEER,
            max_subscription_memory: DEFAULT_MAX_SUBSCRIPTION_MEMORY,
            conflate: false,
            probe_router: false,
            router_notify: RouterNotify::NONE,
            xpub_manual: false,
            xpub_welcome_msg: None,
            xpub_nodrop: false,
            invert_matching: false,
            hello_msg: None,
            disconnect_msg: None,
        }
    }
}

/// Why a peer was not accepted; its connection should be closed with this reason.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AttachError {
    /// PAIR talks to exactly one peer.
    #[error("PAIR socket already has a peer")]
    PairTaken,
    /// ROUTER: another connected peer already uses this identity.
    #[error("ROUTER: identity \"{0}\" is already in use by another peer")]
    DuplicateIdentity(String),
}

/// Why a peer's input was not taken.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum InputError {
    /// The peer's incoming queue is full; offer the input again after a wake.
    #[error("incoming queue full")]
    Full(PeerInput),
    /// The peer broke a limit; close its connection.
    #[error(transparent)]
    Refused(#[from] LimitError),
}

/// A limit a peer broke, for which its connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LimitError {
    /// Its subscriptions would take more memory than one peer may use
    /// ([`PatternOptions::max_subscription_memory_per_peer`]).
    #[error("this peer's subscriptions would take more than {limit} octets of memory")]
    PeerSubscriptionMemory {
        /// The limit, in heap octets.
        limit: usize,
    },
    /// All peers' subscriptions together would take more memory than the socket allows
    /// ([`PatternOptions::max_subscription_memory`]).
    #[error("the subscriptions of all peers would take more than {limit} octets of memory")]
    SubscriptionMemory {
        /// The limit, in heap octets.
        limit: usize,
    },
}

/// Why [`Pattern::send`] did not take a message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SendError {
    /// No peer can take the message now (none attached, or all at their high-water mark);
    /// the message is handed back to retry after a wake.
    #[error("would block: no peer can take the message now")]
    WouldBlock(Msg),
    /// This socket type does not send.
    #[error("{0} sockets cannot send")]
    NotSupported(SocketType),
    /// REQ: a request is outstanding.
    #[error("REQ: a request is outstanding; receive its reply first (or enable req_relaxed)")]
    RequestPending,
    /// REP: there is no request to reply to.
    #[error("REP: no request to reply to; receive one first")]
    NoRequest,
    /// ROUTER with `router_mandatory`: no peer has this routing id.
    #[error("ROUTER: no peer with routing id \"{0}\"")]
    Unroutable(String),
    /// Messages need at least one frame.
    #[error("cannot send a message with no frames")]
    EmptyMessage,
    /// ROUTER messages start with a routing-id frame followed by at least one more.
    #[error("ROUTER: a message needs a routing-id frame followed by at least one frame")]
    MissingRoutingId,
}

/// Why [`Pattern::recv`] cannot deliver.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RecvError {
    /// This socket type does not receive.
    #[error("{0} sockets cannot receive")]
    NotSupported(SocketType),
    /// REQ: no request is outstanding, so no reply can come.
    #[error("REQ: nothing to receive; send a request first")]
    NoRequest,
    /// REP: the current request has not been answered yet.
    #[error("REP: reply to the current request before receiving the next")]
    ReplyPending,
}

/// The per-type part of a pattern; [`Pipes`] is the part they share.
trait Behavior: fmt::Debug + Send {
    fn attach(&mut self, pipes: &mut Pipes, peer: PeerId) -> Result<(), AttachError> {
        pipes.attach(peer);
        Ok(())
    }

    fn connected(
        &mut self,
        pipes: &mut Pipes,
        peer: PeerId,
        _info: &PeerInfo,
    ) -> Result<(), AttachError> {
        pipes.set_connected(peer, true);
        Ok(())
    }

    fn disconnected(&mut self, pipes: &mut Pipes, peer: PeerId) {
        pipes.set_connected(peer, false);
    }

    fn detach(&mut self, pipes: &mut Pipes, peer: PeerId) {
        pipes.detach(peer);
    }

    /// A connection to `peer` that completed its handshake has dropped (not closed by us):
    /// ROUTER reports it to the application.
    fn connection_ended(&mut self, _pipes: &mut Pipes, _peer: PeerId, _accepted: bool) {}

    /// A message from a peer; by default queued for the application.
    fn on_message(&mut self, pipes: &mut Pipes, peer: PeerId, msg: Msg) -> Result<(), InputError> {
        pipes
            .push_input(peer, msg)
            .map_err(|msg| InputError::Full(PeerInput::Message(msg)))
    }

    /// A subscription change from a peer; only publishers care.
    fn on_subscription(
        &mut self,
        _pipes: &mut Pipes,
        _peer: PeerId,
        _prefix: Bytes,
        _subscribe: bool,
    ) -> Result<(), InputError> {
        Ok(())
    }

    fn send(&mut self, pipes: &mut Pipes, msg: Msg) -> Result<(), SendError>;

    /// The next message for the application, and the peer it came from.
    fn recv(&mut self, pipes: &mut Pipes) -> Result<Option<(PeerId, Msg)>, RecvError> {
        Ok(pipes.pop_input())
    }

    fn subscription(
        &mut self,
        _pipes: &mut Pipes,
        _prefix: &[u8],
        _subscribe: bool,
    ) -> Result<(), SendError>;

    /// Peers holding at least one subscription (publishers only).
    fn subscribed_peers(&self) -> usize {
        0
    }
}

/// One socket type's semantics over its peers, with no IO. Build with [`Pattern::new`].
#[derive(Debug)]
pub struct Pattern {
    socket_type: SocketType,
    pipes: Pipes,
    behavior: Box<dyn Behavior>,
    /// The first message of every new connection (ZMQ_HELLO_MSG), for the types that
    /// send one.
    hello_msg: Option<Msg>,
}

impl Pattern {
    /// The pattern of `socket_type` with the given options.
    pub fn new(socket_type: SocketType, options: &PatternOptions) -> Self {
        let behavior: Box<dyn Behavior> = match socket_type {
            SocketType::Req => Box::new(request::Req::new(options)),
            SocketType::Rep => Box::new(reply::Rep::default()),
            SocketType::Dealer => Box::new(pipeline::RoundRobin::new(
                SocketType::Dealer,
                true,
                options.probe_router,
            )),
            SocketType::Push => Box::new(pipeline::RoundRobin::new(SocketType::Push, false, false)),
            SocketType::Pull => Box::new(pipeline::Pull),
            SocketType::Router => Box::new(router::Router::new(options)),
            SocketType::Pub | SocketType::XPub => {
                Box::new(publish::Publish::new(socket_type, options))
            }
            SocketType::Sub | SocketType::XSub => {
                Box::new(subscribe::Subscribe::new(socket_type, options))
            }
            SocketType::Pair => Box::new(pair::Pair::default()),
        };
        let mut pipes = Pipes::new(options.send_hwm, options.recv_hwm);
        // The types libzmq conflates (socket_base.cpp); the others ignore the option.
        if options.conflate
            && matches!(
                socket_type,
                SocketType::Dealer
                    | SocketType::Push
                    | SocketType::Pull
                    | SocketType::Pub
                    | SocketType::Sub
            )
        {
            pipes.set_conflate();
        }
        let sends_hello = matches!(socket_type, SocketType::Router | SocketType::Dealer);
        Self {
            socket_type,
            pipes,
            behavior,
            hello_msg: options
                .hello_msg
                .clone()
                .filter(|_| sends_hello)
                .map(Msg::from),
        }
    }

    /// The message to send first on every new connection ([`PatternOptions::hello_msg`]),
    /// if this socket type sends one.
    pub fn hello_msg(&self) -> Option<&Msg> {
        self.hello_msg.as_ref()
    }

    /// A connection to `peer` that had completed its handshake dropped (`accepted`: we
    /// were its server); call before [`Pattern::disconnected`] or [`Pattern::detach`].
    /// ROUTER reports it as its options ask ([`PatternOptions::router_notify`],
    /// [`PatternOptions::disconnect_msg`]). Not called when we close the connection
    /// ourselves.
    pub fn connection_ended(&mut self, peer: PeerId, accepted: bool) {
        self.behavior
            .connection_ended(&mut self.pipes, peer, accepted)
    }

    /// The socket type.
    pub fn socket_type(&self) -> SocketType {
        self.socket_type
    }

    /// A queue for `peer` is created (on connect, or when an accepted peer is ready).
    pub fn attach(&mut self, peer: PeerId) -> Result<(), AttachError> {
        self.behavior.attach(&mut self.pipes, peer)
    }

    /// A connection to an attached peer completed its handshake.
    pub fn connected(&mut self, peer: PeerId, info: &PeerInfo) -> Result<(), AttachError> {
        if !self.pipes.contains(peer) {
            self.attach(peer)?;
        }
        self.behavior.connected(&mut self.pipes, peer, info)
    }

    /// The connection to `peer` dropped; its queue stays (a reconnect may follow).
    pub fn disconnected(&mut self, peer: PeerId) {
        if self.pipes.is_connected(peer) {
            self.behavior.disconnected(&mut self.pipes, peer);
        }
    }

    /// The peer's queue goes away, with whatever it holds.
    pub fn detach(&mut self, peer: PeerId) {
        if self.pipes.contains(peer) {
            self.disconnected(peer);
            self.behavior.detach(&mut self.pipes, peer);
        }
    }

    /// Something a connected peer sent. [`InputError::Full`] hands it back: stop reading
    /// from this peer and offer it again once [`Pattern::poll_wake`] names the peer.
    pub fn on_input(&mut self, peer: PeerId, input: PeerInput) -> Result<(), InputError> {
        match input {
            PeerInput::Message(msg) => self.behavior.on_message(&mut self.pipes, peer, msg),
            PeerInput::Subscribe(prefix) => {
                self.behavior
                    .on_subscription(&mut self.pipes, peer, prefix, true)
            }
            PeerInput::Cancel(prefix) => {
                self.behavior
                    .on_subscription(&mut self.pipes, peer, prefix, false)
            }
        }
    }

    /// The connection to `peer` has ended and what it decoded before is being handed
    /// over: [`Pattern::on_input`] takes it whatever the receive HWM (until the peer
    /// connects again). Bounded: a full queue stops the reading, so at most one read's
    /// worth is pending when a connection ends.
    pub fn accept_final_input(&mut self, peer: PeerId) {
        self.pipes.accept_final_input(peer);
    }

    /// The next thing to send to `peer`.
    #[must_use]
    pub fn pop_output(&mut self, peer: PeerId) -> Option<PeerOutput> {
        self.pipes.pop_output(peer)
    }

    /// The application sends a message.
    pub fn send(&mut self, msg: Msg) -> Result<(), SendError> {
        if msg.is_empty() {
            return Err(SendError::EmptyMessage);
        }
        self.behavior.send(&mut self.pipes, msg)
    }

    /// The application takes the next message; `Ok(None)` if none has arrived yet.
    pub fn recv(&mut self) -> Result<Option<Msg>, RecvError> {
        Ok(self.recv_from()?.map(|(_, msg)| msg))
    }

    /// [`Pattern::recv`], with the peer the message came from (for its metadata and the
    /// user id its authenticator gave it, libzmq's message properties).
    pub fn recv_from(&mut self) -> Result<Option<(PeerId, Msg)>, RecvError> {
        self.behavior.recv(&mut self.pipes)
    }

    /// SUB/XSUB: subscribe to a prefix (sent to every current and future peer). XPUB
    /// with [`PatternOptions::xpub_manual`]: subscribe the peer whose notice
    /// [`Pattern::recv`] returned last.
    pub fn subscribe(&mut self, prefix: &[u8]) -> Result<(), SendError> {
        self.behavior.subscription(&mut self.pipes, prefix, true)
    }

    /// SUB/XSUB: drop one subscription to a prefix.
    pub fn unsubscribe(&mut self, prefix: &[u8]) -> Result<(), SendError> {
        self.behavior.subscription(&mut self.pipes, prefix, false)
    }

    /// Whether messages from `peer` wait to be received (also after it detached).
    pub fn has_input(&self, peer: PeerId) -> bool {
        self.pipes.has_input(peer)
    }

    /// A peer whose queues changed: it has new output, or room for input it was refused.
    #[must_use]
    pub fn poll_wake(&mut self) -> Option<PeerId> {
        self.pipes.poll_wake()
    }

    /// Whether, since the last call, a peer's outgoing queue has filled to half its HWM
    /// (once per filling; never for an unlimited HWM), gathered 64 KiB, a batch worth a
    /// write, or dropped a message because it was full (the first drop since its connection
    /// last took output, then every 64th). A sender that never waits (PUB, XPUB and ROUTER
    /// drop instead) can take it as the moment to let the connections write: before the
    /// queue overflows, in batches that pipeline sending with writing, and, once it does
    /// overflow, often enough that a connection sharing the sender's thread still drains.
    #[must_use]
    pub fn take_send_pressure(&mut self) -> bool {
        self.pipes.take_send_pressure()
    }

    /// Queue sizes of `peer`.
    pub fn stats(&self, peer: PeerId) -> Option<QueueStats> {
        self.pipes.stats(peer)
    }

    /// PUB/XPUB: peers holding at least one subscription (0 for other types).
    pub fn subscribed_peers(&self) -> usize {
        self.behavior.subscribed_peers()
    }

    /// Number of attached peers.
    pub fn peer_count(&self) -> usize {
        self.pipes.len()
    }

    /// Whether `peer` has a queue.
    pub fn has_peer(&self, peer: PeerId) -> bool {
        self.pipes.contains(peer)
    }

    /// Attached peers, in no particular order.
    pub fn peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.pipes.ids()
    }
}

fn not_supported(socket_type: SocketType) -> SendError {
    SendError::NotSupported(socket_type)
}

fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

#[cfg(test)]
mod tests;
