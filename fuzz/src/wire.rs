//! Valid ZMTP octets, built with the library's own encoders where it has them and by hand
//! (from RFC 37's worked example) where the point is to check those encoders.

use bytes::BytesMut;
use zmq_sansio::proto::{
    Command, Config, FrameKind, Greeting, MechanismName, Metadata, SocketType, encode_frame,
};

/// RFC 37 worked example: the DEALER client's READY command frame (41 octets of body).
pub const RFC_DEALER_READY_FRAME: &[u8] =
    b"\x04\x29\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\x00";

/// RFC 37 worked example: the ROUTER server's READY command frame (28 octets of body).
pub const RFC_ROUTER_READY_FRAME: &[u8] = b"\x04\x1c\x05READY\x0bSocket-Type\x00\x00\x00\x06ROUTER";

/// The identity that scripted peers announce when their socket type announces one.
pub const PEER_IDENTITY: &[u8] = b"peer-1";

/// A greeting for version 3.`minor` with the given mechanism.
pub fn greeting(mechanism: MechanismName, as_server: bool, minor: u8) -> [u8; 64] {
    Greeting {
        major: 3,
        minor,
        mechanism,
        as_server,
    }
    .encode()
}

/// The NULL greeting of RFC 37's worked example (version 3.`minor`, as-server 0).
pub fn null_greeting(minor: u8) -> Vec<u8> {
    greeting(MechanismName::NULL, false, minor).to_vec()
}

/// One frame, header included.
pub fn frame(kind: FrameKind, body: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_frame(kind, body, &mut out);
    out.to_vec()
}

/// A command frame.
pub fn command(command: &Command) -> Vec<u8> {
    frame(FrameKind::Command, &command.to_bytes())
}

/// A multipart message: MORE on every frame but the last.
pub fn message<B: AsRef<[u8]>>(frames: &[B]) -> Vec<u8> {
    let last = frames.len().saturating_sub(1);
    frames
        .iter()
        .enumerate()
        .flat_map(|(i, body)| frame(FrameKind::Message { more: i < last }, body.as_ref()))
        .collect()
}

/// The metadata a peer of this socket type sends in READY, exactly as this library would
/// (with [`PEER_IDENTITY`] where the type announces an identity).
pub fn peer_metadata(socket_type: SocketType) -> Metadata {
    let mut config = Config::new(socket_type);
    config
        .set_identity(PEER_IDENTITY)
        .expect("a valid identity");
    config.local_metadata()
}

/// The READY command frame a peer of this socket type sends.
pub fn ready(socket_type: SocketType) -> Vec<u8> {
    command(&Command::Ready(peer_metadata(socket_type)))
}
