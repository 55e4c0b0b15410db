//! CURVE key pairs (Curve25519), in binary and in the Z85 text form libzmq's
//! `zmq_curve_keypair` and czmq/pyzmq certificate files use.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;
use zeroize::Zeroizing;

use super::entropy::Entropy;
use super::z85::{self, Z85Error};

/// Octets of a Curve25519 key.
pub const KEY_LEN: usize = 32;
/// Characters of a key in Z85.
pub const Z85_KEY_LEN: usize = 40;

/// Why a key or certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key is 32 octets, 40 characters in Z85.
    #[error("a CURVE key is 40 Z85 characters (32 octets); got {0}")]
    Length(usize),
    /// The text is not Z85.
    #[error("not a Z85 key: {0}")]
    Z85(#[from] Z85Error),
    /// The public key given with a secret key is not the secret key's public key.
    #[error("the public key does not belong to the secret key")]
    Mismatch,
    /// A certificate without the expected `public-key`/`secret-key` line.
    #[error("the certificate has no {0} line")]
    MissingInCertificate(&'static str),
}

/// A CURVE public key: shareable, printed in Z85.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CurvePublicKey([u8; KEY_LEN]);

impl CurvePublicKey {
    /// The key from its 32 octets.
    pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The key's 32 octets.
    pub const fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Parses the 40-character Z85 form (as `zmq_curve_keypair` prints it).
    pub fn from_z85(text: &str) -> Result<Self, KeyError> {
        key_from_z85(text).map(Self)
    }

    /// The 40-character Z85 form.
    pub fn to_z85(&self) -> String {
        z85::encode(&self.0).expect("32 is a multiple of 4")
    }

    /// Reads the `public-key` of a czmq/pyzmq certificate file (public or secret one).
    pub fn from_certificate(text: &str) -> Result<Self, KeyError> {
        Self::from_z85(certificate_field(text, "public-key")?)
    }
}

impl FromStr for CurvePublicKey {
    type Err = KeyError;
    fn from_str(text: &str) -> Result<Self, KeyError> {
        Self::from_z85(text)
    }
}

impl fmt::Display for CurvePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_z85())
    }
}

impl fmt::Debug for CurvePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CurvePublicKey({})", self.to_z85())
    }
}

/// A CURVE secret key. Its octets are wiped when it is dropped, and it never prints: `Debug`
/// shows only the public key it belongs to.
#[derive(Clone, PartialEq, Eq)]
pub struct CurveSecretKey(Zeroizing<[u8; KEY_LEN]>);

impl CurveSecretKey {
    /// The key from its 32 octets.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The key's 32 octets (keep them secret).
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Parses the 40-character Z85 form.
    pub fn from_z85(text: &str) -> Result<Self, KeyError> {
        key_from_z85(text).map(Self::from_bytes)
    }

    /// The 40-character Z85 form, for writing a certificate (keep it secret).
    pub fn to_z85(&self) -> Zeroizing<String> {
        Zeroizing::new(z85::encode(&self.0[..]).expect("32 is a multiple of 4"))
    }

    /// The public key of this secret key (libzmq's `zmq_curve_public`).
    pub fn public_key(&self) -> CurvePublicKey {
        let secret = crypto_box::SecretKey::from(*self.0);
        CurvePublicKey(*secret.public_key().as_bytes())
    }
}

impl fmt::Debug for CurveSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CurveSecretKey(<secret of {}>)", self.public_key())
    }
}

/// A CURVE key pair: a long-term identity of a client or server.
#[derive(Clone, PartialEq, Eq)]
pub struct CurveKeyPair {
    public: CurvePublicKey,
    secret: CurveSecretKey,
}

impl CurveKeyPair {
    /// A new random key pair from the operating system's generator (`zmq_curve_keypair`).
    pub fn generate() -> Self {
        Self::generate_with(&Entropy::os())
    }

    /// A new key pair from the given randomness (seeded in tests and simulations).
    pub fn generate_with(entropy: &Entropy) -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        entropy.fill(&mut bytes[..]);
        Self::from_secret(CurveSecretKey::from_bytes(*bytes))
    }

    /// The pair of a secret key.
    pub fn from_secret(secret: CurveSecretKey) -> Self {
        Self {
            public: secret.public_key(),
            secret,
        }
    }

    /// The pair from its Z85 public and secret keys (as `zmq_curve_keypair` prints them),
    /// checking they belong together.
    pub fn from_z85(public: &str, secret: &str) -> Result<Self, KeyError> {
        let pair = Self::from_secret(CurveSecretKey::from_z85(secret)?);
        if pair.public != CurvePublicKey::from_z85(public)? {
            return Err(KeyError::Mismatch);
        }
        Ok(pair)
    }

    /// Reads a czmq/pyzmq secret certificate file (`public-key = "…"`, `secret-key = "…"`,
    /// as `zmq.auth.create_certificates` writes them).
    pub fn from_certificate(text: &str) -> Result<Self, KeyError> {
        Self::from_z85(
            certificate_field(text, "public-key")?,
            certificate_field(text, "secret-key")?,
        )
    }

    /// A secret certificate file in the czmq format that pyzmq and czmq read.
    pub fn to_certificate(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "#   ****  Generated by zmq-sansio  ****\n\
             #   ZeroMQ CURVE **Secret** Certificate\n\
             #   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\n\
             metadata\ncurve\n    public-key = \"{}\"\n    secret-key = \"{}\"\n",
            self.public,
            self.secret.to_z85().as_str()
        ))
    }

    /// The public key.
    pub fn public(&self) -> &CurvePublicKey {
        &self.public
    }

    /// The secret key.
    pub fn secret(&self) -> &CurveSecretKey {
        &self.secret
    }
}

impl fmt::Debug for CurveKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurveKeyPair")
            .field("public", &self.public)
            .field("secret", &"<redacted>")
            .finish()
    }
}

fn key_from_z85(text: &str) -> Result<[u8; KEY_LEN], KeyError> {
    let text = text.trim();
    if text.len() != Z85_KEY_LEN {
        return Err(KeyError::Length(text.chars().count()));
    }
    let bytes = Zeroizing::new(z85::decode(text)?);
    Ok(bytes[..]
        .try_into()
        .expect("40 characters decode to 32 octets"))
}

/// The quoted value of a `name = "value"` line of a czmq certificate.
fn certificate_field<'a>(text: &'a str, name: &'static str) -> Result<&'a str, KeyError> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let rest = line
                .strip_prefix(name)?
                .trim_start()
                .strip_prefix('=')?
                .trim();
            Some(rest.trim_matches('"'))
        })
        .ok_or(KeyError::MissingInCertificate(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    // libzmq's test keys (tests/testutil_security.hpp), from RFC 26's reference material.
    const CLIENT_PUBLIC: &str = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
    const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
    const SERVER_PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";

    #[test]
    fn derives_libzmq_test_public_keys() {
        let client = CurveKeyPair::from_z85(CLIENT_PUBLIC, CLIENT_SECRET).unwrap();
        assert_eq!(client.public().to_z85(), CLIENT_PUBLIC);
        let server = CurveSecretKey::from_z85(SERVER_SECRET).unwrap();
        assert_eq!(server.public_key().to_z85(), SERVER_PUBLIC);
        assert_eq!(
            CurveKeyPair::from_z85(SERVER_PUBLIC, CLIENT_SECRET),
            Err(KeyError::Mismatch)
        );
    }

    #[test]
    fn secrets_never_print() {
        let pair = CurveKeyPair::from_z85(CLIENT_PUBLIC, CLIENT_SECRET).unwrap();
        let shown = format!("{pair:?} {:?}", pair.secret());
        assert!(!shown.contains(CLIENT_SECRET), "{shown}");
        assert!(shown.contains(CLIENT_PUBLIC), "{shown}");
    }

    #[test]
    fn certificates_round_trip_and_parse_czmq_files() {
        let pair = CurveKeyPair::generate_with(&Entropy::seeded(1));
        let cert = pair.to_certificate();
        assert_eq!(CurveKeyPair::from_certificate(&cert).unwrap(), pair);
        // A public certificate as pyzmq's zmq.auth writes it.
        let public_cert = format!(
            "#   ****  Generated on 2026-01-01 by pyzmq  ****\n#   ZeroMQ CURVE Public Certificate\n\
             #   Exchange securely, or use a secure mechanism to verify the contents\n\n\
             metadata\ncurve\n    public-key = \"{SERVER_PUBLIC}\"\n"
        );
        assert_eq!(
            CurvePublicKey::from_certificate(&public_cert)
                .unwrap()
                .to_z85(),
            SERVER_PUBLIC
        );
        assert_eq!(
            CurveKeyPair::from_certificate(&public_cert),
            Err(KeyError::MissingInCertificate("secret-key"))
        );
    }

    #[test]
    fn refuses_bad_keys() {
        assert_eq!(CurvePublicKey::from_z85("abc"), Err(KeyError::Length(3)));
        assert!(matches!(
            CurvePublicKey::from_z85(&"\"".repeat(40)),
            Err(KeyError::Z85(_))
        ));
        assert_eq!(
            SERVER_PUBLIC.parse::<CurvePublicKey>().unwrap().to_string(),
            SERVER_PUBLIC
        );
    }
}
