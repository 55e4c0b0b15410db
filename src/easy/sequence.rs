//! [`SequenceTracker`]: what a subscriber makes of enveloped messages' sequence numbers:
//! gaps (messages missed), duplicates, late arrivals, restarted sources. Pure and bounded:
//! no clock, no IO, a fixed number of streams remembered.

use std::collections::BTreeMap;
use std::ops::Range;

use super::envelope::Envelope;

/// How far behind the newest sequence number a stream remembers which numbers arrived:
/// within it a repeat is a [`Sequence::Duplicate`] and a number reported missed is
/// [`Sequence::Late`]; beyond it the source is taken to have restarted.
pub const SEQUENCE_WINDOW: u64 = 64;

/// How many streams a [`Subscriber`](super::Subscriber) tracks unless told otherwise
/// ([`Subscriber::with_max_streams`](super::Subscriber::with_max_streams)).
pub const DEFAULT_MAX_STREAMS: usize = 1024;

/// Where one enveloped message stands in its stream (its source's messages under its
/// message id), as judged from what arrived before it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Sequence {
    /// The first message seen from this stream (or the first since it was evicted): there
    /// is nothing to compare with. A subscriber joining late sees any number here, as
    /// PUB/SUB drops what is published before a subscription arrives.
    First,
    /// The number after the previous newest: nothing missed.
    InOrder,
    /// Messages were missed before this one: the numbers in `missed` (they may still
    /// arrive, as [`Sequence::Late`]).
    Gap {
        /// The numbers skipped, `start..end` with `end` this message's number.
        missed: Range<u64>,
    },
    /// A number not received before, arriving after later ones (reordered): usually one
    /// a [`Sequence::Gap`] reported missed, or one from before the stream's
    /// [`Sequence::First`], within [`SEQUENCE_WINDOW`] of the newest.
    Late,
    /// A number already received (a second connection to the same publisher, or a
    /// replay).
    Duplicate,
    /// A number more than [`SEQUENCE_WINDOW`] behind the newest: the source most likely
    /// restarted under the same id (only possible with an explicit id). Tracking starts
    /// over from this message.
    Restart {
        /// The newest number seen before.
        previous: u64,
    },
}

impl Sequence {
    /// How many messages this one revealed as missed (non-zero only for a gap).
    pub fn missed_count(&self) -> u64 {
        match self {
            Sequence::Gap { missed } => missed.end - missed.start,
            _ => 0,
        }
    }
}

/// Counts over every enveloped message a tracker judged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SequenceStats {
    /// Enveloped messages judged.
    pub received: u64,
    /// [`Sequence::First`]: streams started (including again after eviction).
    pub first: u64,
    /// [`Sequence::InOrder`].
    pub in_order: u64,
    /// [`Sequence::Gap`]s.
    pub gaps: u64,
    /// Messages reported missed, summed over gaps (those that then arrived late are also
    /// counted in `late`).
    pub missed: u64,
    /// [`Sequence::Late`].
    pub late: u64,
    /// [`Sequence::Duplicate`].
    pub duplicates: u64,
    /// [`Sequence::Restart`].
    pub restarts: u64,
    /// Streams forgotten to stay within the limit.
    pub evicted: u64,
}

/// One stream's memory: the newest number and which of the [`SEQUENCE_WINDOW`] before it
/// arrived.
#[derive(Debug, Clone)]
struct Stream {
    newest: u64,
    /// Bit `i` set: number `newest - i` arrived.
    seen: u64,
    /// When it was last used, the key of `SequenceTracker::by_use`.
    last_use: u64,
}

type StreamKey = (i64, String);

/// Judges enveloped messages by their sequence numbers, per stream: one source's messages
/// under one message id (the publisher counts them so; a [`Subscriber`](super::Subscriber)
/// receives a single id, so for it a stream is a source).
///
/// Memory is bounded: at most `max_streams` streams are remembered, each with its source
/// id (at most [`MAX_SOURCE_LEN`](super::MAX_SOURCE_LEN) octets, kept twice) and a few
/// words. A new stream beyond the limit evicts the one least recently seen; if that one
/// sends again it starts over as [`Sequence::First`], so nothing is misreported, only not
/// judged.
///
/// ```
/// use zmq_sansio::easy::{Envelope, Sequence, SequenceTracker};
///
/// let mut tracker = SequenceTracker::new(16);
/// let at = |seq| Envelope { timestamp_ms: 0, source: "a".into(), seq };
/// assert_eq!(tracker.observe(7, &at(0)), Sequence::First);
/// assert_eq!(tracker.observe(7, &at(1)), Sequence::InOrder);
/// assert_eq!(tracker.observe(7, &at(4)), Sequence::Gap { missed: 2..4 });
/// assert_eq!(tracker.observe(7, &at(3)), Sequence::Late);
/// assert_eq!(tracker.observe(7, &at(3)), Sequence::Duplicate);
/// assert_eq!(tracker.stats().missed, 2);
/// ```
#[derive(Debug, Clone)]
pub struct SequenceTracker {
    max_streams: usize,
    streams: BTreeMap<StreamKey, Stream>,
    /// Streams by last use, oldest first.
    by_use: BTreeMap<u64, StreamKey>,
    uses: u64,
    stats: SequenceStats,
}

impl Default for SequenceTracker {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_STREAMS)
    }
}

impl SequenceTracker {
    /// A tracker remembering at most `max_streams` streams (at least one).
    pub fn new(max_streams: usize) -> Self {
        Self {
            max_streams: max_streams.max(1),
            streams: BTreeMap::new(),
            by_use: BTreeMap::new(),
            uses: 0,
            stats: SequenceStats::default(),
        }
    }

    /// The most streams remembered.
    pub fn max_streams(&self) -> usize {
        self.max_streams
    }

    /// Streams remembered now.
    pub fn streams(&self) -> usize {
        self.streams.len()
    }

    /// The counts so far.
    pub fn stats(&self) -> SequenceStats {
        self.stats
    }

    /// Judges one message of id `msgid` and remembers it.
    pub fn observe(&mut self, msgid: i64, envelope: &Envelope) -> Sequence {
        self.uses += 1;
        let now = self.uses;
        let seq = envelope.seq;
        let key = (msgid, envelope.source.clone());
        let verdict = match self.streams.get_mut(&key) {
            None => {
                self.make_room();
                self.streams.insert(
                    key.clone(),
                    Stream {
                        newest: seq,
                        seen: 1,
                        last_use: now,
                    },
                );
                Sequence::First
            }
            Some(stream) => {
                self.by_use.remove(&stream.last_use);
                stream.last_use = now;
                judge(stream, seq)
            }
        };
        self.by_use.insert(now, key);
        self.count(&verdict);
        verdict
    }

    /// Forgets the least recently seen stream if the limit is reached.
    fn make_room(&mut self) {
        while self.streams.len() >= self.max_streams {
            let Some((_, key)) = self.by_use.pop_first() else {
                return;
            };
            self.streams.remove(&key);
            self.stats.evicted += 1;
        }
    }

    fn count(&mut self, verdict: &Sequence) {
        let stats = &mut self.stats;
        stats.received += 1;
        match verdict {
            Sequence::First => stats.first += 1,
            Sequence::InOrder => stats.in_order += 1,
            Sequence::Gap { missed } => {
                stats.gaps += 1;
                stats.missed += missed.end - missed.start;
            }
            Sequence::Late => stats.late += 1,
            Sequence::Duplicate => stats.duplicates += 1,
            Sequence::Restart { .. } => stats.restarts += 1,
        }
    }
}

/// Places `seq` in a known stream and updates it.
fn judge(stream: &mut Stream, seq: u64) -> Sequence {
    if seq > stream.newest {
        let ahead = seq - stream.newest;
        let verdict = if ahead == 1 {
            Sequence::InOrder
        } else {
            Sequence::Gap {
                missed: stream.newest + 1..seq,
            }
        };
        stream.seen = if ahead >= SEQUENCE_WINDOW {
            1
        } else {
            stream.seen << ahead | 1
        };
        stream.newest = seq;
        return verdict;
    }
    let behind = stream.newest - seq;
    if behind >= SEQUENCE_WINDOW {
        let previous = stream.newest;
        stream.newest = seq;
        stream.seen = 1;
        return Sequence::Restart { previous };
    }
    let bit = 1u64 << behind;
    if stream.seen & bit != 0 {
        Sequence::Duplicate
    } else {
        stream.seen |= bit;
        Sequence::Late
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(source: &str, seq: u64) -> Envelope {
        Envelope {
            timestamp_ms: 0,
            source: source.into(),
            seq,
        }
    }

    #[test]
    fn gaps_late_arrivals_and_duplicates() {
        let mut t = SequenceTracker::new(8);
        assert_eq!(t.observe(1, &from("a", 10)), Sequence::First);
        assert_eq!(t.observe(1, &from("a", 11)), Sequence::InOrder);
        assert_eq!(t.observe(1, &from("a", 11)), Sequence::Duplicate);
        assert_eq!(
            t.observe(1, &from("a", 15)),
            Sequence::Gap { missed: 12..15 }
        );
        assert_eq!(t.observe(1, &from("a", 13)), Sequence::Late);
        assert_eq!(t.observe(1, &from("a", 13)), Sequence::Duplicate);
        assert_eq!(t.observe(1, &from("a", 10)), Sequence::Duplicate);
        // Another source, and the same source under another id, are streams of their own.
        assert_eq!(t.observe(1, &from("b", 12)), Sequence::First);
        assert_eq!(t.observe(2, &from("a", 0)), Sequence::First);
        assert_eq!(t.observe(1, &from("a", 16)), Sequence::InOrder);
        let stats = t.stats();
        assert_eq!(
            (stats.received, stats.first, stats.in_order, stats.gaps),
            (10, 3, 2, 1)
        );
        assert_eq!(
            (stats.missed, stats.late, stats.duplicates, stats.restarts),
            (3, 1, 3, 0)
        );
    }

    #[test]
    fn the_window_edge_and_restarts() {
        let mut t = SequenceTracker::new(8);
        t.observe(1, &from("a", 100));
        assert_eq!(t.observe(1, &from("a", 100 - 63)), Sequence::Late);
        assert_eq!(
            t.observe(1, &from("a", 100 - 64)),
            Sequence::Restart { previous: 100 }
        );
        assert_eq!(t.observe(1, &from("a", 37)), Sequence::InOrder);
        // A jump of a whole window or more forgets every earlier bit.
        assert_eq!(
            t.observe(1, &from("a", 37 + 64)),
            Sequence::Gap { missed: 38..101 }
        );
        assert_eq!(t.observe(1, &from("a", 37 + 1)), Sequence::Late);
        assert_eq!(t.stats().restarts, 1);
        // The largest number does not overflow.
        assert_eq!(
            t.observe(1, &from("a", u64::MAX)),
            Sequence::Gap {
                missed: 102..u64::MAX
            }
        );
        assert_eq!(t.observe(1, &from("a", u64::MAX)), Sequence::Duplicate);
    }

    #[test]
    fn least_recently_seen_streams_are_evicted() {
        let mut t = SequenceTracker::new(2);
        t.observe(1, &from("a", 0));
        t.observe(1, &from("b", 0));
        t.observe(1, &from("a", 1)); // b is now the least recently seen
        assert_eq!(t.observe(1, &from("c", 0)), Sequence::First);
        assert_eq!(t.streams(), 2);
        assert_eq!(t.observe(1, &from("a", 2)), Sequence::InOrder, "a was kept");
        assert_eq!(
            t.observe(1, &from("b", 1)),
            Sequence::First,
            "b was forgotten"
        );
        assert_eq!(t.stats().evicted, 2);
        assert_eq!(t.streams(), 2);
        assert_eq!(SequenceTracker::new(0).max_streams(), 1);
    }

    #[test]
    fn memory_stays_within_the_limit() {
        let mut t = SequenceTracker::new(16);
        for i in 0..10_000u64 {
            t.observe(1, &from(&format!("s{}", i % 100), i / 100));
            assert!(t.streams() <= 16 && t.by_use.len() == t.streams());
        }
    }
}
