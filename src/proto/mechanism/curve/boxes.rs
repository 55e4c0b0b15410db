//! NaCl boxes in CurveZMQ's layout (tag, then ciphertext) and the nonces they use.

use crypto_box::aead::generic_array::GenericArray;
use crypto_box::aead::{AeadInPlace, KeyInit};
use crypto_box::{PublicKey, SalsaBox, SecretKey};
use crypto_secretbox::XSalsa20Poly1305;
use zeroize::Zeroizing;

/// Octets of a box's authentication tag.
pub(super) const TAG_LEN: usize = 16;

/// A 24-octet nonce: a 16-octet prefix and a big-endian counter (short nonces).
pub(super) fn short(prefix: &[u8; 16], counter: u64) -> [u8; 24] {
    let mut nonce = [0u8; 24];
    nonce[..16].copy_from_slice(prefix);
    nonce[16..].copy_from_slice(&counter.to_be_bytes());
    nonce
}

/// A 24-octet nonce: an 8-octet prefix and 16 random octets (long nonces).
pub(super) fn long(prefix: &[u8; 8], random: &[u8]) -> [u8; 24] {
    let mut nonce = [0u8; 24];
    nonce[..8].copy_from_slice(prefix);
    nonce[8..].copy_from_slice(&random[..16]);
    nonce
}

/// The precomputed key of a pair of Curve25519 keys (NaCl's `crypto_box_beforenm`).
pub(super) fn pair(public: &[u8; 32], secret: &[u8; 32]) -> SalsaBox {
    SalsaBox::new(&PublicKey::from(*public), &SecretKey::from(*secret))
}

/// Something that seals and opens boxes: a key pair's box or a secret box.
pub(super) trait Sealer {
    /// Appends the box of `plaintext` (tag, ciphertext) to `out`.
    fn seal_into(&self, nonce: &[u8; 24], plaintext: &[u8], out: &mut Vec<u8>);

    /// Opens a box in place: `boxed` is tag then ciphertext; on success the plaintext is
    /// `boxed[TAG_LEN..]`. `false` if it does not authenticate.
    fn open_in_place(&self, nonce: &[u8; 24], boxed: &mut [u8]) -> bool;

    /// The box of `plaintext`.
    fn seal(&self, nonce: &[u8; 24], plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(TAG_LEN + plaintext.len());
        self.seal_into(nonce, plaintext, &mut out);
        out
    }

    /// The plaintext of `boxed`, wiped on drop; `None` if it does not authenticate.
    fn open(&self, nonce: &[u8; 24], boxed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if boxed.len() < TAG_LEN {
            return None;
        }
        let mut buf = Zeroizing::new(boxed.to_vec());
        if !self.open_in_place(nonce, &mut buf) {
            return None;
        }
        buf.drain(..TAG_LEN);
        Some(buf)
    }
}

macro_rules! sealer {
    ($ty:ty) => {
        impl Sealer for $ty {
            fn seal_into(&self, nonce: &[u8; 24], plaintext: &[u8], out: &mut Vec<u8>) {
                let start = out.len();
                out.extend_from_slice(&[0u8; TAG_LEN]);
                out.extend_from_slice(plaintext);
                let tag = self
                    .encrypt_in_place_detached(
                        GenericArray::from_slice(nonce),
                        b"",
                        &mut out[start + TAG_LEN..],
                    )
                    .expect("XSalsa20Poly1305 seals any length a Vec can hold");
                out[start..start + TAG_LEN].copy_from_slice(&tag);
            }

            fn open_in_place(&self, nonce: &[u8; 24], boxed: &mut [u8]) -> bool {
                if boxed.len() < TAG_LEN {
                    return false;
                }
                let (tag, body) = boxed.split_at_mut(TAG_LEN);
                self.decrypt_in_place_detached(
                    GenericArray::from_slice(nonce),
                    b"",
                    body,
                    GenericArray::from_slice(tag),
                )
                .is_ok()
            }
        }
    };
}

sealer!(SalsaBox);
sealer!(XSalsa20Poly1305);

/// A secret box under a 32-octet key (the server's cookie key).
pub(super) fn secret(key: &[u8; 32]) -> XSalsa20Poly1305 {
    XSalsa20Poly1305::new(GenericArray::from_slice(key))
}

/// Frames shorter than this are authenticated with orion's portable Poly1305, longer
/// ones with RustCrypto's, which picks AVX2 when the CPU has it. The AVX2 code pays about
/// a microsecond of key setup per frame, five times the whole cost of a 16-octet frame
/// with the portable code, and wins only on long frames (measured: `cargo bench --bench
/// compare -- curve`).
const SHORT_MAC: usize = 4096;

/// A session's precomputed box key (NaCl's `crypto_box_beforenm`): the MESSAGE path seals
/// and opens with it in place, composing XSalsa20 and Poly1305 as `crypto_box` does (a
/// test checks every length against `crypto_box` itself).
pub(super) struct SessionKey {
    key: Zeroizing<[u8; 32]>,
}

impl SessionKey {
    /// The key shared by `public` and `secret`'s owner: X25519, then HSalsa20.
    pub(super) fn new(public: &[u8; 32], secret: &[u8; 32]) -> Self {
        let scalar = SecretKey::from(*secret).to_scalar();
        let shared = Zeroizing::new((curve25519_dalek::MontgomeryPoint(*public) * scalar).0);
        let key = salsa20::hsalsa::<salsa20::cipher::consts::U10>(
            GenericArray::from_slice(&shared[..]),
            &GenericArray::default(),
        );
        Self {
            key: Zeroizing::new(key.into()),
        }
    }

    /// XORs the XSalsa20 stream for `nonce` into `data` from octet 32 on; returns the
    /// Poly1305 key, the stream's first 32 octets (NaCl's secretbox layout).
    fn apply_stream(&self, nonce: &[u8; 24], data: &mut [u8]) -> Zeroizing<[u8; 32]> {
        super::salsa::xsalsa20_xor(&self.key, nonce, data)
    }

    /// Encrypts `data` in place; returns the tag that goes before it.
    pub(super) fn seal_in_place(&self, nonce: &[u8; 24], data: &mut [u8]) -> [u8; TAG_LEN] {
        let mac_key = self.apply_stream(nonce, data);
        mac(&mac_key, data)
    }

    /// Checks `tag` and decrypts `data` in place; `false` (and `data` untouched) if the
    /// box does not authenticate.
    pub(super) fn open_in_place(&self, nonce: &[u8; 24], data: &mut [u8], tag: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        // The Poly1305 key alone first: the data is decrypted only once it authenticates.
        let mac_key = self.apply_stream(nonce, &mut []);
        if !bool::from(mac(&mac_key, data).ct_eq(tag)) {
            return false;
        }
        self.apply_stream(nonce, data);
        true
    }
}

/// Poly1305 of `data` under a one-time key.
fn mac(key: &[u8; 32], data: &[u8]) -> [u8; TAG_LEN] {
    if data.len() < SHORT_MAC {
        use orion::hazardous::mac::poly1305::{OneTimeKey, Poly1305};
        let key = OneTimeKey::from_slice(key).expect("32 octets");
        let tag = Poly1305::poly1305(&key, data).expect("any length");
        tag.unprotected_as_bytes().try_into().expect("16 octets")
    } else {
        use poly1305::universal_hash::KeyInit;
        poly1305::Poly1305::new(GenericArray::from_slice(key))
            .compute_unpadded(data)
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The session path is NaCl's box: byte for byte what `crypto_box` seals, and it
        /// opens what `crypto_box` seals, at every length on both sides of `SHORT_MAC`.
        #[test]
        fn session_boxes_are_crypto_boxes(
            public_secret in proptest::prelude::any::<[u8; 32]>(),
            secret in proptest::prelude::any::<[u8; 32]>(),
            nonce in proptest::prelude::any::<[u8; 24]>(),
            len in proptest::prop_oneof![0usize..64, 4000usize..4200, 60_000usize..70_000],
            fill in proptest::prelude::any::<u8>(),
        ) {
            let public = *SecretKey::from(public_secret).public_key().as_bytes();
            let reference = pair(&public, &secret);
            let ours = SessionKey::new(&public, &secret);
            let plain: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(fill)).collect();
            let boxed = reference.seal(&nonce, &plain);
            let mut data = plain.clone();
            let tag = ours.seal_in_place(&nonce, &mut data);
            proptest::prop_assert_eq!(&boxed[..TAG_LEN], &tag[..]);
            proptest::prop_assert_eq!(&boxed[TAG_LEN..], &data[..]);
            proptest::prop_assert!(ours.open_in_place(&nonce, &mut data, &tag));
            proptest::prop_assert_eq!(&data, &plain);
            let mut tampered = boxed[TAG_LEN..].to_vec();
            if let Some(first) = tampered.first_mut() {
                *first ^= 1;
                proptest::prop_assert!(!ours.open_in_place(&nonce, &mut tampered, &boxed[..TAG_LEN]));
            }
        }
    }
}
