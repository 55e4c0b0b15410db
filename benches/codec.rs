//! Framing micro-benchmarks: decoder, encoder, a whole `Connection` pair, and a memcpy
//! baseline, for single-frame messages of 16 B, 1 KiB and 1 MiB.
//!
//! Run with `cargo bench --bench codec`. Every group reports `Throughput::Bytes` counted in
//! *payload* octets (frame headers excluded); frames (= messages) per second follow from
//! dividing by the message size, since each iteration moves `frames_for(size)` frames.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use zmq_sansio::Msg;
use zmq_sansio::proto::{
    Config, Connection, FrameDecoder, FrameEncoder, FrameKind, Role, SocketType, encode_frame,
};

/// Message sizes under test, with their labels.
const SIZES: [(&str, usize); 3] = [("16B", 16), ("1KiB", 1024), ("1MiB", 1 << 20)];

/// Payload each iteration moves: enough frames that per-iteration overhead vanishes.
const PAYLOAD_PER_ITER: usize = 4 << 20;

/// Frames decoded per timed region at least, so the two `Instant::now` calls around it stay
/// negligible even for 1 MiB frames (whose decode never touches the body).
const MIN_FRAMES_PER_TIMING: usize = 64;

/// How much an adapter would hand to one socket write: messages are sent (or pushed) in
/// batches of about this many payload octets, then the queued chunks are drained.
const BATCH_BYTES: usize = 64 << 10;

/// Frames (one per message) each iteration moves for `size`-octet bodies.
fn frames_for(size: usize) -> usize {
    (PAYLOAD_PER_ITER / size).max(1)
}

/// Messages per send batch (see [`BATCH_BYTES`]).
fn batch_for(size: usize) -> usize {
    (BATCH_BYTES / size).max(1)
}

/// `count` distinct bodies of `size` octets, all slices of one allocation (as decoded
/// bodies are), with non-constant contents.
fn bodies(size: usize, count: usize) -> Vec<Bytes> {
    let all: Bytes = (0..size * count).map(|i| (i % 251) as u8).collect();
    (0..count)
        .map(|i| all.slice(i * size..(i + 1) * size))
        .collect()
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
}

/// An encoded stream the decoder can consume again and again without it being rewritten.
///
/// Refilling a read buffer is not the decoder's work (the kernel's `read` does it), and for
/// 1 MiB frames a refill by copying costs ~1000x the decode itself, which would make
/// criterion's iteration count, and the wall time, explode. So after a pass the emptied
/// `BytesMut` reclaims its own (unchanged) allocation and is re-exposed in O(1).
struct ReplayBuffer {
    buf: BytesMut,
    base: *const u8,
    len: usize,
}

impl ReplayBuffer {
    fn new(wire: &[u8]) -> Self {
        let mut buf = BytesMut::with_capacity(wire.len());
        buf.extend_from_slice(wire);
        Self {
            base: buf.as_ptr(),
            len: wire.len(),
            buf,
        }
    }

    /// The full stream again, at the same address, once every decoded body was dropped.
    fn rearm(&mut self) -> &mut BytesMut {
        if self.buf.len() != self.len {
            assert!(self.buf.is_empty(), "the previous pass decoded everything");
            let reclaimed = self.buf.try_reclaim(self.len);
            assert!(
                reclaimed && self.buf.as_ptr() == self.base && self.buf.capacity() >= self.len,
                "the buffer must get its original allocation back"
            );
            // SAFETY: the handle now starts at `base`, the start of the allocation that
            // `new` filled with `len` initialised octets; nothing has written to it since
            // (decoded bodies are read-only views), so those octets are still initialised
            // and still hold the encoded stream.
            unsafe { self.buf.set_len(self.len) };
        }
        &mut self.buf
    }
}

/// Decodes every frame of `buf`, dropping each body as an application would.
fn decode_all(decoder: &mut FrameDecoder, buf: &mut BytesMut) -> usize {
    let mut frames = 0;
    while let Some(frame) = decoder.decode(buf, u64::MAX).expect("a valid stream") {
        black_box(frame.body);
        frames += 1;
    }
    frames
}

/// `FrameDecoder::decode` over a buffer of pre-encoded frames, bodies handed out as `Bytes`.
/// Only the decode loop is timed; re-arming the buffer (see [`ReplayBuffer`]) is not.
fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    configure(&mut group);
    for (label, size) in SIZES {
        let frames = frames_for(size);
        let mut wire = BytesMut::new();
        for body in bodies(size, frames) {
            encode_frame(FrameKind::LAST, &body, &mut wire);
        }
        // Several buffers when one holds few frames (1 MiB), timed as one region.
        let per_timing = MIN_FRAMES_PER_TIMING.div_ceil(frames);
        let mut streams: Vec<ReplayBuffer> =
            (0..per_timing).map(|_| ReplayBuffer::new(&wire)).collect();
        let mut decoder = FrameDecoder::new();
        group.throughput(Throughput::Bytes((frames * size) as u64));
        group.bench_function(label, |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                let mut left = iters as usize;
                while left > 0 {
                    let now = streams.len().min(left);
                    left -= now;
                    for stream in &mut streams[..now] {
                        stream.rearm();
                    }
                    let start = Instant::now();
                    for stream in &mut streams[..now] {
                        let decoded = decode_all(&mut decoder, &mut stream.buf);
                        debug_assert_eq!(decoded, frames);
                    }
                    elapsed += start.elapsed();
                }
                elapsed
            });
        });
    }
    group.finish();
}

/// `FrameEncoder::push` of every message, draining `pop_chunk` after each batch of
/// [`BATCH_BYTES`]: small bodies are copied into one contiguous chunk per batch, large ones
/// (>= the 8 KiB zero-copy threshold) pass through as reference-counted chunks. The bodies
/// exist before timing starts; the encoder persists, as it does inside a connection.
fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    configure(&mut group);
    for (label, size) in SIZES {
        let frames = frames_for(size);
        let bodies = bodies(size, frames);
        let mut encoder = FrameEncoder::new();
        group.throughput(Throughput::Bytes((frames * size) as u64));
        group.bench_function(label, |b| {
            b.iter(|| {
                for batch in bodies.chunks(batch_for(size)) {
                    for body in batch {
                        encoder.push(FrameKind::LAST, body);
                    }
                    while let Some(chunk) = encoder.pop_chunk() {
                        black_box(chunk);
                    }
                }
            });
        });
    }
    group.finish();
}

/// A PUSH client whose handshake with a PULL server is complete.
fn ready_pair(now: Instant) -> (Connection, Connection) {
    let mut client = Connection::new(Config::new(SocketType::Push), Role::Client, now);
    let mut server = Connection::new(Config::new(SocketType::Pull), Role::Server, now);
    let mut moved = usize::MAX;
    while moved > 0 {
        moved = pump(&mut client, &mut server, now) + pump(&mut server, &mut client, now);
    }
    assert!(
        client.is_ready() && server.is_ready(),
        "handshake completes"
    );
    while server.poll_event().is_some() {}
    while client.poll_event().is_some() {}
    (client, server)
}

/// Moves every queued chunk of `from` into `to`, draining `to`'s events after each one
/// (an adapter hands them to the application as they come); returns the octets moved.
fn pump(from: &mut Connection, to: &mut Connection, now: Instant) -> usize {
    let mut moved = 0;
    while let Some(chunk) = from.poll_transmit() {
        moved += chunk.len();
        to.handle_input(&chunk, now).expect("valid traffic");
        while let Some(event) = to.poll_event() {
            black_box(event);
        }
    }
    moved
}

/// The whole pipeline: `Connection::send` on the client, `poll_transmit` chunks fed to the
/// server's `handle_input` (which copies them into its read buffer, as a socket read
/// would), and the server's `Event::Message`s drained. Sent in batches of [`BATCH_BYTES`].
/// The handshake and the messages are made before timing; the pair persists across
/// iterations, so its buffers are in steady state.
fn end_to_end(c: &mut Criterion) {
    let mut group = c.benchmark_group("end_to_end");
    configure(&mut group);
    // 16 B messages take ~15 ms an iteration: equal-sized samples fit the time budget.
    group.sampling_mode(SamplingMode::Flat);
    let now = Instant::now();
    for (label, size) in SIZES {
        let frames = frames_for(size);
        let msgs: Vec<Msg> = bodies(size, frames).into_iter().map(Msg::from).collect();
        let (mut client, mut server) = ready_pair(now);
        group.throughput(Throughput::Bytes((frames * size) as u64));
        group.bench_function(label, |b| {
            b.iter(|| {
                for batch in msgs.chunks(batch_for(size)) {
                    for msg in batch {
                        client.send(msg).expect("connection is ready");
                    }
                    pump(&mut client, &mut server, now);
                }
            });
        });
        // Nothing went missing or sideways.
        client.send(&Msg::from("last")).expect("still ready");
        pump(&mut client, &mut server, now);
        assert!(server.is_ready() && client.pending_transmit() == 0);
    }
    group.finish();
}

/// Baseline: one `copy_from_slice` of the same payload into a preallocated `Vec`. A decoder
/// that hands out slices instead of copying should beat this by far on large frames.
fn memcpy(c: &mut Criterion) {
    let mut group = c.benchmark_group("memcpy");
    configure(&mut group);
    for (label, size) in SIZES {
        let len = frames_for(size) * size;
        let src: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut dst = vec![0u8; len];
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(label, |b| {
            b.iter(|| {
                dst.copy_from_slice(black_box(&src));
                black_box(&mut dst);
            });
        });
    }
    group.finish();
}

criterion_group!(benches, decode, encode, end_to_end, memcpy);
criterion_main!(benches);
