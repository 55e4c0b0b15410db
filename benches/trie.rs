//! `SubscriptionTrie` micro-benchmarks: matching, and adding/removing one subscription, in
//! tries of 10, 10 000 and 100 000 subscriptions. The point is that a match costs the same
//! whatever the number of subscriptions: it walks the message's first octets, not the
//! subscription set.
//!
//! Run with `cargo bench --bench trie` (about a minute). Before the timings it prints the
//! heap the tries take (counted by a wrapping global allocator) and their node count.
//!
//! The subscriptions look like topics: `weather.<city>.<nnnnnn>` (100 cities, the number
//! zero-padded so that no subscription is a prefix of another), held by 512 subscribers
//! (`PeerId`s) in turn. Three more are added to every trie so that the "few" message matches
//! exactly three prefixes at every size: `weather.`, `weather.zurich.` and the message's own
//! topic. The "none" message shares the first seven octets with every subscription, so it
//! walks part of the trie before it misses.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group};
use zmq_sansio::pattern::PeerId;
use zmq_sansio::pattern::trie::SubscriptionTrie;

/// Counts the heap in use, so the benchmark can report what a trie costs.
struct Counting;

static HEAP: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only a counter is updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HEAP.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HEAP.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HEAP.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Trie sizes under test, with their labels.
const SIZES: [(&str, usize); 3] = [("10", 10), ("10k", 10_000), ("100k", 100_000)];

/// Distinct subscribers the subscriptions are spread over.
const SUBSCRIBERS: u64 = 512;

const CITIES: [&str; 100] = [
    "amsterdam",
    "athens",
    "auckland",
    "bangkok",
    "barcelona",
    "beijing",
    "beirut",
    "belgrade",
    "berlin",
    "bern",
    "bogota",
    "boston",
    "brasilia",
    "bratislava",
    "brussels",
    "bucharest",
    "budapest",
    "cairo",
    "calgary",
    "canberra",
    "caracas",
    "chicago",
    "copenhagen",
    "dakar",
    "dallas",
    "delhi",
    "denver",
    "doha",
    "dubai",
    "dublin",
    "edinburgh",
    "florence",
    "frankfurt",
    "geneva",
    "glasgow",
    "hamburg",
    "hanoi",
    "havana",
    "helsinki",
    "houston",
    "istanbul",
    "jakarta",
    "jerusalem",
    "kabul",
    "karachi",
    "kyiv",
    "kinshasa",
    "kyoto",
    "lagos",
    "lima",
    "lisbon",
    "ljubljana",
    "london",
    "luanda",
    "luxembourg",
    "lyon",
    "madrid",
    "manila",
    "marseille",
    "melbourne",
    "mexico",
    "miami",
    "milan",
    "minsk",
    "montreal",
    "moscow",
    "mumbai",
    "munich",
    "nairobi",
    "naples",
    "nicosia",
    "osaka",
    "oslo",
    "ottawa",
    "paris",
    "perth",
    "porto",
    "prague",
    "quito",
    "reykjavik",
    "riga",
    "rome",
    "santiago",
    "seattle",
    "seoul",
    "shanghai",
    "singapore",
    "sofia",
    "stockholm",
    "sydney",
    "taipei",
    "tallinn",
    "tehran",
    "tokyo",
    "toronto",
    "tunis",
    "valletta",
    "vienna",
    "vilnius",
    "warsaw",
];

/// The "few" message: matches `weather.`, `weather.zurich.` and its own topic.
const FEW: &[u8] = b"weather.zurich.999999 temperature=21.5 humidity=40 wind=3";
/// The "none" message: shares `weather` with every subscription, then misses.
const NONE: &[u8] = b"weatherx.zurich.000001 temperature=21.5 humidity=40 wind=3";
/// Not in any trie: adding it creates a branch of six nodes below `weather.zurich.`,
/// removing it prunes the branch again.
const NEW_PREFIX: &[u8] = b"weather.zurich.000000";

/// The `n`th generated subscription.
fn topic(n: usize) -> Vec<u8> {
    let city = CITIES[n % CITIES.len()];
    format!("weather.{city}.{:06}", n / CITIES.len()).into_bytes()
}

/// `size` subscriptions (the three fixed ones included), with their subscribers.
fn subscriptions(size: usize) -> Vec<(Vec<u8>, PeerId)> {
    let fixed = [&b"weather."[..], b"weather.zurich.", &FEW[..21]];
    fixed
        .iter()
        .map(|prefix| prefix.to_vec())
        .chain((0..size - fixed.len()).map(topic))
        .zip((0..).map(|i| PeerId(i % SUBSCRIBERS)))
        .collect()
}

fn build(size: usize) -> SubscriptionTrie<PeerId> {
    let mut trie = SubscriptionTrie::new();
    for (prefix, peer) in subscriptions(size) {
        trie.add(&prefix, peer);
    }
    trie
}

fn matches_of(trie: &SubscriptionTrie<PeerId>, data: &[u8]) -> usize {
    let mut count = 0;
    trie.for_each_match(data, |_| count += 1);
    count
}

/// Heap per subscription and node count, printed once before the timings.
fn report_memory() {
    println!("SubscriptionTrie<PeerId> memory (heap counted by the global allocator):");
    println!(
        "{:>8} {:>12} {:>10} {:>14} {:>12} {:>11}",
        "subs", "heap bytes", "nodes", "bytes/sub", "bytes/node", "nodes/sub"
    );
    for (label, size) in SIZES {
        let subs = subscriptions(size);
        // One node per distinct prefix of a subscription, plus the root.
        let nodes = 1 + subs
            .iter()
            .flat_map(|(p, _)| (1..=p.len()).map(move |n| &p[..n]))
            .collect::<HashSet<_>>()
            .len();
        let before = HEAP.load(Ordering::Relaxed);
        let trie = build(size);
        let heap = HEAP.load(Ordering::Relaxed) - before;
        assert_eq!(trie.len(), size);
        assert_eq!(matches_of(&trie, FEW), 3, "three matches at every size");
        assert_eq!(matches_of(&trie, NONE), 0);
        println!(
            "{label:>8} {heap:>12} {nodes:>10} {:>14.1} {:>12.1} {:>11.2}",
            heap as f64 / size as f64,
            heap as f64 / nodes as f64,
            nodes as f64 / size as f64,
        );
        drop(trie);
    }
    println!();
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30);
}

fn matching(c: &mut Criterion) {
    for (name, data, expected) in [("few", FEW, 3), ("none", NONE, 0)] {
        let mut group = c.benchmark_group(format!("for_each_match/{name}"));
        configure(&mut group);
        for (label, size) in SIZES {
            let trie = build(size);
            assert_eq!(matches_of(&trie, data), expected);
            group.bench_function(label, |b| {
                b.iter(|| matches_of(black_box(&trie), black_box(data)));
            });
        }
        group.finish();

        let mut group = c.benchmark_group(format!("matches/{name}"));
        configure(&mut group);
        for (label, size) in SIZES {
            let trie = build(size);
            assert_eq!(trie.matches(data), expected > 0);
            group.bench_function(label, |b| {
                b.iter(|| black_box(&trie).matches(black_box(data)));
            });
        }
        group.finish();
    }
}

fn add_remove(c: &mut Criterion) {
    // A prefix nobody holds: the add creates a branch of nodes, the remove prunes it.
    let mut group = c.benchmark_group("add_remove/new_prefix");
    configure(&mut group);
    for (label, size) in SIZES {
        let mut trie = build(size);
        group.bench_function(label, |b| {
            b.iter(|| {
                trie.add(black_box(NEW_PREFIX), PeerId(7));
                trie.remove(black_box(NEW_PREFIX), PeerId(7), false)
            });
        });
        assert_eq!(trie.len(), size);
    }
    group.finish();

    // One more reference to a prefix already held (by another subscriber too): no node is
    // created, only the subscriber list of the last node changes.
    let mut group = c.benchmark_group("add_remove/existing_prefix");
    configure(&mut group);
    for (label, size) in SIZES {
        let mut trie = build(size);
        let prefix = &FEW[..21];
        group.bench_function(label, |b| {
            b.iter(|| {
                trie.add(black_box(prefix), PeerId(7));
                trie.remove(black_box(prefix), PeerId(7), false)
            });
        });
        assert_eq!(trie.len(), size);
    }
    group.finish();
}

criterion_group!(benches, matching, add_remove);

fn main() {
    report_memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
