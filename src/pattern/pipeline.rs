//! PUSH and DEALER (round-robin out, fair-queue in; RFC 28/30) and PULL (fair-queue in).

use super::pipes::Pipes;
use super::{Behavior, InputError, PeerId, RecvError, SendError, not_supported};
use crate::Msg;
use crate::proto::SocketType;

/// Sends each message to the next peer whose queue has room; blocks when none has.
#[derive(Debug)]
pub(crate) struct RoundRobin {
    socket_type: SocketType,
    receives: bool,
    /// Queue an empty message to each new peer (ZMQ_PROBE_ROUTER, DEALER).
    probe: bool,
}

impl RoundRobin {
    /// PUSH only sends; DEALER also receives, and may probe.
    pub(crate) fn new(socket_type: SocketType, receives: bool, probe: bool) -> Self {
        Self {
            socket_type,
            receives,
            probe,
        }
    }
}

/// Attaches `peer` and, for ZMQ_PROBE_ROUTER, queues the empty probe as its first message:
/// once per queue, as libzmq writes it when the pipe is attached (a connecting socket's
/// queue, and so its probe, outlives reconnects).
pub(super) fn attach_probing(pipes: &mut Pipes, peer: PeerId, probe: bool) {
    pipes.attach(peer);
    if probe {
        let _ = pipes.push_msg(peer, Msg::from(bytes::Bytes::new()));
    }
}

impl Behavior for RoundRobin {
    fn attach(&mut self, pipes: &mut Pipes, peer: PeerId) -> Result<(), super::AttachError> {
        attach_probing(pipes, peer, self.probe);
        Ok(())
    }

    fn on_message(&mut self, pipes: &mut Pipes, peer: PeerId, msg: Msg) -> Result<(), InputError> {
        if !self.receives {
            return Ok(()); // PUSH discards whatever a peer sends it
        }
        pipes
            .push_input(peer, msg)
            .map_err(|msg| InputError::Full(super::PeerInput::Message(msg)))
    }

    fn send(&mut self, pipes: &mut Pipes, msg: Msg) -> Result<(), SendError> {
        pipes
            .push_round_robin(msg)
            .map(drop)
            .map_err(SendError::WouldBlock)
    }

    fn recv(&mut self, pipes: &mut Pipes) -> Result<Option<(PeerId, Msg)>, RecvError> {
        if !self.receives {
            return Err(RecvError::NotSupported(self.socket_type));
        }
        Ok(pipes.pop_input())
    }

    fn subscription(&mut self, _: &mut Pipes, _: &[u8], _: bool) -> Result<(), SendError> {
        Err(not_supported(self.socket_type))
    }
}

/// Receives from all peers in turn; never sends.
#[derive(Debug)]
pub(crate) struct Pull;

impl Behavior for Pull {
    fn send(&mut self, _: &mut Pipes, _: Msg) -> Result<(), SendError> {
        Err(not_supported(SocketType::Pull))
    }

    fn subscription(&mut self, _: &mut Pipes, _: &[u8], _: bool) -> Result<(), SendError> {
        Err(not_supported(SocketType::Pull))
    }
}
