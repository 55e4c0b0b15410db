//! Salsa20/20 blocks several at a time: eight with AVX2 (detected at run time), four with
//! SSE2 (every x86_64 CPU), one at a time elsewhere. The SIMD core of zmq-sansio's CURVE
//! mechanism, which composes XSalsa20 and Poly1305 from it.
//!
//! Why it exists, and apart: two thirds of a 64 KiB CURVE transfer's time went to the
//! `salsa20` crate's keystream, which has no SIMD backend (about 680 MB/s on the machine
//! zmq-sansio is benchmarked on; these paths make about 2.3 GB/s there with AVX2). Rust lets
//! only a function marked `#[target_feature]` call the vector intrinsics, and calling such
//! a function is `unsafe`: those calls, in [`blocks_with`], are the only `unsafe` of
//! zmq-sansio, each made where the feature is known to be there. Keeping them in this small
//! crate lets zmq-sansio itself `forbid(unsafe_code)`. Every path is checked against the
//! scalar one, and the whole stream against the `salsa20` crate, by zmq-sansio's tests.
//!
//! Each vector register holds one state word of four (SSE2) or eight (AVX2) consecutive
//! blocks, so every round works on all of them at once.

#![deny(unsafe_code)]
#![warn(missing_docs)]

/// Words of the output of [`blocks`]: up to eight blocks of sixteen words.
pub const MAX_WORDS: usize = 128;

/// Which code computes the blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One block at a time, anywhere.
    Scalar,
    /// Four blocks at a time (x86_64).
    Sse2,
    /// Eight blocks at a time (x86_64 with AVX2).
    Avx2,
}

impl Backend {
    /// The fastest this CPU has.
    pub fn detect() -> Self {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        {
            if std::is_x86_feature_detected!("avx2") {
                return Self::Avx2;
            }
            Self::Sse2
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        Self::Scalar
    }

    /// Whether this CPU can run it.
    pub fn available(self) -> bool {
        match self {
            Self::Scalar => true,
            #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
            Self::Sse2 => true,
            #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
            Self::Avx2 => std::is_x86_feature_detected!("avx2"),
            #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
            _ => false,
        }
    }
}

/// Consecutive Salsa20/20 blocks from the counter in `input[8..10]` (low word first), enough
/// for `octets` of stream (at most [`MAX_WORDS`] × 4): block `j` in
/// `out[16 * j..16 * (j + 1)]`. Returns how many blocks it made (eight or four with
/// vectors; one or two, the scalar way, when that is all `octets` needs, which is cheaper
/// than a vector pass).
pub fn blocks(input: &[u32; 16], out: &mut [u32; MAX_WORDS], octets: usize) -> usize {
    blocks_with(Backend::detect(), input, out, octets)
}

/// [`blocks`] with the backend chosen (tests run each); one this CPU lacks is not used.
pub fn blocks_with(
    backend: Backend,
    input: &[u32; 16],
    out: &mut [u32; MAX_WORDS],
    octets: usize,
) -> usize {
    let backend = if backend.available() {
        backend
    } else {
        Backend::Scalar
    };
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if backend != Backend::Scalar && octets > 128 {
        if backend == Backend::Avx2 {
            // SAFETY: `keystream8` needs AVX2, which `available` has just seen the CPU
            // has; it touches no memory but its two references.
            #[allow(unsafe_code)]
            unsafe {
                keystream8(input, out);
            }
            return 8;
        }
        let (first, second) = out.split_at_mut(MAX_WORDS / 2);
        // SAFETY: `keystream4` only needs SSE2, which `cfg(target_feature = "sse2")`
        // guarantees this build's CPU has (it is part of the x86_64 baseline); it touches
        // no memory but its two references.
        #[allow(unsafe_code)]
        unsafe {
            keystream4(input, first.try_into().expect("four blocks"));
        }
        if octets <= MAX_WORDS * 2 {
            return 4;
        }
        let mut next = *input;
        let counter = (u64::from(input[8]) | (u64::from(input[9]) << 32)).wrapping_add(4);
        next[8] = counter as u32;
        next[9] = (counter >> 32) as u32;
        // SAFETY: as above.
        #[allow(unsafe_code)]
        unsafe {
            keystream4(&next, second.try_into().expect("four blocks"));
        }
        return 8;
    }
    let _ = backend;
    let counter = u64::from(input[8]) | (u64::from(input[9]) << 32);
    let count = octets.div_ceil(64).clamp(1, 8);
    for (i, out) in out.chunks_exact_mut(16).take(count).enumerate() {
        let mut input = *input;
        let n = counter.wrapping_add(i as u64);
        input[8] = n as u32;
        input[9] = (n >> 32) as u32;
        out.copy_from_slice(&block(&input));
    }
    count
}

/// One Salsa20/20 block of `input` (the counter in words 8 and 9), the scalar way.
pub fn block(input: &[u32; 16]) -> [u32; 16] {
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
        __m128i, _mm_add_epi32, _mm_or_si128, _mm_set_epi32, _mm_set1_epi32, _mm_slli_epi32,
        _mm_srli_epi32, _mm_xor_si128,
    };
    let [low, high] = counters::<4>(state);
    let mut input: [__m128i; 16] = std::array::from_fn(|i| _mm_set1_epi32(state[i] as i32));
    input[8] = _mm_set_epi32(low[3], low[2], low[1], low[0]);
    input[9] = _mm_set_epi32(high[3], high[2], high[1], high[0]);
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
        spread(_mm_add_epi32(*word, *inp), out, i);
    }
}

/// The low and high counter words of `N` consecutive blocks from `state[8..10]`, as the
/// intrinsics take them.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
fn counters<const N: usize>(state: &[u32; 16]) -> [[i32; N]; 2] {
    let counter = u64::from(state[8]) | (u64::from(state[9]) << 32);
    let lane = |i: usize| counter.wrapping_add(i as u64);
    [
        std::array::from_fn(|i| lane(i) as i32),
        std::array::from_fn(|i| (lane(i) >> 32) as i32),
    ]
}

/// Word `i` of four blocks, one per lane of `words`, into `out[16 * j + i]` (`j` the lane).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
#[inline]
fn spread(words: std::arch::x86_64::__m128i, out: &mut [u32; 64], i: usize) {
    use std::arch::x86_64::{_mm_cvtsi128_si32, _mm_srli_si128};
    out[i] = _mm_cvtsi128_si32(words) as u32;
    out[16 + i] = _mm_cvtsi128_si32(_mm_srli_si128::<4>(words)) as u32;
    out[32 + i] = _mm_cvtsi128_si32(_mm_srli_si128::<8>(words)) as u32;
    out[48 + i] = _mm_cvtsi128_si32(_mm_srli_si128::<12>(words)) as u32;
}

/// Eight Salsa20/20 blocks at once (counters `n` to `n + 7`): [`keystream4`] on AVX2's
/// eight-lane registers.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "avx2")]
fn keystream8(state: &[u32; 16], out: &mut [u32; 128]) {
    use std::arch::x86_64::{
        __m256i, _mm256_add_epi32, _mm256_castsi256_si128, _mm256_extracti128_si256,
        _mm256_or_si256, _mm256_set_epi32, _mm256_set1_epi32, _mm256_slli_epi32, _mm256_srli_epi32,
        _mm256_xor_si256,
    };
    let [low, high] = counters::<8>(state);
    let mut input: [__m256i; 16] = std::array::from_fn(|i| _mm256_set1_epi32(state[i] as i32));
    let [l, h] = [low, high];
    input[8] = _mm256_set_epi32(l[7], l[6], l[5], l[4], l[3], l[2], l[1], l[0]);
    input[9] = _mm256_set_epi32(h[7], h[6], h[5], h[4], h[3], h[2], h[1], h[0]);
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
        // Blocks 0–3 are the low lanes, 4–7 the high ones.
        let (low, high) = out.split_at_mut(64);
        spread(_mm256_castsi256_si128(sum), low.try_into().expect("64"), i);
        spread(
            _mm256_extracti128_si256::<1>(sum),
            high.try_into().expect("64"),
            i,
        );
    }
}
