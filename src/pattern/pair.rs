//! PAIR (RFC 31): exactly one peer; a second one is refused.

use super::pipes::Pipes;
use super::{AttachError, Behavior, PeerId, SendError, not_supported};
use crate::Msg;
use crate::proto::SocketType;

#[derive(Debug, Default)]
pub(crate) struct Pair {
    peer: Option<PeerId>,
}

impl Behavior for Pair {
    fn attach(&mut self, pipes: &mut Pipes, peer: PeerId) -> Result<(), AttachError> {
        if self.peer.is_some_and(|p| p != peer) {
            return Err(AttachError::PairTaken);
        }
        self.peer = Some(peer);
        pipes.attach(peer);
        Ok(())
    }

    fn detach(&mut self, pipes: &mut Pipes, peer: PeerId) {
        if self.peer == Some(peer) {
            self.peer = None;
        }
        pipes.detach(peer);
    }

    fn send(&mut self, pipes: &mut Pipes, msg: Msg) -> Result<(), SendError> {
        match self.peer {
            Some(peer) => pipes.push_msg(peer, msg).map_err(SendError::WouldBlock),
            None => Err(SendError::WouldBlock(msg)),
        }
    }

    fn subscription(&mut self, _: &mut Pipes, _: &[u8], _: bool) -> Result<(), SendError> {
        Err(not_supported(SocketType::Pair))
    }
}
