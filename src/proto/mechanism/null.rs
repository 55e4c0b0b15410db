//! The NULL mechanism (RFC 23/37 "The NULL Security Mechanism"): no authentication, no
//! encryption; each side sends READY with its metadata.

use super::{HandshakeOutput, Mechanism, MechanismError, Progress};
use crate::proto::command::{Command, RawCommand};
use crate::proto::config::Role;
use crate::proto::greeting::MechanismName;
use crate::proto::metadata::Metadata;
use crate::security::Credentials;

/// NULL handshake. Following the RFC grammar, the client sends READY first; the server
/// answers with READY once it has accepted the client's metadata, or with ERROR if not.
#[derive(Debug)]
pub struct NullMechanism {
    role: Role,
    peer_ready: bool,
    /// The accepting side asks the application about each client (a NULL socket with an
    /// authenticator, as libzmq's with a ZAP domain).
    ask: bool,
    /// The client's metadata, kept while the application decides.
    waiting: Option<Metadata>,
}

impl NullMechanism {
    /// A NULL handshake for the side that connected (client) or accepted (server).
    pub fn new(role: Role) -> Self {
        Self {
            role,
            peer_ready: false,
            ask: false,
            waiting: None,
        }
    }

    /// On the accepting side, asks the application about each client before accepting it.
    pub fn authenticating(mut self, ask: bool) -> Self {
        self.ask = ask && self.role == Role::Server;
        self
    }
}

impl Mechanism for NullMechanism {
    fn name(&self) -> MechanismName {
        MechanismName::NULL
    }

    fn as_server(&self) -> bool {
        // NULL has no roles in the greeting: the RFC requires zero on both sides.
        false
    }

    fn start(&mut self, local: &Metadata, out: &mut HandshakeOutput) -> Result<(), MechanismError> {
        if self.role == Role::Client {
            out.send(&Command::Ready(local.clone()));
        }
        Ok(())
    }

    fn handle_command(
        &mut self,
        command: RawCommand,
        _local: &Metadata,
        _out: &mut HandshakeOutput,
    ) -> Result<Progress, MechanismError> {
        if command.name != "READY" || self.peer_ready {
            return Err(MechanismError::UnexpectedCommand {
                mechanism: MechanismName::NULL,
                command: command.name_str(),
                when: if self.peer_ready {
                    "after the peer's READY"
                } else {
                    "instead of READY"
                },
            });
        }
        self.peer_ready = true;
        match Command::interpret(command) {
            Ok(Command::Ready(metadata)) if self.ask => {
                self.waiting = Some(metadata);
                Ok(Progress::Authenticate(Credentials::Null))
            }
            Ok(Command::Ready(metadata)) => Ok(Progress::PeerReady(metadata)),
            Ok(_) => unreachable!("the name was READY"),
            Err(err) => Err(MechanismError::malformed(MechanismName::NULL, err)),
        }
    }

    fn allowed(
        &mut self,
        _local: &Metadata,
        _out: &mut HandshakeOutput,
    ) -> Result<Progress, MechanismError> {
        match self.waiting.take() {
            Some(metadata) => Ok(Progress::PeerReady(metadata)),
            None => Err(MechanismError::UnexpectedCommand {
                mechanism: MechanismName::NULL,
                command: "authentication decision".into(),
                when: "before the client's READY",
            }),
        }
    }

    fn accept(
        self: Box<Self>,
        local: &Metadata,
        out: &mut HandshakeOutput,
    ) -> Result<Option<Box<dyn super::FrameCipher>>, MechanismError> {
        if self.role == Role::Server {
            out.send(&Command::Ready(local.clone()));
        }
        Ok(None)
    }
}
