//! The high-level API (`zmq_sansio::easy`) over real loopback TCP.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use zmq_sansio::Msg;
use zmq_sansio::easy::{
    Error, PPPuller, PPPusher, PairClient, PairServer, Payload, Publisher, RRClient, RRServer,
    Subscriber, error_reply_reason,
};
use zmq_sansio::io::Socket;
use zmq_sansio::proto::SocketType;

const PATIENCE: Duration = Duration::from_secs(10);

fn run<T>(test: impl std::future::Future<Output = T>) -> T {
    smol::block_on(async {
        smol::future::or(test, async {
            smol::Timer::after(PATIENCE * 2).await;
            panic!("test took longer than {:?}", PATIENCE * 2);
        })
        .await
    })
}

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    smol::future::or(future, async {
        smol::Timer::after(PATIENCE).await;
        panic!("{what} did not happen within {PATIENCE:?}");
    })
    .await
}

#[test]
fn subscriber_matches_its_msgid_exactly() {
    run(async {
        let publisher = Publisher::bind("tcp://127.0.0.1:*").unwrap();
        let subscriber = Subscriber::connect(publisher.endpoint(), 1000).unwrap();
        publisher.wait_for_subscribers(1).await;
        publisher
            .publish_to(10001, "the Python original leaks this one")
            .await
            .unwrap();
        publisher.publish_to(100, "nor this").await.unwrap();
        publisher.publish("mine").await.unwrap();
        let got = within("a message", subscriber.subscribe()).await.unwrap();
        assert_eq!(got, Payload::Text("mine".into()));
    });
}

#[test]
fn wire_bytes_are_the_python_framing() {
    run(async {
        let publisher = Publisher::bind("tcp://127.0.0.1:*").unwrap().with_msgid(42);
        let raw = Socket::new(SocketType::Sub);
        raw.subscribe("").unwrap();
        raw.connect(publisher.endpoint()).unwrap();
        publisher.wait_for_subscribers(1).await;
        publisher.publish("Hello World").await.unwrap();
        publisher
            .publish_json(&json!({"data": 42, "name": "né"}))
            .await
            .unwrap();
        publisher.publish_json_to(7, &[1.0, 2.5]).await.unwrap();
        let frames = [
            &b"42 text Hello World"[..],
            b"42 json {\"data\": 42, \"name\": \"n\\u00e9\"}",
            b"7 json [1.0, 2.5]",
        ];
        for expected in frames {
            let msg = within("a raw message", raw.recv()).await.unwrap();
            assert_eq!(
                msg,
                Msg::from(expected),
                "{:?}",
                String::from_utf8_lossy(&msg.frames()[0])
            );
        }
    });
}

#[test]
fn malformed_messages_are_errors_and_the_subscriber_goes_on() {
    run(async {
        let raw = Socket::new(SocketType::Pub);
        let endpoint = raw.bind("tcp://127.0.0.1:*").unwrap();
        let subscriber = Subscriber::connect(&endpoint, 5).unwrap();
        let bad: [&[u8]; 4] = [
            b"5 text",
            b"5 json {not json",
            b"5 text \xff\xfe",
            b"5 json [1, 2]",
        ];
        // Wait for the subscription: probe until a valid message gets through.
        loop {
            raw.send("5 text probe").await.unwrap();
            if smol::future::or(async { Some(subscriber.subscribe().await) }, async {
                smol::Timer::after(Duration::from_millis(20)).await;
                None
            })
            .await
            .is_some()
            {
                break;
            }
        }
        while smol::future::or(async { Some(subscriber.subscribe().await) }, async {
            smol::Timer::after(Duration::from_millis(50)).await;
            None
        })
        .await
        .is_some()
        {}
        for message in bad {
            raw.send(message).await.unwrap();
        }
        let fewer = within("message 1", subscriber.subscribe())
            .await
            .unwrap_err();
        assert!(matches!(fewer, Error::Malformed(_)), "{fewer}");
        let json = within("message 2", subscriber.subscribe())
            .await
            .unwrap_err();
        assert!(json.to_string().contains("invalid JSON"), "{json}");
        let undecodable = within("message 3", subscriber.subscribe())
            .await
            .unwrap_err();
        assert!(
            matches!(undecodable, Error::Undecodable { .. }),
            "{undecodable}"
        );
        let fine = within("message 4", subscriber.subscribe()).await.unwrap();
        assert_eq!(fine, Payload::Json(json!([1, 2])));
    });
}

/// A subscriber given no publisher says so instead of waiting forever, and works once one
/// is added (Python's `addPort`).
#[test]
fn a_subscriber_without_publishers_says_so() {
    run(async {
        let subscriber = Subscriber::new("127.0.0.1", &[], 1000).unwrap();
        let err = within("error", subscriber.subscribe()).await.unwrap_err();
        assert!(matches!(err, Error::NoPublisher), "{err}");
        let publisher = Publisher::bind("tcp://127.0.0.1:*").unwrap();
        let port: u16 = publisher
            .endpoint()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        subscriber.add_port(port).unwrap();
        publisher.wait_for_subscribers(1).await;
        publisher.publish("now").await.unwrap();
        assert_eq!(
            within("message", subscriber.subscribe()).await.unwrap(),
            Payload::Text("now".into())
        );
    });
}

#[test]
fn typed_subscriptions_and_several_publishers() {
    #[derive(Deserialize, Debug, PartialEq)]
    struct Tick {
        seq: u32,
    }
    run(async {
        let one = Publisher::bind("tcp://127.0.0.1:*").unwrap();
        let two = Publisher::bind("tcp://127.0.0.1:*").unwrap();
        let port = |p: &Publisher| {
            p.endpoint()
                .rsplit(':')
                .next()
                .unwrap()
                .parse::<u16>()
                .unwrap()
        };
        let subscriber = Subscriber::new("127.0.0.1", &[port(&one)], 1000).unwrap();
        subscriber.add_port(port(&two)).unwrap();
        one.wait_for_subscribers(1).await;
        two.wait_for_subscribers(1).await;
        one.publish_json(&json!({"seq": 1})).await.unwrap();
        two.publish_json(&json!({"seq": 2})).await.unwrap();
        let mut seqs = vec![
            within("tick", subscriber.subscribe_as::<Tick>())
                .await
                .unwrap()
                .seq,
            within("tick", subscriber.subscribe_as::<Tick>())
                .await
                .unwrap()
                .seq,
        ];
        seqs.sort();
        assert_eq!(seqs, [1, 2]);
        one.publish("plain text").await.unwrap();
        assert_eq!(
            within("text", subscriber.subscribe_as::<String>())
                .await
                .unwrap(),
            "plain text"
        );
    });
}

#[test]
fn codings_by_label_and_unknown_labels() {
    run(async {
        let publisher = Publisher::bind("tcp://127.0.0.1:*")
            .unwrap()
            .with_coding("gbk")
            .unwrap();
        let subscriber = Subscriber::connect(publisher.endpoint(), 1000)
            .unwrap()
            .with_coding("GBK")
            .unwrap();
        let raw = Socket::new(SocketType::Sub);
        raw.subscribe("").unwrap();
        raw.connect(publisher.endpoint()).unwrap();
        publisher.wait_for_subscribers(2).await;
        publisher.publish("中文").await.unwrap();
        assert_eq!(
            within("gbk text", subscriber.subscribe()).await.unwrap(),
            Payload::Text("中文".into())
        );
        let wire = within("raw", raw.recv()).await.unwrap();
        assert_eq!(
            &wire.frames()[0][..],
            b"1000 text \xd6\xd0\xce\xc4",
            "GBK octets on the wire"
        );
        assert!(
            publisher.publish("😀").await.is_err(),
            "GBK cannot carry emoji"
        );
        let unknown = Publisher::bind("tcp://127.0.0.1:*")
            .unwrap()
            .with_coding("klingon")
            .unwrap_err();
        assert!(matches!(unknown, Error::UnknownCoding(_)), "{unknown}");
    });
}

#[test]
fn rr_server_accepts_sync_and_async_handlers_and_echoes_without_one() {
    run(async {
        let sync_server = RRServer::bind("tcp://127.0.0.1:*")
            .unwrap()
            .with_handler(|request: String| format!("Echo: {request}"));
        let async_server = RRServer::bind("tcp://127.0.0.1:*").unwrap().with_handler(
            |request: Vec<u8>| async move {
                smol::Timer::after(Duration::from_millis(1)).await;
                format!("{} octets", request.len())
            },
        );
        let echo_server = RRServer::bind("tcp://127.0.0.1:*").unwrap();
        let clients: Vec<RRClient> = [&sync_server, &async_server, &echo_server]
            .iter()
            .map(|s| RRClient::connect(s.endpoint()).unwrap())
            .collect();
        let servers = [sync_server, async_server, echo_server];
        let stops: Vec<_> = servers.iter().map(RRServer::stop_handle).collect();
        let tasks: Vec<_> = servers
            .into_iter()
            .map(|server| smol::spawn(async move { server.run().await }))
            .collect();
        assert_eq!(
            within("sync", clients[0].request_text("Hello"))
                .await
                .unwrap(),
            "Echo: Hello"
        );
        assert_eq!(
            within("async", clients[1].request_text("Hello"))
                .await
                .unwrap(),
            "5 octets"
        );
        let echoed = within("echo", clients[2].request(Msg::from_frames(["a", "b"])))
            .await
            .unwrap();
        assert_eq!(echoed, Msg::from_frames(["a", "b"]));
        for stop in stops {
            stop.stop();
        }
        for task in tasks {
            within("run() to return after stop", task).await.unwrap();
        }
    });
}

#[test]
fn handler_errors_and_panics_are_answered_and_serving_goes_on() {
    run(async {
        let server =
            RRServer::bind("tcp://127.0.0.1:*")
                .unwrap()
                .with_handler(|request: String| match request.as_str() {
                    "boom" => panic!("kaboom"),
                    "bad" => Err(format!("refusing {request}")),
                    _ => Ok(request.to_uppercase()),
                });
        let client = RRClient::connect(server.endpoint()).unwrap();
        let stop = server.stop_handle();
        let task = smol::spawn(async move { server.run().await });
        let reply = within("panic reply", client.request("boom")).await.unwrap();
        let reason = error_reply_reason(&reply.frames()[0]).expect("an error reply");
        assert!(
            reason.contains("panicked") && reason.contains("kaboom"),
            "{reason}"
        );
        let reply = within("error reply", client.request("bad")).await.unwrap();
        assert_eq!(error_reply_reason(&reply.frames()[0]), Some("refusing bad"));
        assert_eq!(
            within("normal", client.request_text("fine")).await.unwrap(),
            "FINE"
        );
        stop.stop();
        within("stop", task).await.unwrap();
    });
}

#[test]
fn async_handler_panics_are_answered_too() {
    run(async {
        let server =
            RRServer::bind("tcp://127.0.0.1:*")
                .unwrap()
                .with_handler(|_: String| async move {
                    smol::future::yield_now().await;
                    if true {
                        panic!("late panic");
                    }
                    "never"
                });
        let client = RRClient::connect(server.endpoint()).unwrap();
        let serving = smol::spawn(async move { server.run().await });
        let reply = within("reply", client.request("x")).await.unwrap();
        assert!(
            error_reply_reason(&reply.frames()[0])
                .unwrap()
                .contains("late panic")
        );
        drop(serving);
    });
}

#[test]
fn rr_client_times_out_cleanly_and_the_next_request_works() {
    run(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener); // a free port with nobody listening yet
        let client = RRClient::new("127.0.0.1", port)
            .unwrap()
            .with_timeout(Duration::from_millis(100))
            .with_retries(2);
        let err = within("timeout", client.request("lost")).await.unwrap_err();
        assert!(matches!(err, Error::NoReply { attempts: 3, .. }), "{err}");

        // The server appears; the same client works at once, and the abandoned request
        // never reaches it (each retry started from a fresh connection).
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let server = RRServer::new(port)
            .unwrap()
            .with_handler(move |request: String| {
                log.lock().unwrap().push(request.clone());
                request
            });
        let serving = smol::spawn(async move { server.run().await });
        assert_eq!(
            within("reply", client.request_text("found")).await.unwrap(),
            "found"
        );
        // Retries are at-least-once: on a busy machine the first 100 ms attempt may time
        // out while the connection is still being made, and its retry reaches the server
        // too. What must never happen is a request of the abandoned call arriving.
        let seen = seen.lock().unwrap().clone();
        assert!(
            !seen.is_empty() && seen.iter().all(|request| request == "found"),
            "the server saw {seen:?}"
        );
        drop(serving);
    });
}

#[test]
fn pullers_share_the_work_and_handlers_may_be_async() {
    run(async {
        let pusher = PPPusher::bind("tcp://127.0.0.1:*").unwrap();
        let counts: Vec<Arc<AtomicUsize>> = (0..3).map(|_| Arc::new(AtomicUsize::new(0))).collect();
        let mut stops = Vec::new();
        let mut tasks = Vec::new();
        for count in &counts {
            let count = Arc::clone(count);
            let puller =
                PPPuller::connect(pusher.endpoint())
                    .unwrap()
                    .with_handler(move |_: Msg| {
                        let count = Arc::clone(&count);
                        async move {
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                    });
            stops.push(puller.stop_handle());
            tasks.push(smol::spawn(async move { puller.run().await }));
        }
        pusher.wait_for_pullers(3).await;
        for i in 0..30 {
            pusher.push(format!("task {i}")).await.unwrap();
        }
        within("all tasks handled", async {
            while counts
                .iter()
                .map(|c| c.load(Ordering::SeqCst))
                .sum::<usize>()
                < 30
            {
                smol::Timer::after(Duration::from_millis(5)).await;
            }
        })
        .await;
        for count in &counts {
            assert_eq!(
                count.load(Ordering::SeqCst),
                10,
                "round-robin gives each a third"
            );
        }
        for stop in stops {
            stop.stop();
        }
        for task in tasks {
            within("stop", task).await.unwrap();
        }
    });
}

#[test]
fn a_bound_puller_sinks_several_pushers() {
    run(async {
        let (sink, endpoint) = PPPuller::bind("tcp://127.0.0.1:*").unwrap();
        let pushers: Vec<Socket> = (0..2)
            .map(|_| {
                let push = Socket::new(SocketType::Push);
                push.connect(&endpoint).unwrap();
                push
            })
            .collect();
        for (i, push) in pushers.iter().enumerate() {
            push.send(format!("from {i}")).await.unwrap();
        }
        let mut got = vec![
            within("pull", sink.pull()).await.unwrap(),
            within("pull", sink.pull()).await.unwrap(),
        ];
        got.sort_by(|a, b| a.frames()[0].cmp(&b.frames()[0]));
        assert_eq!(got, [Msg::from("from 0"), Msg::from("from 1")]);
    });
}

/// Concurrent requests on one `PairClient`, from several threads, take turns, and each
/// gets the answer to its own message.
#[test]
fn pair_client_serialises_concurrent_requests() {
    let server = PairServer::bind("tcp://127.0.0.1:*")
        .unwrap()
        .with_handler(|msg: String| msg);
    let client = Arc::new(PairClient::connect(server.endpoint()).unwrap());
    let serving = smol::spawn(async move { server.run().await });
    let callers: Vec<_> = (0..4)
        .map(|thread| {
            let client = Arc::clone(&client);
            std::thread::spawn(move || {
                run(async {
                    for i in 0..50 {
                        let text = format!("{thread}/{i}");
                        let answer = within("answer", client.request_text(&text)).await;
                        assert_eq!(answer.unwrap(), text);
                    }
                })
            })
        })
        .collect();
    for caller in callers {
        caller.join().unwrap();
    }
    drop(serving);
}

/// The answer to a request that timed out is not taken for the next request's answer.
#[test]
fn pair_client_discards_the_late_answer_of_a_timed_out_request() {
    run(async {
        let (release, released) = smol::channel::bounded::<()>(1);
        let server =
            PairServer::bind("tcp://127.0.0.1:*")
                .unwrap()
                .with_handler(move |msg: String| {
                    let released = released.clone();
                    async move {
                        if msg == "slow" {
                            let _ = released.recv().await;
                        }
                        msg
                    }
                });
        let client = PairClient::connect(server.endpoint())
            .unwrap()
            .with_timeout(Duration::from_secs(1));
        let _serving = smol::spawn(async move { server.run().await });
        let err = within("timeout", client.request_text("slow")).await;
        assert!(
            matches!(err, Err(Error::Socket(zmq_sansio::io::Error::Timeout(_)))),
            "{err:?}"
        );
        // The server answers "slow" now, while the next request is under way.
        release.send(()).await.unwrap();
        assert_eq!(
            within("answer", client.request_text("fast")).await.unwrap(),
            "fast"
        );
        assert_eq!(
            within("answer", client.request_text("next")).await.unwrap(),
            "next"
        );
    });
}

#[test]
fn pair_server_hands_the_message_to_its_handler() {
    run(async {
        let server = PairServer::bind("tcp://127.0.0.1:*")
            .unwrap()
            .with_handler(|msg: String| format!("got {msg}"));
        let client = PairClient::connect(server.endpoint())
            .unwrap()
            .with_timeout(PATIENCE);
        let stop = server.stop_handle();
        let task = smol::spawn(async move { server.run().await });
        assert_eq!(
            within("answer", client.request_text("ping")).await.unwrap(),
            "got ping"
        );
        assert_eq!(
            within("answer", client.request_text("pong")).await.unwrap(),
            "got pong"
        );
        stop.stop();
        within("stop", task).await.unwrap();

        let echo = PairServer::bind("tcp://127.0.0.1:*").unwrap();
        let client = PairClient::connect(echo.endpoint()).unwrap();
        let _serving = smol::spawn(async move { echo.run().await });
        assert_eq!(
            within("echo", client.request_text("same")).await.unwrap(),
            "same"
        );
    });
}

#[test]
fn close_releases_the_port() {
    run(async {
        let publisher = Publisher::bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = publisher.endpoint().to_owned();
        publisher.close().await;
        let again = Publisher::bind(&endpoint).expect("the port is free again after close");
        again.close().await;
    });
}
