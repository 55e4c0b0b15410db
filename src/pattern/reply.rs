//! REP (RFC 28): fair-queued requests, envelope stripped and remembered, the reply routed
//! back to the requesting peer; strict receive/send lockstep.

use super::pipes::Pipes;
use super::{Behavior, InputError, PeerId, PeerInput, RecvError, SendError, not_supported};
use crate::Msg;
use crate::proto::SocketType;

#[derive(Debug, Default)]
pub(crate) struct Rep {
    /// The request being answered: who asked, and the envelope to put back on the reply.
    answering: Option<(PeerId, Msg)>,
}

/// Frames up to and including the first empty one, if a body follows it.
fn envelope_len(msg: &Msg) -> Option<usize> {
    let delimiter = msg.iter().position(|frame| frame.is_empty())?;
    (delimiter + 1 < msg.len()).then_some(delimiter + 1)
}

impl Behavior for Rep {
    fn on_message(&mut self, pipes: &mut Pipes, peer: PeerId, msg: Msg) -> Result<(), InputError> {
        if envelope_len(&msg).is_none() {
            return Ok(()); // no delimiter: not a request, dropped as libzmq does
        }
        pipes
            .push_input(peer, msg)
            .map_err(|msg| InputError::Full(PeerInput::Message(msg)))
    }

    fn send(&mut self, pipes: &mut Pipes, msg: Msg) -> Result<(), SendError> {
        let (peer, envelope) = self.answering.take().ok_or(SendError::NoRequest)?;
        let mut reply = envelope;
        reply.extend(msg);
        // A requester that left, or cannot take more, loses its reply: REP never blocks.
        let _ = pipes.push_msg(peer, reply);
        Ok(())
    }

    fn recv(&mut self, pipes: &mut Pipes) -> Result<Option<(PeerId, Msg)>, RecvError> {
        if self.answering.is_some() {
            return Err(RecvError::ReplyPending);
        }
        let Some((peer, msg)) = pipes.pop_input() else {
            return Ok(None);
        };
        let split = envelope_len(&msg).expect("checked on arrival");
        let mut frames = msg.into_iter();
        let envelope: Msg = frames.by_ref().take(split).collect();
        let body: Msg = frames.collect();
        self.answering = Some((peer, envelope));
        Ok(Some((peer, body)))
    }

    fn subscription(&mut self, _: &mut Pipes, _: &[u8], _: bool) -> Result<(), SendError> {
        Err(not_supported(SocketType::Rep))
    }
}
