//! `FrameDecoder`, `encode_frame` and `FrameEncoder` on arbitrary octets.
//!
//! Input: `[chunk seed, zero-copy threshold / 16, max size (u16 LE, 0xFFFF: none)]` then
//! the stream. Invariants:
//! - decoding the stream whole and in chunks (a pattern picked by the chunk seed) gives the
//!   same frames, the same error and the same undecoded tail;
//! - no frame body exceeds the size limit;
//! - every frame re-encodes canonically (`encode_frame`), byte for byte as on the wire when
//!   the wire form was canonical, and decodes back to itself, with the limit exact;
//! - a `FrameEncoder` fed the frames (by reference and by copy) accounts its pending octets
//!   exactly, passes large bodies through without a copy, and its output decodes back to
//!   the same frames.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use zmq_sansio::proto::{Frame, FrameDecoder, FrameEncoder, FrameError, encode_frame, header_len};
use zmq_sansio_fuzz::Chunker;

fuzz_target!(|data: &[u8]| {
    let Some((&[chunk_seed, threshold, limit_lo, limit_hi], stream)) = data.split_first_chunk()
    else {
        return;
    };
    let limit = match u16::from_le_bytes([limit_lo, limit_hi]) {
        u16::MAX => u64::MAX,
        limit => u64::from(limit),
    };

    let whole = decode_whole(stream, limit);
    let chunked = decode_chunked(stream, limit, Chunker::new(chunk_seed));
    assert_eq!(whole.frames, chunked.frames, "frames depend on chunking");
    assert_eq!(whole.error, chunked.error, "error depends on chunking");
    if whole.error.is_none() {
        assert_eq!(
            whole.tail, chunked.tail,
            "undecoded tail depends on chunking"
        );
    }

    for (frame, wire) in whole.frames.iter().zip(&whole.wire) {
        assert!(frame.body.len() as u64 <= limit, "frame above the limit");
        check_reencode(frame, wire);
    }
    check_encoder(&whole.frames, usize::from(threshold) * 16);
});

/// What decoding produced.
struct Decoded {
    frames: Vec<Frame>,
    /// The wire octets of each frame (only tracked when decoding whole).
    wire: Vec<Bytes>,
    /// The error that stopped decoding.
    error: Option<FrameError>,
    /// Undecoded octets (a partial frame) and whether the decoder sits between frames.
    tail: (BytesMut, bool),
}

fn decode_whole(stream: &[u8], limit: u64) -> Decoded {
    let stream = Bytes::copy_from_slice(stream);
    let mut buf = BytesMut::from(&stream[..]);
    let mut decoder = FrameDecoder::new();
    let (mut frames, mut wire, mut error) = (Vec::new(), Vec::new(), None);
    loop {
        let start = stream.len() - buf.len();
        match decoder.decode(&mut buf, limit) {
            Ok(Some(frame)) => {
                wire.push(stream.slice(start..stream.len() - buf.len()));
                frames.push(frame);
            }
            Ok(None) => break,
            Err(err) => {
                error = Some(err);
                break;
            }
        }
    }
    let at_boundary = decoder.at_boundary(&buf);
    Decoded {
        frames,
        wire,
        error,
        tail: (buf, at_boundary),
    }
}

fn decode_chunked(stream: &[u8], limit: u64, chunker: Chunker) -> Decoded {
    let mut buf = BytesMut::new();
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    for chunk in chunker.split(stream) {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf, limit) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(err) => {
                    return Decoded {
                        frames,
                        wire: Vec::new(),
                        error: Some(err),
                        tail: (buf, false),
                    };
                }
            }
        }
    }
    let at_boundary = decoder.at_boundary(&buf);
    Decoded {
        frames,
        wire: Vec::new(),
        error: None,
        tail: (buf, at_boundary),
    }
}

/// `encode_frame` is canonical and inverse to decoding; the size limit is inclusive.
fn check_reencode(frame: &Frame, wire: &[u8]) {
    let len = frame.body.len();
    let mut out = BytesMut::new();
    encode_frame(frame.kind, &frame.body, &mut out);
    assert_eq!(out.len(), header_len(len) + len, "non-canonical encoding");
    // A short header for a long body cannot exist, but a long header for a short body can:
    // only the canonical wire form must come back byte for byte.
    if wire.len() == out.len() {
        assert_eq!(&out[..], wire, "canonical frame re-encoded differently");
    }

    let mut buf = out.clone();
    let mut decoder = FrameDecoder::new();
    let again = decoder
        .decode(&mut buf, len as u64)
        .expect("limit is inclusive");
    assert_eq!(
        again.as_ref(),
        Some(frame),
        "re-encoded frame decodes differently"
    );
    assert!(
        decoder.at_boundary(&buf),
        "re-encoded frame left octets behind"
    );

    if len > 0 {
        let mut buf = out;
        let refused = FrameDecoder::new().decode(&mut buf, len as u64 - 1);
        assert_eq!(
            refused,
            Err(FrameError::TooLarge {
                size: len as u64,
                limit: len as u64 - 1
            })
        );
    }
}

/// The batching encoder: exact accounting, zero-copy for large bodies, lossless output.
fn check_encoder(frames: &[Frame], threshold: usize) {
    let mut encoder = FrameEncoder::with_zero_copy_threshold(threshold);
    let mut expected_pending = 0;
    let mut by_reference = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        // Alternate between the two ways of queuing, so both paths meet both frame sizes.
        if i % 2 == 0 {
            encoder.push(frame.kind, &frame.body);
            if !frame.body.is_empty() && frame.body.len() >= threshold {
                by_reference.push(frame.body.clone());
            }
        } else {
            encoder.push_slice(frame.kind, &frame.body);
        }
        expected_pending += header_len(frame.body.len()) + frame.body.len();
        assert_eq!(encoder.pending_bytes(), expected_pending);
    }

    let mut output = BytesMut::new();
    let mut shared = by_reference.iter().peekable();
    while let Some(chunk) = encoder.pop_chunk() {
        expected_pending -= chunk.len();
        assert_eq!(encoder.pending_bytes(), expected_pending);
        if let Some(body) = shared.next_if(|body| body.as_ptr() == chunk.as_ptr()) {
            assert_eq!(body.len(), chunk.len(), "a shared body was cut");
        }
        output.extend_from_slice(&chunk);
    }
    assert!(encoder.is_empty());
    assert_eq!(shared.next(), None, "a large body was copied");

    let mut decoder = FrameDecoder::new();
    for frame in frames {
        let decoded = decoder.decode(&mut output, u64::MAX).expect("valid output");
        assert_eq!(
            decoded.as_ref(),
            Some(frame),
            "encoder output decodes differently"
        );
    }
    assert!(
        decoder.at_boundary(&output),
        "encoder output has extra octets"
    );
}
