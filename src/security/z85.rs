//! Z85 (RFC 32): ZeroMQ's printable encoding of binary keys, four octets to five characters.

use thiserror::Error;

const ALPHABET: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// The value of each ASCII character in the alphabet, `0xFF` where it is not one.
const DECODE: [u8; 128] = {
    let mut table = [0xFFu8; 128];
    let mut i = 0;
    while i < 85 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Why Z85 text or data was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Z85Error {
    /// Z85 encodes whole 4-octet groups only.
    #[error("Z85 encodes data in 4-octet groups; {0} octets is not a multiple of 4")]
    DataLength(usize),
    /// Z85 text comes in whole 5-character groups only.
    #[error("Z85 text comes in 5-character groups; {0} characters is not a multiple of 5")]
    TextLength(usize),
    /// A character outside the Z85 alphabet.
    #[error("{found:?} at position {position} is not a Z85 character")]
    BadCharacter {
        /// The character found.
        found: char,
        /// Its position in the text (in characters).
        position: usize,
    },
    /// A 5-character group whose value does not fit in 32 bits.
    #[error("the Z85 group at position {0} exceeds 32 bits")]
    Overflow(usize),
}

/// Encodes `data` (a multiple of 4 octets long) as Z85 text.
pub fn encode(data: &[u8]) -> Result<String, Z85Error> {
    if !data.len().is_multiple_of(4) {
        return Err(Z85Error::DataLength(data.len()));
    }
    let mut text = String::with_capacity(data.len() / 4 * 5);
    for group in data.chunks_exact(4) {
        let mut value = u32::from_be_bytes(group.try_into().expect("chunks of 4"));
        let mut chars = [0u8; 5];
        for slot in chars.iter_mut().rev() {
            *slot = ALPHABET[(value % 85) as usize];
            value /= 85;
        }
        text.extend(chars.iter().map(|&c| char::from(c)));
    }
    Ok(text)
}

/// Decodes Z85 text (a multiple of 5 characters long).
pub fn decode(text: &str) -> Result<Vec<u8>, Z85Error> {
    let chars = text.as_bytes();
    if let Some((position, found)) = text.char_indices().find(|(_, c)| !c.is_ascii()) {
        return Err(Z85Error::BadCharacter {
            found,
            position: text[..position].chars().count(),
        });
    }
    if !chars.len().is_multiple_of(5) {
        return Err(Z85Error::TextLength(chars.len()));
    }
    let mut data = Vec::with_capacity(chars.len() / 5 * 4);
    for (group_index, group) in chars.chunks_exact(5).enumerate() {
        let mut value: u64 = 0;
        for (offset, &c) in group.iter().enumerate() {
            let digit = DECODE[usize::from(c)];
            if digit == 0xFF {
                return Err(Z85Error::BadCharacter {
                    found: char::from(c),
                    position: group_index * 5 + offset,
                });
            }
            value = value * 85 + u64::from(digit);
        }
        let value = u32::try_from(value).map_err(|_| Z85Error::Overflow(group_index * 5))?;
        data.extend_from_slice(&value.to_be_bytes());
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc32_test_vector() {
        let data = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        assert_eq!(encode(&data).unwrap(), "HelloWorld");
        assert_eq!(decode("HelloWorld").unwrap(), data);
    }

    #[test]
    fn rfc32_reference_keys() {
        // The client key pair from RFC 32's reference code (the CurveZMQ test keys).
        let public = decode("Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID").unwrap();
        assert_eq!(
            public[..8],
            [0xBB, 0x88, 0x47, 0x1D, 0x65, 0xE2, 0x65, 0x9B]
        );
        assert_eq!(
            encode(&public).unwrap(),
            "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
        );
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(encode(&[1, 2, 3]), Err(Z85Error::DataLength(3)));
        assert_eq!(decode("Hello1"), Err(Z85Error::TextLength(6)));
        assert!(matches!(
            decode("Hel\"o"),
            Err(Z85Error::BadCharacter {
                found: '"',
                position: 3
            })
        ));
        assert!(matches!(
            decode("Hellé"),
            Err(Z85Error::BadCharacter { found: 'é', .. })
        ));
        // "#####" is 85^5 - 1, past u32::MAX.
        assert_eq!(decode("#####"), Err(Z85Error::Overflow(0)));
        assert_eq!(decode("").unwrap(), Vec::<u8>::new());
    }

    proptest::proptest! {
        #[test]
        fn round_trips(groups in proptest::collection::vec(proptest::prelude::any::<[u8; 4]>(), 0..16)) {
            let data: Vec<u8> = groups.concat();
            let text = encode(&data).unwrap();
            proptest::prop_assert_eq!(text.len(), data.len() / 4 * 5);
            proptest::prop_assert_eq!(decode(&text).unwrap(), data);
        }
    }
}
