//! ZMTP commands: a name and data inside one command frame (RFC 23/37 "Commands").
//!
//! [`RawCommand`] splits any command body into name and data; [`Command`] interprets the
//! commands that ZMTP itself defines. Mechanism commands (HELLO, WELCOME, INITIATE, MESSAGE …)
//! stay raw and are interpreted by their mechanism.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

use super::metadata::{Metadata, MetadataError};

/// Longest PING/PONG context (RFC 37).
pub const MAX_PING_CONTEXT: usize = 16;

/// A command body split into its name and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawCommand {
    /// The command name (1 to 255 ASCII letters).
    pub name: Bytes,
    /// Everything after the name.
    pub data: Bytes,
}

impl RawCommand {
    /// Splits a command frame body, checking the name.
    pub fn parse(mut body: Bytes) -> Result<Self, CommandError> {
        if body.is_empty() {
            return Err(CommandError::Empty);
        }
        let name_len = usize::from(body.get_u8());
        if name_len == 0 {
            return Err(CommandError::EmptyName);
        }
        if name_len > body.len() {
            return Err(CommandError::Truncated {
                what: "command name",
                needed: name_len,
                available: body.len(),
            });
        }
        let name = body.split_to(name_len);
        if !name.iter().all(u8::is_ascii_alphabetic) {
            return Err(CommandError::BadName(name.escape_ascii().to_string()));
        }
        Ok(Self { name, data: body })
    }

    /// Writes a command body with this name and data.
    pub fn encode(name: &str, data: &[u8], out: &mut BytesMut) {
        debug_assert!(!name.is_empty() && name.len() <= 255);
        out.reserve(1 + name.len() + data.len());
        out.put_u8(name.len() as u8);
        out.put_slice(name.as_bytes());
        out.put_slice(data);
    }

    /// The name as text, for messages.
    pub fn name_str(&self) -> String {
        self.name.escape_ascii().to_string()
    }
}

/// The commands ZMTP 3.0/3.1 defines, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// Handshake completion with the sender's metadata.
    Ready(Metadata),
    /// Fatal error; the reason is for logs.
    Error(Bytes),
    /// A subscription (ZMTP 3.1).
    Subscribe(Bytes),
    /// Cancels one earlier subscription (ZMTP 3.1).
    Cancel(Bytes),
    /// Heartbeat request (ZMTP 3.1).
    Ping {
        /// Time to live in tenths of a second (0: none).
        ttl_deciseconds: u16,
        /// Up to 16 octets to echo in the PONG.
        context: Bytes,
    },
    /// Heartbeat reply echoing the PING's context.
    Pong(Bytes),
    /// Any other command: mechanism commands, or ones newer than we know (ignored in traffic).
    Other(RawCommand),
}

/// Why a command was refused as malformed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CommandError {
    /// A command frame with no body at all.
    #[error("empty command frame")]
    Empty,
    /// The name-length octet is zero.
    #[error("command name is empty")]
    EmptyName,
    /// The name has a character that is not an ASCII letter.
    #[error("command name \"{0}\" has characters other than ASCII letters")]
    BadName(String),
    /// A field runs past the end of the command.
    #[error("truncated {what}: {needed} octets announced, {available} present")]
    Truncated {
        /// The field that was cut.
        what: &'static str,
        /// Octets needed.
        needed: usize,
        /// Octets present.
        available: usize,
    },
    /// Octets after the last field of a fixed-layout command.
    #[error("{0} octets of trailing data after the {1} command")]
    Trailing(usize, &'static str),
    /// A PING or PONG context longer than 16 octets.
    #[error("{0} context of {1} octets (16 at most)")]
    ContextTooLong(&'static str, usize),
    /// READY metadata failed to parse.
    #[error("bad READY metadata: {0}")]
    Metadata(#[from] MetadataError),
}

impl Command {
    /// Parses a command frame body.
    pub fn parse(body: Bytes) -> Result<Self, CommandError> {
        Self::interpret(RawCommand::parse(body)?)
    }

    /// Interprets a split command.
    pub fn interpret(raw: RawCommand) -> Result<Self, CommandError> {
        let RawCommand { name, mut data } = raw;
        Ok(match &name[..] {
            b"READY" => Self::Ready(Metadata::parse(data)?),
            b"ERROR" => {
                let reason = take_short_string(&mut data, "ERROR reason")?;
                if !data.is_empty() {
                    return Err(CommandError::Trailing(data.len(), "ERROR"));
                }
                Self::Error(reason)
            }
            b"SUBSCRIBE" => Self::Subscribe(data),
            b"CANCEL" => Self::Cancel(data),
            b"PING" => {
                if data.len() < 2 {
                    return Err(CommandError::Truncated {
                        what: "PING ttl",
                        needed: 2,
                        available: data.len(),
                    });
                }
                let ttl_deciseconds = data.get_u16();
                check_context("PING", &data)?;
                Self::Ping {
                    ttl_deciseconds,
                    context: data,
                }
            }
            b"PONG" => {
                check_context("PONG", &data)?;
                Self::Pong(data)
            }
            _ => Self::Other(RawCommand { name, data }),
        })
    }

    /// The command name.
    pub fn name(&self) -> &[u8] {
        match self {
            Self::Ready(_) => b"READY",
            Self::Error(_) => b"ERROR",
            Self::Subscribe(_) => b"SUBSCRIBE",
            Self::Cancel(_) => b"CANCEL",
            Self::Ping { .. } => b"PING",
            Self::Pong(_) => b"PONG",
            Self::Other(raw) => &raw.name,
        }
    }

    /// Writes the command body (name and data), ready to be framed as a command frame.
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Self::Ready(meta) => {
                let mut data = BytesMut::with_capacity(meta.encoded_len());
                meta.encode(&mut data);
                RawCommand::encode("READY", &data, out);
            }
            Self::Error(reason) => {
                let reason = &reason[..reason.len().min(255)];
                let mut data = Vec::with_capacity(1 + reason.len());
                data.push(reason.len() as u8);
                data.extend_from_slice(reason);
                RawCommand::encode("ERROR", &data, out);
            }
            Self::Subscribe(topic) => RawCommand::encode("SUBSCRIBE", topic, out),
            Self::Cancel(topic) => RawCommand::encode("CANCEL", topic, out),
            Self::Ping {
                ttl_deciseconds,
                context,
            } => {
                let mut data = Vec::with_capacity(2 + context.len());
                data.extend_from_slice(&ttl_deciseconds.to_be_bytes());
                data.extend_from_slice(context);
                RawCommand::encode("PING", &data, out);
            }
            Self::Pong(context) => RawCommand::encode("PONG", context, out),
            Self::Other(raw) => {
                out.put_u8(raw.name.len() as u8);
                out.put_slice(&raw.name);
                out.put_slice(&raw.data);
            }
        }
    }

    /// The encoded body as one buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }
}

fn take_short_string(data: &mut Bytes, what: &'static str) -> Result<Bytes, CommandError> {
    if data.is_empty() {
        return Err(CommandError::Truncated {
            what,
            needed: 1,
            available: 0,
        });
    }
    let len = usize::from(data.get_u8());
    if len > data.len() {
        return Err(CommandError::Truncated {
            what,
            needed: len,
            available: data.len(),
        });
    }
    Ok(data.split_to(len))
}

fn check_context(command: &'static str, context: &[u8]) -> Result<(), CommandError> {
    if context.len() > MAX_PING_CONTEXT {
        return Err(CommandError::ContextTooLong(command, context.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::SocketType;

    /// READY body from RFC 37's worked example (the ROUTER reply, octets after the size).
    const RFC_ROUTER_READY: &[u8] = b"\x05READY\x0bSocket-Type\x00\x00\x00\x06ROUTER";

    #[test]
    fn parses_rfc_ready() {
        let Command::Ready(meta) = Command::parse(Bytes::from_static(RFC_ROUTER_READY)).unwrap()
        else {
            panic!("not READY");
        };
        assert_eq!(meta.socket_type(), Some(SocketType::Router));
        assert_eq!(RFC_ROUTER_READY.len(), 28, "the RFC's size octet says 28");
    }

    #[test]
    fn round_trips_every_command() {
        let mut meta = Metadata::new();
        meta.insert("Socket-Type", "SUB").unwrap();
        let commands = [
            Command::Ready(meta),
            Command::Error(Bytes::from_static(b"no thanks")),
            Command::Subscribe(Bytes::from_static(b"topic")),
            Command::Cancel(Bytes::new()),
            Command::Ping {
                ttl_deciseconds: 300,
                context: Bytes::from_static(b"ctx"),
            },
            Command::Pong(Bytes::from_static(b"ctx")),
            Command::Other(RawCommand {
                name: Bytes::from_static(b"HELLO"),
                data: Bytes::from_static(b"\x01\x02"),
            }),
        ];
        for command in commands {
            assert_eq!(Command::parse(command.to_bytes()).unwrap(), command);
        }
    }

    #[test]
    fn wire_forms_match_the_rfc_grammar() {
        let ping = Command::Ping {
            ttl_deciseconds: 0x0102,
            context: Bytes::from_static(b"c"),
        };
        assert_eq!(&ping.to_bytes()[..], b"\x04PING\x01\x02c");
        assert_eq!(
            &Command::Subscribe(Bytes::from_static(b"A")).to_bytes()[..],
            b"\x09SUBSCRIBEA"
        );
        assert_eq!(
            &Command::Error(Bytes::from_static(b"bad")).to_bytes()[..],
            b"\x05ERROR\x03bad"
        );
    }

    #[test]
    fn truncated_commands_are_refused() {
        let cases: &[&[u8]] = &[
            b"",
            b"\x05REA",
            b"\x04PING\x01",
            b"\x05ERROR",
            b"\x05ERROR\x05ab",
        ];
        for case in cases {
            let err = Command::parse(Bytes::copy_from_slice(case)).unwrap_err();
            assert!(
                matches!(err, CommandError::Truncated { .. } | CommandError::Empty),
                "{case:?}: {err}"
            );
        }
    }

    #[test]
    fn malformed_names_and_fields_are_refused() {
        assert_eq!(
            Command::parse(Bytes::from_static(b"\x00")),
            Err(CommandError::EmptyName)
        );
        assert!(matches!(
            Command::parse(Bytes::from_static(b"\x04PI1G")),
            Err(CommandError::BadName(_))
        ));
        assert!(matches!(
            Command::parse(Bytes::from_static(b"\x05ERROR\x01ab")),
            Err(CommandError::Trailing(1, "ERROR"))
        ));
        let long_ctx = [&b"\x04PONG"[..], &[0u8; 17]].concat();
        assert!(matches!(
            Command::parse(Bytes::from(long_ctx)),
            Err(CommandError::ContextTooLong("PONG", 17))
        ));
        assert!(matches!(
            Command::parse(Bytes::from_static(b"\x05READY\x01A\x00\x00\x00\x05ab")),
            Err(CommandError::Metadata(MetadataError::BadValueLength { .. }))
        ));
    }

    #[test]
    fn unknown_commands_are_kept_raw() {
        let parsed = Command::parse(Bytes::from_static(b"\x04JOINgroup")).unwrap();
        assert_eq!(parsed.name(), b"JOIN");
        assert!(matches!(parsed, Command::Other(raw) if raw.data == "group"));
    }
}
