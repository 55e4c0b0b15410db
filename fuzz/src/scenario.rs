//! The scenarios of the `connection` and `connection_pair` targets, decoded from fuzzer input
//! with `arbitrary`, and their seed encoders (see [`crate::seed`]).
//!
//! Fields hold plain numbers that the targets interpret (an index modulo a list, 0 meaning
//! "default"), so that every input decodes to something usable and seeds stay easy to write.

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use zmq_sansio::proto::SocketType;

use crate::SeedWriter;

/// `SocketType::ALL[index % 11]`.
pub fn socket_type(index: u8) -> SocketType {
    SocketType::ALL[usize::from(index) % SocketType::ALL.len()]
}

/// Position of a socket type in `SocketType::ALL` (for writing seeds).
pub fn socket_type_index(socket_type: SocketType) -> u8 {
    let index = SocketType::ALL.iter().position(|&t| t == socket_type);
    u8::try_from(index.expect("listed")).expect("few types")
}

/// The socket types that may talk to `ours`, in `SocketType::ALL` order.
pub fn compatible_peers(ours: SocketType) -> Vec<SocketType> {
    SocketType::ALL
        .into_iter()
        .filter(|&peer| ours.is_compatible_with(peer))
        .collect()
}

/// Every compatible (first, second) pair, in `SocketType::ALL` order.
pub fn compatible_pairs() -> Vec<(SocketType, SocketType)> {
    SocketType::ALL
        .into_iter()
        .flat_map(|a| compatible_peers(a).into_iter().map(move |b| (a, b)))
        .collect()
}

fn millis(ms: Option<u16>) -> Option<Duration> {
    ms.map(|ms| Duration::from_millis(u64::from(ms)))
}

// ---------------------------------------------------------------------------------------
// connection: one Connection against a scripted peer

/// The header of a `connection` input; the octets after it are the peer's byte stream.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub struct ConnectionControls {
    /// Our socket type (see [`socket_type`]).
    pub socket_type: u8,
    /// Server role (else client) in the NULL handshake.
    pub server: bool,
    /// Valid octets put before the stream, so the fuzzer starts past the handshake.
    pub preamble: Preamble,
    /// Minor version of the prepended greeting (0: a ZMTP 3.0 peer).
    pub peer_minor: u8,
    /// The prepended READY's socket type: an index into [`compatible_peers`] of ours.
    pub peer_type: u8,
    /// Our `max_msg_size` in octets; 0 keeps the default.
    pub max_msg_size: u16,
    /// Handshake timeout in milliseconds; `None` waits forever.
    pub handshake_timeout_ms: Option<u16>,
    /// Heartbeat interval in milliseconds (`Some(0)` is a legal, if odd, setting).
    pub heartbeat_interval_ms: Option<u16>,
    /// Heartbeat TTL we announce, in milliseconds.
    pub heartbeat_ttl_ms: Option<u16>,
    /// Heartbeat timeout in milliseconds.
    pub heartbeat_timeout_ms: Option<u16>,
    /// Announce a 9000-octet `X-Pad` property, so our READY is large enough to be
    /// transmitted as a header chunk and a separate body chunk.
    pub pad_property: bool,
    /// What happens while the stream is fed.
    pub steps: [Step; STEPS],
    /// The stream left after the steps is fed in pieces of this size (0: at once).
    pub tail_chunk: u8,
}

/// Steps in a `connection` scenario.
pub const STEPS: usize = 6;

/// Which valid octets come before the fuzzed stream.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preamble {
    /// None: the stream starts with the peer's greeting.
    None,
    /// A NULL greeting; the stream starts with the handshake.
    Greeting,
    /// A NULL greeting and the READY of a compatible peer; the stream is traffic.
    GreetingAndReady,
}

/// Feed some stream octets, then act.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Octets of the stream to feed first (as one `handle_input` call).
    pub feed: u8,
    /// What to do next.
    pub action: Action,
}

/// Something we do to the connection between inputs.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// Advance the virtual clock and call `handle_timeout`.
    Timeout {
        /// Milliseconds to advance.
        advance_ms: u16,
    },
    /// Send a message of `frames % 4` frames (0: an empty message, which is refused) of
    /// `len & 0x3FFF` octets each (up to 16 KiB, so large frames take the zero-copy path).
    Send {
        /// Number of frames.
        frames: u8,
        /// Octets per frame.
        len: u16,
    },
    /// Subscribe to a prefix of `len` octets.
    Subscribe {
        /// Prefix length.
        len: u8,
    },
    /// Cancel a subscription to a prefix of `len` octets.
    Cancel {
        /// Prefix length.
        len: u8,
    },
    /// Take up to `chunks` chunks from `poll_transmit` (0: all of them).
    Transmit {
        /// How many.
        chunks: u8,
    },
}

impl ConnectionControls {
    /// Splits a `connection` input into its header and the peer's stream.
    pub fn split(data: &[u8]) -> arbitrary::Result<(Self, &[u8])> {
        let mut u = Unstructured::new(data);
        let controls = Self::arbitrary(&mut u)?;
        Ok((controls, u.take_rest()))
    }

    /// Our socket type.
    pub fn ours(&self) -> SocketType {
        socket_type(self.socket_type)
    }

    /// The socket type of the prepended READY.
    pub fn peer(&self) -> SocketType {
        let peers = compatible_peers(self.ours());
        peers[usize::from(self.peer_type) % peers.len()]
    }

    /// Handshake timeout.
    pub fn handshake_timeout(&self) -> Option<Duration> {
        millis(self.handshake_timeout_ms)
    }

    /// Heartbeat interval, TTL and timeout.
    pub fn heartbeat(&self) -> [Option<Duration>; 3] {
        [
            millis(self.heartbeat_interval_ms),
            millis(self.heartbeat_ttl_ms),
            millis(self.heartbeat_timeout_ms),
        ]
    }

    /// The fuzzer input that decodes to these controls followed by `stream`.
    pub fn seed(&self, stream: &[u8]) -> Vec<u8> {
        let mut w = SeedWriter::new();
        w.u8(self.socket_type).bool(self.server);
        w.variant(self.preamble as u32, 3);
        w.u8(self.peer_minor)
            .u8(self.peer_type)
            .u16(self.max_msg_size);
        for ms in [
            self.handshake_timeout_ms,
            self.heartbeat_interval_ms,
            self.heartbeat_ttl_ms,
            self.heartbeat_timeout_ms,
        ] {
            w.option(ms, |w, ms| {
                w.u16(ms);
            });
        }
        w.bool(self.pad_property);
        for step in &self.steps {
            w.u8(step.feed);
            match step.action {
                Action::None => w.variant(0, 6),
                Action::Timeout { advance_ms } => w.variant(1, 6).u16(advance_ms),
                Action::Send { frames, len } => w.variant(2, 6).u8(frames).u16(len),
                Action::Subscribe { len } => w.variant(3, 6).u8(len),
                Action::Cancel { len } => w.variant(4, 6).u8(len),
                Action::Transmit { chunks } => w.variant(5, 6).u8(chunks),
            };
        }
        w.u8(self.tail_chunk).raw(stream).finish()
    }
}

impl Default for ConnectionControls {
    /// A server PAIR with default settings that feeds the whole stream at once.
    fn default() -> Self {
        Self {
            socket_type: socket_type_index(SocketType::Pair),
            server: true,
            preamble: Preamble::None,
            peer_minor: 1,
            peer_type: 0,
            max_msg_size: 0,
            handshake_timeout_ms: Some(30_000),
            heartbeat_interval_ms: None,
            heartbeat_ttl_ms: None,
            heartbeat_timeout_ms: None,
            pad_property: false,
            steps: [Step {
                feed: 0,
                action: Action::None,
            }; STEPS],
            tail_chunk: 0,
        }
    }
}

// ---------------------------------------------------------------------------------------
// connection_pair: two Connections wired back to back

/// A `connection_pair` scenario.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub struct PairScenario {
    /// Which compatible pair: an index into [`compatible_pairs`]; side A is the first type.
    pub pair: u8,
    /// A connected (NULL client), else B did.
    pub a_is_client: bool,
    /// Chunk size used while shuttling the handshake (0: as transmitted).
    pub handshake_chunk: u8,
    /// Both sides' `max_msg_size` is [`PAIR_MIN_MSG_SIZE`] plus this; `None`: the default.
    pub max_msg_size: Option<u16>,
    /// Heartbeats on both sides: interval of 10 ms plus this, TTL three intervals.
    pub heartbeat_ms: Option<u16>,
    /// What happens after the handshake.
    pub ops: Vec<PairOp>,
}

/// The smallest message size limit a pair scenario uses: comfortably above a READY, so the
/// handshake always fits and only messages can be refused.
pub const PAIR_MIN_MSG_SIZE: u64 = 256;

/// One operation on the pair.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub enum PairOp {
    /// Queue a message from one side.
    Send {
        /// Sent by B (else A).
        from_b: bool,
        /// The frames.
        frames: Vec<Vec<u8>>,
    },
    /// Subscribe from one side.
    Subscribe {
        /// Sent by B (else A).
        from_b: bool,
        /// The prefix.
        prefix: Vec<u8>,
    },
    /// Cancel a subscription from one side.
    Cancel {
        /// Sent by B (else A).
        from_b: bool,
        /// The prefix.
        prefix: Vec<u8>,
    },
    /// Shuttle everything queued both ways, in pieces of `chunk` octets (0: as transmitted);
    /// the size sticks for later shuttles.
    Pump {
        /// Piece size.
        chunk: u8,
    },
    /// Advance the virtual clock, run both sides' timers, then shuttle.
    Tick {
        /// Milliseconds (kept below half a heartbeat interval when heartbeats are on).
        ms: u16,
    },
}

impl PairScenario {
    /// Side A's and side B's socket types.
    pub fn types(&self) -> (SocketType, SocketType) {
        let pairs = compatible_pairs();
        pairs[usize::from(self.pair) % pairs.len()]
    }

    /// The index of a pair in [`compatible_pairs`] (for writing seeds).
    pub fn pair_index(a: SocketType, b: SocketType) -> u8 {
        let index = compatible_pairs().iter().position(|&p| p == (a, b));
        u8::try_from(index.expect("a compatible pair")).expect("few pairs")
    }

    /// The fuzzer input that decodes to this scenario.
    pub fn seed(&self) -> Vec<u8> {
        let mut w = SeedWriter::new();
        w.u8(self.pair)
            .bool(self.a_is_client)
            .u8(self.handshake_chunk);
        for value in [self.max_msg_size, self.heartbeat_ms] {
            w.option(value, |w, v| {
                w.u16(v);
            });
        }
        w.list(&self.ops, |w, op| {
            match op {
                PairOp::Send { from_b, frames } => {
                    w.variant(0, 5).bool(*from_b).list(frames, |w, f| {
                        w.bytes(f);
                    })
                }
                PairOp::Subscribe { from_b, prefix } => w.variant(1, 5).bool(*from_b).bytes(prefix),
                PairOp::Cancel { from_b, prefix } => w.variant(2, 5).bool(*from_b).bytes(prefix),
                PairOp::Pump { chunk } => w.variant(3, 5).u8(*chunk),
                PairOp::Tick { ms } => w.variant(4, 5).u16(*ms),
            };
        });
        w.finish()
    }
}
