//! A simulated `inproc://` link: the two ends are direct peers (no ZMTP), and messages move
//! by value from one socket's outgoing queue into the other's incoming queue with the same
//! rule as `io::inproc`: at most one message in flight beyond the room the receiver's
//! queue had when last seen, so a link holds its sender's HWM plus its receiver's, plus
//! one.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{End, SocketId};
use crate::pattern::{MonitorEvent, PeerError, PeerId, PeerInput, PeerOutput, Socket};

/// Most messages a direction moves per step when the receiver has no HWM (as in io).
const BATCH: usize = 64;

/// Both directions of an inproc link.
#[derive(Debug, Default)]
pub(super) struct InprocLink {
    to_binder: Direction,
    to_connector: Direction,
}

/// What is in flight one way.
#[derive(Debug)]
pub(super) struct Direction {
    /// Taken from the sender, not yet taken by the receiver.
    held: VecDeque<PeerInput>,
    /// How many the receiver's queue had room for when last seen.
    room: usize,
}

impl Default for Direction {
    fn default() -> Self {
        Self {
            held: VecDeque::new(),
            room: 1,
        }
    }
}

impl InprocLink {
    /// The direction towards the binding side, or towards the connecting one.
    pub(super) fn way(&mut self, towards_binder: bool) -> &mut Direction {
        if towards_binder {
            &mut self.to_binder
        } else {
            &mut self.to_connector
        }
    }

    /// Messages in flight (taken from the sender, not yet in the receiver's queue): towards
    /// the binding side, towards the connecting side.
    pub(super) fn in_flight(&self) -> (usize, usize) {
        (self.to_binder.held.len(), self.to_connector.held.len())
    }
}

/// Makes the two ends direct peers, in the order of `io::inproc`: a new accepted peer on
/// the binding side (its monitor hears `Accepted` on `binder_name` from `connector_name`),
/// then the connecting side hears it is connected and opens its peer; each is told what
/// the other would have announced. A side that refuses the other closes its peer (the
/// monitor says why); if the connecting side refused, the binding side's peer is closed
/// for the same reason.
pub(super) fn open(
    sockets: &mut [Socket],
    connector: End,
    binder: SocketId,
    binder_name: Arc<str>,
    connector_name: Arc<str>,
) -> Result<PeerId, PeerError> {
    let connector_info = sockets[connector.0.0].options().connection.peer_info();
    let binder_info = sockets[binder.0].options().connection.peer_info();
    let accepted = sockets[binder.0].accept_direct(
        Arc::clone(&binder_name),
        connector_name,
        connector_info,
    )?;
    let socket = &mut sockets[connector.0.0];
    socket.monitor(MonitorEvent::Connected {
        endpoint: Arc::clone(&binder_name),
        peer: connector.1,
        remote: binder_name,
    });
    if let Err(err) = socket.open_direct(connector.1, binder_info) {
        sockets[binder.0].close(accepted, err.clone());
        return Err(err);
    }
    Ok(accepted)
}

/// Moves what `from` queued for its peer to `to`: first what is held from last time, then
/// a new batch of at most the room the receiver had (at least one: offered to a full queue
/// it is refused, and waits here). Whether anything moved, and the receiver's error if it
/// refused an input.
pub(super) fn transfer(
    sockets: &mut [Socket],
    (from, to): (End, End),
    way: &mut Direction,
    scratch: &mut Vec<PeerOutput>,
) -> (bool, Option<PeerError>) {
    let mut moved = false;
    if way.held.is_empty() {
        sockets[from.0.0].take_direct(from.1, way.room.clamp(1, BATCH), scratch);
        moved = !scratch.is_empty();
        way.held
            .extend(scratch.drain(..).map(|output| match output {
                PeerOutput::Message(msg) => PeerInput::Message(msg),
                PeerOutput::Subscribe(prefix) => PeerInput::Subscribe(prefix),
                PeerOutput::Cancel(prefix) => PeerInput::Cancel(prefix),
            }));
    }
    if way.held.is_empty() {
        return (moved, None);
    }
    let before = way.held.len();
    let receiver = &mut sockets[to.0.0];
    let failed = receiver.deliver_direct(to.1, &mut way.held).err();
    let hwm = receiver.options().pattern.recv_hwm;
    let queued = receiver.pattern().stats(to.1).map_or(0, |s| s.inbound_msgs);
    way.room = if hwm == 0 {
        BATCH
    } else {
        hwm.saturating_sub(queued)
    };
    (moved || way.held.len() < before, failed)
}
