//! The XSalsa20 stream of CURVE's MESSAGE boxes: HSalsa20 for the subkey, then Salsa20
//! blocks from `zmq_sansio_salsa20` (eight at a time with AVX2, four with SSE2, one
//! elsewhere: that small crate holds the SIMD code and its `unsafe`, so this one can
//! forbid it), XORed into the data eight octets at a time.
//!
//! Why: two thirds of a 64 KiB CURVE transfer's time went to the `salsa20` crate's
//! keystream, which has no SIMD backend, while omq.rs uses a SIMD Salsa20 (`cargo bench
//! --bench compare -- curve`, BENCHMARKS.md "CURVE"). Checked byte for byte against the
//! `salsa20` crate by a property test, each backend against the others.

use zeroize::Zeroizing;

/// "expand 32-byte k".
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// The Salsa20 input block for `key`, `nonce` and block counter 0.
fn input(key: &[u8; 32], nonce: &[u8; 8]) -> [u32; 16] {
    let k = |i: usize| u32::from_le_bytes(key[4 * i..4 * i + 4].try_into().expect("4 octets"));
    let n = |i: usize| u32::from_le_bytes(nonce[4 * i..4 * i + 4].try_into().expect("4 octets"));
    [
        SIGMA[0],
        k(0),
        k(1),
        k(2),
        k(3),
        SIGMA[1],
        n(0),
        n(1),
        0,
        0,
        SIGMA[2],
        k(4),
        k(5),
        k(6),
        k(7),
        SIGMA[3],
    ]
}

/// Words of keystream a call of [`keystream`] produces at most: eight blocks.
const WORDS: usize = zmq_sansio_salsa20::MAX_WORDS;

/// The same in octets.
const CHUNK: usize = WORDS * 4;

/// XORs the XSalsa20 stream of `key` and `nonce` into `data`, starting at stream octet 32;
/// returns the stream's first 32 octets (the Poly1305 key of NaCl's secretbox).
pub(super) fn xsalsa20_xor(
    key: &[u8; 32],
    nonce: &[u8; 24],
    data: &mut [u8],
) -> Zeroizing<[u8; 32]> {
    use crypto_box::aead::generic_array::GenericArray;
    let subkey = Zeroizing::new(<[u8; 32]>::from(salsa20::hsalsa::<
        salsa20::cipher::consts::U10,
    >(
        GenericArray::from_slice(key),
        GenericArray::from_slice(&nonce[..16]),
    )));
    let mut state = Zeroizing::new(input(&subkey, nonce[16..].try_into().expect("8 octets")));
    let mut stream = Zeroizing::new([0u32; WORDS]);
    let mut mac_key = Zeroizing::new([0u8; 32]);
    // The first chunk: 32 octets of MAC key, then the stream for the data.
    let first = data.len().min(CHUNK - 32);
    let mut counter = keystream(&state, &mut stream, 32 + first) as u64;
    for (octets, word) in mac_key.chunks_exact_mut(4).zip(&stream[..8]) {
        octets.copy_from_slice(&word.to_le_bytes());
    }
    let first = data.len().min(counter as usize * 64 - 32);
    xor(&mut data[..first], &stream[8..]);
    let mut rest = &mut data[first..];
    while !rest.is_empty() {
        state[8] = counter as u32;
        state[9] = (counter >> 32) as u32;
        let blocks = keystream(&state, &mut stream, rest.len());
        let (chunk, tail) = rest.split_at_mut(rest.len().min(blocks * 64));
        xor(chunk, &stream[..]);
        rest = tail;
        counter += blocks as u64;
    }
    mac_key
}

/// `data ^= stream` (the stream's words in little-endian order), eight octets at a time;
/// `stream` holds at least `data.len()` octets.
fn xor(data: &mut [u8], stream: &[u32]) {
    let done = data.len() / 8 * 8;
    let mut pairs = data.chunks_exact_mut(8);
    for (octets, words) in (&mut pairs).zip(stream.chunks_exact(2)) {
        let key = u64::from(words[0]) | (u64::from(words[1]) << 32);
        let x = u64::from_le_bytes(octets.try_into().expect("8 octets")) ^ key;
        octets.copy_from_slice(&x.to_le_bytes());
    }
    for (i, octet) in pairs.into_remainder().iter_mut().enumerate() {
        let at = done + i;
        *octet ^= stream[at / 4].to_le_bytes()[at % 4];
    }
}

/// Consecutive blocks of stream from the counter in `state[8..10]`, enough for `octets`;
/// how many blocks it made.
fn keystream(state: &[u32; 16], out: &mut [u32; WORDS], octets: usize) -> usize {
    zmq_sansio_salsa20::blocks(state, out, octets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_box::aead::generic_array::GenericArray;
    use salsa20::cipher::{KeyIvInit, StreamCipher};

    /// What the `salsa20` crate produces for the same key, nonce and data.
    fn reference(key: &[u8; 32], nonce: &[u8; 24], data: &[u8]) -> ([u8; 32], Vec<u8>) {
        let mut cipher = salsa20::XSalsa20::new(
            GenericArray::from_slice(key),
            GenericArray::from_slice(nonce),
        );
        let mut mac_key = [0u8; 32];
        cipher.apply_keystream(&mut mac_key);
        let mut out = data.to_vec();
        cipher.apply_keystream(&mut out);
        (mac_key, out)
    }

    proptest::proptest! {
        #[test]
        fn the_stream_is_xsalsa20(
            key in proptest::prelude::any::<[u8; 32]>(),
            nonce in proptest::prelude::any::<[u8; 24]>(),
            len in proptest::prop_oneof![0usize..600, 60_000usize..70_000],
            fill in proptest::prelude::any::<u8>(),
        ) {
            let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(fill) ^ 0x5a).collect();
            let (mac_key, expected) = reference(&key, &nonce, &data);
            let mut ours = data.clone();
            let our_key = xsalsa20_xor(&key, &nonce, &mut ours);
            proptest::prop_assert_eq!(&our_key[..], &mac_key[..]);
            proptest::prop_assert_eq!(ours, expected);
        }
    }

    /// Each backend (AVX2 when the CPU has it, SSE2, scalar) gives the same blocks, at
    /// counters that carry into the high word too.
    #[test]
    fn every_backend_gives_the_same_stream() {
        use zmq_sansio_salsa20::{Backend, blocks_with};
        let mut state = input(&[3u8; 32], &[4u8; 8]);
        let backends = [Backend::Scalar, Backend::Sse2, Backend::Avx2];
        for counter in [0u64, 1, 0xffff_fffc, u64::from(u32::MAX) + 9] {
            state[8] = counter as u32;
            state[9] = (counter >> 32) as u32;
            let mut expected = [0u32; WORDS];
            assert_eq!(
                blocks_with(Backend::Scalar, &state, &mut expected, CHUNK),
                8
            );
            for backend in backends.into_iter().filter(|b| b.available()) {
                let mut ours = [0u32; WORDS];
                assert_eq!(blocks_with(backend, &state, &mut ours, CHUNK), 8);
                assert_eq!(ours, expected, "{backend:?} at counter {counter}");
            }
        }
    }

    #[test]
    fn the_scalar_block_is_salsa20() {
        // The scalar path (other architectures) against the `salsa20` crate too.
        let key = [7u8; 32];
        let nonce = [9u8; 8];
        let mut state = input(&key, &nonce);
        state[8] = 5;
        let ours: Vec<u8> = zmq_sansio_salsa20::block(&state)
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        let mut cipher = salsa20::Salsa20::new(
            GenericArray::from_slice(&key),
            GenericArray::from_slice(&nonce),
        );
        let mut expected = vec![0u8; 6 * 64];
        cipher.apply_keystream(&mut expected);
        assert_eq!(ours, expected[5 * 64..]);
    }
}
