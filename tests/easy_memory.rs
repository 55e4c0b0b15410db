//! The easy servers keep no memory per message served: the live heap, counted by a global
//! allocator, is the same after tens of thousands of requests as after the first thousand.
//! (Each `run()` used to keep a waker clone per request: 16 octets, forever.)

use std::alloc::System;
use std::future::Future;
use std::time::Duration;

use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use zmq_sansio::easy::{PPPuller, PPPusher, PairClient, PairServer, RRClient, RRServer};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Requests before the baseline is taken: buffers, queues and caches reach their size.
const WARM_UP: usize = 2_000;
/// Requests measured. A leak of one pointer-sized word per request shows as 160 KiB.
const MEASURED: usize = 20_000;
/// Growth tolerated over the measured requests (allocator and executor noise).
const SLACK: isize = 48 * 1024;

/// Octets allocated and not freed. (`stats_alloc` already counts a reallocation's growth
/// as allocated and its shrinking as freed; `bytes_reallocated` only tallies them again.)
fn live_heap() -> isize {
    let stats = GLOBAL.stats();
    stats.bytes_allocated as isize - stats.bytes_deallocated as isize
}

fn run<T>(test: impl Future<Output = T>) -> T {
    smol::block_on(smol::future::or(test, async {
        smol::Timer::after(Duration::from_secs(120)).await;
        panic!("not done within 120 s");
    }))
}

/// Runs `exchange` `WARM_UP` times, then `MEASURED` times, and returns how much the live
/// heap grew over the measured part.
async fn growth<F: Future<Output = ()>>(mut exchange: impl FnMut(usize) -> F) -> isize {
    for i in 0..WARM_UP {
        exchange(i).await;
    }
    let before = live_heap();
    for i in WARM_UP..WARM_UP + MEASURED {
        exchange(i).await;
    }
    live_heap() - before
}

fn assert_flat(what: &str, grown: isize) {
    println!("{what}: live heap grew {grown} octets over {MEASURED} messages");
    assert!(
        grown < SLACK,
        "{what}: the live heap grew by {grown} octets over {MEASURED} messages \
         ({:.1} per message): something is kept per message",
        grown as f64 / MEASURED as f64
    );
}

// One test, so the measurements of the three servers cannot overlap.
#[test]
fn serving_keeps_no_memory_per_message() {
    run(async {
        let server = RRServer::bind("tcp://127.0.0.1:*").unwrap();
        let client = RRClient::connect(server.endpoint()).unwrap();
        let serving = smol::spawn(async move { server.run().await });
        let grown = growth(|i| {
            let client = &client;
            async move {
                let text = i.to_string();
                assert_eq!(client.request_text(&text).await.unwrap(), text);
            }
        })
        .await;
        assert_flat("RRServer", grown);
        drop(serving);

        let server = PairServer::bind("tcp://127.0.0.1:*").unwrap();
        let client = PairClient::connect(server.endpoint()).unwrap();
        let serving = smol::spawn(async move { server.run().await });
        let grown = growth(|i| {
            let client = &client;
            async move {
                let text = i.to_string();
                assert_eq!(client.request_text(&text).await.unwrap(), text);
            }
        })
        .await;
        assert_flat("PairServer", grown);
        drop(serving);

        // The puller hands each message to a handler that acknowledges it over a channel,
        // so the pusher never runs ahead and the queues stay the same size.
        let (acks, acked) = smol::channel::bounded::<usize>(1);
        let pusher = PPPusher::bind("tcp://127.0.0.1:*").unwrap();
        let puller =
            PPPuller::connect(pusher.endpoint())
                .unwrap()
                .with_handler(move |msg: String| {
                    acks.try_send(msg.parse().unwrap()).unwrap();
                });
        let pulling = smol::spawn(async move { puller.run().await });
        let grown = growth(|i| {
            let (pusher, acked) = (&pusher, &acked);
            async move {
                pusher.push(i.to_string()).await.unwrap();
                assert_eq!(acked.recv().await.unwrap(), i);
            }
        })
        .await;
        assert_flat("PPPuller", grown);
        drop(pulling);
    });
}
