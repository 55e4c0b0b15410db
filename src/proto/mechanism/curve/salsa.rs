//! The XSalsa20 stream of CURVE's MESSAGE boxes, four Salsa20 blocks at a time with SSE2
//! on x86_64 and one at a time elsewhere.
//!
//! Why this exists: two thirds of a 64 KiB CURVE transfer's time went to RustCrypto's
//! `salsa20`, which has no SIMD backend (680 MB/s here), while omq.rs uses a SIMD Salsa20
//! (`cargo bench --bench compare -- curve`, BENCHMARKS.md "CURVE"). The 4-way SSE2 code
//! below keeps every round in vector registers. SSE2 is part of every x86_64 CPU, but
//! Rust only lets a function marked `#[target_feature(enable = "sse2")]` call the
//! intrinsics, and calling such a function is `unsafe`: that one call is the crate's only
//! `unsafe` (see [`keystream4`]). Everything is checked byte for byte against the
//! `salsa20` crate by a property test.

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

/// Octets of keystream a call of [`keystream`] produces: four blocks.
const CHUNK: usize = 256;

/// XORs the XSalsa20 stream of `key` and `nonce` into `data`, starting at stream octet 32;
/// returns the stream's first 32 octets (the Poly1305 key of NaCl's secretbox).
pub(super) fn xsalsa20_xor(
    key: &[u8; 32],
    nonce: &[u8; 24],
    data: &mut [u8],
) -> Zeroizing<[u8; 32]> {
    use crypto_box::aead::generic_array::GenericArray;
    let subkey = Zeroizing::new(<[u8; 32]>::from(
        salsa20::hsalsa::<salsa20::cipher::consts::U10>(
            GenericArray::from_slice(key),
            GenericArray::from_slice(&nonce[..16]),
        ),
    ));
    let mut state = Zeroizing::new(input(
        &subkey,
        nonce[16..].try_into().expect("8 octets"),
    ));
    let mut stream = Zeroizing::new([0u8; CHUNK]);
    let mut mac_key = Zeroizing::new([0u8; 32]);
    // The first chunk: 32 octets of MAC key, then 224 of stream for the data.
    keystream(&state, &mut stream);
    mac_key.copy_from_slice(&stream[..32]);
    let first = data.len().min(CHUNK - 32);
    xor(&mut data[..first], &stream[32..32 + first]);
    let mut counter = 4u64;
    for chunk in data[first..].chunks_mut(CHUNK) {
        state[8] = counter as u32;
        state[9] = (counter >> 32) as u32;
        keystream(&state, &mut stream);
        xor(chunk, &stream[..chunk.len()]);
        counter += 4;
    }
    mac_key
}

/// `data ^= stream`, eight octets at a time.
fn xor(data: &mut [u8], stream: &[u8]) {
    let mut data_words = data.chunks_exact_mut(8);
    let mut stream_words = stream.chunks_exact(8);
    for (d, s) in (&mut data_words).zip(&mut stream_words) {
        let x = u64::from_ne_bytes(d.try_into().expect("8"))
            ^ u64::from_ne_bytes(s.try_into().expect("8"));
        d.copy_from_slice(&x.to_ne_bytes());
    }
    for (d, s) in data_words
        .into_remainder()
        .iter_mut()
        .zip(stream_words.remainder())
    {
        *d ^= s;
    }
}

/// Four consecutive blocks of stream, from the counter in `state[8..10]`.
fn keystream(state: &[u32; 16], out: &mut [u8; CHUNK]) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        let mut words = Zeroizing::new([0u32; 64]);
        // SAFETY: `keystream4` only needs SSE2, which `cfg(target_feature = "sse2")`
        // guarantees this build's CPU has (it is part of the x86_64 baseline). It does no
        // memory access of its own beyond its two references.
        #[allow(unsafe_code)]
        unsafe {
            keystream4(state, &mut words);
        }
        for (octets, word) in out.chunks_exact_mut(4).zip(words.iter()) {
            octets.copy_from_slice(&word.to_le_bytes());
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        let counter = u64::from(state[8]) | (u64::from(state[9]) << 32);
        for (i, block) in out.chunks_exact_mut(64).enumerate() {
            let mut input = *state;
            let n = counter.wrapping_add(i as u64);
            input[8] = n as u32;
            input[9] = (n >> 32) as u32;
            for (octets, word) in block.chunks_exact_mut(4).zip(salsa20_block(&input)) {
                octets.copy_from_slice(&word.to_le_bytes());
            }
        }
    }
}

/// One Salsa20/20 block.
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
fn salsa20_block(input: &[u32; 16]) -> [u32; 16] {
    let mut x = *input;
    let qr = |x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize| {
        x[b] ^= x[a].wrapping_add(x[d]).rotate_left(7);
        x[c] ^= x[b].wrapping_add(x[a]).rotate_left(9);
        x[d] ^= x[c].wrapping_add(x[b]).rotate_left(13);
        x[a] ^= x[d].wrapping_add(x[c]).rotate_left(18);
    };
    for _ in 0..10 {
        qr(&mut x, 0, 4, 8, 12);
        qr(&mut x, 5, 9, 13, 1);
        qr(&mut x, 10, 14, 2, 6);
        qr(&mut x, 15, 3, 7, 11);
        qr(&mut x, 0, 1, 2, 3);
        qr(&mut x, 5, 6, 7, 4);
        qr(&mut x, 10, 11, 8, 9);
        qr(&mut x, 15, 12, 13, 14);
    }
    for (out, inp) in x.iter_mut().zip(input) {
        *out = out.wrapping_add(*inp);
    }
    x
}

/// Four Salsa20/20 blocks at once (counters `n` to `n + 3`, `n` from `state[8..10]`):
/// word `i` of block `j` goes to `out[16 * j + i]`. Each SSE2 register holds one state
/// word of the four blocks, so every round is four-wide.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
fn keystream4(state: &[u32; 16], out: &mut [u32; 64]) {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi32, _mm_cvtsi128_si32, _mm_or_si128, _mm_set_epi32,
        _mm_set1_epi32, _mm_slli_epi32, _mm_srli_epi32, _mm_srli_si128, _mm_xor_si128,
    };
    let counter = u64::from(state[8]) | (u64::from(state[9]) << 32);
    let lane = |i: u64| counter.wrapping_add(i);
    let mut input: [__m128i; 16] = std::array::from_fn(|i| _mm_set1_epi32(state[i] as i32));
    input[8] = _mm_set_epi32(
        lane(3) as i32,
        lane(2) as i32,
        lane(1) as i32,
        lane(0) as i32,
    );
    input[9] = _mm_set_epi32(
        (lane(3) >> 32) as i32,
        (lane(2) >> 32) as i32,
        (lane(1) >> 32) as i32,
        (lane(0) >> 32) as i32,
    );
    let mut x = input;
    macro_rules! step {
        ($t:expr, $u:expr, $v:expr, $r:literal) => {{
            let sum = _mm_add_epi32(x[$u], x[$v]);
            let rotated = _mm_or_si128(
                _mm_slli_epi32::<$r>(sum),
                _mm_srli_epi32::<{ 32 - $r }>(sum),
            );
            x[$t] = _mm_xor_si128(x[$t], rotated);
        }};
    }
    macro_rules! quarter {
        ($a:expr, $b:expr, $c:expr, $d:expr) => {{
            step!($b, $a, $d, 7);
            step!($c, $b, $a, 9);
            step!($d, $c, $b, 13);
            step!($a, $d, $c, 18);
        }};
    }
    for _ in 0..10 {
        quarter!(0, 4, 8, 12);
        quarter!(5, 9, 13, 1);
        quarter!(10, 14, 2, 6);
        quarter!(15, 3, 7, 11);
        quarter!(0, 1, 2, 3);
        quarter!(5, 6, 7, 4);
        quarter!(10, 11, 8, 9);
        quarter!(15, 12, 13, 14);
    }
    for (i, (word, inp)) in x.iter().zip(input.iter()).enumerate() {
        let sum = _mm_add_epi32(*word, *inp);
        out[i] = _mm_cvtsi128_si32(sum) as u32;
        out[16 + i] = _mm_cvtsi128_si32(_mm_srli_si128::<4>(sum)) as u32;
        out[32 + i] = _mm_cvtsi128_si32(_mm_srli_si128::<8>(sum)) as u32;
        out[48 + i] = _mm_cvtsi128_si32(_mm_srli_si128::<12>(sum)) as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_box::aead::generic_array::GenericArray;
    use salsa20::cipher::{KeyIvInit, StreamCipher};

    /// What the `salsa20` crate produces for the same key, nonce and data.
    fn reference(key: &[u8; 32], nonce: &[u8; 24], data: &[u8]) -> ([u8; 32], Vec<u8>) {
        let mut cipher =
            salsa20::XSalsa20::new(GenericArray::from_slice(key), GenericArray::from_slice(nonce));
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

    #[test]
    fn the_scalar_block_is_salsa20() {
        // The scalar path (other architectures) against the `salsa20` crate too.
        let key = [7u8; 32];
        let nonce = [9u8; 8];
        let mut state = input(&key, &nonce);
        state[8] = 5;
        let ours: Vec<u8> = salsa20_block(&state)
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        let mut cipher =
            salsa20::Salsa20::new(GenericArray::from_slice(&key), GenericArray::from_slice(&nonce));
        let mut expected = vec![0u8; 6 * 64];
        cipher.apply_keystream(&mut expected);
        assert_eq!(ours, expected[5 * 64..]);
    }
}
