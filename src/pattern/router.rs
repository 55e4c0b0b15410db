//! ROUTER (RFC 28): every incoming message is prefixed with its peer's routing id, every
//! outgoing message is routed by its first frame.

use std::collections::HashMap;

use bytes::Bytes;

use super::pipes::Pipes;
use super::{
    AttachError, Behavior, InputError, PatternOptions, PeerId, PeerInput, RouterNotify, SendError,
    escape, not_supported,
};
use crate::Msg;
use crate::proto::{PeerInfo, SocketType};

#[derive(Debug)]
pub(crate) struct Router {
    mandatory: bool,
    handover: bool,
    by_id: HashMap<Bytes, PeerId>,
    id_of: HashMap<PeerId, Bytes>,
    /// Counter for generated ids (0x00 followed by 4 octets, as libzmq makes them).
    next_generated: u32,
    /// Queue an empty message to each new peer (ZMQ_PROBE_ROUTER).
    probe: bool,
    /// Which peer events become `[routing id, empty]` messages (ZMQ_ROUTER_NOTIFY).
    notify: RouterNotify,
    /// Delivered as from an accepted peer whose connection drops (ZMQ_DISCONNECT_MSG).
    disconnect_msg: Option<Bytes>,
}

impl Router {
    pub(crate) fn new(options: &PatternOptions) -> Self {
        Self {
            mandatory: options.router_mandatory,
            handover: options.router_handover,
            by_id: HashMap::new(),
            id_of: HashMap::new(),
            next_generated: 0x6B8B_4567, // libzmq starts from a random value; any will do
            probe: options.probe_router,
            notify: options.router_notify,
            disconnect_msg: options.disconnect_msg.clone(),
        }
    }

    fn generate_id(&mut self) -> Bytes {
        loop {
            let mut id = vec![0u8];
            id.extend_from_slice(&self.next_generated.to_be_bytes());
            self.next_generated = self.next_generated.wrapping_add(1);
            let id = Bytes::from(id);
            if !self.by_id.contains_key(&id) {
                return id;
            }
        }
    }

    fn forget(&mut self, peer: PeerId) {
        if let Some(id) = self.id_of.remove(&peer) {
            self.by_id.remove(&id);
        }
    }
}

impl Behavior for Router {
    fn attach(&mut self, pipes: &mut Pipes, peer: PeerId) -> Result<(), AttachError> {
        super::pipeline::attach_probing(pipes, peer, self.probe);
        Ok(())
    }

    fn connected(
        &mut self,
        pipes: &mut Pipes,
        peer: PeerId,
        info: &PeerInfo,
    ) -> Result<(), AttachError> {
        self.forget(peer);
        let id = match info.identity.clone() {
            Some(id) => {
                if let Some(&holder) = self.by_id.get(&id) {
                    if !self.handover {
                        return Err(AttachError::DuplicateIdentity(escape(&id)));
                    }
                    // The newcomer takes the id over; the old peer becomes unroutable.
                    self.id_of.remove(&holder);
                }
                id
            }
            None => self.generate_id(),
        };
        self.by_id.insert(id.clone(), peer);
        self.id_of.insert(peer, id);
        pipes.set_connected(peer, true);
        if self.notify.connect {
            // As libzmq's engine: lost if the queue is full, which it cannot be on a new
            // connection unless messages from an earlier one still wait.
            let _ = self.on_message(pipes, peer, Msg::from(Bytes::new()));
        }
        Ok(())
    }

    fn connection_ended(&mut self, pipes: &mut Pipes, peer: PeerId, accepted: bool) {
        // libzmq's order: the engine's notification, then the session's disconnect message
        // (for accepted connections only). Both go in beyond the HWM: the connection has
        // ended, so they are its final input, and cannot be refused.
        if self.notify.disconnect {
            let _ = self.on_message(pipes, peer, Msg::from(Bytes::new()));
        }
        if accepted && let Some(msg) = self.disconnect_msg.clone() {
            let _ = self.on_message(pipes, peer, Msg::from(msg));
        }
    }

    fn disconnected(&mut self, pipes: &mut Pipes, peer: PeerId) {
        self.forget(peer);
        pipes.set_connected(peer, false);
    }

    fn detach(&mut self, pipes: &mut Pipes, peer: PeerId) {
        self.forget(peer);
        pipes.detach(peer);
    }

    fn on_message(
        &mut self,
        pipes: &mut Pipes,
        peer: PeerId,
        mut msg: Msg,
    ) -> Result<(), InputError> {
        let Some(id) = self.id_of.get(&peer) else {
            return Ok(()); // no longer routable: discarded with its peer
        };
        msg.push_front(id.clone());
        pipes.push_input(peer, msg).map_err(|mut msg| {
            msg.pop_front();
            InputError::Full(PeerInput::Message(msg))
        })
    }

    fn send(&mut self, pipes: &mut Pipes, mut msg: Msg) -> Result<(), SendError> {
        if msg.len() < 2 {
            return Err(SendError::MissingRoutingId);
        }
        let id = msg.pop_front().expect("two frames or more");
        let Some(&peer) = self.by_id.get(&id) else {
            return if self.mandatory {
                Err(SendError::Unroutable(escape(&id)))
            } else {
                Ok(())
            };
        };
        match pipes.push_msg(peer, msg) {
            Ok(()) => Ok(()),
            Err(mut msg) if self.mandatory => {
                msg.push_front(id);
                Err(SendError::WouldBlock(msg))
            }
            Err(_) => Ok(()), // a full peer loses the message; ROUTER never blocks
        }
    }

    fn subscription(&mut self, _: &mut Pipes, _: &[u8], _: bool) -> Result<(), SendError> {
        Err(not_supported(SocketType::Router))
    }
}
