//! The XSalsa20 stream of CURVE's MESSAGE boxes, eight Salsa20 blocks at a time with AVX2,
//! four with SSE2 on other x86_64 CPUs, one at a time elsewhere.
//!
//! Why this exists: two thirds of a 64 KiB CURVE transfer's time went to RustCrypto's
//! `salsa20`, which has no SIMD backend (about 680 MB/s here), while omq.rs uses a SIMD
//! Salsa20 (`cargo bench --bench compare -- curve`, BENCHMARKS.md "CURVE"). Here each
//! vector register holds one state word of four (SSE2) or eight (AVX2, when the CPU has
//! it) consecutive blocks, so every round works on all of them at once: about 2.3 GB/s with
//! AVX2 on the same machine. Rust lets only a function marked `#[target_feature]` call the
//! intrinsics, and calling such a function is `unsafe`: those calls, in [`keystream_with`],
//! are the crate's only `unsafe`, each made where the feature is known to be there (SSE2
//! is part of every x86_64 CPU; AVX2 is detected at run time). Every path is checked
//! against the others and byte for byte against the `salsa20` crate by tests.

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

/// Octets of keystream a call of [`keystream`] produces at most: eight blocks.
const CHUNK: usize = 512;

/// The same in words.
const WORDS: usize = CHUNK / 4;

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

/// Consecutive blocks of stream from the counter in `state[8..10]`, enough for `octets`
/// (up to [`CHUNK`]): eight at once with AVX2, four at a time with SSE2, one at a time
/// elsewhere and for the one or two blocks of a short frame (cheaper than a vector pass).
/// Returns how many blocks it made.
fn keystream(state: &[u32; 16], out: &mut [u32; WORDS], octets: usize) -> usize {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    let vectors = Some(std::is_x86_feature_detected!("avx2"));
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    let vectors = None;
    keystream_with(state, out, octets, vectors)
}

/// [`keystream`] with the choice of code made: `Some(true)` AVX2, `Some(false)` SSE2,
/// `None` scalar (tests run each).
fn keystream_with(
    state: &[u32; 16],
    out: &mut [u32; WORDS],
    octets: usize,
    vectors: Option<bool>,
) -> usize {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if let Some(avx2) = vectors
        && octets > 128
    {
        if avx2 {
            // SAFETY: `keystream8` needs AVX2, which the CPU was just seen to have; it
            // touches no memory but its two references.
            #[allow(unsafe_code)]
            unsafe {
                keystream8(state, out);
            }
            return 8;
        }
        let (first, second) = out.split_at_mut(WORDS / 2);
        // SAFETY: `keystream4` only needs SSE2, which `cfg(target_feature = "sse2")`
        // guarantees this build's CPU has (it is part of the x86_64 baseline); it touches
        // no memory but its two references.
        #[allow(unsafe_code)]
        unsafe {
            keystream4(state, first.try_into().expect("four blocks"));
        }
        if octets <= CHUNK / 2 {
            return 4;
        }
        let mut next = *state;
        let counter = (u64::from(state[8]) | (u64::from(state[9]) << 32)).wrapping_add(4);
        next[8] = counter as u32;
        next[9] = (counter >> 32) as u32;
        // SAFETY: as above.
        #[allow(unsafe_code)]
        unsafe {
            keystream4(&next, second.try_into().expect("four blocks"));
        }
        return 8;
    }
    let _ = vectors;
    let counter = u64::from(state[8]) | (u64::from(state[9]) << 32);
    let blocks = octets.div_ceil(64).clamp(1, 8);
    for (i, block) in out.chunks_exact_mut(16).take(blocks).enumerate() {
        let mut input = *state;
        let n = counter.wrapping_add(i as u64);
        input[8] = n as u32;
        input[9] = (n >> 32) as u32;
        block.copy_from_slice(&salsa20_block(&input));
    }
    blocks
}

/// One Salsa20/20 block.
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

/// Salsa20's twenty rounds on sixteen vectors `x`, each holding one state word of several
/// blocks, with the given vector intrinsics (add, or, xor, shift left, shift right).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
macro_rules! salsa20_rounds {
    ($x:ident, $add:ident, $or:ident, $xor:ident, $shl:ident, $shr:ident) => {{
        macro_rules! step {
            ($t:expr, $u:expr, $v:expr, $r:literal) => {{
                let sum = $add($x[$u], $x[$v]);
                let rotated = $or($shl::<$r>(sum), $shr::<{ 32 - $r }>(sum));
                $x[$t] = $xor($x[$t], rotated);
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
    }};
}

/// Four Salsa20/20 blocks at once (counters `n` to `n + 3`, `n` from `state[8..10]`):
/// word `i` of block `j` goes to `out[16 * j + i]`. Each SSE2 register holds one state
/// word of the four blocks, so every round is four-wide.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
fn keystream4(state: &[u32; 16], out: &mut [u32; 64]) {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi32, _mm_cvtsi128_si32, _mm_or_si128, _mm_set_epi32, _mm_set1_epi32,
        _mm_slli_epi32, _mm_srli_epi32, _mm_srli_si128, _mm_xor_si128,
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
    salsa20_rounds!(
        x,
        _mm_add_epi32,
        _mm_or_si128,
        _mm_xor_si128,
        _mm_slli_epi32,
        _mm_srli_epi32
    );
    for (i, (word, inp)) in x.iter().zip(input.iter()).enumerate() {
        let sum = _mm_add_epi32(*word, *inp);
        out[i] = _mm_cvtsi128_si32(sum) as u32;
        out[16 + i] = _mm_cvtsi128_si32(_mm_srli_si128::<4>(sum)) as u32;
        out[32 + i] = _mm_cvtsi128_si32(_mm_srli_si128::<8>(sum)) as u32;
        out[48 + i] = _mm_cvtsi128_si32(_mm_srli_si128::<12>(sum)) as u32;
    }
}

/// Eight Salsa20/20 blocks at once (counters `n` to `n + 7`): [`keystream4`] on AVX2's
/// eight-lane registers.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "avx2")]
fn keystream8(state: &[u32; 16], out: &mut [u32; 128]) {
    use std::arch::x86_64::{
        __m256i, _mm_cvtsi128_si32, _mm_srli_si128, _mm256_add_epi32, _mm256_castsi256_si128,
        _mm256_extracti128_si256, _mm256_or_si256, _mm256_set_epi32, _mm256_set1_epi32,
        _mm256_slli_epi32, _mm256_srli_epi32, _mm256_xor_si256,
    };
    let counter = u64::from(state[8]) | (u64::from(state[9]) << 32);
    let lane = |i: u64| counter.wrapping_add(i);
    let mut input: [__m256i; 16] = std::array::from_fn(|i| _mm256_set1_epi32(state[i] as i32));
    input[8] = _mm256_set_epi32(
        lane(7) as i32,
        lane(6) as i32,
        lane(5) as i32,
        lane(4) as i32,
        lane(3) as i32,
        lane(2) as i32,
        lane(1) as i32,
        lane(0) as i32,
    );
    input[9] = _mm256_set_epi32(
        (lane(7) >> 32) as i32,
        (lane(6) >> 32) as i32,
        (lane(5) >> 32) as i32,
        (lane(4) >> 32) as i32,
        (lane(3) >> 32) as i32,
        (lane(2) >> 32) as i32,
        (lane(1) >> 32) as i32,
        (lane(0) >> 32) as i32,
    );
    let mut x = input;
    salsa20_rounds!(
        x,
        _mm256_add_epi32,
        _mm256_or_si256,
        _mm256_xor_si256,
        _mm256_slli_epi32,
        _mm256_srli_epi32
    );
    for (i, (word, inp)) in x.iter().zip(input.iter()).enumerate() {
        let sum = _mm256_add_epi32(*word, *inp);
        for (half, vector) in [
            _mm256_castsi256_si128(sum),
            _mm256_extracti128_si256::<1>(sum),
        ]
        .into_iter()
        .enumerate()
        {
            let base = 64 * half;
            out[base + i] = _mm_cvtsi128_si32(vector) as u32;
            out[base + 16 + i] = _mm_cvtsi128_si32(_mm_srli_si128::<4>(vector)) as u32;
            out[base + 32 + i] = _mm_cvtsi128_si32(_mm_srli_si128::<8>(vector)) as u32;
            out[base + 48 + i] = _mm_cvtsi128_si32(_mm_srli_si128::<12>(vector)) as u32;
        }
    }
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

    /// Each code path (AVX2 when the CPU has it, SSE2, scalar) gives the same blocks, at
    /// counters that carry into the high word too.
    #[test]
    fn every_code_path_gives_the_same_stream() {
        let mut state = input(&[3u8; 32], &[4u8; 8]);
        let mut paths = vec![None];
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        {
            paths.push(Some(false));
            if std::is_x86_feature_detected!("avx2") {
                paths.push(Some(true));
            }
        }
        for counter in [0u64, 1, 0xffff_fffc, u64::from(u32::MAX) + 9] {
            state[8] = counter as u32;
            state[9] = (counter >> 32) as u32;
            let mut expected = [0u32; WORDS];
            assert_eq!(keystream_with(&state, &mut expected, CHUNK, None), 8);
            for path in &paths {
                let mut ours = [0u32; WORDS];
                let blocks = keystream_with(&state, &mut ours, CHUNK, *path);
                assert_eq!(blocks, 8, "{path:?}");
                assert_eq!(ours, expected, "path {path:?} at counter {counter}");
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
        let ours: Vec<u8> = salsa20_block(&state)
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
