//! SUB and XSUB (RFC 29): subscriptions go to every current and future publisher, and SUB
//! filters incoming messages by them as well (XSUB, as libzmq's, does not). XSUB also
//! sends: a message starting with 0x01/0x00 (un)subscribes, anything else goes upstream to
//! every publisher.

use bytes::Bytes;

use super::pipes::Pipes;
use super::trie::SubscriptionTrie;
use super::{
    Behavior, InputError, PatternOptions, PeerId, PeerInput, PeerOutput, SendError, not_supported,
};
use crate::Msg;
use crate::proto::{PeerInfo, SocketType};

#[derive(Debug)]
pub(crate) struct Subscribe {
    socket_type: SocketType,
    subscriptions: SubscriptionTrie<()>,
    /// Receive what matches no subscription instead (ZMQ_INVERT_MATCHING).
    invert: bool,
}

impl Subscribe {
    pub(crate) fn new(socket_type: SocketType, options: &PatternOptions) -> Self {
        Self {
            socket_type,
            subscriptions: SubscriptionTrie::new(),
            invert: options.invert_matching,
        }
    }

    /// Whether a message with this first frame is for the application. XSUB takes
    /// everything, as libzmq's (its `options.filter` is off): the publisher has filtered,
    /// and a proxy forwards what its subscribers asked for, not what it holds itself.
    fn wanted(&self, msg: &Msg) -> bool {
        self.socket_type == SocketType::XSub
            || self
                .subscriptions
                .matches(msg.first().map_or(&[][..], |f| &f[..]))
                != self.invert
    }
}

impl Behavior for Subscribe {
    fn connected(
        &mut self,
        pipes: &mut Pipes,
        peer: PeerId,
        _info: &PeerInfo,
    ) -> Result<(), super::AttachError> {
        pipes.set_connected(peer, true);
        for prefix in self.subscriptions.prefixes() {
            pipes.push_control(peer, PeerOutput::Subscribe(Bytes::from(prefix)));
        }
        Ok(())
    }

    fn disconnected(&mut self, pipes: &mut Pipes, peer: PeerId) {
        // The next connection starts from the full subscription set (see `connected`).
        pipes.clear_output(peer);
        pipes.set_connected(peer, false);
    }

    fn on_message(&mut self, pipes: &mut Pipes, peer: PeerId, msg: Msg) -> Result<(), InputError> {
        if !self.wanted(&msg) {
            return Ok(());
        }
        pipes
            .push_input(peer, msg)
            .map_err(|msg| InputError::Full(PeerInput::Message(msg)))
    }

    fn recv(&mut self, pipes: &mut Pipes) -> Result<Option<(PeerId, Msg)>, super::RecvError> {
        // Filtered again when taken, as libzmq does: a message that arrived before its
        // subscription was dropped is not delivered after it.
        while let Some((peer, msg)) = pipes.pop_input() {
            if self.wanted(&msg) {
                return Ok(Some((peer, msg)));
            }
        }
        Ok(None)
    }

    fn send(&mut self, pipes: &mut Pipes, msg: Msg) -> Result<(), SendError> {
        if self.socket_type == SocketType::Sub {
            return Err(not_supported(SocketType::Sub));
        }
        let first = msg.first().expect("non-empty, checked by Pattern::send");
        match first.first() {
            Some(&flag @ (0 | 1)) => self.subscription(pipes, &first[1..], flag == 1),
            _ => {
                let peers: Vec<PeerId> = pipes.connected_ids().collect();
                pipes.push_msg_to_all(&peers, msg);
                Ok(())
            }
        }
    }

    fn subscription(
        &mut self,
        pipes: &mut Pipes,
        prefix: &[u8],
        subscribe: bool,
    ) -> Result<(), SendError> {
        let prefix = Bytes::copy_from_slice(prefix);
        // Publishers disagree on duplicates: RFC 37 counts them, libzmq keeps a set. Telling
        // them only when a prefix appears or disappears here is exact for both. XSUB
        // forwards every subscribe, as libzmq's does, so a verbose XPUB upstream of a proxy
        // sees each one.
        if subscribe {
            let added = self.subscriptions.add(&prefix, ());
            if added.new_prefix || self.socket_type == SocketType::XSub {
                pipes.push_control_to_connected(|| PeerOutput::Subscribe(prefix.clone()));
            }
        } else if self
            .subscriptions
            .remove(&prefix, (), false)
            .is_some_and(|removed| removed.prefix_gone)
        {
            pipes.push_control_to_connected(|| PeerOutput::Cancel(prefix.clone()));
        }
        Ok(())
    }
}
