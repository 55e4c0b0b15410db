//! The scenarios of the `pattern` and `network` targets, decoded from fuzzer input with
//! `arbitrary`, and their seed encoders (see [`crate::seed`]).
//!
//! As in [`crate::scenario`], fields hold plain numbers that the targets interpret (an index
//! modulo a list, 0 meaning "default"), so that every input decodes to something usable.
//! Frame and prefix octets go through [`octets`], which maps each onto a four-letter
//! alphabet and caps the length: topics then match subscriptions often, and REP requests
//! find their empty delimiter.

use arbitrary::Arbitrary;
use bytes::Bytes;
use zmq_sansio::Msg;
use zmq_sansio::pattern::PatternOptions;
use zmq_sansio::proto::SocketType;

use crate::SeedWriter;
use crate::scenario::socket_type;

/// What frame and prefix octets are made of: two letters and the two octets that start an
/// XSUB subscription message (`0x01`) or cancellation (`0x00`).
pub const ALPHABET: [u8; 4] = *b"ab\x00\x01";

/// Longest frame or prefix, in octets.
pub const MAX_FRAME: usize = 6;

/// Most frames in one message.
pub const MAX_FRAMES: usize = 4;

/// Frame or prefix octets from fuzzer octets: each mapped onto [`ALPHABET`], at most
/// [`MAX_FRAME`] of them.
pub fn octets(raw: &[u8]) -> Bytes {
    raw.iter()
        .take(MAX_FRAME)
        .map(|&b| ALPHABET[usize::from(b) % ALPHABET.len()])
        .collect()
}

/// The fuzzer octets that [`octets`] maps to `text` (which must use [`ALPHABET`] only).
pub fn raw(text: &[u8]) -> Vec<u8> {
    text.iter()
        .map(|b| {
            let i = ALPHABET.iter().position(|a| a == b);
            u8::try_from(i.expect("an alphabet octet")).expect("small")
        })
        .collect()
}

/// A message of [`octets`] frames, at most [`MAX_FRAMES`] of them.
pub fn message(frames: &[Vec<u8>]) -> Msg {
    Msg::from_frames(frames.iter().take(MAX_FRAMES).map(|f| octets(f)))
}

/// `0` means unlimited (as for the options themselves), 1 to 3 are tight marks.
fn hwm(raw: u8) -> usize {
    usize::from(raw % 4)
}

// ---------------------------------------------------------------------------------------
// pattern: one Pattern driven event by event

/// Peer slots of a `pattern` scenario. A slot names a fresh `PeerId` each time it is attached
/// after a detach, as a socket never reuses ids.
pub const SLOTS: u8 = 4;

/// Bits of [`PatternScenario::flags`].
pub mod flag {
    /// `req_relaxed`.
    pub const REQ_RELAXED: u8 = 1;
    /// `req_correlate`.
    pub const REQ_CORRELATE: u8 = 2;
    /// `router_mandatory`.
    pub const ROUTER_MANDATORY: u8 = 4;
    /// `router_handover`.
    pub const ROUTER_HANDOVER: u8 = 8;
    /// `xpub_verbose`.
    pub const XPUB_VERBOSE: u8 = 16;
    /// `xpub_verboser`.
    pub const XPUB_VERBOSER: u8 = 32;
}

/// A `pattern` scenario: one socket type's [`Pattern`](zmq_sansio::pattern::Pattern), its
/// options, and the events it goes through.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub struct PatternScenario {
    /// The socket type (see [`socket_type`]).
    pub socket_type: u8,
    /// Send HWM, `% 4` (0: unlimited).
    pub send_hwm: u8,
    /// Receive HWM, `% 4` (0: unlimited).
    pub recv_hwm: u8,
    /// Option switches, see [`flag`].
    pub flags: u8,
    /// PUB/XPUB: subscription memory limits in units of 128 octets per peer and 256 octets
    /// for the socket (0: the defaults). One short subscription costs about 256 octets.
    pub subscription_memory: u8,
    /// What happens.
    pub ops: Vec<PatternOp>,
}

/// One event of a `pattern` scenario. `slot`s are taken `% SLOTS`.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub enum PatternOp {
    /// `attach` (skipped if the slot's peer is attached: sockets never attach twice).
    Attach {
        /// Peer slot.
        slot: u8,
    },
    /// `connected` (after `disconnected` if the peer is connected: a reconnect). The peer
    /// announces `id<identity % 4>` as its routing id, or none.
    Connect {
        /// Peer slot.
        slot: u8,
        /// Announced identity.
        identity: Option<u8>,
    },
    /// `disconnected`.
    Disconnect {
        /// Peer slot.
        slot: u8,
    },
    /// `detach`; the slot gets a fresh id.
    Detach {
        /// Peer slot.
        slot: u8,
    },
    /// A message from a connected peer (at least one frame, as on the wire).
    Input {
        /// Peer slot.
        slot: u8,
        /// Frames (see [`message`]).
        frames: Vec<Vec<u8>>,
    },
    /// A well-formed message from a connected peer: the reply to the last request the
    /// peer was handed (REQ), a request with an envelope (REP), else one frame.
    Reply {
        /// Peer slot.
        slot: u8,
        /// The body frame (see [`octets`]).
        body: Vec<u8>,
    },
    /// A subscription from a connected peer.
    Subscribe {
        /// Peer slot.
        slot: u8,
        /// The prefix (see [`octets`]).
        prefix: Vec<u8>,
    },
    /// A cancellation from a connected peer.
    Cancel {
        /// Peer slot.
        slot: u8,
        /// The prefix (see [`octets`]).
        prefix: Vec<u8>,
    },
    /// The application sends. ROUTER: with `to < SLOTS` and that slot's routing id known,
    /// the id is put in front of the frames.
    Send {
        /// Destination slot (ROUTER only).
        to: u8,
        /// Frames (see [`message`]).
        frames: Vec<Vec<u8>>,
    },
    /// The application receives.
    Recv,
    /// The socket takes up to `count % 4 + 1` outputs for a peer.
    Pop {
        /// Peer slot.
        slot: u8,
        /// How many.
        count: u8,
    },
    /// SUB/XSUB: `subscribe`.
    OwnSubscribe {
        /// The prefix (see [`octets`]).
        prefix: Vec<u8>,
    },
    /// SUB/XSUB: `unsubscribe`.
    OwnUnsubscribe {
        /// The prefix (see [`octets`]).
        prefix: Vec<u8>,
    },
    /// A subscription from a connected peer to `len * 2` octets of `a` (up to 128 KiB:
    /// within the default limit on a peer's subscriptions, as a hostile peer may send).
    LongSubscribe {
        /// Peer slot.
        slot: u8,
        /// Half the prefix length.
        len: u16,
    },
}

/// Variants of [`PatternOp`].
const PATTERN_OPS: u32 = 14;

impl PatternScenario {
    /// A scenario with default options for `socket_type`.
    pub fn new(socket_type: SocketType, ops: Vec<PatternOp>) -> Self {
        Self {
            socket_type: crate::scenario::socket_type_index(socket_type),
            send_hwm: 0,
            recv_hwm: 0,
            flags: 0,
            subscription_memory: 0,
            ops,
        }
    }

    /// The socket type.
    pub fn socket_type(&self) -> SocketType {
        socket_type(self.socket_type)
    }

    /// Send HWM (0: unlimited).
    pub fn send_hwm(&self) -> usize {
        hwm(self.send_hwm)
    }

    /// Receive HWM (0: unlimited).
    pub fn recv_hwm(&self) -> usize {
        hwm(self.recv_hwm)
    }

    /// Whether an option bit is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The pattern's options.
    pub fn options(&self) -> PatternOptions {
        let mut options = PatternOptions::default();
        options.send_hwm = self.send_hwm();
        options.recv_hwm = self.recv_hwm();
        options.req_relaxed = self.has(flag::REQ_RELAXED);
        options.req_correlate = self.has(flag::REQ_CORRELATE);
        options.router_mandatory = self.has(flag::ROUTER_MANDATORY);
        options.router_handover = self.has(flag::ROUTER_HANDOVER);
        options.xpub_verbose = self.has(flag::XPUB_VERBOSE);
        options.xpub_verboser = self.has(flag::XPUB_VERBOSER);
        if self.subscription_memory != 0 {
            options.max_subscription_memory_per_peer = usize::from(self.subscription_memory) * 128;
            options.max_subscription_memory = usize::from(self.subscription_memory) * 256;
        }
        options
    }

    /// The fuzzer input that decodes to this scenario.
    pub fn seed(&self) -> Vec<u8> {
        let mut w = SeedWriter::new();
        w.u8(self.socket_type)
            .u8(self.send_hwm)
            .u8(self.recv_hwm)
            .u8(self.flags)
            .u8(self.subscription_memory);
        let frames = |w: &mut SeedWriter, frames: &[Vec<u8>]| {
            w.list(frames, |w, f| {
                w.bytes(f);
            });
        };
        w.list(&self.ops, |w, op| {
            match op {
                PatternOp::Attach { slot } => w.variant(0, PATTERN_OPS).u8(*slot),
                PatternOp::Connect { slot, identity } => w
                    .variant(1, PATTERN_OPS)
                    .u8(*slot)
                    .option(*identity, |w, i| {
                        w.u8(i);
                    }),
                PatternOp::Disconnect { slot } => w.variant(2, PATTERN_OPS).u8(*slot),
                PatternOp::Detach { slot } => w.variant(3, PATTERN_OPS).u8(*slot),
                PatternOp::Input { slot, frames: f } => {
                    w.variant(4, PATTERN_OPS).u8(*slot);
                    frames(w, f);
                    w
                }
                PatternOp::Reply { slot, body } => w.variant(5, PATTERN_OPS).u8(*slot).bytes(body),
                PatternOp::Subscribe { slot, prefix } => {
                    w.variant(6, PATTERN_OPS).u8(*slot).bytes(prefix)
                }
                PatternOp::Cancel { slot, prefix } => {
                    w.variant(7, PATTERN_OPS).u8(*slot).bytes(prefix)
                }
                PatternOp::Send { to, frames: f } => {
                    w.variant(8, PATTERN_OPS).u8(*to);
                    frames(w, f);
                    w
                }
                PatternOp::Recv => w.variant(9, PATTERN_OPS),
                PatternOp::Pop { slot, count } => w.variant(10, PATTERN_OPS).u8(*slot).u8(*count),
                PatternOp::OwnSubscribe { prefix } => w.variant(11, PATTERN_OPS).bytes(prefix),
                PatternOp::OwnUnsubscribe { prefix } => w.variant(12, PATTERN_OPS).bytes(prefix),
                PatternOp::LongSubscribe { slot, len } => {
                    w.variant(13, PATTERN_OPS).u8(*slot).u16(*len)
                }
            };
        });
        w.finish()
    }
}

// ---------------------------------------------------------------------------------------
// network: whole sockets in a sim::Network

/// The topologies of the `network` target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// Two PUSH and two PULL, every PUSH linked to every PULL.
    PushPull,
    /// One PUB (or XPUB) and three SUB (or XSUB).
    PubSub,
    /// Three REQ and one REP.
    ReqRep,
    /// Two DEALER (one with a routing id, the other with or without) and one ROUTER.
    DealerRouter,
    /// Two PAIR.
    Pair,
    /// A proxy between a ROUTER and a DEALER, three REQ clients and two REP workers.
    Broker,
    /// A proxy between an XSUB and a verbose XPUB, one PUB and two SUB.
    Forwarder,
}

impl Topology {
    /// Every topology, in the order [`NetworkScenario::topology`] indexes.
    pub const ALL: [Topology; 7] = [
        Topology::PushPull,
        Topology::PubSub,
        Topology::ReqRep,
        Topology::DealerRouter,
        Topology::Pair,
        Topology::Broker,
        Topology::Forwarder,
    ];

    /// Whether a proxy sits in the middle (see [`crate::proxied`]).
    pub fn is_proxied(self) -> bool {
        matches!(self, Topology::Broker | Topology::Forwarder)
    }

    /// Position in [`Topology::ALL`] (for writing seeds).
    pub fn index(self) -> u8 {
        Self::ALL.iter().position(|&t| t == self).expect("listed") as u8
    }
}

/// Bits of [`NetworkScenario::variant`].
pub mod variant {
    /// The "server" side (PULL, PUB, REP, ROUTER, second PAIR) connects, instead of binding.
    pub const SERVERS_CONNECT: u8 = 1;
    /// PubSub: the publisher is an XPUB.
    pub const XPUB: u8 = 2;
    /// PubSub: the second subscriber (socket 2) is an XSUB.
    pub const XSUB: u8 = 4;
    /// ReqRep: REQ_RELAXED.
    pub const REQ_RELAXED: u8 = 8;
    /// ReqRep: REQ_CORRELATE.
    pub const REQ_CORRELATE: u8 = 16;
    /// DealerRouter: the second DEALER announces a routing id too.
    pub const BOTH_IDENTITIES: u8 = 32;
    /// Heartbeats (interval 100 ms, TTL and timeout 300 ms): partitions then break links.
    pub const HEARTBEATS: u8 = 64;
}

/// A `network` scenario.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub struct NetworkScenario {
    /// Index into [`Topology::ALL`].
    pub topology: u8,
    /// Switches, see [`variant`].
    pub variant: u8,
    /// Send and receive HWM of every socket, `% 4` (0: the default, 1000); the six bits
    /// above say which links are `inproc://` ones (bit 2 + link: see
    /// [`NetworkScenario::is_inproc`]), so inputs from before inproc links decode as
    /// they did.
    pub hwm: u8,
    /// Link capacity and transmit buffer in units of 16 octets (0: the defaults).
    pub capacity: u8,
    /// What happens.
    pub ops: Vec<NetOp>,
}

/// One operation of a `network` scenario. Socket and link numbers are taken modulo what
/// the topology has.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub enum NetOp {
    /// A sending socket sends a tagged message (PUB/XPUB: with `topic` as first frame).
    Send {
        /// Which sender.
        socket: u8,
        /// The topic (see [`octets`]).
        topic: Vec<u8>,
    },
    /// A socket receives everything it has (REP and ROUTER answer each request at once).
    Recv {
        /// Which socket.
        socket: u8,
    },
    /// A subscriber subscribes.
    Subscribe {
        /// Which subscriber.
        socket: u8,
        /// The prefix (see [`octets`]).
        prefix: Vec<u8>,
    },
    /// A subscriber unsubscribes.
    Unsubscribe {
        /// Which subscriber.
        socket: u8,
        /// The prefix (see [`octets`]).
        prefix: Vec<u8>,
    },
    /// The link's transport closes.
    Disconnect {
        /// Which link.
        link: u8,
    },
    /// A closed link opens again.
    Reconnect {
        /// Which link.
        link: u8,
    },
    /// The link stops (or resumes) delivering.
    Partition {
        /// Which link.
        link: u8,
        /// Stop, else resume.
        on: bool,
    },
    /// Virtual time passes (timers fire, the network runs).
    Advance {
        /// Milliseconds (`% 2000` with heartbeats, which fire every 100 ms).
        ms: u16,
    },
    /// Deliveries are cut into pieces of this many octets (0: not cut).
    MaxChunk {
        /// Piece size.
        size: u8,
    },
    /// The network runs until nothing moves.
    Run,
}

/// Variants of [`NetOp`].
const NET_OPS: u32 = 10;

impl NetworkScenario {
    /// The topology.
    pub fn topology(&self) -> Topology {
        Topology::ALL[usize::from(self.topology) % Topology::ALL.len()]
    }

    /// Whether a variant bit is set.
    pub fn has(&self, bit: u8) -> bool {
        self.variant & bit != 0
    }

    /// HWM of every queue (0: the default).
    pub fn hwm(&self) -> usize {
        hwm(self.hwm)
    }

    /// Whether the topology's link `link` (in the order the target creates them) is an
    /// `inproc://` link between direct peers rather than ZMTP over a simulated transport.
    pub fn is_inproc(&self, link: usize) -> bool {
        link < 6 && self.hwm >> (2 + link) & 1 == 1
    }

    /// The fuzzer input that decodes to this scenario.
    pub fn seed(&self) -> Vec<u8> {
        let mut w = SeedWriter::new();
        w.u8(self.topology)
            .u8(self.variant)
            .u8(self.hwm)
            .u8(self.capacity);
        w.list(&self.ops, |w, op| {
            match op {
                NetOp::Send { socket, topic } => w.variant(0, NET_OPS).u8(*socket).bytes(topic),
                NetOp::Recv { socket } => w.variant(1, NET_OPS).u8(*socket),
                NetOp::Subscribe { socket, prefix } => {
                    w.variant(2, NET_OPS).u8(*socket).bytes(prefix)
                }
                NetOp::Unsubscribe { socket, prefix } => {
                    w.variant(3, NET_OPS).u8(*socket).bytes(prefix)
                }
                NetOp::Disconnect { link } => w.variant(4, NET_OPS).u8(*link),
                NetOp::Reconnect { link } => w.variant(5, NET_OPS).u8(*link),
                NetOp::Partition { link, on } => w.variant(6, NET_OPS).u8(*link).bool(*on),
                NetOp::Advance { ms } => w.variant(7, NET_OPS).u16(*ms),
                NetOp::MaxChunk { size } => w.variant(8, NET_OPS).u8(*size),
                NetOp::Run => w.variant(9, NET_OPS),
            };
        });
        w.finish()
    }
}
