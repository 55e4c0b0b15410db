//! The 64-octet greeting that opens every ZMTP 3.x connection (RFC 23/37, "Formal Grammar").
//!
//! ```text
//! 0      1..=8    9      10     11     12..=31    32         33..=63
//! 0xFF   padding  0x7F   major  minor  mechanism  as-server  filler
//! ```

use std::fmt;

use thiserror::Error;

/// Length of a full greeting.
pub const GREETING_LEN: usize = 64;

const SIGNATURE_FIRST: usize = 0;
const SIGNATURE_LAST: usize = 9;
const MAJOR: usize = 10;
const MINOR: usize = 11;
const MECHANISM: std::ops::Range<usize> = 12..32;
const AS_SERVER: usize = 32;

/// The protocol revision spoken on a connection once both greetings are known.
///
/// We announce 3.1 and speak 3.0 to a peer that announces 3.0: subscriptions then travel as
/// `0x01`/`0x00`-prefixed messages and no PING is sent. Peers announcing a higher version are
/// treated as 3.1, as the RFC requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ZmtpVersion {
    /// ZMTP 3.0 (RFC 23).
    V3_0,
    /// ZMTP 3.1 (RFC 37) or later.
    V3_1,
}

impl ZmtpVersion {
    /// The revision we use towards a peer that announced `major.minor` (major ≥ 3).
    pub fn negotiate(major: u8, minor: u8) -> Self {
        if major == 3 && minor == 0 {
            Self::V3_0
        } else {
            Self::V3_1
        }
    }
}

impl fmt::Display for ZmtpVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V3_0 => "ZMTP/3.0",
            Self::V3_1 => "ZMTP/3.1",
        })
    }
}

/// A security mechanism name as carried in the greeting: 1 to 20 characters from
/// `A-Z 0-9 - _ . +`, null-padded on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MechanismName {
    bytes: [u8; 20],
    len: u8,
}

impl MechanismName {
    /// The NULL mechanism (no security).
    pub const NULL: Self = Self::from_static("NULL");
    /// The PLAIN mechanism (RFC 24).
    pub const PLAIN: Self = Self::from_static("PLAIN");
    /// The CURVE mechanism (RFC 25/26).
    pub const CURVE: Self = Self::from_static("CURVE");

    /// Validates a name; `None` if it is empty, longer than 20 or has a forbidden character.
    pub fn new(name: &str) -> Option<Self> {
        let raw = name.as_bytes();
        if raw.is_empty() || raw.len() > 20 || !raw.iter().all(|&b| is_mechanism_char(b)) {
            return None;
        }
        let mut bytes = [0; 20];
        bytes[..raw.len()].copy_from_slice(raw);
        Some(Self {
            bytes,
            len: raw.len() as u8,
        })
    }

    const fn from_static(name: &str) -> Self {
        let raw = name.as_bytes();
        let mut bytes = [0; 20];
        let mut i = 0;
        while i < raw.len() {
            bytes[i] = raw[i];
            i += 1;
        }
        Self {
            bytes,
            len: raw.len() as u8,
        }
    }

    /// Parses the 20-octet field of a greeting.
    fn from_field(field: &[u8; 20]) -> Result<Self, GreetingError> {
        let len = field.iter().position(|&b| b == 0).unwrap_or(20);
        let (name, padding) = field.split_at(len);
        let valid = len > 0
            && name.iter().all(|&b| is_mechanism_char(b))
            && padding.iter().all(|&b| b == 0);
        if !valid {
            return Err(GreetingError::BadMechanism {
                field: field.escape_ascii().to_string(),
            });
        }
        Ok(Self {
            bytes: *field,
            len: len as u8,
        })
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (checked on construction), so this cannot fail.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("?")
    }
}

fn is_mechanism_char(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.' | b'+')
}

impl fmt::Debug for MechanismName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MechanismName({})", self.as_str())
    }
}

impl fmt::Display for MechanismName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decoded greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Greeting {
    /// Announced major version (3 or more once decoded successfully).
    pub major: u8,
    /// Announced minor version.
    pub minor: u8,
    /// Security mechanism the sender uses.
    pub mechanism: MechanismName,
    /// Whether the sender acts as server in the security handshake.
    pub as_server: bool,
}

impl Greeting {
    /// Our own greeting: version 3.1.
    pub fn new(mechanism: MechanismName, as_server: bool) -> Self {
        Self {
            major: 3,
            minor: 1,
            mechanism,
            as_server,
        }
    }

    /// The revision to use towards the sender of this greeting.
    pub fn version(&self) -> ZmtpVersion {
        ZmtpVersion::negotiate(self.major, self.minor)
    }

    /// The 64 octets on the wire (padding and filler zero).
    pub fn encode(&self) -> [u8; GREETING_LEN] {
        let mut out = [0; GREETING_LEN];
        out[SIGNATURE_FIRST] = 0xFF;
        out[SIGNATURE_LAST] = 0x7F;
        out[MAJOR] = self.major;
        out[MINOR] = self.minor;
        out[MECHANISM].copy_from_slice(&self.mechanism.bytes);
        out[AS_SERVER] = u8::from(self.as_server);
        out
    }

    /// Decodes a complete greeting.
    pub fn decode(bytes: &[u8; GREETING_LEN]) -> Result<Self, GreetingError> {
        let mut decoder = GreetingDecoder::new();
        match decoder.feed(bytes)? {
            (_, Some(greeting)) => Ok(greeting),
            (_, None) => unreachable!("64 octets always complete a greeting"),
        }
    }
}

/// Why a peer's greeting was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum GreetingError {
    /// The signature is not `0xFF … 0x7F`: not a ZMTP 2.0+ peer (perhaps ZMTP 1.0, or not ZeroMQ).
    #[error(
        "bad greeting signature: octet {offset} is {found:#04x}, expected {expected:#04x} (ZMTP 1.0 peer, or not ZeroMQ at all)"
    )]
    BadSignature {
        /// Offset of the offending octet (0 or 9).
        offset: usize,
        /// What the peer sent.
        found: u8,
        /// What ZMTP 3 requires there.
        expected: u8,
    },
    /// The peer speaks ZMTP 1.0/2.0 (major version below 3), which we do not downgrade to.
    #[error(
        "peer speaks ZMTP major version {major} (libzmq 2.x/3.x era); only ZMTP 3.0 and later are supported"
    )]
    UnsupportedVersion {
        /// The announced major version.
        major: u8,
    },
    /// The mechanism field is not a valid null-padded name.
    #[error("malformed mechanism field in greeting: \"{field}\"")]
    BadMechanism {
        /// The field, escaped for display.
        field: String,
    },
    /// The as-server octet is neither 0 nor 1.
    #[error("malformed as-server octet in greeting: {0:#04x} (expected 0x00 or 0x01)")]
    BadAsServer(u8),
}

/// Decodes a greeting that may arrive in pieces of any size, down to one octet.
///
/// Errors are reported as soon as the offending octet arrives, so a ZMTP 1.0 peer or a
/// stray HTTP client is turned away after its first octet rather than after 64.
#[derive(Debug, Clone)]
pub struct GreetingDecoder {
    buf: [u8; GREETING_LEN],
    len: usize,
}

impl Default for GreetingDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl GreetingDecoder {
    /// A decoder that has seen nothing yet.
    pub fn new() -> Self {
        Self {
            buf: [0; GREETING_LEN],
            len: 0,
        }
    }

    /// How many octets have been received so far.
    pub fn received(&self) -> usize {
        self.len
    }

    /// Takes octets from `input`; returns how many it consumed and, once all 64 have
    /// arrived, the greeting. Never consumes past the greeting.
    pub fn feed(&mut self, input: &[u8]) -> Result<(usize, Option<Greeting>), GreetingError> {
        let take = input.len().min(GREETING_LEN - self.len);
        let start = self.len;
        self.buf[start..start + take].copy_from_slice(&input[..take]);
        self.len += take;
        self.check_prefix(start)?;
        if self.len < GREETING_LEN {
            return Ok((take, None));
        }
        let mut mechanism = [0; 20];
        mechanism.copy_from_slice(&self.buf[MECHANISM]);
        let greeting = Greeting {
            major: self.buf[MAJOR],
            minor: self.buf[MINOR],
            mechanism: MechanismName::from_field(&mechanism)?,
            as_server: match self.buf[AS_SERVER] {
                0 => false,
                1 => true,
                other => return Err(GreetingError::BadAsServer(other)),
            },
        };
        Ok((take, Some(greeting)))
    }

    /// Checks the single-octet fields that arrived since `start`.
    fn check_prefix(&self, start: usize) -> Result<(), GreetingError> {
        let arrived = start..self.len;
        for (offset, expected) in [(SIGNATURE_FIRST, 0xFF), (SIGNATURE_LAST, 0x7F)] {
            let found = self.buf[offset];
            if arrived.contains(&offset) && found != expected {
                return Err(GreetingError::BadSignature {
                    offset,
                    found,
                    expected,
                });
            }
        }
        if arrived.contains(&MAJOR) && self.buf[MAJOR] < 3 {
            return Err(GreetingError::UnsupportedVersion {
                major: self.buf[MAJOR],
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The NULL greeting of RFC 37's worked example, octet by octet.
    fn rfc_null_greeting() -> [u8; 64] {
        let mut g = [0u8; 64];
        g[0] = 0xFF;
        g[9] = 0x7F;
        g[10] = 3;
        g[11] = 1;
        g[12..16].copy_from_slice(b"NULL");
        g
    }

    #[test]
    fn encodes_the_rfc_worked_example() {
        let ours = Greeting::new(MechanismName::NULL, false).encode();
        assert_eq!(ours, rfc_null_greeting());
    }

    #[test]
    fn decodes_one_octet_at_a_time() {
        let bytes = rfc_null_greeting();
        let mut decoder = GreetingDecoder::new();
        for (i, b) in bytes.iter().enumerate() {
            let (used, done) = decoder.feed(std::slice::from_ref(b)).unwrap();
            assert_eq!(used, 1);
            assert_eq!(done.is_some(), i == 63);
        }
        let g = Greeting::decode(&bytes).unwrap();
        assert_eq!(g.mechanism, MechanismName::NULL);
        assert_eq!(g.version(), ZmtpVersion::V3_1);
        assert!(!g.as_server);
    }

    #[test]
    fn does_not_consume_past_the_greeting() {
        let mut input = rfc_null_greeting().to_vec();
        input.extend_from_slice(&[0x04, 0x00]);
        let (used, done) = GreetingDecoder::new().feed(&input).unwrap();
        assert_eq!(used, 64);
        assert!(done.is_some());
    }

    #[test]
    fn padding_is_not_significant() {
        let mut bytes = rfc_null_greeting();
        bytes[1..9].copy_from_slice(&[0xAB; 8]);
        assert!(Greeting::decode(&bytes).is_ok());
    }

    #[test]
    fn zmtp_3_0_peer_negotiates_down_and_future_versions_up() {
        let mut bytes = rfc_null_greeting();
        bytes[11] = 0;
        assert_eq!(
            Greeting::decode(&bytes).unwrap().version(),
            ZmtpVersion::V3_0
        );
        bytes[10] = 4;
        assert_eq!(
            Greeting::decode(&bytes).unwrap().version(),
            ZmtpVersion::V3_1
        );
    }

    #[test]
    fn bad_first_octet_is_refused_immediately() {
        let err = GreetingDecoder::new().feed(b"G").unwrap_err();
        assert_eq!(
            err,
            GreetingError::BadSignature {
                offset: 0,
                found: b'G',
                expected: 0xFF
            }
        );
        assert!(err.to_string().contains("signature"));
    }

    #[test]
    fn bad_signature_tail_is_refused() {
        let mut bytes = rfc_null_greeting();
        bytes[9] = 0x7E;
        let err = GreetingDecoder::new().feed(&bytes[..10]).unwrap_err();
        assert!(matches!(err, GreetingError::BadSignature { offset: 9, .. }));
    }

    #[test]
    fn old_major_versions_are_refused_at_octet_ten() {
        for major in [0u8, 1, 2] {
            let mut bytes = rfc_null_greeting();
            bytes[10] = major;
            let err = GreetingDecoder::new().feed(&bytes[..11]).unwrap_err();
            assert_eq!(err, GreetingError::UnsupportedVersion { major });
            assert!(err.to_string().contains(&format!("version {major}")));
        }
    }

    #[test]
    fn malformed_mechanism_fields_are_refused() {
        for field in [&b""[..], b"null", b"NU\0LL", b"N L"] {
            let mut bytes = rfc_null_greeting();
            bytes[12..32].fill(0);
            bytes[12..12 + field.len()].copy_from_slice(field);
            let err = Greeting::decode(&bytes).unwrap_err();
            assert!(
                matches!(err, GreetingError::BadMechanism { .. }),
                "{field:?}"
            );
        }
    }

    #[test]
    fn as_server_must_be_zero_or_one() {
        let mut bytes = rfc_null_greeting();
        bytes[32] = 2;
        assert_eq!(Greeting::decode(&bytes), Err(GreetingError::BadAsServer(2)));
        bytes[32] = 1;
        assert!(Greeting::decode(&bytes).unwrap().as_server);
    }

    #[test]
    fn mechanism_names_validate() {
        assert_eq!(MechanismName::new("CURVE"), Some(MechanismName::CURVE));
        assert_eq!(
            MechanismName::new("X-TEST_1.0+"),
            MechanismName::new("X-TEST_1.0+")
        );
        assert!(MechanismName::new("").is_none());
        assert!(MechanismName::new("lower").is_none());
        assert!(MechanismName::new("TWENTY-ONE-CHARACTERS").is_none());
        assert_eq!(MechanismName::PLAIN.to_string(), "PLAIN");
    }
}
