//! A last value cache (the ZeroMQ guide's LVC pattern) on ZMQ_XPUB_MANUAL: a proxy between
//! a publisher and its subscribers that remembers the latest message of every topic and
//! hands it to each new subscriber at once, instead of leaving it to wait for the next
//! update.
//!
//! `cargo run --example last_value_cache`
//!
//! The proxy's XSUB takes everything from upstream; its XPUB, in manual mode, receives each
//! subscription as a message and applies it itself (`Socket::subscribe` acts for the
//! subscriber that sent the one received last), then replays the cached value. As in
//! libzmq without ZMQ_XPUB_MANUAL_LAST_VALUE, the replay reaches every subscriber of that
//! topic, not only the newcomer.

use std::collections::HashMap;

use bytes::Bytes;
use smol::channel::{Sender, unbounded};
use smol::future::or;
use zmq_sansio::Msg;
use zmq_sansio::io::{Error, Socket};
use zmq_sansio::proto::SocketType;

/// What the proxy saw, one step at a time.
enum Step {
    Upstream(Msg),
    Downstream(Msg),
}

/// Forwards `upstream` to `downstream`, caching the newest message of each topic (its first
/// frame) and replaying it to whoever subscribes to that topic. Reports each cached topic
/// on `cached`.
async fn last_value_cache(
    upstream: Socket,
    downstream: Socket,
    cached: Sender<Bytes>,
) -> Result<(), Error> {
    let mut cache: HashMap<Bytes, Msg> = HashMap::new();
    loop {
        // Both receives are cancel-safe: the one that loses the race takes nothing.
        let step = or(async { upstream.recv().await.map(Step::Upstream) }, async {
            downstream.recv().await.map(Step::Downstream)
        })
        .await?;
        match step {
            Step::Upstream(msg) => {
                let topic = msg.first().cloned().unwrap_or_default();
                cache.insert(topic.clone(), msg.clone());
                downstream.send(msg).await?;
                let _ = cached.send(topic).await;
            }
            Step::Downstream(notice) => {
                let frame = notice.first().cloned().unwrap_or_default();
                match frame.split_first() {
                    Some((1, topic)) => {
                        downstream.subscribe(topic)?;
                        if let Some(last) = cache.get(topic) {
                            downstream.send(last.clone()).await?;
                        }
                    }
                    Some((0, topic)) => downstream.unsubscribe(topic)?,
                    _ => {} // an upstream message from a subscriber: not for a cache
                }
            }
        }
    }
}

fn main() -> Result<(), Error> {
    smol::block_on(async {
        let publisher = Socket::new(SocketType::Pub);
        let upstream = publisher.bind("tcp://127.0.0.1:*")?;

        let proxy_in = Socket::builder(SocketType::XSub).subscribe("").build()?;
        proxy_in.connect(&upstream)?;
        let proxy_out = Socket::builder(SocketType::XPub)
            .xpub_manual(true)
            .build()?;
        let downstream = proxy_out.bind("tcp://127.0.0.1:*")?;
        let (cached_tx, cached) = unbounded();
        let proxy = smol::spawn(last_value_cache(proxy_in, proxy_out, cached_tx));

        // The publisher sends each topic once, before anyone downstream listens.
        publisher.wait_for_subscribers(1).await;
        publisher
            .send(Msg::from_frames(["weather", "sunny"]))
            .await?;
        publisher
            .send(Msg::from_frames(["traffic", "jammed"]))
            .await?;
        for _ in 0..2 {
            let topic = cached.recv().await.expect("the proxy runs");
            println!("cached: {}", topic.escape_ascii());
        }

        // A late subscriber still gets the weather at once, from the cache.
        let late = Socket::builder(SocketType::Sub)
            .subscribe("weather")
            .build()?;
        late.connect(&downstream)?;
        let msg = late.recv().await?;
        let text: Vec<String> = msg
            .frames()
            .iter()
            .map(|frame| frame.escape_ascii().to_string())
            .collect();
        println!("late subscriber got: {text:?}");
        assert_eq!(msg, Msg::from_frames(["weather", "sunny"]));

        drop(proxy.cancel().await);
        late.close().await;
        publisher.close().await;
        Ok(())
    })
}
