//! Text encodings by WHATWG label (`utf-8`, `gbk`, `gb18030`, `big5`, `shift_jis` …), as the
//! Python module's `coding` argument, with Python's strict error handling.

use std::fmt;

use bytes::Bytes;
use encoding_rs::Encoding;

use super::Error;

/// How text becomes octets on the wire and back. Strict both ways: text the encoding
/// cannot represent, and octets that are not valid in it, are errors (Python's `strict`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Coding(&'static Encoding);

impl Coding {
    /// UTF-8, the default.
    pub const UTF_8: Coding = Coding(encoding_rs::UTF_8);

    /// The encoding a WHATWG label names (case-insensitive, e.g. `"GBK"`, `"big5"`).
    pub fn for_label(label: &str) -> Result<Self, Error> {
        Encoding::for_label(label.trim().as_bytes())
            .map(Coding)
            .ok_or_else(|| Error::UnknownCoding(label.to_owned()))
    }

    /// The encoding's canonical name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// Encodes text.
    pub fn encode(&self, text: &str) -> Result<Bytes, Error> {
        if self.0 == encoding_rs::UTF_8 {
            return Ok(Bytes::copy_from_slice(text.as_bytes()));
        }
        let (octets, _, unmappable) = self.0.encode(text);
        if unmappable {
            return Err(Error::Unencodable {
                coding: self.name(),
            });
        }
        Ok(Bytes::from(octets.into_owned()))
    }

    /// Decodes octets.
    pub fn decode(&self, octets: &[u8]) -> Result<String, Error> {
        self.0
            .decode_without_bom_handling_and_without_replacement(octets)
            .map(|text| text.into_owned())
            .ok_or(Error::Undecodable {
                coding: self.name(),
            })
    }
}

impl Default for Coding {
    fn default() -> Self {
        Self::UTF_8
    }
}

impl fmt::Debug for Coding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Coding({})", self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_resolve_case_insensitively() {
        assert_eq!(Coding::for_label("UTF-8").unwrap(), Coding::UTF_8);
        assert_eq!(Coding::for_label("gbk").unwrap().name(), "GBK");
        assert_eq!(Coding::for_label(" Big5 ").unwrap().name(), "Big5");
        assert_eq!(Coding::for_label("shift_jis").unwrap().name(), "Shift_JIS");
        let err = Coding::for_label("klingon").unwrap_err();
        assert!(err.to_string().contains("klingon"), "{err}");
    }

    #[test]
    fn round_trips_and_strictness() {
        let gbk = Coding::for_label("gbk").unwrap();
        let octets = gbk.encode("中文 text").unwrap();
        assert_eq!(&octets[..2], &[0xD6, 0xD0], "GBK octets for 中");
        assert_eq!(gbk.decode(&octets).unwrap(), "中文 text");
        assert!(gbk.encode("😀").is_err(), "GBK cannot encode emoji");
        assert!(Coding::UTF_8.decode(&[0xFF, 0xFE]).is_err());
    }
}
