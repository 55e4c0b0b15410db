//! Security mechanisms: the handshake after the greeting, and any transformation of traffic
//! that follows it.
//!
//! A mechanism is a small machine of its own. The [`Connection`](super::Connection) feeds it
//! the peer's handshake commands and sends what it writes into a [`HandshakeOutput`]. When the
//! mechanism has the peer's metadata it reports [`Progress::PeerReady`]; the connection checks
//! that metadata (socket-type compatibility) and then either refuses the peer with an ERROR
//! command or calls [`Mechanism::accept`], which finishes the handshake and turns the
//! mechanism into an optional [`FrameCipher`] for the rest of the connection. NULL and PLAIN
//! return no cipher (frames travel as they are); CURVE returns one that seals every frame into
//! a MESSAGE command.

mod null;

use std::fmt;

use bytes::{Bytes, BytesMut};
use thiserror::Error;

use super::command::{Command, CommandError, RawCommand};
use super::frame::{Frame, FrameKind};
use super::greeting::{Greeting, MechanismName};
use super::metadata::Metadata;

pub use null::NullMechanism;

/// How far a handshake has come after a command from the peer.
#[derive(Debug)]
#[non_exhaustive]
pub enum Progress {
    /// More commands must be exchanged.
    Continue,
    /// The peer's metadata is known; the connection validates it next.
    PeerReady(Metadata),
}

/// One side of a security handshake, and (through [`Mechanism::accept`]) what it does to
/// traffic afterwards.
pub trait Mechanism: Send + fmt::Debug {
    /// The name announced in our greeting (the peer's must match exactly).
    fn name(&self) -> MechanismName;

    /// The as-server octet of our greeting.
    fn as_server(&self) -> bool;

    /// Checks the peer's greeting beyond the mechanism name (e.g. PLAIN needs exactly one
    /// server). The default accepts it.
    fn check_peer_greeting(&self, _peer: &Greeting) -> Result<(), MechanismError> {
        Ok(())
    }

    /// The greetings are exchanged: write the commands this side opens with, if any.
    fn start(&mut self, local: &Metadata, out: &mut HandshakeOutput) -> Result<(), MechanismError>;

    /// A handshake command from the peer (ERROR commands are handled by the connection).
    fn handle_command(
        &mut self,
        command: RawCommand,
        local: &Metadata,
        out: &mut HandshakeOutput,
    ) -> Result<Progress, MechanismError>;

    /// The connection accepted the peer's metadata: write any final command and return the
    /// cipher that traffic goes through from now on (`None`: frames travel as they are).
    fn accept(
        self: Box<Self>,
        local: &Metadata,
        out: &mut HandshakeOutput,
    ) -> Result<Option<Box<dyn FrameCipher>>, MechanismError>;
}

/// Transforms every frame after the handshake, in both directions (CURVE's MESSAGE boxes).
pub trait FrameCipher: Send + fmt::Debug {
    /// Turns one outgoing frame (message part or command) into the body of the command frame
    /// that carries it on the wire.
    fn seal(&mut self, kind: FrameKind, body: &[u8]) -> Result<Bytes, MechanismError>;

    /// Turns one frame from the wire back into the frame it carries.
    fn open(&mut self, wire: Frame) -> Result<Frame, MechanismError>;
}

/// Commands a mechanism wants sent, in order (encoded command bodies).
#[derive(Debug, Default)]
pub struct HandshakeOutput {
    commands: Vec<Bytes>,
}

impl HandshakeOutput {
    /// Queues a ZMTP command.
    pub fn send(&mut self, command: &Command) {
        self.commands.push(command.to_bytes());
    }

    /// Queues a command given by name and data.
    pub fn send_raw(&mut self, name: &str, data: &[u8]) {
        let mut body = BytesMut::new();
        RawCommand::encode(name, data, &mut body);
        self.commands.push(body.freeze());
    }

    /// Takes the queued command bodies.
    pub(crate) fn take(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.commands)
    }
}

/// Why a security handshake (or a cipher) failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MechanismError {
    /// The peer sent a command this mechanism does not expect at this point.
    #[error("{mechanism} handshake: unexpected {command} command {when}")]
    UnexpectedCommand {
        /// Our mechanism.
        mechanism: MechanismName,
        /// The command's name.
        command: String,
        /// Where in the handshake it came.
        when: &'static str,
    },
    /// A handshake command did not parse.
    #[error("{mechanism} handshake: {source}")]
    Malformed {
        /// Our mechanism.
        mechanism: MechanismName,
        /// What was wrong.
        source: CommandError,
    },
    /// The handshake refused the peer (bad credentials, role clash …); the reason is sent
    /// to the peer in an ERROR command.
    #[error("{mechanism} handshake refused the peer: {reason}")]
    Rejected {
        /// Our mechanism.
        mechanism: MechanismName,
        /// Why, as sent to the peer.
        reason: String,
    },
    /// Traffic failed to decrypt or authenticate.
    #[error("{mechanism} cipher: {reason}")]
    Cipher {
        /// Our mechanism.
        mechanism: MechanismName,
        /// What failed.
        reason: String,
    },
}

impl MechanismError {
    /// Wraps a parse error of a handshake command.
    pub fn malformed(mechanism: MechanismName, source: impl Into<CommandError>) -> Self {
        Self::Malformed {
            mechanism,
            source: source.into(),
        }
    }
}
