//! What the fuzz targets and the seed generator (`examples/gen_seeds.rs`) share: builders
//! for valid ZMTP octets, the scenario types that the `connection`, `connection_pair`,
//! `pattern` and `network` targets decode from their input, and [`SeedWriter`], which writes
//! a chosen scenario back out as fuzzer input.
#![forbid(unsafe_code)]

pub mod scenario;
pub mod seed;
pub mod sockets;
pub mod wire;

pub use seed::SeedWriter;

/// Splits a stream into chunks whose sizes follow a small deterministic generator, so one
/// input octet can select a whole chunking pattern.
///
/// Seed 0 yields single octets (the harshest case for an incremental decoder); larger seeds
/// yield sizes from 1 up to `seed + 1`.
#[derive(Debug, Clone)]
pub struct Chunker {
    state: u32,
    max: usize,
}

impl Chunker {
    /// A chunking pattern selected by one octet.
    pub fn new(seed: u8) -> Self {
        Self {
            // xorshift32 must not start at zero.
            state: 0x9E37_79B9 ^ u32::from(seed),
            max: usize::from(seed) + 1,
        }
    }

    /// The size of the next chunk, from 1 to `seed + 1`.
    pub fn next_size(&mut self) -> usize {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        1 + self.state as usize % self.max
    }

    /// `data` cut into consecutive chunks of the pattern's sizes.
    pub fn split(mut self, mut data: &[u8]) -> impl Iterator<Item = &[u8]> {
        std::iter::from_fn(move || {
            if data.is_empty() {
                return None;
            }
            let (chunk, rest) = data.split_at(self.next_size().min(data.len()));
            data = rest;
            Some(chunk)
        })
    }
}

/// `data` cut into pieces of `size` octets (the last may be shorter); 0 means one piece.
pub fn pieces(data: &[u8], size: usize) -> impl Iterator<Item = &[u8]> {
    data.chunks(if size == 0 { data.len().max(1) } else { size })
}
