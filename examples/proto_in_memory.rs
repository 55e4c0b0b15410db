//! Two ZMTP connections talking to each other entirely in memory: no sockets, no runtime,
//! no clock but the `Instant`s we pass in. Prints every octet batch and event that flows.
//!
//! Run with `cargo run --example proto_in_memory`.

use std::time::{Duration, Instant};

use zmq_sansio::Msg;
use zmq_sansio::proto::{Config, Connection, Event, HeartbeatConfig, Role, SocketType};

fn pump(name: &str, from: &mut Connection, to: &mut Connection, now: Instant) -> usize {
    let mut moved = 0;
    while let Some(chunk) = from.poll_transmit() {
        println!("{name:>6} → {:>5} octets: {}", chunk.len(), preview(&chunk));
        to.handle_input(&chunk, now).expect("both sides speak ZMTP");
        moved += chunk.len();
    }
    moved
}

fn preview(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(48)];
    let text = shown.escape_ascii().to_string();
    if bytes.len() > shown.len() {
        format!("{text}…")
    } else {
        text
    }
}

fn report(name: &str, conn: &mut Connection) {
    while let Some(event) = conn.poll_event() {
        match event {
            Event::Ready(peer) => println!(
                "{name:>6} ready: peer is {} over {} ({} mechanism)",
                peer.socket_type, peer.version, peer.mechanism
            ),
            Event::Message(msg) => println!("{name:>6} received {msg:?}"),
            other => println!("{name:>6} event {other:?}"),
        }
    }
}

fn main() {
    let t0 = Instant::now();
    let mut dealer_config = Config::new(SocketType::Dealer);
    dealer_config
        .set_identity("client-1")
        .expect("a valid identity");
    dealer_config.heartbeat = HeartbeatConfig {
        interval: Some(Duration::from_secs(1)),
        ttl: Some(Duration::from_secs(3)),
        timeout: None,
    };
    let mut dealer = Connection::new(dealer_config, Role::Client, t0);
    let mut router = Connection::new(Config::new(SocketType::Router), Role::Server, t0);

    println!("-- greeting and NULL handshake");
    while pump("dealer", &mut dealer, &mut router, t0)
        + pump("router", &mut router, &mut dealer, t0)
        > 0
    {}
    report("dealer", &mut dealer);
    report("router", &mut router);

    println!("-- a multipart message each way");
    dealer
        .send(&Msg::from_frames(["", "hello from the dealer"]))
        .expect("ready");
    pump("dealer", &mut dealer, &mut router, t0);
    report("router", &mut router);
    router
        .send(&Msg::from_frames(["", "hello back"]))
        .expect("ready");
    pump("router", &mut router, &mut dealer, t0);
    report("dealer", &mut dealer);

    println!("-- one second later (virtual time): a heartbeat");
    let t1 = t0 + Duration::from_secs(1);
    dealer.handle_timeout(t1).expect("PING is due");
    pump("dealer", &mut dealer, &mut router, t1);
    pump("router", &mut router, &mut dealer, t1);

    println!("-- then silence: the dealer gives up after its heartbeat timeout");
    while let Some(deadline) = dealer.poll_timeout() {
        match dealer.handle_timeout(deadline) {
            Ok(()) => while dealer.poll_transmit().is_some() {},
            Err(err) => {
                println!("dealer closed at t0+{:?}: {err}", deadline - t0);
                break;
            }
        }
    }
}
