//! A connection's receive buffer: incoming octets go into slabs that the decoded frame
//! bodies share (no copy per frame), and a slab whose frames have all been dropped is
//! reused rather than handed back to the allocator. The body of a large frame is read in
//! place instead: into a buffer of its own that becomes the message, with no copy.
//!
//! Why reuse matters: a fresh allocation for every large message is memory the kernel must
//! fault in page by page (the allocator returns freed blocks of that size to the system).
//! Profiling 64 KiB messages showed those page faults as the largest cost of
//! receiving them; a recycled slab is already mapped. Large bodies are recycled for the
//! same reason, and since a recycled buffer is already initialised, reading into it again
//! costs no clearing either (safe code can only read into initialised memory).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

/// The first slab of a connection: small, so that idle connections stay cheap.
const MIN_SLAB: usize = 1024;
/// Slabs double up to this size while traffic keeps filling them.
const MAX_SLAB: usize = 256 * 1024;
/// Full slabs kept for reuse while frames still point into them. Bounds what one
/// connection holds beyond its live messages to `MAX_RETIRED` slabs.
const MAX_RETIRED: usize = 8;
/// Most room made ahead for a frame whose body is still arriving: a frame header alone
/// must not make a hostile peer's nine octets allocate the whole message limit.
const MAX_AHEAD: usize = 1 << 20;
/// Bodies with at least this much still to arrive once their header is decoded are read in
/// place, into a buffer of their own.
pub(crate) const IN_PLACE_BODY: usize = 32 * 1024;
/// Body buffers kept for reuse once their messages are dropped, and the largest kept: a
/// connection that received a burst of huge messages does not hold on to their memory.
const MAX_SPARE_BODIES: usize = 4;
const MAX_SPARE_BODY: usize = 4 << 20;

/// Where a connection's incoming octets wait to be decoded.
#[derive(Debug, Default)]
pub(crate) struct RecvBuffer {
    current: BytesMut,
    /// Slabs given up while frames still pointed into them, oldest first.
    retired: VecDeque<BytesMut>,
    /// Capacity of the next fresh slab.
    next_slab: usize,
    /// The body of a large frame being read in place.
    body: Option<Body>,
    /// Buffers of earlier bodies; reusable once their messages are gone.
    spare_bodies: Vec<Arc<Vec<u8>>>,
}

/// A large frame's body as it arrives.
#[derive(Debug)]
struct Body {
    /// Initialised up to its length, which may run ahead of `size` (a reused buffer) or
    /// behind it (grown as octets arrive, for bodies beyond `MAX_AHEAD`).
    buf: Vec<u8>,
    filled: usize,
    size: usize,
}

/// What a body `Bytes` owns: the buffer, of which the first `len` octets are the body.
struct BodyOwner(Arc<Vec<u8>>, usize);

impl AsRef<[u8]> for BodyOwner {
    fn as_ref(&self) -> &[u8] {
        &self.0[..self.1]
    }
}

impl RecvBuffer {
    /// The octets received and not yet decoded (outside a body read in place).
    pub(crate) fn buf(&mut self) -> &mut BytesMut {
        &mut self.current
    }

    /// Appends `data`. `frame_size` is the body size of a frame whose header is decoded and
    /// whose body is still arriving (the undecoded octets are its start): room is made for
    /// all of it at once, so a large body is not copied once per read as it grows. During
    /// a body read in place, what belongs to the body goes there; the rest (the next
    /// frames) stays in `data` for the caller to append once the body is taken.
    pub(crate) fn extend<'a>(&mut self, data: &'a [u8], frame_size: Option<usize>) -> &'a [u8] {
        if let Some(body) = &mut self.body {
            let mut data = data;
            while body.filled < body.size && !data.is_empty() {
                let room = body.room();
                let n = room.len().min(data.len());
                room[..n].copy_from_slice(&data[..n]);
                body.filled += n;
                data = &data[n..];
            }
            return data;
        }
        let len = self.current.len();
        if self.current.capacity() - len < data.len() {
            let frame_end = frame_size.map_or(0, |size| size.min(len + MAX_AHEAD));
            self.make_room((len + data.len()).max(frame_end));
        }
        self.current.extend_from_slice(data);
        &[]
    }

    /// Starts reading a body of `size` octets in place; the undecoded octets (at most
    /// `size`: the body's start) move into it.
    pub(crate) fn begin_body(&mut self, size: usize) {
        let start = self.current.len().min(size);
        let target = size.min(MAX_AHEAD).max(start);
        let reusable = self
            .spare_bodies
            .iter()
            .position(|spare| Arc::strong_count(spare) == 1);
        // Unique, so the unwrap cannot fail: nothing else can clone it meanwhile.
        let mut buf = reusable
            .and_then(|i| Arc::try_unwrap(self.spare_bodies.swap_remove(i)).ok())
            .unwrap_or_default();
        if buf.len() < target {
            buf.resize(target, 0);
        }
        buf[..start].copy_from_slice(&self.current[..start]);
        let _ = self.current.split_to(start);
        self.body = Some(Body {
            buf,
            filled: start,
            size,
        });
    }

    /// Whether a body is being read in place.
    pub(crate) fn in_body(&self) -> bool {
        self.body.is_some()
    }

    /// Room for the next octets of the body being read in place (never empty while it is
    /// incomplete), to be filled from the start and confirmed with [`Self::filled`].
    pub(crate) fn body_room(&mut self) -> Option<&mut [u8]> {
        Some(self.body.as_mut()?.room())
    }

    /// `n` octets were written at the start of [`Self::body_room`].
    pub(crate) fn filled(&mut self, n: usize) {
        if let Some(body) = &mut self.body {
            body.filled = (body.filled + n).min(body.size);
        }
    }

    /// The body read in place, once complete: the message's frame, sharing the buffer,
    /// which is kept for reuse once the message is dropped.
    pub(crate) fn take_body(&mut self) -> Option<Bytes> {
        if self.body.as_ref()?.filled < self.body.as_ref()?.size {
            return None;
        }
        let Body { buf, size, .. } = self.body.take()?;
        let buf = Arc::new(buf);
        if buf.len() <= MAX_SPARE_BODY {
            if self.spare_bodies.len() == MAX_SPARE_BODIES {
                self.spare_bodies.remove(0);
            }
            self.spare_bodies.push(Arc::clone(&buf));
        }
        Some(Bytes::from_owner(BodyOwner(buf, size)))
    }

    /// Drops everything buffered and every slab (the connection has failed).
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// Moves the undecoded octets to a slab of at least `needed` octets: the current one if
    /// nothing else uses it any more, a retired one if its frames are gone, or a fresh one.
    fn make_room(&mut self, needed: usize) {
        let additional = needed - self.current.len();
        if self.current.try_reclaim(additional) {
            return;
        }
        // Before the first slab, `current` is an empty buffer that owns no allocation.
        let owns_slab = self.next_slab > 0;
        let reused = self
            .retired
            .iter_mut()
            .position(|slab| slab.try_reclaim(needed))
            .and_then(|i| self.retired.remove(i));
        let mut next = reused.unwrap_or_else(|| {
            self.next_slab = (self.next_slab * 2).clamp(MIN_SLAB, MAX_SLAB);
            BytesMut::with_capacity(self.next_slab.max(needed))
        });
        next.extend_from_slice(&self.current);
        let mut old = std::mem::replace(&mut self.current, next);
        if owns_slab {
            // Even with no room left, the view still shares its slab with the frames cut
            // from it: once they are gone, `try_reclaim` gets the whole slab back.
            old.clear();
            self.retired.push_back(old);
            if self.retired.len() > MAX_RETIRED {
                self.retired.pop_front();
            }
        }
    }
}

impl Body {
    /// Room for the body's next octets (empty only once it is complete), growing the buffer
    /// by doubling when what arrived has filled it: never more than twice what came.
    fn room(&mut self) -> &mut [u8] {
        if self.filled == self.buf.len() && self.buf.len() < self.size {
            let grown = (self.buf.len() * 2).clamp(self.filled + 1, self.size);
            self.buf.resize(grown, 0);
        }
        let end = self.buf.len().min(self.size);
        &mut self.buf[self.filled..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slab_is_reused_once_its_frames_are_dropped() {
        let mut rx = RecvBuffer::default();
        rx.extend(&[1; MIN_SLAB], None); // fills the first slab
        let frame = rx.buf().split().freeze();
        let first = frame.as_ptr();
        rx.extend(&[2; 2 * MIN_SLAB], None); // fills a second one
        let second = rx.buf().split().freeze();
        assert_ne!(second.as_ptr(), first, "the first slab is still in use");
        drop(frame);
        rx.extend(&[3; MIN_SLAB], None); // the first slab is free again
        assert_eq!(rx.buf().as_ptr(), first, "reused, not allocated");
        assert_eq!(&rx.buf()[..], &[3; MIN_SLAB][..]);
        assert_eq!(
            &second[..],
            &[2; 2 * MIN_SLAB][..],
            "live frames are untouched"
        );
    }

    #[test]
    fn undecoded_octets_move_with_the_slab() {
        let mut rx = RecvBuffer::default();
        rx.extend(b"abc", None);
        let _held = rx.buf().split_to(1).freeze();
        rx.extend(&[b'd'; 3 * MIN_SLAB], None);
        assert_eq!(&rx.buf()[..2], b"bc");
        assert_eq!(rx.buf().len(), 2 + 3 * MIN_SLAB);
    }

    #[test]
    fn room_is_made_for_a_whole_frame_but_not_beyond_the_limit() {
        let mut rx = RecvBuffer::default();
        rx.extend(&[0; 100], Some(600_000));
        assert!(rx.buf().capacity() >= 600_000);
        let mut hostile = RecvBuffer::default();
        hostile.extend(&[0; 100], Some(usize::MAX));
        assert!(hostile.buf().capacity() <= 2 * MAX_AHEAD);
    }

    #[test]
    fn retired_slabs_are_bounded() {
        let mut rx = RecvBuffer::default();
        let mut held = Vec::new();
        for _ in 0..4 * MAX_RETIRED {
            rx.extend(&[0; MAX_SLAB], None);
            held.push(rx.buf().split().freeze());
        }
        assert!(rx.retired.len() <= MAX_RETIRED);
    }

    #[test]
    fn a_body_is_read_in_place_and_its_buffer_reused_once_dropped() {
        let mut rx = RecvBuffer::default();
        let size = 100_000;
        rx.extend(&[7; 1000], None); // the body's start, with its header already decoded
        rx.begin_body(size);
        assert!(rx.buf().is_empty(), "the start moved into the body");
        let mut arrived = 1000;
        while let Some(room) = rx.body_room() {
            if room.is_empty() {
                break;
            }
            let n = room.len().min(30_000);
            room[..n].fill(7);
            rx.filled(n);
            arrived += n;
            if arrived == size {
                break;
            }
        }
        let body = rx.take_body().expect("complete");
        assert_eq!(body.len(), size);
        assert!(body.iter().all(|&b| b == 7));
        let first = body.as_ptr();

        // While the message lives its buffer is not reused; once dropped, it is.
        rx.begin_body(size);
        assert_ne!(rx.body_room().unwrap().as_ptr(), first);
        rx.body_room().unwrap().fill(1);
        rx.filled(size);
        let second = rx.take_body().unwrap();
        drop(body);
        rx.begin_body(size);
        let room = rx.body_room().unwrap();
        assert_eq!(room.as_ptr(), first, "reused, not allocated");
        assert_eq!(&second[..3], &[1, 1, 1], "live bodies are untouched");
    }

    #[test]
    fn copied_input_splits_at_the_end_of_the_body() {
        let mut rx = RecvBuffer::default();
        rx.begin_body(40_000);
        let mut input = vec![5u8; 40_000];
        input.extend_from_slice(b"next");
        let rest = rx.extend(&input, None);
        assert_eq!(rest, b"next", "what follows the body is handed back");
        assert_eq!(rx.take_body().unwrap().len(), 40_000);
        assert!(rx.extend(rest, None).is_empty());
        assert_eq!(&rx.buf()[..], b"next");
    }

    #[test]
    fn a_huge_body_grows_with_what_arrives() {
        let mut rx = RecvBuffer::default();
        rx.begin_body(64 << 20); // announced, not sent: no 64 MiB at once
        let room = rx.body_room().unwrap().len();
        assert!(room <= MAX_AHEAD, "{room}");
    }
}
