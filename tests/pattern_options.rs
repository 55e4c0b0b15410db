//! The libzmq socket options that change a pattern's behaviour, checked on whole sockets in
//! memory (`sim::Network`, virtual time): each test ports the checks of the libzmq
//! `tests/test_*.cpp` named in its comment.

use std::time::Instant;

use bytes::Bytes;
use zmq_sansio::Msg;
use zmq_sansio::pattern::{RouterNotify, SendError, SocketOptions};
use zmq_sansio::proto::SocketType;
use zmq_sansio::sim::{Network, SocketId};

fn m(frames: &[&str]) -> Msg {
    Msg::from_frames(frames.iter().map(|f| Bytes::copy_from_slice(f.as_bytes())))
}

fn raw(octets: &[u8]) -> Msg {
    Msg::from(Bytes::copy_from_slice(octets))
}

fn net() -> Network {
    let mut net = Network::new(Instant::now());
    net.set_max_chunk(7); // every exchange is cut into awkward pieces
    net
}

fn socket(
    net: &mut Network,
    socket_type: SocketType,
    set: impl FnOnce(&mut SocketOptions),
) -> SocketId {
    let mut options = SocketOptions::new(socket_type);
    set(&mut options);
    net.add_socket(options)
}

/// Everything `id` can receive now, after the network settled.
fn drain(net: &mut Network, id: SocketId) -> Vec<Msg> {
    net.run();
    std::iter::from_fn(|| net.socket(id).recv().unwrap()).collect()
}

fn recv(net: &mut Network, id: SocketId) -> Msg {
    net.run();
    net.socket(id)
        .recv()
        .unwrap()
        .expect("a message has arrived")
}

fn numbers(count: u32) -> impl Iterator<Item = Msg> {
    (0..count).map(|i| Msg::from(Bytes::from(i.to_be_bytes().to_vec())))
}

// test_conflate.cpp: a conflating PULL keeps only the last of 20 messages.
#[test]
fn conflate_pull_keeps_only_the_newest_message() {
    for conflate_pusher in [false, true] {
        let mut net = net();
        let pull = socket(&mut net, SocketType::Pull, |o| o.pattern.conflate = true);
        let push = socket(&mut net, SocketType::Push, |o| {
            o.pattern.conflate = conflate_pusher;
        });
        net.connect(push, pull);
        // Queued before the connection is up: all arrive in one go.
        for msg in numbers(20) {
            net.socket(push).send(msg).unwrap();
        }
        assert_eq!(
            drain(&mut net, pull),
            numbers(20).skip(19).collect::<Vec<_>>(),
            "conflating pusher: {conflate_pusher}"
        );
        // Later messages still arrive, one at a time as they are read.
        net.socket(push).send(m(&["later"])).unwrap();
        assert_eq!(drain(&mut net, pull), [m(&["later"])]);
    }
}

#[test]
fn conflate_push_never_waits_for_a_peer_it_has() {
    let mut net = net();
    let push = socket(&mut net, SocketType::Push, |o| {
        o.pattern.conflate = true;
        o.pattern.send_hwm = 1;
    });
    assert!(
        matches!(
            net.socket(push).send(m(&["x"])),
            Err(SendError::WouldBlock(_))
        ),
        "no peer at all: nothing to replace"
    );
    let pull = socket(&mut net, SocketType::Pull, |_| {});
    net.connect(push, pull);
    for msg in numbers(100) {
        net.socket(push).send(msg).unwrap(); // beyond the HWM of 1: replaced, not refused
    }
    assert_eq!(
        drain(&mut net, pull),
        numbers(100).skip(99).collect::<Vec<_>>()
    );
}

#[test]
fn conflate_pub_sub_each_side() {
    for (conflate_pub, conflate_sub) in [(true, false), (false, true)] {
        let mut net = net();
        let publisher = socket(&mut net, SocketType::Pub, |o| {
            o.pattern.conflate = conflate_pub
        });
        let sub = socket(&mut net, SocketType::Sub, |o| {
            o.pattern.conflate = conflate_sub
        });
        net.socket(sub).subscribe(b"").unwrap();
        net.connect(sub, publisher);
        net.run();
        assert_eq!(net.socket(publisher).pattern().subscribed_peers(), 1);
        for msg in numbers(20) {
            net.socket(publisher).send(msg).unwrap();
        }
        assert_eq!(
            drain(&mut net, sub),
            numbers(20).skip(19).collect::<Vec<_>>(),
            "conflating PUB {conflate_pub}, SUB {conflate_sub}"
        );
    }
}

#[test]
fn conflate_dealer_both_directions_and_multipart_kept_whole() {
    let mut net = net();
    let router = socket(&mut net, SocketType::Router, |_| {});
    let dealer = socket(&mut net, SocketType::Dealer, |o| {
        o.pattern.conflate = true;
        o.connection.set_identity(Bytes::from_static(b"D")).unwrap();
    });
    net.connect(dealer, router);
    for i in 0..5 {
        net.socket(dealer).send(m(&["up", &i.to_string()])).unwrap();
    }
    assert_eq!(drain(&mut net, router), [m(&["D", "up", "4"])]);
    for i in 0..5 {
        net.socket(router)
            .send(m(&["D", "down", &i.to_string()]))
            .unwrap();
    }
    assert_eq!(drain(&mut net, dealer), [m(&["down", "4"])]);
}

#[test]
fn conflate_is_ignored_where_libzmq_ignores_it() {
    let mut net = net();
    let pair_a = socket(&mut net, SocketType::Pair, |o| o.pattern.conflate = true);
    let pair_b = socket(&mut net, SocketType::Pair, |_| {});
    net.connect(pair_a, pair_b);
    for msg in numbers(3) {
        net.socket(pair_a).send(msg).unwrap();
    }
    assert_eq!(drain(&mut net, pair_b), numbers(3).collect::<Vec<_>>());
}

// test_probe_router.cpp: test_probe_router_router and test_probe_router_dealer.
#[test]
fn probe_router_from_a_router_and_a_dealer() {
    for client_type in [SocketType::Router, SocketType::Dealer, SocketType::Req] {
        let mut net = net();
        let server = socket(&mut net, SocketType::Router, |_| {});
        let client = socket(&mut net, client_type, |o| {
            o.pattern.probe_router = true;
            o.connection.set_identity(Bytes::from_static(b"X")).unwrap();
        });
        net.connect(client, server);
        assert_eq!(
            recv(&mut net, server),
            m(&["X", ""]),
            "{client_type}: the probe"
        );
        if client_type == SocketType::Req {
            continue; // a REQ takes no message it did not ask for
        }
        net.socket(server).send(m(&["X", "Hello"])).unwrap();
        let got = recv(&mut net, client);
        if client_type == SocketType::Router {
            assert_eq!(got.len(), 2);
            assert_eq!(
                got.frames()[0].len(),
                5,
                "the server's generated routing id"
            );
            assert_eq!(got.frames()[1], "Hello");
        } else {
            assert_eq!(got, m(&["Hello"]));
        }
    }
}

#[test]
fn probe_router_goes_first_even_before_messages_queued_earlier() {
    let mut net = net();
    let server = socket(&mut net, SocketType::Router, |_| {});
    let dealer = socket(&mut net, SocketType::Dealer, |o| {
        o.pattern.probe_router = true;
        o.connection.set_identity(Bytes::from_static(b"X")).unwrap();
    });
    net.connect(dealer, server);
    net.socket(dealer).send(m(&["first"])).unwrap();
    assert_eq!(drain(&mut net, server), [m(&["X", ""]), m(&["X", "first"])]);
}

// test_xpub_welcome_msg.cpp.
#[test]
fn xpub_welcome_msg_reaches_a_subscriber_that_subscribes_to_it() {
    for publisher_type in [SocketType::XPub, SocketType::Pub] {
        let mut net = net();
        let publisher = socket(&mut net, publisher_type, |o| {
            o.pattern.xpub_welcome_msg = Some(Bytes::from_static(b"W"));
        });
        let sub = socket(&mut net, SocketType::Sub, |_| {});
        let other = socket(&mut net, SocketType::Sub, |_| {});
        net.socket(sub).subscribe(b"W").unwrap();
        net.socket(other).subscribe(b"news").unwrap();
        net.connect(sub, publisher);
        net.connect(other, publisher);
        if publisher_type == SocketType::XPub {
            assert_eq!(recv(&mut net, publisher), raw(b"\x01W"));
        }
        assert_eq!(drain(&mut net, sub), [m(&["W"])]);
        assert_eq!(drain(&mut net, other), [], "filtered out by its subscriber");
    }
}

// test_xpub_nodrop.cpp: with NODROP, nothing sent is lost; a full subscriber makes send
// say "would block".
#[test]
fn xpub_nodrop_blocks_instead_of_dropping() {
    const HWM: usize = 20;
    for nodrop in [true, false] {
        let mut net = net();
        let publisher = socket(&mut net, SocketType::XPub, |o| {
            o.pattern.send_hwm = HWM;
            o.pattern.xpub_nodrop = nodrop;
        });
        let sub = socket(&mut net, SocketType::Sub, |_| {});
        net.socket(sub).subscribe(b"").unwrap();
        net.connect(sub, publisher);
        assert_eq!(recv(&mut net, publisher), raw(b"\x01"));

        let mut sent = 0;
        let mut refused = None;
        for i in 0..HWM + 5 {
            match net.socket(publisher).send(m(&[&i.to_string()])) {
                Ok(()) => sent += 1,
                Err(SendError::WouldBlock(msg)) => {
                    refused = Some(msg);
                    break;
                }
                Err(other) => panic!("{other}"),
            }
        }
        let received = drain(&mut net, sub);
        if nodrop {
            assert_eq!(sent, HWM, "the queue's HWM worth, then would block");
            assert_eq!(refused, Some(m(&[&HWM.to_string()])), "handed back");
            assert_eq!(received.len(), sent, "nothing that was sent is lost");
            net.socket(publisher).send(m(&["after"])).unwrap();
            assert_eq!(drain(&mut net, sub), [m(&["after"])]);
        } else {
            assert_eq!(sent, HWM + 5, "PUB never blocks");
            assert_eq!(received.len(), HWM, "beyond the HWM, dropped");
        }
    }
}

#[test]
fn xpub_nodrop_ignores_subscribers_the_message_does_not_match() {
    let mut net = net();
    let publisher = socket(&mut net, SocketType::XPub, |o| {
        o.pattern.send_hwm = 2;
        o.pattern.xpub_nodrop = true;
    });
    let a = socket(&mut net, SocketType::Sub, |_| {});
    let b = socket(&mut net, SocketType::Sub, |_| {});
    net.socket(a).subscribe(b"a").unwrap();
    net.socket(b).subscribe(b"b").unwrap();
    net.connect(a, publisher);
    net.connect(b, publisher);
    net.run();
    while net.socket(publisher).recv().unwrap().is_some() {}
    net.socket(publisher).send(m(&["a1"])).unwrap();
    net.socket(publisher).send(m(&["a2"])).unwrap();
    assert!(matches!(
        net.socket(publisher).send(m(&["a3"])),
        Err(SendError::WouldBlock(_))
    ));
    net.socket(publisher).send(m(&["b1"])).unwrap(); // b's queue has room
    assert_eq!(drain(&mut net, a), [m(&["a1"]), m(&["a2"])]);
    assert_eq!(drain(&mut net, b), [m(&["b1"])]);
}

// test_xpub_manual.cpp: test_basic, test_unsubscribe_manual, test_unsubscribe_cleanup,
// test_user_message.
#[test]
fn xpub_manual_basic() {
    let mut net = net();
    let publisher = socket(&mut net, SocketType::XPub, |o| o.pattern.xpub_manual = true);
    let sub = socket(&mut net, SocketType::XSub, |_| {});
    net.connect(sub, publisher);
    net.socket(sub).send(raw(b"\x01A")).unwrap();
    assert_eq!(recv(&mut net, publisher), raw(b"\x01A"));
    net.socket(publisher).subscribe(b"B").unwrap(); // for that subscriber, B instead
    net.socket(publisher).send(m(&["A"])).unwrap();
    net.socket(publisher).send(m(&["B"])).unwrap();
    assert_eq!(drain(&mut net, sub), [m(&["B"])]);
}

#[test]
fn xpub_manual_unsubscribe_and_the_cancels_of_a_subscriber_that_leaves() {
    let mut net = net();
    let publisher = socket(&mut net, SocketType::XPub, |o| o.pattern.xpub_manual = true);
    let sub = socket(&mut net, SocketType::XSub, |_| {});
    let link = net.connect(sub, publisher);
    net.socket(sub).send(raw(b"\x01A")).unwrap();
    net.socket(sub).send(raw(b"\x01B")).unwrap();
    assert_eq!(recv(&mut net, publisher), raw(b"\x01A"));
    net.socket(publisher).subscribe(b"XA").unwrap();
    assert_eq!(recv(&mut net, publisher), raw(b"\x01B"));
    net.socket(publisher).subscribe(b"XB").unwrap();
    net.socket(sub).send(raw(b"\x00A")).unwrap();
    assert_eq!(recv(&mut net, publisher), raw(b"\x00A"));
    net.socket(publisher).unsubscribe(b"XA").unwrap();
    net.socket(publisher).send(m(&["XA"])).unwrap();
    net.socket(publisher).send(m(&["XB"])).unwrap();
    assert_eq!(drain(&mut net, sub), [m(&["XB"])]);

    // The subscriber goes: the application hears of what it still held.
    net.disconnect(link);
    assert_eq!(drain(&mut net, publisher), [raw(b"\x00B")]);
    net.socket(publisher).unsubscribe(b"XB").unwrap(); // no peer to act for: nothing
    assert_eq!(net.socket(publisher).pattern().subscribed_peers(), 0);
}

#[test]
fn xpub_manual_cleanup_and_a_new_subscriber() {
    let mut net = net();
    let publisher = socket(&mut net, SocketType::XPub, |o| o.pattern.xpub_manual = true);
    let first = socket(&mut net, SocketType::XSub, |_| {});
    let link = net.connect(first, publisher);
    net.socket(first).send(raw(b"\x01A")).unwrap();
    assert_eq!(recv(&mut net, publisher), raw(b"\x01A"));
    net.socket(publisher).subscribe(b"XA").unwrap();
    net.socket(publisher).send(m(&["XA"])).unwrap();
    net.socket(publisher).send(m(&["XB"])).unwrap();
    assert_eq!(drain(&mut net, first), [m(&["XA"])]);
    net.disconnect(link);
    assert_eq!(drain(&mut net, publisher), [raw(b"\x00A")]);
    net.socket(publisher).unsubscribe(b"XA").unwrap(); // fails silently, as in libzmq

    let second = socket(&mut net, SocketType::XSub, |_| {});
    net.connect(second, publisher);
    net.socket(second).send(raw(b"\x01B")).unwrap();
    assert_eq!(recv(&mut net, publisher), raw(b"\x01B"));
    net.socket(publisher).subscribe(b"XB").unwrap();
    net.socket(publisher).send(m(&["XA"])).unwrap();
    net.socket(publisher).send(m(&["XB"])).unwrap();
    assert_eq!(drain(&mut net, second), [m(&["XB"])]);
}

#[test]
fn xpub_manual_every_duplicate_reaches_the_application_and_user_messages_pass() {
    let mut net = net();
    let publisher = socket(&mut net, SocketType::XPub, |o| o.pattern.xpub_manual = true);
    let a = socket(&mut net, SocketType::Sub, |_| {});
    let b = socket(&mut net, SocketType::Sub, |_| {});
    net.socket(a).subscribe(b"t").unwrap();
    net.socket(b).subscribe(b"t").unwrap();
    net.connect(a, publisher);
    net.connect(b, publisher);
    assert_eq!(drain(&mut net, publisher), [raw(b"\x01t"), raw(b"\x01t")]);
    assert_eq!(
        net.socket(publisher).pattern().subscribed_peers(),
        0,
        "none granted yet"
    );

    let mut net = self::net();
    let publisher = socket(&mut net, SocketType::XPub, |o| o.pattern.xpub_manual = true);
    let xsub = socket(&mut net, SocketType::XSub, |_| {});
    net.connect(xsub, publisher);
    net.run();
    net.socket(xsub).send(raw(b"\x02A")).unwrap();
    assert_eq!(recv(&mut net, publisher), raw(b"\x02A"));
}

// test_pub_invert_matching.cpp.
#[test]
fn invert_matching_pub_and_sub() {
    let mut net = net();
    let publisher = socket(&mut net, SocketType::Pub, |o| {
        o.pattern.invert_matching = true
    });
    let sub1 = socket(&mut net, SocketType::Sub, |o| {
        o.pattern.invert_matching = true
    });
    let sub2 = socket(&mut net, SocketType::Sub, |o| {
        o.pattern.invert_matching = true
    });
    net.socket(sub1).subscribe(b"prefix1").unwrap();
    net.socket(sub2).subscribe(b"p").unwrap();
    net.connect(sub1, publisher);
    net.connect(sub2, publisher);
    net.run();
    assert_eq!(net.socket(publisher).pattern().subscribed_peers(), 2);
    for topic in ["prefix1", "prefix2", "p", "q"] {
        net.socket(publisher).send(m(&[topic])).unwrap();
    }
    assert_eq!(
        drain(&mut net, sub1),
        [m(&["prefix2"]), m(&["p"]), m(&["q"])]
    );
    assert_eq!(drain(&mut net, sub2), [m(&["q"])]);

    // Changed subscriptions change what is left out.
    net.socket(sub1).unsubscribe(b"prefix1").unwrap();
    net.socket(sub1).subscribe(b"prefix2").unwrap();
    net.run();
    net.socket(publisher).send(m(&["prefix1"])).unwrap();
    net.socket(publisher).send(m(&["prefix2"])).unwrap();
    assert_eq!(drain(&mut net, sub1), [m(&["prefix1"])]);
}

#[test]
fn invert_matching_xpub_reaches_peers_without_subscriptions() {
    let mut net = net();
    let publisher = socket(&mut net, SocketType::XPub, |o| {
        o.pattern.invert_matching = true
    });
    let silent = socket(&mut net, SocketType::XSub, |_| {});
    net.connect(silent, publisher);
    net.run();
    net.socket(publisher).send(m(&["anything"])).unwrap();
    assert_eq!(drain(&mut net, silent), [m(&["anything"])]);
}

// test_router_notify.cpp (a libzmq draft option).
#[test]
fn router_notify_connect_and_disconnect() {
    for notify in [
        RouterNotify::NONE,
        RouterNotify::CONNECT,
        RouterNotify::DISCONNECT,
        RouterNotify::BOTH,
    ] {
        for router_binds in [true, false] {
            let mut net = net();
            let router = socket(&mut net, SocketType::Router, |o| {
                o.pattern.router_notify = notify
            });
            let dealer = socket(&mut net, SocketType::Dealer, |o| {
                o.connection
                    .set_identity(Bytes::from_static(b"dealer"))
                    .unwrap();
            });
            let link = if router_binds {
                net.connect(dealer, router)
            } else {
                net.connect(router, dealer)
            };
            let connected = drain(&mut net, router);
            net.socket(dealer).send(m(&["Hello"])).unwrap();
            assert_eq!(drain(&mut net, router), [m(&["dealer", "Hello"])]);
            net.disconnect(link);
            let disconnected = drain(&mut net, router);
            let expect = |on: bool| if on { vec![m(&["dealer", ""])] } else { vec![] };
            assert_eq!(
                connected,
                expect(notify.connect),
                "{notify:?}, binds {router_binds}"
            );
            assert_eq!(
                disconnected,
                expect(notify.disconnect),
                "{notify:?}, binds {router_binds}"
            );
        }
    }
}

// test_hello_msg.cpp (a libzmq draft option).
#[test]
fn hello_msg_is_the_first_message_of_every_connection() {
    let mut net = net();
    let router = socket(&mut net, SocketType::Router, |o| {
        o.pattern.hello_msg = Some(Bytes::from_static(b"H"));
    });
    let dealer = socket(&mut net, SocketType::Dealer, |_| {});
    let link = net.connect(dealer, router);
    assert_eq!(drain(&mut net, dealer), [m(&["H"])]);

    // A DEALER's hello goes before what was queued while it was away.
    let mut net = self::net();
    let router = socket(&mut net, SocketType::Router, |o| {
        o.connection.set_identity(Bytes::from_static(b"R")).unwrap();
    });
    let dealer = socket(&mut net, SocketType::Dealer, |o| {
        o.pattern.hello_msg = Some(Bytes::from_static(b"H"));
        o.connection.set_identity(Bytes::from_static(b"D")).unwrap();
    });
    let link2 = net.connect(dealer, router);
    net.socket(dealer).send(m(&["queued"])).unwrap();
    assert_eq!(
        drain(&mut net, router),
        [m(&["D", "H"]), m(&["D", "queued"])]
    );
    net.disconnect(link2);
    net.run();
    net.reconnect(link2);
    assert_eq!(
        drain(&mut net, router),
        [m(&["D", "H"])],
        "again on the new connection"
    );
    let _ = link;
}

// test_disconnect_msg.cpp (a libzmq draft option; libzmq's test uses SERVER/CLIENT, which
// this crate does not have: ROUTER is the other type that receives it).
#[test]
fn disconnect_msg_is_delivered_as_from_the_peer_that_left() {
    let mut net = net();
    let router = socket(&mut net, SocketType::Router, |o| {
        o.pattern.disconnect_msg = Some(Bytes::from_static(b"D"));
    });
    let dealer = socket(&mut net, SocketType::Dealer, |o| {
        o.pattern.hello_msg = Some(Bytes::from_static(b"H"));
        o.connection
            .set_identity(Bytes::from_static(b"client"))
            .unwrap();
    });
    let link = net.connect(dealer, router);
    assert_eq!(drain(&mut net, router), [m(&["client", "H"])]);
    net.disconnect(link);
    assert_eq!(drain(&mut net, router), [m(&["client", "D"])]);

    // Only for connections the ROUTER accepted, as libzmq.
    let mut net = self::net();
    let router = socket(&mut net, SocketType::Router, |o| {
        o.pattern.disconnect_msg = Some(Bytes::from_static(b"D"));
    });
    let dealer = socket(&mut net, SocketType::Dealer, |o| {
        o.connection
            .set_identity(Bytes::from_static(b"server"))
            .unwrap();
    });
    let link = net.connect(router, dealer);
    net.run();
    net.socket(dealer).send(m(&["x"])).unwrap();
    assert_eq!(drain(&mut net, router), [m(&["server", "x"])]);
    net.disconnect(link);
    assert_eq!(drain(&mut net, router), []);
}

#[test]
fn xpub_verboser_reports_every_cancel_and_the_cancels_of_a_subscriber_that_leaves() {
    let mut net = net();
    let publisher = socket(&mut net, SocketType::XPub, |o| {
        o.pattern.xpub_verboser = true
    });
    let a = socket(&mut net, SocketType::XSub, |_| {});
    let b = socket(&mut net, SocketType::XSub, |_| {});
    net.connect(a, publisher);
    let link_b = net.connect(b, publisher);
    net.socket(a).send(raw(b"\x01t")).unwrap();
    net.run();
    net.socket(b).send(raw(b"\x01t")).unwrap();
    assert_eq!(drain(&mut net, publisher), [raw(b"\x01t"), raw(b"\x01t")]);
    net.socket(a).send(raw(b"\x00t")).unwrap();
    assert_eq!(
        drain(&mut net, publisher),
        [raw(b"\x00t")],
        "b still holds it"
    );
    net.disconnect(link_b);
    assert_eq!(drain(&mut net, publisher), [raw(b"\x00t")]);
}
