//! The CURVE mechanism (RFC 25 ZMTP-CURVE over RFC 26 CurveZMQ): a HELLO/WELCOME/
//! INITIATE/READY handshake that proves both long-term keys and agrees on short-term ones,
//! then every frame sealed in a MESSAGE box with a strictly increasing nonce.
//!
//! Boxes are NaCl's `crypto_box` (X25519, XSalsa20, Poly1305) without NaCl's zero padding:
//! a 16-octet tag, then the ciphertext. Randomness comes from the connection's
//! [`Entropy`](crate::security::Entropy), so a seeded source replays a handshake exactly.

mod boxes;
mod cipher;
mod client;
mod salsa;
mod server;

pub use client::CurveClient;
pub use server::CurveServer;

use super::MechanismError;
use crate::proto::greeting::MechanismName;

const CURVE: MechanismName = MechanismName::CURVE;

/// Nonce prefixes (RFC 26): 16 octets before an 8-octet counter, or 8 before 16 random.
const HELLO_PREFIX: &[u8; 16] = b"CurveZMQHELLO---";
const WELCOME_PREFIX: &[u8; 8] = b"WELCOME-";
const COOKIE_PREFIX: &[u8; 8] = b"COOKIE--";
const VOUCH_PREFIX: &[u8; 8] = b"VOUCH---";
const INITIATE_PREFIX: &[u8; 16] = b"CurveZMQINITIATE";
const READY_PREFIX: &[u8; 16] = b"CurveZMQREADY---";
const CLIENT_MESSAGE_PREFIX: &[u8; 16] = b"CurveZMQMESSAGEC";
const SERVER_MESSAGE_PREFIX: &[u8; 16] = b"CurveZMQMESSAGES";

/// Sizes of the command data (after the name).
const HELLO_LEN: usize = 2 + 72 + 32 + 8 + 80;
const WELCOME_LEN: usize = 16 + 144;
const COOKIE_LEN: usize = 96;
const VOUCH_LEN: usize = 16 + 80;
/// INITIATE without its metadata: cookie, nonce, box of C + vouch.
const INITIATE_MIN_LEN: usize = COOKIE_LEN + 8 + 16 + 32 + VOUCH_LEN;
/// READY without its metadata: nonce, tag.
const READY_MIN_LEN: usize = 8 + 16;

fn rejected(reason: impl Into<String>) -> MechanismError {
    MechanismError::Rejected {
        mechanism: CURVE,
        reason: reason.into(),
    }
}

fn malformed(what: &'static str, len: usize, expected: &'static str) -> MechanismError {
    MechanismError::Rejected {
        mechanism: CURVE,
        reason: format!("malformed {what}: {len} octets of data, {expected} expected"),
    }
}

fn unexpected(command: &crate::proto::RawCommand, when: &'static str) -> MechanismError {
    MechanismError::UnexpectedCommand {
        mechanism: CURVE,
        command: command.name_str(),
        when,
    }
}

/// The 8-octet short nonce in a command, as a number.
fn short_nonce(octets: &[u8]) -> u64 {
    u64::from_be_bytes(octets[..8].try_into().expect("8 octets"))
}

#[cfg(test)]
mod tests;
