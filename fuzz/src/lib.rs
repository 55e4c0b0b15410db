//! What the fuzz targets and the seed generator (`examples/gen_seeds.rs`) share: builders
//! for valid ZMTP octets, the scenario types that the `connection`, `connection_pair`,
//! `pattern` and `network` targets decode from their input, the harness of the security
//! targets (`plain_server`, `curve_server`, `curve_client`: see [`security`]), and
//! [`SeedWriter`], which writes a chosen scenario back out as fuzzer input.
#![forbid(unsafe_code)]

pub mod proxied;
pub mod scenario;
pub mod security;
pub mod seed;
pub mod sockets;
pub mod wire;

pub use seed::SeedWriter;

use std::mem;

use bytes::BytesMut;
use zmq_sansio::Msg;
use zmq_sansio::proto::{Command, Event, FrameDecoder, FrameKind, SocketType};

/// Splits a stream into chunks whose sizes follow a small deterministic generator, so one
/// input octet can select a whole chunking pattern.
///
/// Seed 0 yields single octets (the harshest case for an incremental decoder); larger seeds
/// yield sizes from 1 up to `seed + 1`.
#[derive(Debug, Clone)]
pub struct Chunker {
    state: u32,
    max: usize,
}

impl Chunker {
    /// A chunking pattern selected by one octet.
    pub fn new(seed: u8) -> Self {
        Self {
            // xorshift32 must not start at zero.
            state: 0x9E37_79B9 ^ u32::from(seed),
            max: usize::from(seed) + 1,
        }
    }

    /// The size of the next chunk, from 1 to `seed + 1`.
    pub fn next_size(&mut self) -> usize {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        1 + self.state as usize % self.max
    }

    /// `data` cut into consecutive chunks of the pattern's sizes.
    pub fn split(mut self, mut data: &[u8]) -> impl Iterator<Item = &[u8]> {
        std::iter::from_fn(move || {
            if data.is_empty() {
                return None;
            }
            let (chunk, rest) = data.split_at(self.next_size().min(data.len()));
            data = rest;
            Some(chunk)
        })
    }
}

/// `data` cut into pieces of `size` octets (the last may be shorter); 0 means one piece.
pub fn pieces(data: &[u8], size: usize) -> impl Iterator<Item = &[u8]> {
    data.chunks(if size == 0 { data.len().max(1) } else { size })
}

/// What a correct connection reports for traffic octets: the events of every complete
/// message and subscription command, and whether the octets are free of protocol errors.
pub fn expected_events(stream: &[u8], ours: SocketType) -> (Vec<Event>, bool) {
    // PUB and XPUB read single-frame messages starting with 0x01/0x00 as ZMTP 3.0
    // subscriptions (`classify` in connection.rs).
    let publisher = matches!(ours, SocketType::Pub | SocketType::XPub);
    let mut buf = BytesMut::from(stream);
    let mut decoder = FrameDecoder::new();
    let mut events = Vec::new();
    let mut partial = Msg::new();
    loop {
        let frame = match decoder.decode(&mut buf, u64::MAX) {
            Ok(Some(frame)) => frame,
            Ok(None) => return (events, true),
            Err(_) => return (events, false),
        };
        match frame.kind {
            FrameKind::Message { more } => {
                partial.push_back(frame.body);
                if !more {
                    let msg = mem::take(&mut partial);
                    let body = &msg.frames()[0];
                    events.push(match body.first() {
                        Some(1) if publisher && msg.len() == 1 => Event::Subscribe(body.slice(1..)),
                        Some(0) if publisher && msg.len() == 1 => Event::Cancel(body.slice(1..)),
                        _ => Event::Message(msg),
                    });
                }
            }
            FrameKind::Command => match Command::parse(frame.body) {
                Ok(Command::Subscribe(prefix)) => events.push(Event::Subscribe(prefix)),
                Ok(Command::Cancel(prefix)) => events.push(Event::Cancel(prefix)),
                Ok(Command::Ping { .. } | Command::Pong(_) | Command::Other(_)) => {}
                // Anything else (READY, ERROR, a malformed command) ends the stream.
                _ => return (events, false),
            },
        }
    }
}

/// Checks that the events `after_ready` are those the post-handshake `stream` describes
/// (see [`expected_events`]): all of them while the connection is `open`, else a prefix.
pub fn check_traffic(after_ready: &[Event], open: bool, stream: &[u8], ours: SocketType) {
    let (expected, clean) = expected_events(stream, ours);
    if open {
        assert!(clean, "a protocol error in the stream went unnoticed");
        assert_eq!(after_ready, expected, "events differ from the stream");
    } else {
        assert!(
            expected.starts_with(after_ready),
            "events differ from the stream: {after_ready:?}, expected a prefix of {expected:?}"
        );
    }
}
