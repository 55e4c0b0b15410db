//! The easy servers keep no memory per message served: the live heap, counted by a global
//! allocator, is the same after tens of thousands of requests as after the first thousand.
//! The same for enveloped publishing and subscribing, and for a subscriber hearing from
//! ever new sources (its sequence tracker stays within its limit).
//! (Each `run()` used to keep a waker clone per request: 16 octets, forever.)

use std::alloc::System;
use std::future::Future;
use std::time::Duration;

use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use zmq_sansio::easy::{
    Envelope, Frame, MsgType, PPPuller, PPPusher, PairClient, PairServer, Publisher, RRClient,
    RRServer, Sequence, Subscriber,
};
use zmq_sansio::io::Socket;
use zmq_sansio::proto::SocketType;

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

        // Enveloped, one message at a time so the queues stay the same size.
        let publisher = Publisher::bind("tcp://127.0.0.1:*")
            .unwrap()
            .with_envelope();
        let subscriber = Subscriber::connect(publisher.endpoint(), 1000).unwrap();
        publisher.wait_for_subscribers(1).await;
        let grown = growth(|i| {
            let (publisher, subscriber) = (&publisher, &subscriber);
            async move {
                publisher.publish(&i.to_string()).await.unwrap();
                let delivery = subscriber.subscribe_envelope().await.unwrap();
                assert_eq!(delivery.envelope.unwrap().seq, i as u64);
            }
        })
        .await;
        assert_flat("enveloped Subscriber", grown);

        // Every message from a new source: the tracker forgets the oldest beyond 16.
        let raw = Socket::new(SocketType::Pub);
        let endpoint = raw.bind("tcp://127.0.0.1:*").unwrap();
        let subscriber = Subscriber::connect(&endpoint, 1)
            .unwrap()
            .with_max_streams(16);
        raw.wait_for_subscribers(1).await;
        let grown = growth(|i| {
            let (raw, subscriber) = (&raw, &subscriber);
            async move {
                let frame = Frame {
                    msgid: 1,
                    envelope: Some(Envelope {
                        timestamp_ms: 0,
                        source: format!("source number {i:08}"),
                        seq: 0,
                    }),
                    msgtype: MsgType::Text,
                    body: String::new(),
                };
                raw.send(frame.to_text().unwrap()).await.unwrap();
                let delivery = subscriber.subscribe_envelope().await.unwrap();
                assert_eq!(delivery.sequence, Some(Sequence::First));
            }
        })
        .await;
        assert_flat("Subscriber hearing from new sources", grown);
        assert_eq!(
            subscriber.sequence_stats().evicted,
            (WARM_UP + MEASURED - 16) as u64
        );
    });
}
