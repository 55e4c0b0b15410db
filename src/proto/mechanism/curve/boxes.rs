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
