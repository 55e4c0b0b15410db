//! Writing fuzzer input that `arbitrary` decodes into a chosen value.
//!
//! libFuzzer mutates raw octets; the `arbitrary`-based targets decode those octets into
//! scenarios. To check in seeds that are *meaningful* scenarios, the generator writes the
//! octets that decode into them. This mirrors the encoding of `arbitrary` 1.x (integers
//! little-endian, `bool` = low bit of one octet, enum variant = a `u32` scaled onto the
//! variant count, `Option` and each collection element preceded by a `bool`). The generator
//! decodes every seed it writes and checks that it gets the intended value back, so a change
//! in `arbitrary`'s encoding fails loudly instead of producing silently useless seeds.

/// Builds fuzzer input field by field, in declaration order.
#[derive(Debug, Default)]
pub struct SeedWriter {
    bytes: Vec<u8>,
}

impl SeedWriter {
    /// An empty input.
    pub fn new() -> Self {
        Self::default()
    }

    /// A `u8` field.
    pub fn u8(&mut self, value: u8) -> &mut Self {
        self.bytes.push(value);
        self
    }

    /// A `u16` field.
    pub fn u16(&mut self, value: u16) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// A `bool` field.
    pub fn bool(&mut self, value: bool) -> &mut Self {
        self.u8(u8::from(value))
    }

    /// The discriminant of variant `index` of an enum with `count` variants (its fields, if
    /// any, follow). `arbitrary` picks `(u32 * count) >> 32`, so write the smallest `u32`
    /// that lands on `index`: ceil(index * 2^32 / count).
    pub fn variant(&mut self, index: u32, count: u32) -> &mut Self {
        assert!(index < count, "variant {index} of {count}");
        let tag = (u64::from(index) << 32).div_ceil(u64::from(count));
        self.bytes
            .extend_from_slice(&u32::try_from(tag).expect("below 2^32").to_le_bytes());
        self
    }

    /// An `Option<T>` field.
    pub fn option<T>(&mut self, value: Option<T>, write: impl FnOnce(&mut Self, T)) -> &mut Self {
        self.bool(value.is_some());
        if let Some(value) = value {
            write(self, value);
        }
        self
    }

    /// A `Vec<T>` field (also right for the last field, decoded with `take_rest`).
    pub fn list<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        mut write: impl FnMut(&mut Self, T),
    ) -> &mut Self {
        for item in items {
            self.bool(true);
            write(self, item);
        }
        self.bool(false)
    }

    /// A `Vec<u8>` field.
    pub fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.list(value.iter().copied(), |w, b| {
            w.u8(b);
        })
    }

    /// Octets that the target takes verbatim after its decoded header.
    pub fn raw(&mut self, octets: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(octets);
        self
    }

    /// The input written so far.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }
}
