//! ZMTP frames: a flags octet, a 1- or 8-octet size, a body (RFC 23/37, "Framing").
//!
//! The decoder works on the caller's read buffer and hands out bodies as [`Bytes`] slices of
//! it, so a 1 MiB frame is never copied after it has been read. The encoder batches small
//! frames into one contiguous buffer and passes large bodies through by reference.

use std::collections::VecDeque;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

const FLAG_MORE: u8 = 0x01;
const FLAG_LONG: u8 = 0x02;
const FLAG_COMMAND: u8 = 0x04;
const RESERVED: u8 = !(FLAG_MORE | FLAG_LONG | FLAG_COMMAND);

/// Largest size a long frame may announce (2^63 - 1, RFC 23).
pub const MAX_WIRE_SIZE: u64 = i64::MAX as u64;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// A part of a message; `more` is set on every part but the last.
    Message {
        /// More parts of the same message follow.
        more: bool,
    },
    /// A command (single frame, never has MORE).
    Command,
}

impl FrameKind {
    /// The last (or only) part of a message.
    pub const LAST: Self = Self::Message { more: false };
    /// A part of a message that has more parts to follow.
    pub const MORE: Self = Self::Message { more: true };

    fn flags(self) -> u8 {
        match self {
            Self::Message { more: false } => 0,
            Self::Message { more: true } => FLAG_MORE,
            Self::Command => FLAG_COMMAND,
        }
    }
}

/// A decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Message part or command.
    pub kind: FrameKind,
    /// The body, a slice of the read buffer.
    pub body: Bytes,
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Message part or command.
    pub kind: FrameKind,
    /// Body size in octets.
    pub size: u64,
    /// Octets the header itself took (2 or 9).
    pub len: usize,
}

impl FrameHeader {
    /// Parses a header from the front of `buf`; `Ok(None)` if more octets are needed.
    // Inlined: called once per frame from other crates' hot loops (benchmarks showed the
    // non-inlined call doubling the cost of decoding small frames).
    #[inline]
    pub fn parse(buf: &[u8]) -> Result<Option<Self>, FrameError> {
        let Some(&flags) = buf.first() else {
            return Ok(None);
        };
        if flags & RESERVED != 0 {
            return Err(FrameError::ReservedFlags(flags));
        }
        let kind = match (flags & FLAG_COMMAND != 0, flags & FLAG_MORE != 0) {
            (true, true) => return Err(FrameError::CommandWithMore),
            (true, false) => FrameKind::Command,
            (false, more) => FrameKind::Message { more },
        };
        let (size, len) = if flags & FLAG_LONG != 0 {
            let Some(raw) = buf.get(1..9) else {
                return Ok(None);
            };
            let size = u64::from_be_bytes(raw.try_into().expect("8 octets"));
            if size > MAX_WIRE_SIZE {
                return Err(FrameError::SizeOutOfRange(size));
            }
            (size, 9)
        } else {
            let Some(&size) = buf.get(1) else {
                return Ok(None);
            };
            (u64::from(size), 2)
        };
        Ok(Some(Self { kind, size, len }))
    }
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Bits 3–7 of the flags octet must be zero.
    #[error("frame flags {0:#04x} set reserved bits (only MORE, LONG and COMMAND exist)")]
    ReservedFlags(u8),
    /// Commands are single frames; MORE is not allowed on them.
    #[error("command frame has the MORE flag set")]
    CommandWithMore,
    /// A long frame announced a size above 2^63 - 1.
    #[error("frame size {0} is above the ZMTP maximum of 2^63-1")]
    SizeOutOfRange(u64),
    /// The frame would take the message past the configured maximum size.
    #[error("frame of {size} octets exceeds the message size limit ({limit} octets still allowed)")]
    TooLarge {
        /// Announced body size.
        size: u64,
        /// What the limit still allowed for this frame.
        limit: u64,
    },
}

/// Incremental frame decoder: accepts input in any chunking.
///
/// ```
/// use bytes::BytesMut;
/// use zmq_sansio::proto::{FrameDecoder, FrameKind};
///
/// let mut buf = BytesMut::from(&[0x01, 0x02, b'h', b'i', 0x00][..]);
/// let mut decoder = FrameDecoder::new();
/// let first = decoder.decode(&mut buf, u64::MAX).unwrap().unwrap();
/// assert_eq!((first.kind, &first.body[..]), (FrameKind::MORE, &b"hi"[..]));
/// assert!(decoder.decode(&mut buf, u64::MAX).unwrap().is_none()); // size octet missing
/// buf.extend_from_slice(&[0x00]);
/// assert_eq!(decoder.decode(&mut buf, u64::MAX).unwrap().unwrap().body.len(), 0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct FrameDecoder {
    /// Header of a frame whose body is still arriving (so it is parsed and checked once).
    pending: Option<FrameHeader>,
}

impl FrameDecoder {
    /// A decoder at a frame boundary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the decoder is between frames (no partial frame buffered).
    pub fn at_boundary(&self, buf: &[u8]) -> bool {
        self.pending.is_none() && buf.is_empty()
    }

    /// The body size of a frame whose header is decoded and whose body is still arriving:
    /// a caller managing its own buffers can make room for all of it at once.
    pub fn pending_size(&self) -> Option<u64> {
        self.pending.map(|header| header.size)
    }

    /// Forgets the frame whose header was decoded and whose body is still arriving, and
    /// returns that header: the caller assembles the body itself (reading it in place).
    pub fn take_pending(&mut self) -> Option<FrameHeader> {
        self.pending.take()
    }

    /// Takes one frame off the front of `buf`, or returns `Ok(None)` if it is incomplete.
    ///
    /// `max_size` bounds the body: a larger frame is refused from its header alone, before
    /// any of its body is buffered.
    pub fn decode(
        &mut self,
        buf: &mut BytesMut,
        max_size: u64,
    ) -> Result<Option<Frame>, FrameError> {
        let header = match self.pending {
            Some(header) => header,
            None => {
                let Some(header) = FrameHeader::parse(buf)? else {
                    return Ok(None);
                };
                if header.size > max_size {
                    return Err(FrameError::TooLarge {
                        size: header.size,
                        limit: max_size,
                    });
                }
                buf.advance(header.len);
                header
            }
        };
        // `size <= max_size`, and the caller's limit is what it is prepared to buffer, so the
        // conversion only fails on 32-bit targets with an absurd limit.
        let size = usize::try_from(header.size).map_err(|_| FrameError::TooLarge {
            size: header.size,
            limit: usize::MAX as u64,
        })?;
        if buf.len() < size {
            // Growing `buf` is the caller's business (see `pending_size`): the decoder never
            // allocates, so nine octets announcing a huge frame cost nothing here.
            self.pending = Some(header);
            return Ok(None);
        }
        self.pending = None;
        Ok(Some(Frame {
            kind: header.kind,
            body: buf.split_to(size).freeze(),
        }))
    }
}

/// Octets a header takes for a body of `size` octets.
pub fn header_len(size: usize) -> usize {
    if size > 255 { 9 } else { 2 }
}

/// Writes a frame header, choosing the short form whenever the size fits in one octet.
pub fn encode_header(kind: FrameKind, size: usize, out: &mut impl BufMut) {
    if size > 255 {
        out.put_u8(kind.flags() | FLAG_LONG);
        out.put_u64(size as u64);
    } else {
        out.put_u8(kind.flags());
        out.put_u8(size as u8);
    }
}

/// Writes a whole frame (header and body).
pub fn encode_frame(kind: FrameKind, body: &[u8], out: &mut BytesMut) {
    out.reserve(header_len(body.len()) + body.len());
    encode_header(kind, body.len(), out);
    out.extend_from_slice(body);
}

/// Bodies at least this large are passed through by reference instead of copied.
/// libzmq batches up to 8 KiB per write; copying below that costs less than an extra chunk.
pub const DEFAULT_ZERO_COPY_THRESHOLD: usize = 8 * 1024;

/// Batching frame encoder: small frames are packed into one contiguous buffer, large bodies
/// are queued by reference between those buffers, and [`FrameEncoder::pop_chunk`] hands the
/// result out in order, ready for one (vectored) write.
#[derive(Debug)]
pub struct FrameEncoder {
    staging: BytesMut,
    chunks: VecDeque<Bytes>,
    queued: usize,
    zero_copy_threshold: usize,
}

impl Default for FrameEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameEncoder {
    /// An empty encoder with the default zero-copy threshold.
    pub fn new() -> Self {
        Self::with_zero_copy_threshold(DEFAULT_ZERO_COPY_THRESHOLD)
    }

    /// An empty encoder that passes bodies of `threshold` octets or more by reference.
    pub fn with_zero_copy_threshold(threshold: usize) -> Self {
        Self {
            staging: BytesMut::new(),
            chunks: VecDeque::new(),
            queued: 0,
            zero_copy_threshold: threshold,
        }
    }

    /// Queues a frame whose body is shared (large bodies are not copied).
    pub fn push(&mut self, kind: FrameKind, body: &Bytes) {
        if body.len() >= self.zero_copy_threshold && !body.is_empty() {
            encode_header(kind, body.len(), &mut self.staging);
            self.chunks.push_back(self.staging.split().freeze());
            self.chunks.push_back(body.clone());
            self.queued += header_len(body.len()) + body.len();
        } else {
            self.push_slice(kind, body);
        }
    }

    /// Queues a frame by copying its body.
    pub fn push_slice(&mut self, kind: FrameKind, body: &[u8]) {
        encode_frame(kind, body, &mut self.staging);
        self.queued += header_len(body.len()) + body.len();
    }

    /// Queues octets that are not a frame (the greeting).
    pub fn push_raw(&mut self, octets: &[u8]) {
        self.staging.extend_from_slice(octets);
        self.queued += octets.len();
    }

    /// Octets queued and not yet handed out.
    pub fn pending_bytes(&self) -> usize {
        self.queued
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// The next chunk of encoded octets, in order.
    #[must_use]
    pub fn pop_chunk(&mut self) -> Option<Bytes> {
        let chunk = match self.chunks.pop_front() {
            Some(chunk) => chunk,
            None if !self.staging.is_empty() => self.staging.split().freeze(),
            None => return None,
        };
        self.queued -= chunk.len();
        Some(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<Vec<Frame>, FrameError> {
        let mut buf = BytesMut::from(input);
        let mut decoder = FrameDecoder::new();
        let mut frames = Vec::new();
        while let Some(frame) = decoder.decode(&mut buf, u64::MAX)? {
            frames.push(frame);
        }
        assert!(decoder.at_boundary(&buf), "trailing input");
        Ok(frames)
    }

    #[test]
    fn rfc_flag_octets() {
        // The "at a glance" table of the spec: 0x00/0x01 short message, 0x02/0x03 long,
        // 0x04 short command, 0x06 long command.
        let mut input = vec![0x00, 1, b'a', 0x01, 0, 0x04, 2, 1, b'X'];
        input.extend_from_slice(&[0x03, 0, 0, 0, 0, 0, 0, 0, 1, b'b']);
        input.extend_from_slice(&[0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0]);
        let frames = decode_all(&input).unwrap();
        let kinds: Vec<_> = frames.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [
                FrameKind::LAST,
                FrameKind::MORE,
                FrameKind::Command,
                FrameKind::MORE,
                FrameKind::Command,
                FrameKind::LAST
            ]
        );
        assert_eq!(frames[3].body, "b");
    }

    #[test]
    fn short_and_long_encodings_are_chosen_by_size() {
        let mut out = BytesMut::new();
        encode_frame(FrameKind::LAST, &[7; 255], &mut out);
        assert_eq!(&out[..2], &[0x00, 255]);
        out.clear();
        encode_frame(FrameKind::MORE, &[7; 256], &mut out);
        assert_eq!(&out[..9], &[0x03, 0, 0, 0, 0, 0, 0, 1, 0]);
        out.clear();
        encode_frame(FrameKind::Command, &[7; 256], &mut out);
        assert_eq!(out[0], 0x06);
    }

    #[test]
    fn reserved_bits_are_refused() {
        for flags in [0x08u8, 0x10, 0x80, 0xFF] {
            assert_eq!(
                decode_all(&[flags, 0]),
                Err(FrameError::ReservedFlags(flags))
            );
        }
    }

    #[test]
    fn command_with_more_is_refused() {
        assert_eq!(decode_all(&[0x05, 0]), Err(FrameError::CommandWithMore));
    }

    #[test]
    fn oversize_frame_is_refused_from_its_header() {
        let mut buf = BytesMut::from(&[0x02, 0, 0, 0, 0, 0, 0x10, 0x10, 0][..]);
        let err = FrameDecoder::new().decode(&mut buf, 1 << 20).unwrap_err();
        assert_eq!(
            err,
            FrameError::TooLarge {
                size: 1 << 20 | 1 << 12,
                limit: 1 << 20
            }
        );
        assert!(
            buf.capacity() < 1 << 20,
            "nothing reserved for a refused frame"
        );
    }

    #[test]
    fn size_above_two_to_the_63_is_refused() {
        let err = decode_all(&[0x02, 0x80, 0, 0, 0, 0, 0, 0, 0]).unwrap_err();
        assert_eq!(err, FrameError::SizeOutOfRange(1 << 63));
    }

    #[test]
    fn an_announced_size_reserves_nothing() {
        let mut buf = BytesMut::from(&[0x02, 0, 0, 0, 0, 0x40, 0, 0, 0][..]);
        let capacity = buf.capacity();
        let mut decoder = FrameDecoder::new();
        assert!(decoder.decode(&mut buf, u64::MAX).unwrap().is_none());
        assert!(buf.is_empty(), "the header was consumed");
        // Nothing reserved for the announced gigabyte. (Whether the consumed header's room
        // still counts as capacity differs between `bytes` releases.)
        assert!(
            buf.capacity() <= capacity,
            "{} > {capacity}",
            buf.capacity()
        );
        assert_eq!(decoder.pending_size(), Some(1 << 30));
    }

    #[test]
    fn bodies_are_slices_of_the_read_buffer() {
        let mut buf = BytesMut::new();
        encode_frame(FrameKind::LAST, &vec![1; 100_000], &mut buf);
        let start = buf.as_ptr() as usize;
        let frame = FrameDecoder::new()
            .decode(&mut buf, u64::MAX)
            .unwrap()
            .unwrap();
        assert_eq!(frame.body.as_ptr() as usize, start + 9);
    }

    #[test]
    fn encoder_batches_small_and_passes_large_by_reference() {
        let mut enc = FrameEncoder::new();
        let big = Bytes::from(vec![5u8; 100_000]);
        enc.push(FrameKind::MORE, &Bytes::from_static(b"ab"));
        enc.push(FrameKind::MORE, &Bytes::from_static(b"cd"));
        enc.push(FrameKind::LAST, &big);
        enc.push_slice(FrameKind::Command, b"\x04PING\x00\x00");
        assert_eq!(enc.pending_bytes(), 4 + 4 + 9 + 100_000 + 9);
        let chunks: Vec<Bytes> = std::iter::from_fn(|| enc.pop_chunk()).collect();
        assert_eq!(chunks.len(), 3);
        assert_eq!(
            &chunks[0][..],
            b"\x01\x02ab\x01\x02cd\x02\0\0\0\0\0\x01\x86\xa0"
        );
        assert_eq!(chunks[1].as_ptr(), big.as_ptr());
        assert_eq!(&chunks[2][..], b"\x04\x07\x04PING\x00\x00");
        assert!(enc.is_empty());
        let joined: Vec<u8> = chunks.concat();
        let frames = decode_all(&joined).unwrap();
        assert_eq!(frames.len(), 4);
        assert_eq!(frames[2].body, big);
    }
}
