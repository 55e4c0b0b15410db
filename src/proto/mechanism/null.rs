//! The NULL mechanism (RFC 23/37 "The NULL Security Mechanism"): no authentication, no
//! encryption; each side sends READY with its metadata.

use super::{HandshakeOutput, Mechanism, MechanismError, Progress};
use crate::proto::command::{Command, RawCommand};
use crate::proto::config::Role;
use crate::proto::greeting::MechanismName;
use crate::proto::metadata::Metadata;

/// NULL handshake. Following the RFC grammar, the client sends READY first; the server
/// answers with READY once it has accepted the client's metadata, or with ERROR if not.
#[derive(Debug)]
pub struct NullMechanism {
    role: Role,
    peer_ready: bool,
}

impl NullMechanism {
    /// A NULL handshake for the side that connected (client) or accepted (server).
    pub fn new(role: Role) -> Self {
        Self {
            role,
            peer_ready: false,
        }
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
            Ok(Command::Ready(metadata)) => Ok(Progress::PeerReady(metadata)),
            Ok(_) => unreachable!("the name was READY"),
            Err(err) => Err(MechanismError::malformed(MechanismName::NULL, err)),
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
