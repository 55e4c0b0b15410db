//! Where the randomness of a handshake comes from: an input to the machines like time is,
//! so a seeded source makes every CURVE handshake reproducible in tests, `sim` and fuzzers.

use std::fmt;
use std::sync::{Arc, Mutex};

/// A source of random octets for key generation and nonces.
///
/// Implementations must be cryptographically secure for real traffic ([`OsEntropy`]);
/// [`SeededEntropy`] is for tests and simulations, where reproducing a run matters more.
pub trait EntropySource: Send + Sync + fmt::Debug {
    /// Fills `buf` with random octets.
    fn fill(&self, buf: &mut [u8]);
}

/// A shared handle to an [`EntropySource`], as held by a connection's configuration.
#[derive(Clone, Debug)]
pub struct Entropy(Arc<dyn EntropySource>);

impl Entropy {
    /// Wraps a source.
    pub fn new(source: impl EntropySource + 'static) -> Self {
        Self(Arc::new(source))
    }

    /// The operating system's generator (`getrandom`): the default.
    #[cfg(feature = "curve")]
    pub fn os() -> Self {
        Self::new(OsEntropy)
    }

    /// A deterministic generator for tests and simulations ([`SeededEntropy`]).
    pub fn seeded(seed: u64) -> Self {
        Self::new(SeededEntropy::new(seed))
    }

    /// Fills `buf` with random octets.
    pub fn fill(&self, buf: &mut [u8]) {
        self.0.fill(buf);
    }

    /// `N` random octets.
    pub fn array<const N: usize>(&self) -> [u8; N] {
        let mut out = [0u8; N];
        self.fill(&mut out);
        out
    }
}

#[cfg(feature = "curve")]
impl Default for Entropy {
    fn default() -> Self {
        Self::os()
    }
}

/// The operating system's cryptographically secure generator.
#[cfg(feature = "curve")]
#[derive(Debug, Clone, Copy, Default)]
pub struct OsEntropy;

#[cfg(feature = "curve")]
impl EntropySource for OsEntropy {
    fn fill(&self, buf: &mut [u8]) {
        // The OS generator failing means the process cannot do cryptography at all: there
        // is no safe fallback, and continuing with predictable keys would be worse.
        getrandom::getrandom(buf).expect("the operating system's random generator failed");
    }
}

/// A deterministic generator (xoshiro256** seeded through SplitMix64): the same seed gives
/// the same octets, so handshakes replay exactly. **Not** for real traffic: its output is
/// predictable by design.
#[derive(Debug)]
pub struct SeededEntropy {
    state: Mutex<[u64; 4]>,
}

impl SeededEntropy {
    /// A generator whose whole output is decided by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let mut next = || {
            sm = sm.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = sm;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Self {
            state: Mutex::new([next(), next(), next(), next()]),
        }
    }
}

impl EntropySource for SeededEntropy {
    fn fill(&self, buf: &mut [u8]) {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        for chunk in buf.chunks_mut(8) {
            let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
            let t = s[1] << 17;
            s[2] ^= s[0];
            s[3] ^= s[1];
            s[1] ^= s[2];
            s[0] ^= s[3];
            s[2] ^= t;
            s[3] = s[3].rotate_left(45);
            chunk.copy_from_slice(&result.to_le_bytes()[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_is_reproducible_and_seed_dependent() {
        let a: [u8; 37] = Entropy::seeded(7).array();
        let b: [u8; 37] = Entropy::seeded(7).array();
        let c: [u8; 37] = Entropy::seeded(8).array();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().any(|&x| x != 0));
    }

    #[cfg(feature = "curve")]
    #[test]
    fn os_entropy_differs_between_calls() {
        let e = Entropy::os();
        assert_ne!(e.array::<32>(), e.array::<32>());
    }
}
