//! The RFC 28–31 rules per pattern, checked on bare [`Pattern`]s (the scenarios of libzmq's
//! `tests/test_spec_*.cpp`, rebuilt from what they check).

use bytes::Bytes;

use super::*;
use crate::proto::{Metadata, ZmtpVersion};

fn info(socket_type: SocketType, identity: Option<&str>) -> PeerInfo {
    PeerInfo {
        socket_type,
        identity: identity.map(|id| Bytes::copy_from_slice(id.as_bytes())),
        version: ZmtpVersion::V3_1,
        mechanism: crate::proto::MechanismName::NULL,
        metadata: Metadata::new(),
        user_id: None,
        auth_metadata: Default::default(),
    }
}

fn pattern(socket_type: SocketType) -> Pattern {
    Pattern::new(socket_type, &PatternOptions::default())
}

fn with_options(socket_type: SocketType, f: impl FnOnce(&mut PatternOptions)) -> Pattern {
    let mut options = PatternOptions::default();
    f(&mut options);
    Pattern::new(socket_type, &options)
}

/// Attaches and connects peers 1..=n of type `peer_type`.
fn connect_peers(p: &mut Pattern, peer_type: SocketType, n: u64) -> Vec<PeerId> {
    (1..=n)
        .map(|i| {
            let peer = PeerId(i);
            p.attach(peer).unwrap();
            p.connected(peer, &info(peer_type, None)).unwrap();
            peer
        })
        .collect()
}

fn msg(frames: &[&str]) -> Msg {
    Msg::from_frames(frames.iter().map(|f| Bytes::copy_from_slice(f.as_bytes())))
}

fn output_msgs(p: &mut Pattern, peer: PeerId) -> Vec<Msg> {
    std::iter::from_fn(|| p.pop_output(peer))
        .filter_map(|o| match o {
            PeerOutput::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn outputs(p: &mut Pattern, peer: PeerId) -> Vec<PeerOutput> {
    std::iter::from_fn(|| p.pop_output(peer)).collect()
}

fn input(p: &mut Pattern, peer: PeerId, m: Msg) {
    p.on_input(peer, PeerInput::Message(m)).unwrap();
}

mod req {
    use super::*;

    #[test]
    fn round_robins_requests_and_adds_the_delimiter() {
        let mut req = pattern(SocketType::Req);
        let peers = connect_peers(&mut req, SocketType::Rep, 3);
        for (i, &peer) in peers.iter().chain(&peers).enumerate() {
            req.send(msg(&["ping"])).unwrap();
            assert_eq!(
                output_msgs(&mut req, peer),
                [msg(&["", "ping"])],
                "request {i}"
            );
            input(&mut req, peer, msg(&["", "pong"]));
            assert_eq!(req.recv().unwrap(), Some(msg(&["pong"])));
        }
    }

    #[test]
    fn strict_lockstep() {
        let mut req = pattern(SocketType::Req);
        connect_peers(&mut req, SocketType::Rep, 1);
        assert_eq!(req.recv(), Err(RecvError::NoRequest));
        req.send(msg(&["a"])).unwrap();
        assert_eq!(req.send(msg(&["b"])), Err(SendError::RequestPending));
        assert_eq!(req.recv(), Ok(None), "waiting for the reply");
    }

    #[test]
    fn only_listens_to_the_peer_it_asked() {
        let mut req = pattern(SocketType::Req);
        let peers = connect_peers(&mut req, SocketType::Router, 3);
        req.send(msg(&["q"])).unwrap();
        let asked = peers
            .into_iter()
            .find(|&p| !output_msgs(&mut req, p).is_empty())
            .unwrap();
        for other in (1..=3).map(PeerId).filter(|&p| p != asked) {
            input(&mut req, other, msg(&["", "not for you"]));
        }
        assert_eq!(req.recv(), Ok(None));
        input(&mut req, asked, msg(&["", "answer"]));
        assert_eq!(req.recv(), Ok(Some(msg(&["answer"]))));
        input(&mut req, asked, msg(&["", "late duplicate"]));
        assert_eq!(
            req.recv(),
            Err(RecvError::NoRequest),
            "nothing outstanding, nothing kept"
        );
    }

    #[test]
    fn a_reply_before_the_request_has_left_is_unsolicited() {
        // Found by the `pattern` fuzz target: a peer "answering" a request still in our
        // queue was taken for the reply, and the next request then left behind the first,
        // two requests on the wire at once.
        let mut req = pattern(SocketType::Req);
        let peer = connect_peers(&mut req, SocketType::Rep, 1)[0];
        req.send(msg(&["q"])).unwrap();
        input(&mut req, peer, msg(&["", "too early"]));
        assert_eq!(req.recv(), Ok(None), "discarded");
        assert_eq!(output_msgs(&mut req, peer), [msg(&["", "q"])]);
        input(&mut req, peer, msg(&["", "answer"]));
        assert_eq!(req.recv(), Ok(Some(msg(&["answer"]))));
    }

    #[test]
    fn malformed_replies_are_dropped() {
        let mut req = pattern(SocketType::Req);
        let peer = connect_peers(&mut req, SocketType::Rep, 1)[0];
        req.send(msg(&["q"])).unwrap();
        for bad in [msg(&["no delimiter"]), msg(&[""]), msg(&["x", "y"])] {
            input(&mut req, peer, bad);
            assert_eq!(req.recv(), Ok(None));
        }
    }

    #[test]
    fn blocks_without_peers() {
        let mut req = pattern(SocketType::Req);
        assert_eq!(
            req.send(msg(&["q"])),
            Err(SendError::WouldBlock(msg(&["q"])))
        );
        // The socket is still idle: a failed send did not start a request.
        assert_eq!(req.recv(), Err(RecvError::NoRequest));
    }

    #[test]
    fn relaxed_and_correlated_requests_do_not_wedge() {
        let mut req = with_options(SocketType::Req, |o| {
            o.req_relaxed = true;
            o.req_correlate = true;
        });
        let peer = connect_peers(&mut req, SocketType::Rep, 1)[0];
        req.send(msg(&["first"])).unwrap();
        let first = output_msgs(&mut req, peer).remove(0);
        assert_eq!(first.len(), 3, "id, delimiter, body");
        // No reply: the application gives up and asks again.
        req.send(msg(&["second"])).unwrap();
        let second = output_msgs(&mut req, peer).remove(0);
        assert_ne!(
            first.frames()[0],
            second.frames()[0],
            "each request has its own id"
        );
        // The late reply to the first request is recognised and dropped.
        let mut late = first.clone();
        late.frames_mut()[2] = Bytes::from_static(b"reply to first");
        input(&mut req, peer, late);
        assert_eq!(req.recv(), Ok(None));
        let mut reply = second.clone();
        reply.frames_mut()[2] = Bytes::from_static(b"reply to second");
        input(&mut req, peer, reply);
        assert_eq!(req.recv(), Ok(Some(msg(&["reply to second"]))));
    }

    #[test]
    fn a_reply_survives_its_peer_leaving_before_it_is_read() {
        // Found by the `pattern` and `network` fuzz targets: the reply sat in the peer's
        // queue and went with it, leaving recv() waiting for nothing.
        let mut req = pattern(SocketType::Req);
        let peer = connect_peers(&mut req, SocketType::Rep, 1)[0];
        req.send(msg(&["q"])).unwrap();
        assert_eq!(output_msgs(&mut req, peer).len(), 1, "the request left");
        input(&mut req, peer, msg(&["", "a"]));
        req.detach(peer);
        assert_eq!(req.recv(), Ok(Some(msg(&["a"]))));
        assert_eq!(req.recv(), Err(RecvError::NoRequest));
    }

    #[test]
    fn a_relaxed_send_that_would_block_abandons_nothing() {
        let mut req = with_options(SocketType::Req, |o| {
            o.req_relaxed = true;
            o.send_hwm = 1;
        });
        let peer = connect_peers(&mut req, SocketType::Rep, 1)[0];
        req.send(msg(&["1"])).unwrap();
        assert!(
            matches!(req.send(msg(&["2"])), Err(SendError::WouldBlock(_))),
            "queue full"
        );
        // Request 1 is still the one awaited: its reply, once it has left, is taken.
        assert_eq!(output_msgs(&mut req, peer), [msg(&["", "1"])]);
        input(&mut req, peer, msg(&["", "r1"]));
        assert_eq!(req.recv(), Ok(Some(msg(&["r1"]))), "the reply is taken");
    }

    #[test]
    fn relaxed_send_discards_an_unread_reply() {
        let mut req = with_options(SocketType::Req, |o| o.req_relaxed = true);
        let peer = connect_peers(&mut req, SocketType::Rep, 1)[0];
        req.send(msg(&["1"])).unwrap();
        let _ = output_msgs(&mut req, peer);
        input(&mut req, peer, msg(&["", "r1"]));
        req.send(msg(&["2"])).unwrap();
        let _ = output_msgs(&mut req, peer);
        input(&mut req, peer, msg(&["", "r2"]));
        assert_eq!(req.recv(), Ok(Some(msg(&["r2"]))));
    }
}

mod rep {
    use super::*;

    #[test]
    fn fair_queues_and_routes_replies_back() {
        let mut rep = pattern(SocketType::Rep);
        let peers = connect_peers(&mut rep, SocketType::Dealer, 3);
        // Peer 1 sends two requests before the others send one each.
        input(&mut rep, peers[0], msg(&["", "A1"]));
        input(&mut rep, peers[0], msg(&["", "A2"]));
        input(&mut rep, peers[1], msg(&["", "B1"]));
        input(&mut rep, peers[2], msg(&["", "C1"]));
        let mut order = Vec::new();
        while let Some(request) = rep.recv().unwrap() {
            let body = String::from_utf8(request.frames()[0].to_vec()).unwrap();
            rep.send(msg(&[&format!("re:{body}")])).unwrap();
            order.push(body);
        }
        assert_eq!(
            order,
            ["A1", "B1", "C1", "A2"],
            "one request per peer in turn"
        );
        assert_eq!(
            output_msgs(&mut rep, peers[0]),
            [msg(&["", "re:A1"]), msg(&["", "re:A2"])]
        );
        assert_eq!(output_msgs(&mut rep, peers[2]), [msg(&["", "re:C1"])]);
    }

    #[test]
    fn keeps_the_whole_envelope() {
        let mut rep = pattern(SocketType::Rep);
        let peer = connect_peers(&mut rep, SocketType::Dealer, 1)[0];
        input(&mut rep, peer, msg(&["X", "Y", "", "BODY", "MORE"]));
        assert_eq!(rep.recv().unwrap(), Some(msg(&["BODY", "MORE"])));
        rep.send(msg(&["REPLY"])).unwrap();
        assert_eq!(output_msgs(&mut rep, peer), [msg(&["X", "Y", "", "REPLY"])]);
    }

    #[test]
    fn lockstep_is_enforced() {
        let mut rep = pattern(SocketType::Rep);
        let peer = connect_peers(&mut rep, SocketType::Req, 1)[0];
        assert_eq!(rep.send(msg(&["unasked"])), Err(SendError::NoRequest));
        input(&mut rep, peer, msg(&["", "1"]));
        input(&mut rep, peer, msg(&["", "2"]));
        rep.recv().unwrap();
        assert_eq!(rep.recv(), Err(RecvError::ReplyPending));
    }

    #[test]
    fn drops_requests_without_delimiter_and_replies_to_gone_peers() {
        let mut rep = pattern(SocketType::Rep);
        let peer = connect_peers(&mut rep, SocketType::Dealer, 1)[0];
        input(&mut rep, peer, msg(&["no delimiter"]));
        input(&mut rep, peer, msg(&["only delimiter", ""]));
        assert_eq!(rep.recv(), Ok(None));
        input(&mut rep, peer, msg(&["", "q"]));
        rep.recv().unwrap();
        rep.detach(peer);
        assert_eq!(rep.send(msg(&["lost"])), Ok(()), "silently dropped");
        assert!(rep.stats(peer).is_none());
    }
}

mod dealer_and_push {
    use super::*;

    #[test]
    fn round_robin_out_skips_full_peers_and_blocks_when_all_are() {
        let mut push = with_options(SocketType::Push, |o| o.send_hwm = 2);
        let peers = connect_peers(&mut push, SocketType::Pull, 2);
        for i in 0..4 {
            push.send(msg(&[&i.to_string()])).unwrap();
        }
        assert_eq!(
            push.send(msg(&["5"])),
            Err(SendError::WouldBlock(msg(&["5"])))
        );
        assert_eq!(output_msgs(&mut push, peers[0]), [msg(&["0"]), msg(&["2"])]);
        // Peer 1 is still full; peer 0 has room again and takes everything new.
        push.send(msg(&["6"])).unwrap();
        push.send(msg(&["7"])).unwrap();
        assert_eq!(output_msgs(&mut push, peers[0]), [msg(&["6"]), msg(&["7"])]);
        assert_eq!(output_msgs(&mut push, peers[1]), [msg(&["1"]), msg(&["3"])]);
    }

    #[test]
    fn queued_messages_die_with_their_peer() {
        let mut push = pattern(SocketType::Push);
        let peers = connect_peers(&mut push, SocketType::Pull, 2);
        push.send(msg(&["to 1"])).unwrap();
        push.send(msg(&["to 2"])).unwrap();
        push.detach(peers[0]);
        push.send(msg(&["after"])).unwrap();
        assert_eq!(
            output_msgs(&mut push, peers[1]),
            [msg(&["to 2"]), msg(&["after"])]
        );
        assert_eq!(push.pop_output(peers[0]), None);
    }

    #[test]
    fn push_cannot_receive_and_pull_cannot_send() {
        let mut push = pattern(SocketType::Push);
        let peer = connect_peers(&mut push, SocketType::Pull, 1)[0];
        input(&mut push, peer, msg(&["ignored"]));
        assert_eq!(push.recv(), Err(RecvError::NotSupported(SocketType::Push)));
        let mut pull = pattern(SocketType::Pull);
        assert_eq!(
            pull.send(msg(&["x"])),
            Err(SendError::NotSupported(SocketType::Pull))
        );
    }

    #[test]
    fn what_a_peer_sent_before_leaving_is_still_delivered() {
        // libzmq keeps a departed peer's unread messages readable: a PUSH that sends and
        // closes must not lose what already arrived (found by tests/io_faults.rs).
        let mut pull = pattern(SocketType::Pull);
        let peers = connect_peers(&mut pull, SocketType::Push, 2);
        input(&mut pull, peers[0], msg(&["a1"]));
        input(&mut pull, peers[0], msg(&["a2"]));
        input(&mut pull, peers[1], msg(&["b1"]));
        pull.detach(peers[0]);
        let got: Vec<Msg> = std::iter::from_fn(|| pull.recv().unwrap()).collect();
        assert_eq!(got, [msg(&["a1"]), msg(&["b1"]), msg(&["a2"])]);
        assert_eq!(pull.poll_wake(), None, "a departed peer is never woken");
    }

    #[test]
    fn a_reattached_peer_with_leftovers_gets_one_turn() {
        let mut pull = pattern(SocketType::Pull);
        let (a, b) = (PeerId(1), PeerId(2));
        connect_peers(&mut pull, SocketType::Push, 2);
        input(&mut pull, a, msg(&["a1"]));
        input(&mut pull, a, msg(&["a2"]));
        pull.detach(a);
        pull.attach(a).unwrap();
        pull.connected(a, &info(SocketType::Push, None)).unwrap();
        for m in ["a3", "a4"] {
            input(&mut pull, a, msg(&[m]));
        }
        for m in ["b1", "b2"] {
            input(&mut pull, b, msg(&[m]));
        }
        let got: Vec<Msg> = std::iter::from_fn(|| pull.recv().unwrap()).collect();
        let order: Vec<&[u8]> = got.iter().map(|m| &m.frames()[0][..]).collect();
        assert_eq!(order, [&b"a1"[..], b"b1", b"a2", b"b2", b"a3", b"a4"]);
    }

    #[test]
    fn dealer_fair_queues_in() {
        let mut dealer = pattern(SocketType::Dealer);
        let peers = connect_peers(&mut dealer, SocketType::Router, 2);
        input(&mut dealer, peers[0], msg(&["a1"]));
        input(&mut dealer, peers[0], msg(&["a2"]));
        input(&mut dealer, peers[1], msg(&["b1"]));
        let got: Vec<Msg> = std::iter::from_fn(|| dealer.recv().unwrap()).collect();
        assert_eq!(got, [msg(&["a1"]), msg(&["b1"]), msg(&["a2"])]);
    }

    #[test]
    fn incoming_queues_push_back_at_the_mark() {
        let mut pull = with_options(SocketType::Pull, |o| o.recv_hwm = 2);
        let peer = connect_peers(&mut pull, SocketType::Push, 1)[0];
        input(&mut pull, peer, msg(&["1"]));
        input(&mut pull, peer, msg(&["2"]));
        let refused = pull.on_input(peer, PeerInput::Message(msg(&["3"])));
        assert_eq!(
            refused,
            Err(InputError::Full(PeerInput::Message(msg(&["3"]))))
        );
        assert_eq!(pull.stats(peer).unwrap().inbound_msgs, 2);
        while pull.poll_wake().is_some() {}
        pull.recv().unwrap();
        assert_eq!(
            pull.poll_wake(),
            Some(peer),
            "room again: the peer is woken"
        );
        input(&mut pull, peer, msg(&["3"]));
    }
}

mod router {
    use super::*;

    #[test]
    fn prefixes_identities_and_routes_by_them() {
        let mut router = pattern(SocketType::Router);
        router.attach(PeerId(1)).unwrap();
        router
            .connected(PeerId(1), &info(SocketType::Dealer, Some("alice")))
            .unwrap();
        router.attach(PeerId(2)).unwrap();
        router
            .connected(PeerId(2), &info(SocketType::Dealer, None))
            .unwrap();
        input(&mut router, PeerId(1), msg(&["hi"]));
        input(&mut router, PeerId(2), msg(&["yo"]));
        let from_alice = router.recv().unwrap().unwrap();
        assert_eq!(from_alice, msg(&["alice", "hi"]));
        let anonymous = router.recv().unwrap().unwrap();
        let generated = anonymous.frames()[0].clone();
        assert_eq!(
            (generated.len(), generated[0]),
            (5, 0),
            "0x00 + 4 octets, as libzmq"
        );
        router.send(msg(&["alice", "for alice"])).unwrap();
        router
            .send(Msg::from_frames([
                generated,
                Bytes::from_static(b"for you"),
            ]))
            .unwrap();
        assert_eq!(output_msgs(&mut router, PeerId(1)), [msg(&["for alice"])]);
        assert_eq!(output_msgs(&mut router, PeerId(2)), [msg(&["for you"])]);
    }

    #[test]
    fn unroutable_messages_drop_or_fail_when_mandatory() {
        let mut router = pattern(SocketType::Router);
        assert_eq!(router.send(msg(&["nobody", "x"])), Ok(()));
        assert_eq!(
            router.send(msg(&["only-id"])),
            Err(SendError::MissingRoutingId)
        );
        let mut strict = with_options(SocketType::Router, |o| {
            o.router_mandatory = true;
            o.send_hwm = 1;
        });
        assert_eq!(
            strict.send(msg(&["nobody", "x"])),
            Err(SendError::Unroutable("nobody".into()))
        );
        strict.attach(PeerId(1)).unwrap();
        strict
            .connected(PeerId(1), &info(SocketType::Dealer, Some("d")))
            .unwrap();
        strict.send(msg(&["d", "1"])).unwrap();
        assert_eq!(
            strict.send(msg(&["d", "2"])),
            Err(SendError::WouldBlock(msg(&["d", "2"])))
        );
    }

    #[test]
    fn duplicate_identities_are_refused_or_handed_over() {
        let mut router = pattern(SocketType::Router);
        router.attach(PeerId(1)).unwrap();
        router
            .connected(PeerId(1), &info(SocketType::Dealer, Some("x")))
            .unwrap();
        router.attach(PeerId(2)).unwrap();
        assert_eq!(
            router.connected(PeerId(2), &info(SocketType::Dealer, Some("x"))),
            Err(AttachError::DuplicateIdentity("x".into()))
        );
        let mut handover = with_options(SocketType::Router, |o| o.router_handover = true);
        for peer in [PeerId(1), PeerId(2)] {
            handover.attach(peer).unwrap();
            handover
                .connected(peer, &info(SocketType::Dealer, Some("x")))
                .unwrap();
        }
        handover.send(msg(&["x", "to the newcomer"])).unwrap();
        assert_eq!(
            output_msgs(&mut handover, PeerId(2)),
            [msg(&["to the newcomer"])]
        );
        assert!(output_msgs(&mut handover, PeerId(1)).is_empty());
    }

    #[test]
    fn a_peer_that_leaves_is_no_longer_routable() {
        let mut router = with_options(SocketType::Router, |o| o.router_mandatory = true);
        router.attach(PeerId(1)).unwrap();
        router
            .connected(PeerId(1), &info(SocketType::Req, Some("r")))
            .unwrap();
        router.detach(PeerId(1));
        assert!(matches!(
            router.send(msg(&["r", "x"])),
            Err(SendError::Unroutable(_))
        ));
    }
}

mod publish {
    use super::*;

    fn subscribe(p: &mut Pattern, peer: PeerId, prefix: &str) {
        p.on_input(
            peer,
            PeerInput::Subscribe(Bytes::copy_from_slice(prefix.as_bytes())),
        )
        .unwrap();
    }

    /// A PUB with `send_hwm` and `n` SUB peers, each subscribed to everything.
    fn subscribed_to_all(send_hwm: usize, n: u64) -> (Pattern, Vec<PeerId>) {
        let mut publisher = with_options(SocketType::Pub, |o| o.send_hwm = send_hwm);
        let peers = connect_peers(&mut publisher, SocketType::Sub, n);
        for &peer in &peers {
            subscribe(&mut publisher, peer, "");
        }
        (publisher, peers)
    }

    fn cancel(p: &mut Pattern, peer: PeerId, prefix: &str) {
        p.on_input(
            peer,
            PeerInput::Cancel(Bytes::copy_from_slice(prefix.as_bytes())),
        )
        .unwrap();
    }

    #[test]
    fn delivers_only_to_matching_subscribers_once_each() {
        let mut publisher = pattern(SocketType::Pub);
        let peers = connect_peers(&mut publisher, SocketType::Sub, 3);
        subscribe(&mut publisher, peers[0], "weather");
        subscribe(&mut publisher, peers[0], "weather.rain");
        subscribe(&mut publisher, peers[1], "");
        subscribe(&mut publisher, peers[2], "sports");
        publisher
            .send(msg(&["weather.rain.london", "12mm"]))
            .unwrap();
        assert_eq!(
            output_msgs(&mut publisher, peers[0]),
            [msg(&["weather.rain.london", "12mm"])]
        );
        assert_eq!(output_msgs(&mut publisher, peers[1]).len(), 1);
        assert!(output_msgs(&mut publisher, peers[2]).is_empty());
    }

    #[test]
    fn subscriptions_are_counted() {
        let mut publisher = pattern(SocketType::Pub);
        let peer = connect_peers(&mut publisher, SocketType::Sub, 1)[0];
        subscribe(&mut publisher, peer, "A");
        subscribe(&mut publisher, peer, "A");
        cancel(&mut publisher, peer, "A");
        publisher.send(msg(&["A1"])).unwrap();
        assert_eq!(
            output_msgs(&mut publisher, peer).len(),
            1,
            "one subscription left"
        );
        cancel(&mut publisher, peer, "A");
        cancel(&mut publisher, peer, "never subscribed");
        publisher.send(msg(&["A2"])).unwrap();
        assert!(output_msgs(&mut publisher, peer).is_empty());
    }

    #[test]
    fn a_full_subscriber_loses_messages_without_slowing_others() {
        let (mut publisher, peers) = subscribed_to_all(3, 2);
        for i in 0..10 {
            publisher.send(msg(&[&i.to_string()])).unwrap();
            // Peer 1 keeps up; peer 0 never reads.
            assert_eq!(
                output_msgs(&mut publisher, peers[1]),
                [msg(&[&i.to_string()])]
            );
        }
        assert_eq!(publisher.stats(peers[0]).unwrap().outbound_msgs, 3);
        assert_eq!(
            output_msgs(&mut publisher, peers[0]),
            [msg(&["0"]), msg(&["1"]), msg(&["2"])]
        );
    }

    #[test]
    fn send_pressure_is_reported_once_per_filling_to_half_the_hwm() {
        let (mut publisher, peers) = subscribed_to_all(10, 1);
        let peer = peers[0];
        let mut reported = Vec::new();
        for i in 0..10 {
            publisher.send(msg(&["m"])).unwrap();
            if publisher.take_send_pressure() {
                reported.push(i);
            }
        }
        assert_eq!(reported, [4], "at the fifth queued message, then no more");
        output_msgs(&mut publisher, peer); // drained: the next filling reports again
        for i in 0..5 {
            publisher.send(msg(&["m"])).unwrap();
            assert_eq!(publisher.take_send_pressure(), i == 4);
        }
        let (mut unlimited, _) = subscribed_to_all(0, 1);
        for _ in 0..10_000 {
            unlimited.send(msg(&["m"])).unwrap();
            assert!(
                !unlimited.take_send_pressure(),
                "an unlimited queue never fills"
            );
        }
    }

    #[test]
    fn send_pressure_is_reported_when_a_full_queue_drops() {
        // A publisher that shares its thread with the connection must yield once its queue
        // is full, or the connection never drains it: at the first drop, then every 64th,
        // and afresh once the connection has taken output.
        let (mut publisher, peers) = subscribed_to_all(10, 1);
        let mut reported = Vec::new();
        for i in 0..150 {
            publisher.send(msg(&["m"])).unwrap();
            if publisher.take_send_pressure() {
                reported.push(i);
            }
        }
        assert_eq!(reported, [4, 10, 74, 138]);
        assert_eq!(
            publisher.pop_output(peers[0]),
            Some(PeerOutput::Message(msg(&["m"])))
        );
        publisher.send(msg(&["m"])).unwrap(); // fills the queue again
        assert!(!publisher.take_send_pressure());
        publisher.send(msg(&["m"])).unwrap(); // the first drop since the connection wrote
        assert!(publisher.take_send_pressure());
    }

    #[test]
    fn send_pressure_is_reported_per_write_batch_gathered() {
        let (mut publisher, _) = subscribed_to_all(0, 2);
        let kib = Msg::from(vec![0u8; 1024]);
        let mut reported = Vec::new();
        for i in 1..=200 {
            publisher.send(kib.clone()).unwrap();
            if publisher.take_send_pressure() {
                reported.push(i);
            }
        }
        // Every 64 KiB queued per peer, counted afresh after each report.
        assert_eq!(reported, [64, 128, 192]);
    }

    #[test]
    fn disconnect_drops_subscriptions_and_queued_messages() {
        let mut publisher = pattern(SocketType::Pub);
        let peer = connect_peers(&mut publisher, SocketType::Sub, 1)[0];
        subscribe(&mut publisher, peer, "");
        publisher.send(msg(&["before"])).unwrap();
        publisher.disconnected(peer);
        assert!(output_msgs(&mut publisher, peer).is_empty());
        publisher
            .connected(peer, &info(SocketType::Sub, None))
            .unwrap();
        publisher.send(msg(&["no subscription yet"])).unwrap();
        assert!(output_msgs(&mut publisher, peer).is_empty());
    }

    #[test]
    fn pub_discards_messages_and_cannot_receive() {
        let mut publisher = pattern(SocketType::Pub);
        let peer = connect_peers(&mut publisher, SocketType::Sub, 1)[0];
        input(&mut publisher, peer, msg(&["upstream"]));
        assert_eq!(
            publisher.recv(),
            Err(RecvError::NotSupported(SocketType::Pub))
        );
    }

    #[test]
    fn xpub_reports_new_and_vanishing_subscriptions() {
        let mut xpub = pattern(SocketType::XPub);
        let peers = connect_peers(&mut xpub, SocketType::Sub, 2);
        subscribe(&mut xpub, peers[0], "A");
        subscribe(&mut xpub, peers[1], "A");
        subscribe(&mut xpub, peers[1], "B");
        cancel(&mut xpub, peers[0], "A");
        input(&mut xpub, peers[1], msg(&["upstream"]));
        xpub.detach(peers[1]);
        let got: Vec<Msg> = std::iter::from_fn(|| xpub.recv().unwrap()).collect();
        let sub = |p: &str| Msg::from([&[1u8][..], p.as_bytes()].concat());
        let unsub = |p: &str| Msg::from([&[0u8][..], p.as_bytes()].concat());
        // "A" from the second peer is not new; cancelling it once leaves the other one; the
        // departure cancels A and B for good; what the peer sent before leaving still comes.
        assert_eq!(
            got,
            [
                sub("A"),
                sub("B"),
                unsub("A"),
                unsub("B"),
                msg(&["upstream"])
            ]
        );
    }

    #[test]
    fn xpub_verbose_reports_every_subscription() {
        let mut xpub = with_options(SocketType::XPub, |o| o.xpub_verboser = true);
        let peers = connect_peers(&mut xpub, SocketType::Sub, 2);
        subscribe(&mut xpub, peers[0], "A");
        subscribe(&mut xpub, peers[1], "A");
        cancel(&mut xpub, peers[1], "A");
        assert_eq!(std::iter::from_fn(|| xpub.recv().unwrap()).count(), 3);
    }

    #[test]
    fn xpub_notices_push_back_when_the_application_does_not_read() {
        let mut xpub = with_options(SocketType::XPub, |o| o.recv_hwm = 2);
        let peer = connect_peers(&mut xpub, SocketType::Sub, 1)[0];
        subscribe(&mut xpub, peer, "a");
        subscribe(&mut xpub, peer, "b");
        let refused = xpub.on_input(peer, PeerInput::Subscribe(Bytes::from_static(b"c")));
        assert_eq!(
            refused,
            Err(InputError::Full(PeerInput::Subscribe(Bytes::from_static(
                b"c"
            ))))
        );
        while xpub.poll_wake().is_some() {}
        xpub.recv().unwrap();
        assert_eq!(xpub.poll_wake(), Some(peer), "room for notices again");
        subscribe(&mut xpub, peer, "c");
    }

    #[test]
    fn subscription_memory_is_bounded_per_peer_and_per_socket() {
        let cost = |len: usize| {
            let c = SubscriptionCost::of(len);
            c.entry + c.prefix
        };
        let mut publisher = with_options(SocketType::Pub, |o| {
            o.max_subscription_memory_per_peer = 2 * cost(5);
            o.max_subscription_memory = 3 * cost(5);
        });
        let peers = connect_peers(&mut publisher, SocketType::Sub, 2);
        subscribe(&mut publisher, peers[0], "12345");
        subscribe(&mut publisher, peers[0], "12345"); // the same prefix again costs nothing
        subscribe(&mut publisher, peers[0], "abcde");
        let refused = publisher.on_input(peers[0], PeerInput::Subscribe(Bytes::from_static(b"x")));
        assert_eq!(
            refused,
            Err(InputError::Refused(LimitError::PeerSubscriptionMemory {
                limit: 2 * cost(5)
            }))
        );
        // The other peer shares a prefix (only its entry is new to the socket), then a new
        // prefix of its own would take the socket past its limit.
        subscribe(&mut publisher, peers[1], "12345");
        let refused =
            publisher.on_input(peers[1], PeerInput::Subscribe(Bytes::from_static(b"zzzzz")));
        assert_eq!(
            refused,
            Err(InputError::Refused(LimitError::SubscriptionMemory {
                limit: 3 * cost(5)
            }))
        );
        // What leaves is refunded: the first peer's prefixes make room.
        publisher.detach(peers[0]);
        subscribe(&mut publisher, peers[1], "zzzzz");
    }
}

mod subscribe {
    use super::*;

    #[test]
    fn subscriptions_reach_current_and_future_peers() {
        let mut sub = pattern(SocketType::Sub);
        let first = connect_peers(&mut sub, SocketType::Pub, 1)[0];
        sub.subscribe(b"A").unwrap();
        sub.subscribe(b"A").unwrap();
        sub.subscribe(b"B").unwrap();
        assert_eq!(
            outputs(&mut sub, first),
            [
                PeerOutput::Subscribe(Bytes::from_static(b"A")),
                PeerOutput::Subscribe(Bytes::from_static(b"B"))
            ],
            "a SUB tells publishers when a prefix appears, not each time"
        );
        sub.attach(PeerId(9)).unwrap();
        sub.connected(PeerId(9), &info(SocketType::XPub, None))
            .unwrap();
        assert_eq!(
            outputs(&mut sub, PeerId(9)).len(),
            2,
            "the full set, once each"
        );
        sub.unsubscribe(b"A").unwrap();
        assert!(outputs(&mut sub, first).is_empty(), "A is still held once");
        sub.unsubscribe(b"A").unwrap();
        assert_eq!(
            outputs(&mut sub, first),
            [PeerOutput::Cancel(Bytes::from_static(b"A"))]
        );
    }

    #[test]
    fn filters_on_receipt_by_first_frame() {
        let mut sub = pattern(SocketType::Sub);
        let peer = connect_peers(&mut sub, SocketType::Pub, 1)[0];
        sub.subscribe(b"1000").unwrap();
        input(&mut sub, peer, msg(&["1000 text hi"]));
        input(&mut sub, peer, msg(&["2000 text no"]));
        input(
            &mut sub,
            peer,
            msg(&["x", "1000 second frame does not count"]),
        );
        assert_eq!(sub.recv().unwrap(), Some(msg(&["1000 text hi"])));
        assert_eq!(sub.recv().unwrap(), None);
        assert_eq!(
            sub.send(msg(&["x"])),
            Err(SendError::NotSupported(SocketType::Sub))
        );
    }

    #[test]
    fn unsubscribing_also_drops_what_already_arrived() {
        let mut sub = pattern(SocketType::Sub);
        let peer = connect_peers(&mut sub, SocketType::Pub, 1)[0];
        sub.subscribe(b"a").unwrap();
        sub.subscribe(b"b").unwrap();
        input(&mut sub, peer, msg(&["a1"]));
        input(&mut sub, peer, msg(&["b1"]));
        sub.unsubscribe(b"a").unwrap();
        assert_eq!(sub.recv().unwrap(), Some(msg(&["b1"])));
        assert_eq!(sub.recv().unwrap(), None);
    }

    #[test]
    fn xsub_sends_subscriptions_as_messages_and_forwards_the_rest() {
        let mut xsub = pattern(SocketType::XSub);
        let peers = connect_peers(&mut xsub, SocketType::XPub, 2);
        xsub.send(Msg::from(&b"\x01topic"[..])).unwrap();
        xsub.send(Msg::from(&b"\x01topic"[..])).unwrap();
        xsub.send(msg(&["upstream"])).unwrap();
        xsub.send(Msg::from(&b"\x00topic"[..])).unwrap();
        for peer in peers {
            assert_eq!(
                outputs(&mut xsub, peer),
                [
                    PeerOutput::Subscribe(Bytes::from_static(b"topic")),
                    PeerOutput::Subscribe(Bytes::from_static(b"topic")),
                    PeerOutput::Message(msg(&["upstream"])),
                ],
                "XSUB forwards every subscribe; the cancel waits for the last unsubscribe"
            );
        }
    }

    #[test]
    fn reconnect_resends_the_subscription_set_not_stale_commands() {
        let mut sub = pattern(SocketType::Sub);
        let peer = connect_peers(&mut sub, SocketType::Pub, 1)[0];
        sub.disconnected(peer);
        sub.subscribe(b"while away").unwrap();
        assert!(
            outputs(&mut sub, peer).is_empty(),
            "nothing queued for a dead connection"
        );
        sub.connected(peer, &info(SocketType::Pub, None)).unwrap();
        assert_eq!(
            outputs(&mut sub, peer),
            [PeerOutput::Subscribe(Bytes::from_static(b"while away"))]
        );
    }
}

mod pair {
    use super::*;

    #[test]
    fn exactly_one_peer() {
        let mut pair = pattern(SocketType::Pair);
        assert_eq!(
            pair.send(msg(&["early"])),
            Err(SendError::WouldBlock(msg(&["early"])))
        );
        pair.attach(PeerId(1)).unwrap();
        assert_eq!(pair.attach(PeerId(2)), Err(AttachError::PairTaken));
        pair.send(msg(&["queued before the handshake"])).unwrap();
        pair.connected(PeerId(1), &info(SocketType::Pair, None))
            .unwrap();
        assert_eq!(output_msgs(&mut pair, PeerId(1)).len(), 1);
        input(&mut pair, PeerId(1), msg(&["back"]));
        assert_eq!(pair.recv().unwrap(), Some(msg(&["back"])));
        pair.detach(PeerId(1));
        pair.attach(PeerId(2)).unwrap();
    }

    #[test]
    fn blocks_at_the_mark() {
        let mut pair = with_options(SocketType::Pair, |o| o.send_hwm = 1);
        connect_peers(&mut pair, SocketType::Pair, 1);
        pair.send(msg(&["1"])).unwrap();
        assert!(matches!(
            pair.send(msg(&["2"])),
            Err(SendError::WouldBlock(_))
        ));
    }
}

#[test]
fn empty_messages_are_refused_everywhere() {
    for socket_type in SocketType::ALL {
        assert_eq!(
            pattern(socket_type).send(Msg::new()),
            Err(SendError::EmptyMessage)
        );
    }
}
