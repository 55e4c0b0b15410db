//! Connection metadata: the name/value properties carried by READY (and by PLAIN/CURVE's
//! INITIATE), RFC 23/37 "Connection Metadata".
//!
//! ```text
//! property = name-len(1) name(1..255) value-len(4, network order) value(0..2^31-1)
//! ```

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

use super::socket_type::SocketType;

/// Property that names the sender's socket type.
pub const SOCKET_TYPE: &str = "Socket-Type";
/// Property that carries the sender's routing identity.
pub const IDENTITY: &str = "Identity";

const MAX_VALUE_LEN: u32 = i32::MAX as u32;

/// An ordered list of metadata properties. Names compare case-insensitively; properties we
/// do not interpret are kept, so applications can read them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    properties: Vec<(String, Bytes)>,
}

/// Why a metadata block (or a property added to one) was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// A property ends before its name does.
    #[error(
        "metadata truncated inside a property name ({needed} octets announced, {available} left)"
    )]
    TruncatedName {
        /// Octets the name-length octet announced.
        needed: usize,
        /// Octets left in the command.
        available: usize,
    },
    /// A property ends inside its 4-octet value length or its value.
    #[error(
        "metadata property \"{name}\" announces a {needed}-octet value but {available} octets are left"
    )]
    BadValueLength {
        /// The property's name.
        name: String,
        /// Octets the value-length field announced (or 4 for a cut length field).
        needed: u64,
        /// Octets left in the command.
        available: usize,
    },
    /// Names are 1 to 255 characters.
    #[error("metadata property name is empty")]
    EmptyName,
    /// A name used a character outside `A-Z a-z 0-9 - _ . +`.
    #[error("metadata property name \"{0}\" has a character outside A-Z a-z 0-9 - _ . +")]
    BadName(String),
    /// A name longer than 255 octets cannot be encoded.
    #[error("metadata property name is {0} octets long (255 at most)")]
    NameTooLong(usize),
    /// Values are limited to 2^31-1 octets.
    #[error("metadata property \"{name}\" value of {len} octets is above 2^31-1")]
    ValueTooLong {
        /// The property's name.
        name: String,
        /// The value's length.
        len: u64,
    },
}

impl Metadata {
    /// No properties.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a property after checking its name and length.
    pub fn insert(&mut self, name: &str, value: impl Into<Bytes>) -> Result<(), MetadataError> {
        let value = value.into();
        check_name(name.as_bytes())?;
        if value.len() as u64 > u64::from(MAX_VALUE_LEN) {
            return Err(MetadataError::ValueTooLong {
                name: name.to_owned(),
                len: value.len() as u64,
            });
        }
        self.properties.push((name.to_owned(), value));
        Ok(())
    }

    /// The first value with this name (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.properties
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The announced `Socket-Type`, raw (it may name a type we do not implement).
    pub fn socket_type_raw(&self) -> Option<&Bytes> {
        self.get(SOCKET_TYPE)
    }

    /// The announced `Socket-Type`, if it is one we implement.
    pub fn socket_type(&self) -> Option<SocketType> {
        self.socket_type_raw()
            .and_then(|raw| SocketType::from_bytes(raw))
    }

    /// The announced `Identity`, if present and non-empty.
    pub fn identity(&self) -> Option<&Bytes> {
        self.get(IDENTITY).filter(|id| !id.is_empty())
    }

    /// All properties in the order received.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Bytes)> {
        self.properties.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.properties.len()
    }

    /// Whether there are no properties.
    pub fn is_empty(&self) -> bool {
        self.properties.is_empty()
    }

    /// Parses a metadata block; values are slices of `data`.
    pub fn parse(mut data: Bytes) -> Result<Self, MetadataError> {
        let mut properties = Vec::new();
        while data.has_remaining() {
            let name_len = usize::from(data.get_u8());
            if name_len > data.len() {
                return Err(MetadataError::TruncatedName {
                    needed: name_len,
                    available: data.len(),
                });
            }
            let name_raw = data.split_to(name_len);
            check_name(&name_raw)?;
            // check_name admits ASCII only, so this conversion is lossless.
            let name = String::from_utf8_lossy(&name_raw).into_owned();
            if data.len() < 4 {
                return Err(MetadataError::BadValueLength {
                    name,
                    needed: 4,
                    available: data.len(),
                });
            }
            let value_len = data.get_u32();
            if value_len > MAX_VALUE_LEN {
                return Err(MetadataError::ValueTooLong {
                    name,
                    len: value_len.into(),
                });
            }
            if value_len as usize > data.len() {
                return Err(MetadataError::BadValueLength {
                    name,
                    needed: value_len.into(),
                    available: data.len(),
                });
            }
            let value = data.split_to(value_len as usize);
            properties.push((name, value));
        }
        Ok(Self { properties })
    }

    /// Octets [`Metadata::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        self.properties
            .iter()
            .map(|(n, v)| 1 + n.len() + 4 + v.len())
            .sum()
    }

    /// Writes the properties in wire form.
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(self.encoded_len());
        for (name, value) in &self.properties {
            out.put_u8(name.len() as u8);
            out.put_slice(name.as_bytes());
            out.put_u32(value.len() as u32);
            out.put_slice(value);
        }
    }
}

fn check_name(name: &[u8]) -> Result<(), MetadataError> {
    if name.is_empty() {
        return Err(MetadataError::EmptyName);
    }
    if name.len() > 255 {
        return Err(MetadataError::NameTooLong(name.len()));
    }
    let valid = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+');
    if !name.iter().all(valid) {
        return Err(MetadataError::BadName(name.escape_ascii().to_string()));
    }
    Ok(())
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.properties
                    .iter()
                    .map(|(n, v)| (n, v.escape_ascii().to_string())),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The DEALER READY properties from RFC 37's worked example (octets 8 to 42).
    const RFC_DEALER_PROPERTIES: &[u8] =
        b"\x0bSocket-Type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\x00";

    #[test]
    fn parses_the_rfc_worked_example() {
        let meta = Metadata::parse(Bytes::from_static(RFC_DEALER_PROPERTIES)).unwrap();
        assert_eq!(meta.socket_type(), Some(SocketType::Dealer));
        assert_eq!(meta.get("identity").map(|v| v.len()), Some(0));
        assert_eq!(meta.identity(), None, "an empty identity means none");
        assert_eq!(meta.len(), 2);
    }

    #[test]
    fn encodes_the_rfc_worked_example() {
        let mut meta = Metadata::new();
        meta.insert(SOCKET_TYPE, "DEALER").unwrap();
        meta.insert(IDENTITY, "").unwrap();
        let mut out = BytesMut::new();
        meta.encode(&mut out);
        assert_eq!(&out[..], RFC_DEALER_PROPERTIES);
        assert_eq!(meta.encoded_len(), RFC_DEALER_PROPERTIES.len());
    }

    #[test]
    fn names_are_case_insensitive_and_unknown_ones_are_kept() {
        let mut raw = BytesMut::new();
        let mut meta = Metadata::new();
        meta.insert("socket-type", "PUB").unwrap();
        meta.insert("X-Colour", "blue").unwrap();
        meta.encode(&mut raw);
        let parsed = Metadata::parse(raw.freeze()).unwrap();
        assert_eq!(parsed.socket_type(), Some(SocketType::Pub));
        assert_eq!(parsed.get("x-colour").unwrap(), "blue");
        assert_eq!(parsed, meta);
    }

    #[test]
    fn truncated_name_is_refused() {
        let err = Metadata::parse(Bytes::from_static(b"\x0bSocket")).unwrap_err();
        assert_eq!(
            err,
            MetadataError::TruncatedName {
                needed: 11,
                available: 6
            }
        );
    }

    #[test]
    fn bad_value_lengths_are_refused() {
        let cut_length = Metadata::parse(Bytes::from_static(b"\x01A\x00\x00")).unwrap_err();
        assert!(matches!(
            cut_length,
            MetadataError::BadValueLength { needed: 4, .. }
        ));
        let too_long =
            Metadata::parse(Bytes::from_static(b"\x01A\x00\x00\x00\x09abc")).unwrap_err();
        assert_eq!(
            too_long,
            MetadataError::BadValueLength {
                name: "A".into(),
                needed: 9,
                available: 3
            }
        );
        assert!(too_long.to_string().contains("9-octet"));
        let huge = Metadata::parse(Bytes::from_static(b"\x01A\x80\x00\x00\x00")).unwrap_err();
        assert!(matches!(huge, MetadataError::ValueTooLong { .. }));
    }

    #[test]
    fn bad_names_are_refused() {
        assert_eq!(
            Metadata::parse(Bytes::from_static(b"\x00\x00\x00\x00\x00")),
            Err(MetadataError::EmptyName)
        );
        assert!(matches!(
            Metadata::parse(Bytes::from_static(b"\x02A \x00\x00\x00\x00")),
            Err(MetadataError::BadName(_))
        ));
        assert!(Metadata::new().insert("with space", "").is_err());
        assert!(Metadata::new().insert(&"n".repeat(256), "").is_err());
    }
}
