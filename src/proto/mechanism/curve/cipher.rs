//! Traffic after a CURVE handshake: every frame sealed in a MESSAGE command.

use std::fmt;

use bytes::{Bytes, BytesMut};

use super::boxes::{self, SessionKey, TAG_LEN};
use super::{CLIENT_MESSAGE_PREFIX, CURVE, SERVER_MESSAGE_PREFIX, short_nonce};
use crate::proto::frame::{Frame, FrameKind};
use crate::proto::mechanism::{FrameCipher, MechanismError};

/// `\x07MESSAGE`: the command name as it starts every sealed frame.
const MESSAGE: &[u8; 8] = b"\x07MESSAGE";
/// Octets before the box: name, then the short nonce.
const HEADER_LEN: usize = MESSAGE.len() + 8;
const FLAG_MORE: u8 = 0x01;
const FLAG_COMMAND: u8 = 0x02;

/// Seals outgoing frames and opens incoming ones with the session's short-term keys.
pub(super) struct CurveCipher {
    session: SessionKey,
    /// Our MESSAGE nonce prefix and the peer's.
    ours: &'static [u8; 16],
    theirs: &'static [u8; 16],
    /// The short nonce of our next command.
    next_nonce: u64,
    /// The highest short nonce the peer has used: each must be higher than the last.
    peer_nonce: u64,
}

impl fmt::Debug for CurveCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurveCipher")
            .field("next_nonce", &self.next_nonce)
            .field("peer_nonce", &self.peer_nonce)
            .finish_non_exhaustive()
    }
}

impl CurveCipher {
    /// The client's cipher (it sends with the `C` prefix).
    pub(super) fn client(session: SessionKey, next_nonce: u64, peer_nonce: u64) -> Self {
        Self {
            session,
            ours: CLIENT_MESSAGE_PREFIX,
            theirs: SERVER_MESSAGE_PREFIX,
            next_nonce,
            peer_nonce,
        }
    }

    /// The server's cipher.
    pub(super) fn server(session: SessionKey, next_nonce: u64, peer_nonce: u64) -> Self {
        Self {
            session,
            ours: SERVER_MESSAGE_PREFIX,
            theirs: CLIENT_MESSAGE_PREFIX,
            next_nonce,
            peer_nonce,
        }
    }

    fn error(reason: impl Into<String>) -> MechanismError {
        MechanismError::Cipher {
            mechanism: CURVE,
            reason: reason.into(),
        }
    }
}

impl FrameCipher for CurveCipher {
    fn seal(&mut self, kind: FrameKind, body: &[u8]) -> Result<Bytes, MechanismError> {
        let nonce = self.next_nonce;
        // A nonce must never repeat under one key: at the end of the counter the session
        // ends rather than wrap (2^64 frames: never in practice).
        self.next_nonce = nonce
            .checked_add(1)
            .ok_or_else(|| Self::error("the session's nonces are used up"))?;
        let flags = match kind {
            FrameKind::Message { more } => u8::from(more) * FLAG_MORE,
            FrameKind::Command => FLAG_COMMAND,
        };
        let mut out = BytesMut::with_capacity(HEADER_LEN + TAG_LEN + 1 + body.len());
        out.extend_from_slice(MESSAGE);
        out.extend_from_slice(&nonce.to_be_bytes());
        out.extend_from_slice(&[0u8; TAG_LEN]);
        out.extend_from_slice(&[flags]);
        out.extend_from_slice(body);
        let tag = self.session.seal_in_place(
            &boxes::short(self.ours, nonce),
            &mut out[HEADER_LEN + TAG_LEN..],
        );
        out[HEADER_LEN..HEADER_LEN + TAG_LEN].copy_from_slice(&tag);
        Ok(out.freeze())
    }

    fn open(&mut self, wire: Frame) -> Result<Frame, MechanismError> {
        let body = wire.body;
        if body.len() < HEADER_LEN + TAG_LEN + 1 || &body[..MESSAGE.len()] != MESSAGE {
            return Err(Self::error(format!(
                "expected a MESSAGE command of at least {} octets, got {} octets",
                HEADER_LEN + TAG_LEN + 1,
                body.len()
            )));
        }
        let nonce = short_nonce(&body[MESSAGE.len()..]);
        if nonce <= self.peer_nonce {
            return Err(Self::error(format!(
                "nonce {nonce} after {}: replayed or reordered MESSAGE",
                self.peer_nonce
            )));
        }
        let mut boxed = BytesMut::from(&body[HEADER_LEN..]);
        let (tag, data) = boxed.split_at_mut(TAG_LEN);
        if !self
            .session
            .open_in_place(&boxes::short(self.theirs, nonce), data, tag)
        {
            return Err(Self::error("a MESSAGE box failed to authenticate"));
        }
        self.peer_nonce = nonce;
        let flags = boxed[TAG_LEN];
        let kind = if flags & FLAG_COMMAND != 0 {
            FrameKind::Command
        } else {
            FrameKind::Message {
                more: flags & FLAG_MORE != 0,
            }
        };
        let body = boxed.freeze().slice(TAG_LEN + 1..);
        Ok(Frame { kind, body })
    }
}
