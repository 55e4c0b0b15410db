//! Subscription memory is accounted in real heap octets: what a publisher charges for its
//! subscribers' prefixes ([`SubscriptionCost`]) is an upper bound of the heap they take,
//! measured here by a counting global allocator, and not a loose one; the per-peer and
//! socket-wide limits hold in those octets; and what leaves is given back.

use std::alloc::System;
use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use zmq_sansio::pattern::{
    InputError, LimitError, Pattern, PatternOptions, PeerId, PeerInput, SubscriptionCost,
};
use zmq_sansio::proto::SocketType;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Octets allocated and not freed.
fn live_heap() -> isize {
    let stats = GLOBAL.stats();
    stats.bytes_allocated as isize - stats.bytes_deallocated as isize
}

/// Heap the pattern needs beyond its subscriptions: a map entry per peer, and the root's
/// edge vector (up to 256 edges, which no single subscription pays for in full).
const SLACK: isize = 32 * 1024;

/// A deterministic generator (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// `len` octets drawn from the first `alphabet` octet values.
    fn prefix(&mut self, len: usize, alphabet: u64) -> Vec<u8> {
        (0..len).map(|_| (self.next() % alphabet) as u8).collect()
    }
}

/// What the pattern should charge: each peer as if alone, the socket each prefix once.
#[derive(Default)]
struct Charges {
    per_peer: BTreeMap<u64, (BTreeSet<Vec<u8>>, usize)>,
    holders: BTreeMap<Vec<u8>, usize>,
    total: usize,
}

impl Charges {
    fn subscribe(&mut self, peer: u64, prefix: &[u8]) {
        let cost = SubscriptionCost::of(prefix.len());
        let (held, charged) = self.per_peer.entry(peer).or_default();
        if held.insert(prefix.to_vec()) {
            *charged += cost.entry + cost.prefix;
            let holders = self.holders.entry(prefix.to_vec()).or_default();
            self.total += cost.entry + if *holders == 0 { cost.prefix } else { 0 };
            *holders += 1;
        }
    }
}

fn publisher(per_peer: usize, total: usize, peers: u64) -> Pattern {
    let mut options = PatternOptions::default();
    options.max_subscription_memory_per_peer = per_peer;
    options.max_subscription_memory = total;
    let mut pattern = Pattern::new(SocketType::Pub, &options);
    for peer in 0..peers {
        pattern.attach(PeerId(peer)).unwrap();
    }
    pattern
}

fn subscribe(pattern: &mut Pattern, peer: u64, prefix: &[u8]) -> Result<(), InputError> {
    pattern.on_input(
        PeerId(peer),
        PeerInput::Subscribe(Bytes::copy_from_slice(prefix)),
    )
}

/// Subscribes `peers` to `prefixes` (each peer all of them, or its share), checking after
/// every one that the heap grown stays within the charges; returns (charged, grown).
fn run(name: &str, peers: u64, prefixes: &[Vec<u8>], shared: bool) -> (usize, isize) {
    // Everything the check needs is computed first: only the pattern allocates while the
    // heap is measured.
    let steps: Vec<(u64, &[u8])> = (0..peers)
        .flat_map(|peer| {
            prefixes
                .iter()
                .enumerate()
                .filter(move |(i, _)| shared || *i as u64 % peers == peer)
                .map(move |(_, prefix)| (peer, &prefix[..]))
        })
        .collect();
    let mut charges = Charges::default();
    let charged: Vec<usize> = steps
        .iter()
        .map(|&(peer, prefix)| {
            charges.subscribe(peer, prefix);
            charges.total
        })
        .collect();
    let total = charges.total;
    drop(charges);

    let mut pattern = publisher(0, 0, peers);
    let before = live_heap();
    for (i, &(peer, prefix)) in steps.iter().enumerate() {
        subscribe(&mut pattern, peer, prefix).unwrap();
        let grown = live_heap() - before;
        assert!(
            grown <= charged[i] as isize + SLACK,
            "{name}: {grown} octets of heap after {} subscriptions, charged only {}",
            i + 1,
            charged[i]
        );
    }
    let grown = live_heap() - before;
    println!(
        "{name}: charged {total} octets, heap grew {grown} ({:.2}x)",
        total as f64 / grown as f64
    );
    for peer in 0..peers {
        pattern.detach(PeerId(peer));
    }
    let left = live_heap() - before;
    assert!(
        left <= SLACK,
        "{name}: {left} octets still held after every subscriber left"
    );
    (total, grown)
}

// One test: the allocator counts every thread, so measurements must not overlap.
#[test]
fn charges_bound_the_real_heap_and_are_given_back() {
    let mut rng = Rng(0x5eed);
    let mut scenarios: Vec<(&str, u64, Vec<Vec<u8>>, bool)> = Vec::new();
    let random = |rng: &mut Rng, n, len, alphabet| -> Vec<Vec<u8>> {
        (0..n).map(|_| rng.prefix(len, alphabet)).collect()
    };
    scenarios.push(("random 7-octet", 1, random(&mut rng, 30_000, 7, 256), false));
    scenarios.push((
        "random 32-octet",
        1,
        random(&mut rng, 10_000, 32, 256),
        false,
    ));
    // Small alphabets make the most edge splits per prefix.
    scenarios.push(("binary 16-octet", 1, random(&mut rng, 30_000, 16, 2), false));
    scenarios.push((
        "ternary 20-octet",
        1,
        random(&mut rng, 30_000, 20, 3),
        false,
    ));
    let chain: Vec<Vec<u8>> = (1..=2_000).map(|len| vec![b'n'; len]).collect();
    scenarios.push(("nested chain", 1, chain, false));
    scenarios.push((
        "long 2000-octet",
        1,
        random(&mut rng, 500, 2_000, 256),
        false,
    ));
    scenarios.push((
        "10 peers sharing",
        10,
        random(&mut rng, 3_000, 7, 256),
        true,
    ));
    scenarios.push((
        "100 peers sharing",
        100,
        random(&mut rng, 300, 7, 256),
        true,
    ));
    scenarios.push((
        "50 peers apart",
        50,
        random(&mut rng, 20_000, 9, 256),
        false,
    ));

    for (name, peers, prefixes, shared) in &scenarios {
        let (charged, grown) = run(name, *peers, prefixes, *shared);
        // An upper bound, but not a loose one: the limits mean what they say.
        assert!(
            (charged as f64) < 2.5 * grown as f64,
            "{name}: charged {charged} for {grown} octets of heap"
        );
    }

    limits_hold_in_heap_octets();
}

/// A hostile peer subscribing distinct prefixes is cut off at its limit, in real octets;
/// peers each under their own limit are cut off at the socket's.
fn limits_hold_in_heap_octets() {
    const PER_PEER: usize = 1 << 20;
    const TOTAL: usize = 3 << 20;
    let mut rng = Rng(7);
    let mut pattern = publisher(PER_PEER, TOTAL, 4);
    let before = live_heap();
    let flood = |pattern: &mut Pattern, rng: &mut Rng, peer: u64| loop {
        if let Err(err) = subscribe(pattern, peer, &rng.prefix(7, 256)) {
            break err;
        }
    };
    let refused = flood(&mut pattern, &mut rng, 0);
    assert_eq!(
        refused,
        InputError::Refused(LimitError::PeerSubscriptionMemory { limit: PER_PEER })
    );
    let grown = live_heap() - before;
    assert!(
        grown <= PER_PEER as isize + SLACK,
        "one peer at its limit took {grown} octets"
    );
    println!("one peer cut off at its limit of {PER_PEER}: heap grew {grown}");

    flood(&mut pattern, &mut rng, 1);
    flood(&mut pattern, &mut rng, 2);
    let refused = flood(&mut pattern, &mut rng, 3);
    assert_eq!(
        refused,
        InputError::Refused(LimitError::SubscriptionMemory { limit: TOTAL })
    );
    let grown = live_heap() - before;
    assert!(
        grown <= TOTAL as isize + SLACK,
        "four peers under a socket limit of {TOTAL} took {grown} octets"
    );
    println!("four peers cut off at the socket limit of {TOTAL}: heap grew {grown}");

    // A refused peer's connection is closed and its subscriptions go: room for others.
    pattern.detach(PeerId(0));
    subscribe(&mut pattern, 3, b"after").unwrap();
    for peer in 1..4 {
        pattern.detach(PeerId(peer));
    }
    let left = live_heap() - before;
    assert!(left <= SLACK, "{left} octets held after everyone left");
}
