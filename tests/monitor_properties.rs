//! Properties of monitor events: the lossy queue never refuses, never reorders and accounts
//! for every drop; in a simulated network under random connects, drops, partitions and
//! time, each peer's events follow its connection's life in order.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use zmq_sansio::pattern::{DisconnectReason, MonitorEvent, MonitorQueue, PeerId, SocketOptions};
use zmq_sansio::proto::{ConnectionError, HeartbeatConfig, SocketType};
use zmq_sansio::sim::{LinkId, Network, SocketId};

fn event(n: u64) -> MonitorEvent {
    MonitorEvent::Disconnected {
        endpoint: "sim://0".into(),
        peer: PeerId(n),
        reason: DisconnectReason::PeerClosed,
    }
}

proptest! {
    /// Pushes never fail; what comes out is what went in, in order, with the drops
    /// counted in `Missed` markers where they happened.
    #[test]
    fn the_queue_keeps_order_and_counts_every_drop(
        capacity in 2usize..8,
        ops in prop::collection::vec(any::<bool>(), 0..200),
    ) {
        let mut queue = MonitorQueue::new(capacity);
        let mut pushed = 0u64;
        let mut out = Vec::new();
        for push in ops {
            if push {
                queue.push(event(pushed));
                pushed += 1;
            } else if let Some(e) = queue.pop() {
                out.push(e);
            }
        }
        while let Some(e) = queue.pop() {
            out.push(e);
        }
        // Replaying the output: each real event follows the last one seen, skipping
        // exactly the number of events the marker before it announced.
        let mut next = 0u64;
        for e in &out {
            match e {
                MonitorEvent::Missed { count } => next += count,
                MonitorEvent::Disconnected { peer, .. } => {
                    prop_assert_eq!(peer.0, next, "in order, gaps where marked");
                    next += 1;
                }
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
        prop_assert_eq!(next, pushed, "every event delivered or counted");
        prop_assert_eq!(
            queue.missed_total(),
            out.iter().map(|e| match e {
                MonitorEvent::Missed { count } => *count,
                _ => 0,
            }).sum::<u64>()
        );
    }
}

/// What a test does to the simulated network.
#[derive(Debug, Clone)]
enum Op {
    Disconnect(usize),
    Reconnect(usize),
    Partition(usize, bool),
    Advance(u64),
    Send(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0usize..3).prop_map(Op::Disconnect),
        (0usize..3).prop_map(Op::Reconnect),
        (0usize..3, any::<bool>()).prop_map(|(l, p)| Op::Partition(l, p)),
        (1u64..3000).prop_map(Op::Advance),
        (0usize..3).prop_map(Op::Send),
    ]
}

/// Where each peer is in its connection's life, from the events seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    Down,
    Handshaking,
    Up,
    Failed,
}

/// Checks that `events` (one socket's, in order) follow each connection's life: up
/// (connected or accepted), then the handshake's outcome, then disconnected; never a
/// disconnection without a connection before it.
fn check_lives(events: &[MonitorEvent]) -> Result<(), TestCaseError> {
    let mut lives: BTreeMap<PeerId, Life> = BTreeMap::new();
    for e in events {
        let Some(peer) = e.peer() else { continue };
        let life = lives.entry(peer).or_insert(Life::Down);
        *life = match (e, *life) {
            (MonitorEvent::ConnectDelayed { .. }, Life::Down) => Life::Down,
            (MonitorEvent::Connected { .. } | MonitorEvent::Accepted { .. }, Life::Down) => {
                Life::Handshaking
            }
            (MonitorEvent::HandshakeSucceeded { .. }, Life::Handshaking) => Life::Up,
            (MonitorEvent::HandshakeFailed { .. }, Life::Handshaking) => Life::Failed,
            (MonitorEvent::Disconnected { .. }, Life::Up | Life::Failed) => Life::Down,
            (other, life) => {
                return Err(TestCaseError::fail(format!(
                    "{other} while {life:?}; events: {events:#?}"
                )));
            }
        };
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn each_peer_s_events_follow_its_connection(ops in prop::collection::vec(op(), 0..40)) {
        let start = Instant::now();
        let mut net = Network::new(start);
        let mut options = SocketOptions::new(SocketType::Push);
        options.connection.heartbeat = HeartbeatConfig {
            interval: Some(Duration::from_millis(500)),
            timeout: Some(Duration::from_millis(1500)),
            ttl: None,
        };
        let push = net.add_socket(options.clone());
        let mut options = options;
        options.connection.socket_type = SocketType::Pull;
        let pulls: Vec<SocketId> = (0..3).map(|_| net.add_socket(options.clone())).collect();
        let links: Vec<LinkId> = pulls.iter().map(|&pull| net.connect(push, pull)).collect();
        net.run();
        for op in ops {
            match op {
                Op::Disconnect(l) => net.disconnect(links[l]),
                Op::Reconnect(l) => net.reconnect(links[l]),
                Op::Partition(l, p) => net.partition(links[l], p),
                Op::Advance(ms) => net.advance(Duration::from_millis(ms)),
                Op::Send(n) => {
                    let _ = net.socket(push).send(format!("{n}").into());
                }
            }
            net.run();
        }
        check_lives(&net.take_monitor_events(push))?;
        for pull in pulls {
            check_lives(&net.take_monitor_events(pull))?;
        }
    }
}

#[test]
fn a_partition_ends_in_a_heartbeat_timeout_with_its_reason() {
    let mut net = Network::new(Instant::now());
    let mut options = SocketOptions::new(SocketType::Dealer);
    options.connection.heartbeat = HeartbeatConfig {
        interval: Some(Duration::from_millis(100)),
        timeout: Some(Duration::from_millis(300)),
        ttl: None,
    };
    let dealer = net.add_socket(options);
    let router = net.add_socket(SocketOptions::new(SocketType::Router));
    let link = net.connect(dealer, router);
    net.run();
    let events = net.take_monitor_events(dealer);
    assert!(
        matches!(
            events.as_slice(),
            [
                MonitorEvent::ConnectDelayed { .. },
                MonitorEvent::Connected { .. },
                MonitorEvent::HandshakeSucceeded { info, .. },
            ] if info.socket_type == SocketType::Router
        ),
        "{events:#?}"
    );
    net.partition(link, true);
    net.advance(Duration::from_secs(1));
    let events = net.take_monitor_events(dealer);
    assert!(
        matches!(
            events.as_slice(),
            [MonitorEvent::Disconnected {
                reason: DisconnectReason::Protocol(ConnectionError::HeartbeatTimeout(_)),
                ..
            }]
        ),
        "{events:#?}"
    );
    let events = net.take_monitor_events(router);
    assert!(
        matches!(
            events.as_slice(),
            [
                MonitorEvent::Accepted { .. },
                MonitorEvent::HandshakeSucceeded { .. },
                MonitorEvent::Disconnected {
                    reason: DisconnectReason::PeerClosed,
                    ..
                },
            ]
        ),
        "{events:#?}"
    );
}
