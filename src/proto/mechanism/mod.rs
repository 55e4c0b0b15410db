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
//!
//! A server-side mechanism built to ask the application ([`Config::authenticate`]) stops
//! at [`Progress::Authenticate`] with the client's [`Credentials`]; the connection turns
//! them into an [`AuthRequest`](crate::security::AuthRequest) and goes on with
//! [`Mechanism::allowed`] once the application lets the client in.

#[cfg(feature = "curve")]
mod curve;
mod null;
mod plain;
#[cfg(test)]
pub(crate) mod test_support;

use std::fmt;

use bytes::{Bytes, BytesMut};
use thiserror::Error;

use super::command::{Command, CommandError, RawCommand};
use super::frame::{Frame, FrameKind};
use super::greeting::{Greeting, MechanismName};
use super::metadata::Metadata;

#[cfg(feature = "curve")]
pub use curve::{CurveClient, CurveServer};
pub use null::NullMechanism;
pub use plain::{PlainClient, PlainServer};

use super::config::{Config, Role};
use crate::security::{AuthStatus, Credentials, Security};

/// The mechanism a connection with `config` uses on `role`'s side of the transport.
pub(crate) fn for_config(config: &Config, role: Role) -> Box<dyn Mechanism> {
    let ask = config.authenticate;
    match &config.security {
        Security::Null => Box::new(NullMechanism::new(role).authenticating(ask)),
        Security::PlainClient { username, password } => {
            Box::new(PlainClient::new(username.clone(), password.clone()))
        }
        Security::PlainServer => Box::new(PlainServer::new(ask)),
        #[cfg(feature = "curve")]
        Security::CurveClient {
            server_key,
            keypair,
        } => Box::new(CurveClient::new(
            keypair.clone(),
            *server_key,
            &config.entropy,
        )),
        #[cfg(feature = "curve")]
        Security::CurveServer { keypair } => {
            Box::new(CurveServer::new(keypair.clone(), &config.entropy, ask))
        }
    }
}

/// How far a handshake has come after a command from the peer.
#[derive(Debug)]
#[non_exhaustive]
pub enum Progress {
    /// More commands must be exchanged.
    Continue,
    /// The peer's metadata is known; the connection validates it next.
    PeerReady(Metadata),
    /// The client presented these credentials: the application decides
    /// ([`Mechanism::allowed`] follows if it lets the client in).
    Authenticate(Credentials),
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

    /// The greetings are exchanged: write the commands this side opens with, if any (the
    /// default: none, as PLAIN and CURVE servers wait for the client's HELLO).
    fn start(
        &mut self,
        _local: &Metadata,
        _out: &mut HandshakeOutput,
    ) -> Result<(), MechanismError> {
        Ok(())
    }

    /// A handshake command from the peer (ERROR commands are handled by the connection).
    fn handle_command(
        &mut self,
        command: RawCommand,
        local: &Metadata,
        out: &mut HandshakeOutput,
    ) -> Result<Progress, MechanismError>;

    /// The application let in the client whose credentials [`Progress::Authenticate`]
    /// presented: go on with the handshake.
    fn allowed(
        &mut self,
        _local: &Metadata,
        _out: &mut HandshakeOutput,
    ) -> Result<Progress, MechanismError> {
        Err(MechanismError::UnexpectedCommand {
            mechanism: self.name(),
            command: "authentication decision".into(),
            when: "from a mechanism that asked for none",
        })
    }

    /// What it usually means when the peer closes the transport at this point of the
    /// handshake, for the error the application sees.
    fn closed_hint(&self) -> Option<&'static str> {
        None
    }

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
    /// Turns one outgoing frame (message part or command) into the body of the frame that
    /// carries it on the wire (sent as one final message frame, as libzmq sends CURVE's
    /// MESSAGE command; [`open`](Self::open) must take either frame kind).
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
    /// The application's authenticator refused the client; the client is sent an ERROR
    /// command with the status code (all libzmq peers expect).
    #[error("{mechanism} handshake: the authenticator refused the client ({status}): {text}")]
    Denied {
        /// Our mechanism.
        mechanism: MechanismName,
        /// The ZAP status.
        status: AuthStatus,
        /// The authenticator's reason.
        text: String,
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
    /// The reason an ERROR command gives the peer, for refusals it should hear about.
    pub(crate) fn peer_reason(&self) -> Option<String> {
        match self {
            Self::Rejected { reason, .. } => Some(reason.clone()),
            Self::Denied { status, .. } => Some(status.code().to_string()),
            _ => None,
        }
    }

    /// Wraps a parse error of a handshake command.
    pub fn malformed(mechanism: MechanismName, source: impl Into<CommandError>) -> Self {
        Self::Malformed {
            mechanism,
            source: source.into(),
        }
    }
}
