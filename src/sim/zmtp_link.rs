//! A simulated byte transport between two sockets' ZMTP connections: octets written by one
//! side wait in a bounded pipe until the other side wants them (a stand-in for TCP and
//! the kernel's socket buffers).

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::End;
use crate::pattern::{PeerError, Socket};

/// Both directions of a ZMTP link.
#[derive(Debug, Default)]
pub(super) struct ZmtpLink {
    to_binder: Pipe,
    to_connector: Pipe,
}

/// One direction of a transport: octets written by one side, not yet read by the other.
#[derive(Debug, Default)]
pub(super) struct Pipe {
    in_flight: VecDeque<Bytes>,
    octets: usize,
}

/// How much a transport holds and how it cuts deliveries (the network's settings).
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Octets each direction buffers before the sender must wait.
    pub capacity: usize,
    /// Largest piece a delivery is cut into.
    pub max_chunk: usize,
}

impl ZmtpLink {
    /// The direction towards the binding side, or towards the connecting one.
    pub(super) fn way(&mut self, towards_binder: bool) -> &mut Pipe {
        if towards_binder {
            &mut self.to_binder
        } else {
            &mut self.to_connector
        }
    }
}

/// Moves octets one way: the sender writes while the pipe has room; unless `partitioned`,
/// the receiver reads while it wants input (first retrying what it held back). Whether
/// anything moved, and the receiver's error if it failed on what it read.
pub(super) fn transfer(
    sockets: &mut [Socket],
    (from, to): (End, End),
    pipe: &mut Pipe,
    partitioned: bool,
    limits: Limits,
    now: Instant,
) -> (bool, Option<PeerError>) {
    let mut moved = false;
    while pipe.octets < limits.capacity {
        let Some(chunk) = sockets[from.0.0].poll_transmit(from.1) else {
            break;
        };
        pipe.octets += chunk.len();
        pipe.in_flight.push_back(chunk);
        moved = true;
    }
    if partitioned {
        return (moved, None);
    }
    let receiver = &mut sockets[to.0.0];
    if !receiver.wants_input(to.1)
        && receiver.is_open(to.1)
        && let Err(err) = receiver.handle_input(to.1, &[], now)
    {
        return (moved, Some(err));
    }
    while receiver.wants_input(to.1) {
        let Some(mut chunk) = pipe.in_flight.pop_front() else {
            break;
        };
        if chunk.len() > limits.max_chunk {
            pipe.in_flight.push_front(chunk.split_off(limits.max_chunk));
        }
        pipe.octets -= chunk.len();
        moved = true;
        if let Err(err) = receiver.handle_input(to.1, &chunk, now) {
            return (true, Some(err));
        }
    }
    (moved, None)
}

/// A side that failed may still have an ERROR command to say; it reaches the other side
/// before the transport closes, as it would over TCP.
pub(super) fn flush_after_failure(sockets: &mut [Socket], failed: End, other: End, now: Instant) {
    while let Some(chunk) = sockets[failed.0.0].poll_transmit(failed.1) {
        if sockets[other.0.0]
            .handle_input(other.1, &chunk, now)
            .is_err()
        {
            break;
        }
    }
}
