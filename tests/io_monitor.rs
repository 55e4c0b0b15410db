//! Monitor events of `io::Socket` over loopback TCP: the order of a connection's life on
//! both sides, typed handshake failures, retries with their delays, listeners, and a
//! monitor that nobody reads never holding the socket up.

mod support;

use std::time::Duration;

use futures::StreamExt;
use support::bounded;
use zmq_sansio::Msg;
use zmq_sansio::io::{DisconnectReason, Monitor, MonitorEvent, Socket};
use zmq_sansio::proto::{ConnectionError, SocketType};
use zmq_sansio::security::{AuthDecision, Security};

/// The next event, waiting for it (bounded by the tests' patience).
fn next(monitor: &mut Monitor) -> MonitorEvent {
    bounded("the next monitor event", monitor.next()).expect("the monitor ended early")
}

/// Events until (and including) the first one `stop` accepts.
fn until(monitor: &mut Monitor, stop: impl Fn(&MonitorEvent) -> bool) -> Vec<MonitorEvent> {
    let mut events = Vec::new();
    loop {
        let event = next(monitor);
        let done = stop(&event);
        events.push(event);
        if done {
            return events;
        }
    }
}

/// A short name for each event, to compare sequences.
fn names(events: &[MonitorEvent]) -> Vec<&'static str> {
    events
        .iter()
        .map(|event| match event {
            MonitorEvent::Listening { .. } => "listening",
            MonitorEvent::BindFailed { .. } => "bind failed",
            MonitorEvent::Accepted { .. } => "accepted",
            MonitorEvent::AcceptFailed { .. } => "accept failed",
            MonitorEvent::ConnectDelayed { .. } => "connect delayed",
            MonitorEvent::ConnectFailed { .. } => "connect failed",
            MonitorEvent::ConnectRetried { .. } => "connect retried",
            MonitorEvent::Connected { .. } => "connected",
            MonitorEvent::HandshakeSucceeded { .. } => "handshake succeeded",
            MonitorEvent::HandshakeFailed { .. } => "handshake failed",
            MonitorEvent::Disconnected { .. } => "disconnected",
            MonitorEvent::Closed { .. } => "closed",
            MonitorEvent::Missed { .. } => "missed",
            _ => "other",
        })
        .collect()
}

/// A TCP endpoint where nothing listens.
fn dead_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("tcp://127.0.0.1:{port}")
}

#[test]
fn a_connection_s_life_in_order_on_both_sides() {
    let rep = Socket::new(SocketType::Rep);
    let mut server = rep.monitor();
    let endpoint = rep.bind("tcp://127.0.0.1:*").unwrap();
    let mut client = Monitor::new();
    let req = Socket::builder(SocketType::Req)
        .monitor(&client)
        .build()
        .unwrap();
    req.connect(&endpoint).unwrap();
    bounded("a round trip", async {
        req.send("ping").await.unwrap();
        let request = rep.recv().await.unwrap();
        rep.send(request).await.unwrap();
        req.recv().await.unwrap();
    });

    let seen = until(&mut client, |e| {
        matches!(e, MonitorEvent::HandshakeSucceeded { .. })
    });
    assert_eq!(
        names(&seen),
        ["connect delayed", "connected", "handshake succeeded"]
    );
    let MonitorEvent::HandshakeSucceeded {
        endpoint: at, info, ..
    } = &seen[2]
    else {
        unreachable!()
    };
    assert_eq!(&**at, endpoint.as_str(), "named as given to connect");
    assert_eq!(info.socket_type, SocketType::Rep);
    let MonitorEvent::Connected { remote, .. } = &seen[1] else {
        unreachable!()
    };
    assert_eq!(
        remote.rsplit(':').next(),
        endpoint.rsplit(':').next(),
        "the address reached"
    );

    bounded("close", req.close());
    let rest: Vec<_> = bounded("the client's monitor ends", client.by_ref().collect());
    assert_eq!(names(&rest), ["disconnected"], "{rest:?}");
    assert!(matches!(
        &rest[0],
        MonitorEvent::Disconnected {
            reason: DisconnectReason::Local,
            ..
        }
    ));

    let seen = until(&mut server, |e| {
        matches!(e, MonitorEvent::Disconnected { .. })
    });
    assert_eq!(
        names(&seen),
        [
            "listening",
            "accepted",
            "handshake succeeded",
            "disconnected"
        ],
        "{seen:?}"
    );
    let peer = seen[1].peer().expect("an accepted peer");
    assert!(seen[1..].iter().all(|e| e.peer() == Some(peer)));
    let MonitorEvent::HandshakeSucceeded { info, .. } = &seen[2] else {
        unreachable!()
    };
    assert_eq!(info.socket_type, SocketType::Req);
    assert!(matches!(
        &seen[3],
        MonitorEvent::Disconnected {
            reason: DisconnectReason::PeerClosed,
            ..
        }
    ));
    bounded("close", rep.close());
    let rest: Vec<_> = bounded("the server's monitor ends", server.collect());
    assert_eq!(
        names(&rest),
        ["closed"],
        "the listener closes last: {rest:?}"
    );
}

#[test]
fn retries_report_the_failure_and_the_next_delay() {
    let mut monitor = Monitor::new();
    let req = Socket::builder(SocketType::Req)
        .reconnect_interval(Duration::from_millis(5))
        .reconnect_interval_max(Duration::from_millis(20))
        .monitor(&monitor)
        .build()
        .unwrap();
    let endpoint = dead_endpoint();
    req.connect(&endpoint).unwrap();
    let mut delays = Vec::new();
    while delays.len() < 4 {
        let attempt = until(&mut monitor, |e| {
            matches!(e, MonitorEvent::ConnectRetried { .. })
        });
        assert_eq!(
            names(&attempt),
            ["connect delayed", "connect failed", "connect retried"]
        );
        let MonitorEvent::ConnectFailed { error, .. } = &attempt[1] else {
            unreachable!()
        };
        assert_eq!(error.kind, std::io::ErrorKind::ConnectionRefused);
        let MonitorEvent::ConnectRetried { delay, .. } = &attempt[2] else {
            unreachable!()
        };
        delays.push(delay.as_millis());
    }
    assert_eq!(delays, [5, 10, 20, 20], "doubling up to the maximum");
    bounded("close", req.close());
}

#[test]
fn an_incompatible_peer_fails_the_handshake_with_its_reason() {
    let publisher = Socket::new(SocketType::Pub);
    let mut server = publisher.monitor();
    let endpoint = publisher.bind("tcp://127.0.0.1:*").unwrap();
    let mut client = Monitor::new();
    let req = Socket::builder(SocketType::Req)
        .monitor(&client)
        .build()
        .unwrap();
    req.connect(&endpoint).unwrap();
    for monitor in [&mut client, &mut server] {
        let seen = until(monitor, |e| matches!(e, MonitorEvent::Disconnected { .. }));
        let failed = seen
            .iter()
            .position(|e| matches!(e, MonitorEvent::HandshakeFailed { .. }))
            .expect("a failed handshake");
        assert_eq!(failed + 2, seen.len(), "then disconnected: {seen:?}");
        let MonitorEvent::HandshakeFailed { reason, .. } = &seen[failed] else {
            unreachable!()
        };
        // Whichever side reads the other's READY first refuses it and says why in an
        // ERROR command; the other learns it from that command, or sees the close.
        assert!(
            matches!(
                reason,
                DisconnectReason::Protocol(
                    ConnectionError::IncompatibleSocketType { .. } | ConnectionError::PeerError(_)
                )
            ) || matches!(reason, DisconnectReason::PeerClosed),
            "{reason:?}"
        );
        assert_eq!(
            seen[failed].libzmq_event(),
            if matches!(reason, DisconnectReason::PeerClosed) {
                zmq_sansio::pattern::monitor::libzmq::HANDSHAKE_FAILED_NO_DETAIL
            } else {
                zmq_sansio::pattern::monitor::libzmq::HANDSHAKE_FAILED_PROTOCOL
            }
        );
    }
    bounded("close", req.close());
    bounded("close", publisher.close());
}

#[test]
fn denied_credentials_are_an_authentication_failure() {
    let server = Socket::builder(SocketType::Rep)
        .security(Security::PlainServer)
        .authenticator(zmq_sansio::io::Authenticator::new(|_request| {
            AuthDecision::deny("nobody is welcome")
        }))
        .build()
        .unwrap();
    let mut server_events = server.monitor();
    let endpoint = server.bind("tcp://127.0.0.1:*").unwrap();
    let mut client_events = Monitor::new();
    let client = Socket::builder(SocketType::Req)
        .security(Security::plain_client("admin", "secret"))
        .monitor(&client_events)
        .build()
        .unwrap();
    client.connect(&endpoint).unwrap();
    for monitor in [&mut server_events, &mut client_events] {
        let seen = until(monitor, |e| {
            matches!(e, MonitorEvent::HandshakeFailed { .. })
        });
        let failed = seen.last().unwrap();
        assert_eq!(
            failed.libzmq_event(),
            zmq_sansio::pattern::monitor::libzmq::HANDSHAKE_FAILED_AUTH,
            "{failed:?}"
        );
        assert!(matches!(next(monitor), MonitorEvent::Disconnected { .. }));
    }
    bounded("close", client.close());
    bounded("close", server.close());
}

#[test]
fn listeners_report_bind_failures_and_closing() {
    let first = Socket::new(SocketType::Pull);
    let endpoint = first.bind("tcp://127.0.0.1:*").unwrap();
    let second = Socket::new(SocketType::Pull);
    let mut monitor = second.monitor();
    assert!(second.bind(&endpoint).is_err());
    let MonitorEvent::BindFailed {
        endpoint: at,
        error,
    } = next(&mut monitor)
    else {
        panic!("expected a bind failure")
    };
    assert_eq!(&*at, endpoint.as_str());
    assert_eq!(error.kind, std::io::ErrorKind::AddrInUse);

    let other = second.bind("tcp://127.0.0.1:*").unwrap();
    assert!(
        matches!(next(&mut monitor), MonitorEvent::Listening { endpoint, .. } if *endpoint == *other)
    );
    second.unbind(&other).unwrap();
    assert!(
        matches!(next(&mut monitor), MonitorEvent::Closed { endpoint, .. } if *endpoint == *other)
    );
    bounded("close", first.close());
    bounded("close", second.close());
    assert_eq!(bounded("the end", monitor.next()), None);
}

#[test]
fn a_monitor_nobody_reads_never_holds_the_socket_up() {
    let pull = Socket::new(SocketType::Pull);
    let monitor = pull.monitor_with_capacity(4);
    let endpoint = pull.bind("tcp://127.0.0.1:*").unwrap();
    // Each pusher makes four events on the puller (accepted, handshake, disconnected …).
    for round in 0..20 {
        let push = Socket::new(SocketType::Push);
        push.connect(&endpoint).unwrap();
        bounded("a message through", async {
            push.send(format!("{round}")).await.unwrap();
            assert_eq!(pull.recv().await.unwrap(), Msg::from(format!("{round}")));
        });
        bounded("close", push.close());
    }
    assert!(monitor.missed() > 0, "the small queue overflowed");
    let mut events = Vec::new();
    while let Some(event) = monitor.try_next() {
        events.push(event);
    }
    let missed: u64 = events
        .iter()
        .filter_map(|e| match e {
            MonitorEvent::Missed { count } => Some(*count),
            _ => None,
        })
        .sum();
    assert_eq!(missed, monitor.missed(), "every drop is accounted for");
    assert_eq!(
        names(&events[..5]),
        [
            "listening",
            "accepted",
            "handshake succeeded",
            "disconnected",
            "missed"
        ],
        "the oldest events are kept, then the gap: {events:?}"
    );
    bounded("close", pull.close());
}

#[test]
fn one_monitor_can_watch_a_client_across_its_sockets() {
    use zmq_sansio::easy::{Options, RRClient, RRServer};
    bounded("easy classes with a monitor", async {
        let monitor = Monitor::new();
        let server = RRServer::bind("tcp://127.0.0.1:*")
            .unwrap()
            .with_handler(|request: String| request);
        let endpoint = server.endpoint().to_owned();
        let stop = server.stop_handle();
        let serving = smol::spawn(async move { server.run().await });
        let client = RRClient::connect_with(&endpoint, Options::new().monitor(&monitor))
            .unwrap()
            .with_timeout(Duration::from_secs(30));
        assert_eq!(client.request_text("hello").await.unwrap(), "hello");
        let mut monitor = monitor;
        let mut seen = Vec::new();
        while !matches!(seen.last(), Some(MonitorEvent::HandshakeSucceeded { .. })) {
            seen.push(monitor.next().await.expect("events"));
        }
        assert_eq!(
            names(&seen),
            ["connect delayed", "connected", "handshake succeeded"]
        );
        client.close().await;
        stop.stop();
        serving.await.unwrap();
    });
}
