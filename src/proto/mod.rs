//! The ZMTP layer: one peer, bytes in and bytes out.
//!
//! [`Connection`] is the machine an adapter drives; the modules below it are the pieces it is
//! built from, public so that fuzzers, tests and other implementations can use each alone.

mod command;
mod config;
mod connection;
mod frame;
mod greeting;
pub mod mechanism;
mod metadata;
mod recv_buffer;
mod socket_type;
mod timers;

pub use command::{Command, CommandError, MAX_PING_CONTEXT, RawCommand};
pub use config::{
    Config, ConfigError, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_MSG_SIZE, HeartbeatConfig, Role,
};
pub use connection::{
    Connection, ConnectionError, Event, MAX_HANDSHAKE_COMMAND, PeerInfo, SendError,
};
pub use frame::{
    DEFAULT_ZERO_COPY_THRESHOLD, Frame, FrameDecoder, FrameEncoder, FrameError, FrameHeader,
    FrameKind, MAX_WIRE_SIZE, encode_frame, encode_header, header_len,
};
pub use greeting::{
    GREETING_LEN, Greeting, GreetingDecoder, GreetingError, MechanismName, ZmtpVersion,
};
pub use mechanism::{Mechanism, MechanismError};
pub use metadata::{IDENTITY, Metadata, MetadataError, SOCKET_TYPE};
pub use socket_type::SocketType;
