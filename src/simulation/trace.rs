//! What happened in a world, in order, with the virtual time of each step: connections,
//! octets delivered, resets, faults and the application's own notes. Two runs of one
//! scenario with one seed give equal traces; that is how determinism is checked.

use std::sync::Mutex;
use std::time::Duration;

use super::HostId;

/// One step of a [`World`](super::World)'s run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceEvent {
    /// A connection was made from one host to another.
    Connected {
        /// The connection's number in this world.
        connection: u64,
        /// The connecting host.
        from: HostId,
        /// The host that accepted.
        to: HostId,
    },
    /// Octets were read at one end of a connection (0: the connecting end).
    Delivered {
        /// The connection.
        connection: u64,
        /// The end that read.
        to_end: u8,
        /// How many.
        octets: usize,
    },
    /// Both ends of a connection closed.
    Closed {
        /// The connection.
        connection: u64,
    },
    /// A connection was reset.
    Reset {
        /// The connection.
        connection: u64,
    },
    /// A fault of the plan (or one injected by hand) took effect.
    Fault(String),
    /// A host crashed or restarted.
    Host {
        /// The host.
        host: HostId,
        /// `true` for a restart, `false` for a crash.
        up: bool,
    },
    /// A note from the application ([`World::note`](super::World::note)).
    Note(String),
}

/// Events a trace keeps; later ones still count in its digest.
pub const TRACE_CAPACITY: usize = 100_000;

/// The events, with the virtual time since the world's start (the first
/// [`TRACE_CAPACITY`]), and a digest of all of them.
#[derive(Debug, Default)]
pub(crate) struct Trace {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    events: Vec<(Duration, TraceEvent)>,
    digest: u64,
    count: u64,
}

impl Trace {
    pub(crate) fn record(&self, at: Duration, event: TraceEvent) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        // FNV-1a over the event's debug form: stable across runs, no dependency.
        let text = format!("{at:?} {event:?}");
        let mut digest = if state.count == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            state.digest
        };
        for byte in text.bytes() {
            digest ^= u64::from(byte);
            digest = digest.wrapping_mul(0x0100_0000_01b3);
        }
        state.digest = digest;
        state.count += 1;
        if state.events.len() < TRACE_CAPACITY {
            state.events.push((at, event));
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<(Duration, TraceEvent)> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.events.clone()
    }

    /// A digest of every event so far, and how many there were.
    pub(crate) fn digest(&self) -> (u64, u64) {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (state.digest, state.count)
    }
}
