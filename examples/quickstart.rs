//! The whole high-level API in one process, on ephemeral loopback ports: publish/subscribe,
//! request/reply, push/pull and pair. Prints what flows, then exits.
//!
//! Run with `cargo run --example quickstart` (add `RUST_LOG=debug` to see the sockets work).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use zmq_sansio::easy::{
    Error, PPPuller, PPPusher, PairClient, PairServer, Payload, Publisher, RRClient, RRServer,
    Subscriber,
};

#[derive(Debug, Serialize, Deserialize)]
struct Reading {
    city: String,
    celsius: f64,
}

fn main() -> Result<(), Error> {
    env_logger::init();
    smol::block_on(async {
        publish_subscribe().await?;
        request_reply().await?;
        push_pull().await?;
        pair().await?;
        println!("done");
        Ok(())
    })
}

async fn publish_subscribe() -> Result<(), Error> {
    println!("== publish / subscribe");
    let publisher = Publisher::bind("tcp://127.0.0.1:*")?;
    let weather = Subscriber::connect(publisher.endpoint(), 1000)?;
    let alerts = Subscriber::connect(publisher.endpoint(), 10001)?;
    publisher.wait_for_subscribers(2).await;

    publisher.publish("Hi there!").await?;
    let reading = Reading {
        city: "Zürich".into(),
        celsius: 21.5,
    };
    publisher.publish_json(&reading).await?;
    publisher.publish_to(10001, "storm warning").await?;

    for _ in 0..2 {
        match weather.subscribe().await? {
            Payload::Text(text) => println!("subscriber 1000 got text: {text}"),
            Payload::Json(value) => println!("subscriber 1000 got json: {value}"),
        }
    }
    // Id 10001 starts with 1000, yet only its own subscriber sees it.
    println!("subscriber 10001 got: {:?}", alerts.subscribe().await?);
    publisher.close().await;
    weather.close().await;
    alerts.close().await;
    Ok(())
}

async fn request_reply() -> Result<(), Error> {
    println!("== request / reply");
    let server = RRServer::bind("tcp://127.0.0.1:*")?.with_handler(|request: String| async move {
        if request == "fail" {
            Err(format!("cannot handle {request:?}"))
        } else {
            Ok(format!("Echo: {request}"))
        }
    });
    let client = RRClient::connect(server.endpoint())?.with_timeout(Duration::from_secs(5));
    let stop = server.stop_handle();
    let serving = smol::spawn(async move { server.run().await });
    for request in ["Hello", "fail", "World"] {
        println!(
            "request {request:?} -> reply {:?}",
            client.request_text(request).await?
        );
    }
    stop.stop();
    serving.await?;
    client.close().await;
    Ok(())
}

async fn push_pull() -> Result<(), Error> {
    println!("== push / pull");
    let pusher = PPPusher::bind("tcp://127.0.0.1:*")?;
    let pullers = [
        PPPuller::connect(pusher.endpoint())?,
        PPPuller::connect(pusher.endpoint())?,
    ];
    pusher.wait_for_pullers(2).await;
    for i in 1..=4 {
        pusher.push(format!("task {i}")).await?;
    }
    for (n, puller) in pullers.iter().enumerate() {
        for _ in 0..2 {
            let task = puller.pull().await?;
            println!(
                "puller {n} took {:?}",
                String::from_utf8_lossy(&task.frames()[0])
            );
        }
    }
    pusher.close().await;
    Ok(())
}

async fn pair() -> Result<(), Error> {
    println!("== pair");
    let server =
        PairServer::bind("tcp://127.0.0.1:*")?.with_handler(|msg: String| msg.to_uppercase());
    let client = PairClient::connect(server.endpoint())?;
    let stop = server.stop_handle();
    let serving = smol::spawn(async move { server.run().await });
    println!("pair answer: {:?}", client.request_text("ping").await?);
    stop.stop();
    serving.await?;
    client.close().await;
    Ok(())
}
