//! REQ (RFC 28): strict send/receive lockstep, round-robin requests, replies only from the
//! peer asked, with libzmq's REQ_RELAXED and REQ_CORRELATE.

use bytes::Bytes;

use super::pipes::Pipes;
use super::{Behavior, InputError, PatternOptions, PeerId, RecvError, SendError, not_supported};
use crate::Msg;
use crate::proto::SocketType;

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Free to send a request.
    Idle,
    /// A request went to `peer`; only its reply (with `id`, when correlating) is accepted.
    Awaiting { peer: PeerId, id: Option<Bytes> },
    /// The reply has arrived and waits for the application. It is kept here, not in the
    /// peer's queue, so it survives that peer leaving before the application reads it.
    ReplyReady(PeerId, Msg),
}

#[derive(Debug)]
pub(crate) struct Req {
    relaxed: bool,
    correlate: bool,
    next_id: u32,
    state: State,
    /// Queue an empty message to each new peer (ZMQ_PROBE_ROUTER).
    probe: bool,
}

impl Req {
    pub(crate) fn new(options: &PatternOptions) -> Self {
        Self {
            relaxed: options.req_relaxed,
            correlate: options.req_correlate,
            next_id: 1,
            state: State::Idle,
            probe: options.probe_router,
        }
    }

    /// Checks the envelope of a reply to the outstanding request and strips it.
    fn unwrap_reply(&self, mut msg: Msg) -> Option<Msg> {
        let State::Awaiting { id, .. } = &self.state else {
            return None;
        };
        if let Some(id) = id
            && msg.pop_front().as_ref() != Some(id)
        {
            return None;
        }
        // The delimiter must be empty and must not be the last frame.
        if msg.len() < 2 || !msg.frames()[0].is_empty() {
            return None;
        }
        msg.pop_front();
        Some(msg)
    }
}

impl Behavior for Req {
    fn attach(&mut self, pipes: &mut Pipes, peer: PeerId) -> Result<(), super::AttachError> {
        super::pipeline::attach_probing(pipes, peer, self.probe);
        Ok(())
    }

    fn on_message(&mut self, pipes: &mut Pipes, peer: PeerId, msg: Msg) -> Result<(), InputError> {
        let from_asked_peer =
            matches!(&self.state, State::Awaiting { peer: asked, .. } if *asked == peer);
        // Only a request that has left can be answered: until the connection has taken it
        // from the peer's queue (the last thing queued there), a "reply" is unsolicited, and
        // accepting it would let the next request leave behind this one.
        let request_left = pipes.stats(peer).is_some_and(|s| s.outbound_msgs == 0);
        // Anything else (a stray, early, late or malformed reply) is discarded, as RFC 28
        // requires.
        if let Some(reply) = (from_asked_peer && request_left)
            .then(|| self.unwrap_reply(msg))
            .flatten()
        {
            self.state = State::ReplyReady(peer, reply);
        }
        Ok(())
    }

    fn send(&mut self, pipes: &mut Pipes, mut msg: Msg) -> Result<(), SendError> {
        if self.state != State::Idle && !self.relaxed {
            return Err(SendError::RequestPending);
        }
        if pipes.next_with_room().is_none() {
            // Checked before anything changes: a request that cannot go yet abandons nothing.
            return Err(SendError::WouldBlock(msg));
        }
        msg.push_front(Bytes::new());
        let id = self.correlate.then(|| {
            let id = Bytes::copy_from_slice(&self.next_id.to_be_bytes());
            self.next_id = self.next_id.wrapping_add(1);
            msg.push_front(id.clone());
            id
        });
        let peer = pipes
            .push_round_robin(msg)
            .expect("a peer with room was found above");
        // Relaxed: the earlier request, and any reply it got, is abandoned here.
        self.state = State::Awaiting { peer, id };
        Ok(())
    }

    fn recv(&mut self, _: &mut Pipes) -> Result<Option<(PeerId, Msg)>, RecvError> {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Idle => Err(RecvError::NoRequest),
            State::ReplyReady(peer, reply) => Ok(Some((peer, reply))),
            awaiting @ State::Awaiting { .. } => {
                self.state = awaiting;
                Ok(None)
            }
        }
    }

    fn subscription(&mut self, _: &mut Pipes, _: &[u8], _: bool) -> Result<(), SendError> {
        Err(not_supported(SocketType::Req))
    }
}
