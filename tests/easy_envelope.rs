//! The easy classes' opt-in envelope (timestamp, source id, sequence number) over real
//! loopback TCP, the default form left byte-identical, and the wire form's properties.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use serde::Deserialize;
use serde_json::json;
use zmq_sansio::Msg;
use zmq_sansio::easy::{
    Delivery, Envelope, Error, Frame, MAX_SOURCE_LEN, MsgType, Payload, Publisher, Sequence,
    SequenceStats, Subscriber,
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

/// A SUB socket that receives everything a publisher sends, as it is on the wire.
fn capture(endpoint: &str) -> Socket {
    let raw = Socket::new(SocketType::Sub);
    raw.subscribe("").unwrap();
    raw.connect(endpoint).unwrap();
    raw
}

fn text_of(msg: &Msg) -> String {
    String::from_utf8(msg.frames()[0].to_vec()).unwrap()
}

const T0: u64 = 1_700_000_000_123;

fn fixed_clock() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(T0)
}

#[test]
fn enveloped_messages_round_trip_with_their_envelope() {
    run(async {
        let publisher = Publisher::bind("tcp://127.0.0.1:*")
            .unwrap()
            .with_msgid(7)
            .with_envelope_source("lab 1/é")
            .unwrap()
            .with_envelope_clock(fixed_clock);
        assert_eq!(publisher.envelope_source(), Some("lab 1/é"));
        let subscriber = Subscriber::connect(publisher.endpoint(), 7).unwrap();
        let raw = capture(publisher.endpoint());
        publisher.wait_for_subscribers(2).await;

        publisher.publish("Hello World").await.unwrap();
        publisher
            .publish_json(&json!({"data": 42, "name": "né"}))
            .await
            .unwrap();
        publisher
            .publish_json(&json!({"celsius": 21.5}))
            .await
            .unwrap();

        // The exact octets: "<msgid> " first, the source escaped.
        for expected in [
            "7 envelope 1 1700000000123 lab%201/%C3%A9 0 text Hello World",
            "7 envelope 1 1700000000123 lab%201/%C3%A9 1 json {\"data\": 42, \"name\": \"n\\u00e9\"}",
            "7 envelope 1 1700000000123 lab%201/%C3%A9 2 json {\"celsius\": 21.5}",
        ] {
            let msg = within("a raw message", raw.recv()).await.unwrap();
            assert_eq!(text_of(&msg), expected);
        }

        let envelope = |seq| Envelope {
            timestamp_ms: T0,
            source: "lab 1/é".into(),
            seq,
        };
        let first = within("a delivery", subscriber.subscribe_envelope())
            .await
            .unwrap();
        assert_eq!(first.payload, Payload::Text("Hello World".into()));
        assert_eq!(first.envelope, Some(envelope(0)));
        assert_eq!(first.sequence, Some(Sequence::First));
        assert_eq!(first.envelope.unwrap().timestamp(), fixed_clock());
        let second = within("a delivery", subscriber.subscribe_envelope())
            .await
            .unwrap();
        assert_eq!(
            second.payload,
            Payload::Json(json!({"data": 42, "name": "né"}))
        );
        assert_eq!(second.envelope, Some(envelope(1)));
        assert_eq!(second.sequence, Some(Sequence::InOrder));

        #[derive(Deserialize, Debug, PartialEq)]
        struct Reading {
            celsius: f64,
        }
        let third = within(
            "a typed delivery",
            subscriber.subscribe_envelope_as::<Reading>(),
        )
        .await
        .unwrap();
        assert_eq!(third.payload, Reading { celsius: 21.5 });
        assert_eq!(third.envelope, Some(envelope(2)));
        assert_eq!(third.sequence, Some(Sequence::InOrder));

        let stats = subscriber.sequence_stats();
        assert_eq!((stats.received, stats.first, stats.in_order), (3, 1, 2));
        assert_eq!(
            stats.gaps + stats.duplicates + stats.late + stats.restarts,
            0
        );
    });
}

#[test]
fn the_system_clock_and_a_default_source_unique_per_publisher() {
    run(async {
        let a = Publisher::bind("tcp://127.0.0.1:*")
            .unwrap()
            .with_envelope();
        let b = Publisher::bind("tcp://127.0.0.1:*")
            .unwrap()
            .with_envelope();
        let (source_a, source_b) = (a.envelope_source().unwrap(), b.envelope_source().unwrap());
        assert_ne!(source_a, source_b);
        assert!(source_a.contains(&format!("-{}-", std::process::id())));

        let subscriber = Subscriber::connect(a.endpoint(), 1000).unwrap();
        a.wait_for_subscribers(1).await;
        let before = SystemTime::now();
        a.publish("now").await.unwrap();
        let delivery = within("a delivery", subscriber.subscribe_envelope())
            .await
            .unwrap();
        let envelope = delivery.envelope.unwrap();
        assert_eq!(envelope.source, source_a);
        let at = envelope.timestamp();
        // Milliseconds: at most one below the time read before publishing.
        assert!(
            at + Duration::from_millis(1) >= before,
            "{at:?} < {before:?}"
        );
        assert!(at <= SystemTime::now());
    });
}

#[test]
fn the_default_form_is_unchanged_and_carries_no_envelope() {
    run(async {
        let publisher = Publisher::bind("tcp://127.0.0.1:*").unwrap();
        assert_eq!(publisher.envelope_source(), None);
        let subscriber = Subscriber::connect(publisher.endpoint(), 1000).unwrap();
        let raw = capture(publisher.endpoint());
        publisher.wait_for_subscribers(2).await;
        publisher.publish("Hi there! é").await.unwrap();
        publisher
            .publish_json(&json!({"data": 42, "f": 1e16}))
            .await
            .unwrap();
        for expected in [
            &b"1000 text Hi there! \xc3\xa9"[..],
            b"1000 json {\"data\": 42, \"f\": 1e+16}",
        ] {
            let msg = within("a raw message", raw.recv()).await.unwrap();
            assert_eq!(msg, Msg::from(expected), "{:?}", text_of(&msg));
        }
        let delivery = within("a delivery", subscriber.subscribe_envelope())
            .await
            .unwrap();
        let Delivery {
            payload,
            envelope,
            sequence,
            ..
        } = delivery;
        assert_eq!(payload, Payload::Text("Hi there! é".into()));
        assert_eq!((envelope, sequence), (None, None));
        let delivery = within("a delivery", subscriber.subscribe_envelope())
            .await
            .unwrap();
        assert_eq!(delivery.envelope, None);
        assert_eq!(subscriber.sequence_stats(), SequenceStats::default());
    });
}

#[test]
fn sequences_count_per_message_id_so_other_ids_leave_no_gap() {
    run(async {
        let publisher = Publisher::bind("tcp://127.0.0.1:*")
            .unwrap()
            .with_envelope_source("multi")
            .unwrap();
        let sevens = Subscriber::connect(publisher.endpoint(), 7).unwrap();
        let eights = Subscriber::connect(publisher.endpoint(), 8).unwrap();
        publisher.wait_for_subscribers(2).await;
        for round in 0..3 {
            publisher
                .publish_to(7, &format!("seven {round}"))
                .await
                .unwrap();
            publisher
                .publish_to(8, &format!("eight {round}"))
                .await
                .unwrap();
            publisher
                .publish_to(8, &format!("eight {round}'"))
                .await
                .unwrap();
        }
        for seq in 0..3 {
            let d = within("a 7", sevens.subscribe_envelope()).await.unwrap();
            assert_eq!(d.envelope.unwrap().seq, seq);
        }
        for seq in 0..6 {
            let d = within("an 8", eights.subscribe_envelope()).await.unwrap();
            assert_eq!(d.envelope.unwrap().seq, seq);
        }
        for stats in [sevens.sequence_stats(), eights.sequence_stats()] {
            assert_eq!((stats.first, stats.gaps, stats.duplicates), (1, 0, 0));
        }
    });
}

/// Frames built by hand on a raw PUB socket: numbers skipped, repeated and reordered, and
/// default-form messages from another publisher mixed in.
#[test]
fn gaps_duplicates_late_messages_and_restarts_are_reported() {
    run(async {
        let raw_pub = Socket::new(SocketType::Pub);
        let endpoint = raw_pub.bind("tcp://127.0.0.1:*").unwrap();
        let subscriber = Subscriber::connect(&endpoint, 1000).unwrap();
        raw_pub.wait_for_subscribers(1).await;
        let frame = |source: &str, seq: u64| Frame {
            msgid: 1000,
            envelope: Some(Envelope {
                timestamp_ms: T0 + seq,
                source: source.into(),
                seq,
            }),
            msgtype: MsgType::Text,
            body: format!("{source} {seq}"),
        };
        let script: Vec<(Frame, Option<Sequence>)> = vec![
            (frame("a", 10), Some(Sequence::First)),
            (frame("a", 11), Some(Sequence::InOrder)),
            (frame("a", 15), Some(Sequence::Gap { missed: 12..15 })),
            (frame("b", 0), Some(Sequence::First)),
            (
                Frame {
                    msgid: 1000,
                    envelope: None,
                    msgtype: MsgType::Text,
                    body: "plain".into(),
                },
                None,
            ),
            (frame("a", 13), Some(Sequence::Late)),
            (frame("a", 15), Some(Sequence::Duplicate)),
            (frame("b", 1), Some(Sequence::InOrder)),
            (frame("a", 16), Some(Sequence::InOrder)),
            // Within the window behind the newest but never received: reordered.
            (frame("a", 0), Some(Sequence::Late)),
            (frame("b", 200), Some(Sequence::Gap { missed: 2..200 })),
            // More than the window behind: the source restarted under its id.
            (frame("b", 100), Some(Sequence::Restart { previous: 200 })),
            (frame("b", 101), Some(Sequence::InOrder)),
        ];

        for (frame, _) in &script {
            raw_pub.send(frame.to_text().unwrap()).await.unwrap();
        }
        for (frame, expected) in script {
            let d = within("a delivery", subscriber.subscribe_envelope())
                .await
                .unwrap();
            assert_eq!(d.payload, Payload::Text(frame.body.clone()));
            assert_eq!(d.envelope, frame.envelope);
            assert_eq!(d.sequence, expected, "for {frame:?}");
        }
        let stats = subscriber.sequence_stats();
        assert_eq!(stats.received, 12, "the plain message is not counted");
        assert_eq!((stats.first, stats.in_order), (2, 4));
        assert_eq!((stats.gaps, stats.missed), (2, 3 + 198));
        assert_eq!((stats.late, stats.duplicates, stats.restarts), (2, 1, 1));
    });
}

/// A subscriber connected twice to one publisher receives everything twice: every
/// second copy is a duplicate, whatever the interleaving of the two connections.
#[test]
fn a_subscriber_connected_twice_reports_duplicates() {
    run(async {
        let publisher = Publisher::bind("tcp://127.0.0.1:*")
            .unwrap()
            .with_envelope();
        let subscriber = Subscriber::connect(publisher.endpoint(), 1000).unwrap();
        subscriber.add_endpoint(publisher.endpoint()).unwrap();
        publisher.wait_for_subscribers(2).await;
        for i in 0..5 {
            publisher.publish(&format!("m{i}")).await.unwrap();
        }
        let mut seen = Vec::new();
        for _ in 0..10 {
            let d = within("a delivery", subscriber.subscribe_envelope())
                .await
                .unwrap();
            seen.push((d.envelope.unwrap().seq, d.sequence.unwrap()));
        }
        let duplicates = seen
            .iter()
            .filter(|(_, s)| *s == Sequence::Duplicate)
            .count();
        assert_eq!(duplicates, 5, "{seen:?}");
        let stats = subscriber.sequence_stats();
        assert_eq!(
            (stats.first, stats.in_order, stats.duplicates, stats.gaps),
            (1, 4, 5, 0),
            "{seen:?}"
        );
    });
}

/// Too many sources for the limit: the least recently seen is forgotten and, when it
/// sends again, starts over without a false gap or duplicate.
#[test]
fn sources_beyond_the_limit_are_evicted() {
    run(async {
        let raw_pub = Socket::new(SocketType::Pub);
        let endpoint = raw_pub.bind("tcp://127.0.0.1:*").unwrap();
        let subscriber = Subscriber::connect(&endpoint, 1)
            .unwrap()
            .with_max_streams(2);
        raw_pub.wait_for_subscribers(1).await;
        let send = |source: &str, seq: u64| {
            let text = Frame {
                msgid: 1,
                envelope: Some(Envelope {
                    timestamp_ms: 0,
                    source: source.into(),
                    seq,
                }),
                msgtype: MsgType::Json,
                body: seq.to_string(),
            }
            .to_text()
            .unwrap();
            raw_pub.try_send(text).unwrap();
        };
        for (source, seq) in [("a", 0), ("b", 0), ("c", 0), ("a", 5), ("c", 1)] {
            send(source, seq);
        }
        let mut verdicts = Vec::new();
        for _ in 0..5 {
            let d = within("a delivery", subscriber.subscribe_envelope())
                .await
                .unwrap();
            verdicts.push(d.sequence.unwrap());
        }
        use Sequence::*;
        assert_eq!(verdicts, [First, First, First, First, InOrder]);
        assert_eq!(subscriber.sequence_stats().evicted, 2);
    });
}

#[test]
fn source_ids_are_checked_and_escaped() {
    let publisher = || Publisher::bind("tcp://127.0.0.1:*").unwrap();
    let message = |result: Result<Publisher, Error>| match result {
        Err(err @ Error::InvalidSource(_)) => err.to_string(),
        other => panic!("expected InvalidSource, got {other:?}"),
    };
    assert_eq!(
        message(publisher().with_envelope_source("")),
        "invalid envelope source id: a source id cannot be empty"
    );
    assert!(
        message(publisher().with_envelope_source(&"x".repeat(MAX_SOURCE_LEN + 1)))
            .contains("at most 255")
    );
    for odd in [
        "with space",
        "per%cent",
        "tab\there",
        "汉字",
        &"x".repeat(MAX_SOURCE_LEN),
    ] {
        assert_eq!(
            publisher()
                .with_envelope_source(odd)
                .unwrap()
                .envelope_source(),
            Some(odd)
        );
    }
    // A frame carrying an invalid source cannot be written either.
    let frame = Frame {
        msgid: 1,
        envelope: Some(Envelope {
            timestamp_ms: 0,
            source: String::new(),
            seq: 0,
        }),
        msgtype: MsgType::Text,
        body: String::new(),
    };
    assert!(matches!(frame.to_text(), Err(Error::InvalidSource(_))));
}

#[test]
fn envelopes_work_with_other_codings() {
    run(async {
        let publisher = Publisher::bind("tcp://127.0.0.1:*")
            .unwrap()
            .with_coding("gbk")
            .unwrap()
            .with_envelope_source("传感器 1")
            .unwrap()
            .with_envelope_clock(fixed_clock);
        let subscriber = Subscriber::connect(publisher.endpoint(), 1000)
            .unwrap()
            .with_coding("gbk")
            .unwrap();
        let raw = capture(publisher.endpoint());
        publisher.wait_for_subscribers(2).await;
        publisher.publish("温度").await.unwrap();
        let msg = within("a raw message", raw.recv()).await.unwrap();
        let octets = &msg.frames()[0];
        let header = b"1000 envelope 1 1700000000123 %E4%BC%A0%E6%84%9F%E5%99%A8%201 0 text ";
        assert!(octets.starts_with(header), "{octets:?}");
        assert_eq!(
            &octets[header.len()..],
            [0xCE, 0xC2, 0xB6, 0xC8],
            "温度 in GBK"
        );
        let d = within("a delivery", subscriber.subscribe_envelope())
            .await
            .unwrap();
        assert_eq!(d.payload, Payload::Text("温度".into()));
        assert_eq!(d.envelope.unwrap().source, "传感器 1");
    });
}

/// Source ids: any text within the limit, weighted towards what needs escaping.
fn source_ids() -> impl Strategy<Value = String> {
    prop_oneof![
        "(?s).{1,40}",
        "[ %a-z\\x00-\\x1f\\x7f-\\u{a0}]{1,20}",
        Just("%".repeat(MAX_SOURCE_LEN)),
    ]
    .prop_filter("at most MAX_SOURCE_LEN octets", |s| {
        s.len() <= MAX_SOURCE_LEN
    })
}

fn msgtypes() -> impl Strategy<Value = MsgType> {
    prop_oneof![Just(MsgType::Text), Just(MsgType::Json)]
}

proptest! {
    #[test]
    fn enveloped_frames_read_back_as_written(
        msgid in any::<i64>(),
        timestamp_ms in any::<u64>(),
        source in source_ids(),
        seq in any::<u64>(),
        msgtype in msgtypes(),
        body in "(?s).{0,80}",
    ) {
        let frame = Frame {
            msgid,
            envelope: Some(Envelope { timestamp_ms, source, seq }),
            msgtype,
            body,
        };
        let text = frame.to_text().unwrap();
        // The id and its space come first (SUB prefix filtering), then the token, and the
        // header is ASCII without control characters whatever the source.
        let prefix = format!("{msgid} envelope 1 ");
        prop_assert!(text.starts_with(&prefix));
        let header_end = text.len() - frame.body.len();
        prop_assert!(text[..header_end].bytes().all(|b| b.is_ascii_graphic() || b == b' '));
        prop_assert_eq!(Frame::parse(&text).unwrap(), frame);
    }

    #[test]
    fn default_form_messages_never_read_as_enveloped(
        msgid in any::<i64>(),
        msgtype in msgtypes(),
        body in "(?s).{0,80}",
    ) {
        let frame = Frame { msgid, envelope: None, msgtype, body };
        let text = frame.to_text().unwrap();
        // Exactly the Python module's f"{msgid} {msgtype} {msg}".
        prop_assert_eq!(&text, &format!("{msgid} {} {}", msgtype.token(), frame.body));
        prop_assert_eq!(Frame::parse(&text).unwrap(), frame);
    }

    #[test]
    fn arbitrary_text_never_panics_the_reader(text in "(?s)(-?[0-9]{1,3} envelope 1 )?.{0,60}") {
        let _ = Frame::parse(&text);
    }
}
