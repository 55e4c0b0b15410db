//! A connection's receive buffer: incoming octets go into slabs that the decoded frame
//! bodies share (no copy per frame), and a slab whose frames have all been dropped is
//! reused rather than handed back to the allocator.
//!
//! Why reuse matters: a fresh allocation for every large message is memory the kernel must
//! fault in page by page (the allocator returns freed blocks of that size to the system).
//! Profiling 64 KiB messages showed those page faults as the largest single cost of
//! receiving them; a recycled slab is already mapped.

use std::collections::VecDeque;

use bytes::BytesMut;

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

/// Where a connection's incoming octets wait to be decoded.
#[derive(Debug, Default)]
pub(crate) struct RecvBuffer {
    current: BytesMut,
    /// Slabs given up while frames still pointed into them, oldest first.
    retired: VecDeque<BytesMut>,
    /// Capacity of the next fresh slab.
    next_slab: usize,
}

impl RecvBuffer {
    /// The octets received and not yet decoded.
    pub(crate) fn buf(&mut self) -> &mut BytesMut {
        &mut self.current
    }

    /// Appends `data`. `frame_size` is the body size of a frame whose header is decoded and
    /// whose body is still arriving (the undecoded octets are its start): room is made for
    /// all of it at once, so a large body is not copied once per read as it grows.
    pub(crate) fn extend(&mut self, data: &[u8], frame_size: Option<usize>) {
        let len = self.current.len();
        if self.current.capacity() - len < data.len() {
            let frame_end = frame_size.map_or(0, |size| size.min(len + MAX_AHEAD));
            self.make_room((len + data.len()).max(frame_end));
        }
        self.current.extend_from_slice(data);
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
}
