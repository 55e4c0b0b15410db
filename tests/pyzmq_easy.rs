//! The high-level API against the Python `zmq_async` module (rebuilt from its API document in
//! tests/python_easy/zmq_async.py) running in a child process over pyzmq/libzmq 4.3.5.
//!
//! Needs `python3` with pyzmq: run with `cargo test --features pyzmq-tests --test pyzmq_easy`
//! (`.ci/run` installs pyzmq first). A missing interpreter or module fails the tests.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};
use zmq_sansio::Msg;
use zmq_sansio::easy::{
    PPPuller, PPPusher, PairClient, Payload, Publisher, RRClient, RRServer, Sequence, Subscriber,
};
use zmq_sansio::io::Socket;
use zmq_sansio::proto::SocketType;

const PATIENCE: Duration = Duration::from_secs(10);

/// A Python peer process, killed when dropped.
struct PythonPeer {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl PythonPeer {
    fn spawn(role: &str, args: &[&str]) -> Self {
        Self::spawn_secure(role, args, None)
    }

    /// A peer whose sockets get `security` (`PEER_SECURITY`: see `peer.py`).
    fn spawn_secure(role: &str, args: &[&str], security: Option<&str>) -> Self {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python_easy");
        let mut child = Command::new("python3")
            .envs(security.map(|s| ("PEER_SECURITY", s)))
            // No __pycache__ in the source tree.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .arg(format!("{dir}/peer.py"))
            .arg(role)
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("python3 must be installed (with pyzmq) for these tests");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut peer = Self { child, lines };
        let ready = peer.line();
        assert_eq!(
            ready, "READY",
            "the Python peer failed to start (is pyzmq installed?)"
        );
        peer
    }

    /// The next line the peer printed.
    fn line(&mut self) -> String {
        match self.lines.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(_) => {
                let status = self.child.try_wait().ok().flatten();
                panic!(
                    "no output from the Python peer within {PATIENCE:?} (exit status: {status:?})"
                );
            }
        }
    }
}

impl Drop for PythonPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (the Python classes bind `tcp://*:port` themselves).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run<T>(test: impl std::future::Future<Output = T>) -> T {
    smol::block_on(async {
        smol::future::or(test, async {
            smol::Timer::after(PATIENCE * 3).await;
            panic!("test took longer than {:?}", PATIENCE * 3);
        })
        .await
    })
}

async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    smol::future::or(future, async {
        smol::Timer::after(PATIENCE).await;
        panic!("nothing within {PATIENCE:?}");
    })
    .await
}

#[test]
fn python_publisher_to_rust_subscriber() {
    let port = free_port();
    let _python = PythonPeer::spawn("publisher", &[&port.to_string(), "1000"]);
    run(async {
        let subscriber = Subscriber::new("127.0.0.1", &[port], 1000).unwrap();
        let mut texts = 0;
        let mut jsons = 0;
        while texts < 3 || jsons < 3 {
            match within(subscriber.subscribe()).await.unwrap() {
                Payload::Text(text) => {
                    // The Python publisher also sends id 10001, which the Python subscriber
                    // would wrongly receive for 1000; ours never does.
                    assert!(text.starts_with("hello "), "{text:?}");
                    texts += 1;
                }
                Payload::Json(value) => {
                    assert_eq!(value["name"], "né");
                    assert!(value["seq"].is_u64());
                    jsons += 1;
                }
            }
        }
    });
}

#[test]
fn rust_publisher_to_python_subscriber() {
    run(async {
        let publisher = Publisher::bind("tcp://127.0.0.1:*").unwrap().with_msgid(7);
        let port = publisher.endpoint().rsplit(':').next().unwrap().to_owned();
        let mut python = PythonPeer::spawn("subscriber", &[&port, "7", "2"]);
        publisher.wait_for_subscribers(1).await;
        publisher.publish("Hi from Rust é").await.unwrap();
        publisher
            .publish_json(&json!({"data": 42, "list": [1, 2.5]}))
            .await
            .unwrap();
        let text: Value = serde_json::from_str(&python.line()).unwrap();
        assert_eq!(text, json!("Hi from Rust é"));
        let object: Value = serde_json::from_str(&python.line()).unwrap();
        assert_eq!(object, json!({"data": 42, "list": [1, 2.5]}));
    });
}

#[test]
fn both_publishers_put_the_same_octets_on_the_wire() {
    let python_port = free_port();
    let _python = PythonPeer::spawn("fixed_publisher", &[&python_port.to_string()]);
    run(async {
        // The payloads of peer.py's FIXED_TEXT and FIXED_JSON.
        let text = "Hi there! é";
        let value = json!({"data": 42, "name": "né 😀", "f": 1e16, "g": 0.1, "l": [1, 2.5, null, true], "e": {}});
        let ours = Publisher::bind("tcp://127.0.0.1:*").unwrap();
        let capture = |endpoint: &str| {
            let sub = Socket::new(SocketType::Sub);
            sub.subscribe("").unwrap();
            sub.connect(endpoint).unwrap();
            sub
        };
        let from_python = capture(&format!("tcp://127.0.0.1:{python_port}"));
        let from_rust = capture(ours.endpoint());
        ours.wait_for_subscribers(1).await;
        ours.publish(text).await.unwrap();
        ours.publish_json(&value).await.unwrap();
        let rust_frames = [
            within(from_rust.recv()).await.unwrap(),
            within(from_rust.recv()).await.unwrap(),
        ];
        let mut python_frames: Vec<Msg> = Vec::new();
        while python_frames.len() < 2 {
            let msg = within(from_python.recv()).await.unwrap();
            // Python repeats both; start from a text message to line them up.
            if python_frames.is_empty() && msg.frames()[0].starts_with(b"1000 json") {
                continue;
            }
            python_frames.push(msg);
        }
        assert_eq!(
            rust_frames[..],
            python_frames[..],
            "\nrust:   {rust_frames:?}\npython: {python_frames:?}"
        );
    });
}

#[test]
fn python_client_rust_server_and_back() {
    run(async {
        let server = RRServer::bind("tcp://127.0.0.1:*")
            .unwrap()
            .with_handler(|request: String| format!("Echo: {request}"));
        let port = server.endpoint().rsplit(':').next().unwrap().to_owned();
        let serving = smol::spawn(async move { server.run().await });
        let mut python = PythonPeer::spawn("rr_client", &[&port, "hello", "world"]);
        assert_eq!(python.line(), "Echo: hello");
        assert_eq!(python.line(), "Echo: world");
        drop(serving);

        let port = free_port();
        let _python_server = PythonPeer::spawn("rr_server", &[&port.to_string()]);
        let client = RRClient::new("127.0.0.1", port)
            .unwrap()
            .with_timeout(PATIENCE);
        assert_eq!(
            within(client.request_text("ping")).await.unwrap(),
            "py: ping"
        );
        assert_eq!(
            within(client.request_text("again")).await.unwrap(),
            "py: again"
        );
    });
}

#[test]
fn python_pusher_rust_puller_and_back() {
    let port = free_port();
    let _python = PythonPeer::spawn("pusher", &[&port.to_string(), "5"]);
    run(async {
        let puller = PPPuller::new("127.0.0.1", port).unwrap();
        for i in 0..5 {
            let task = within(puller.pull()).await.unwrap();
            assert_eq!(task, Msg::from(format!("task {i}")));
        }

        let pusher = PPPusher::bind("tcp://127.0.0.1:*").unwrap();
        let port = pusher.endpoint().rsplit(':').next().unwrap().to_owned();
        let mut python = PythonPeer::spawn("puller", &[&port, "3"]);
        for task in ["a", "b", "c"] {
            pusher.push(task).await.unwrap();
        }
        for task in ["a", "b", "c"] {
            assert_eq!(python.line(), task);
        }
    });
}

#[test]
fn rust_pair_client_to_python_pair_server() {
    let port = free_port();
    let _python = PythonPeer::spawn("pair_server", &[&port.to_string()]);
    run(async {
        let client = PairClient::new("127.0.0.1", port)
            .unwrap()
            .with_timeout(PATIENCE);
        assert_eq!(
            within(client.request_text("anything")).await.unwrap(),
            "py pair"
        );
    });
}

/// The Python module with CURVE (its sockets given the options a deployment would add):
/// a Python CURVE server and our client, our CURVE server (with an authenticator) and a
/// Python client; and a client with the wrong server key gets nothing.
#[test]
fn curve_between_the_python_module_and_ours() {
    use zmq_sansio::easy::Options;
    use zmq_sansio::io::Authenticator;
    use zmq_sansio::security::{AuthDecision, Credentials, CurveKeyPair};

    run(async {
        let server_keys = CurveKeyPair::generate();
        let client_keys = CurveKeyPair::generate();
        let port = free_port();
        let _python_server = PythonPeer::spawn_secure(
            "rr_server",
            &[&port.to_string()],
            Some(&format!(
                "curve-server {}",
                server_keys.secret().to_z85().as_str()
            )),
        );
        let client = RRClient::new_with(
            "127.0.0.1",
            port,
            Options::curve_client(*server_keys.public(), client_keys.clone()),
        )
        .unwrap()
        .with_timeout(PATIENCE);
        assert_eq!(
            within(client.request_text("sealed")).await.unwrap(),
            "py: sealed"
        );
        let stranger = RRClient::new_with(
            "127.0.0.1",
            port,
            Options::curve_client(*CurveKeyPair::generate().public(), client_keys.clone()),
        )
        .unwrap()
        .with_timeout(Duration::from_millis(500));
        assert!(matches!(
            stranger.request_text("wrong key").await,
            Err(zmq_sansio::easy::Error::NoReply { .. })
        ));

        let known = *client_keys.public();
        let server = RRServer::bind_with(
            "tcp://127.0.0.1:*",
            Options::curve_server(server_keys.secret().clone()).authenticator(Authenticator::new(
                move |request| match &request.credentials {
                    Credentials::Curve { public_key } if *public_key == known => {
                        AuthDecision::allow()
                    }
                    _ => AuthDecision::deny("unknown key"),
                },
            )),
        )
        .unwrap()
        .with_handler(|request: String| format!("Echo: {request}"));
        let port = server.endpoint().rsplit(':').next().unwrap().to_owned();
        let serving = smol::spawn(async move { server.run().await });
        let mut python = PythonPeer::spawn_secure(
            "rr_client",
            &[&port, "hello"],
            Some(&format!(
                "curve-client {} {} {}",
                server_keys.public(),
                client_keys.public(),
                client_keys.secret().to_z85().as_str()
            )),
        );
        assert_eq!(python.line(), "Echo: hello");
        drop(serving);
    });
}

/// PLAIN: the Python module's pusher (which binds) as the PLAIN client, our connecting
/// puller the PLAIN server with an authenticator (the mechanism's roles are independent
/// of who binds).
#[test]
fn plain_between_the_python_module_and_ours() {
    use zmq_sansio::easy::Options;
    use zmq_sansio::io::Authenticator;
    use zmq_sansio::security::{AuthDecision, Credentials};
    run(async {
        let port = free_port();
        let _python = PythonPeer::spawn_secure(
            "pusher",
            &[&port.to_string(), "3"],
            Some("plain-client admin secret"),
        );
        let only_admin = Authenticator::new(|request| match &request.credentials {
            Credentials::Plain { username, password }
                if username == "admin" && &password[..] == b"secret" =>
            {
                AuthDecision::allow_as("admin")
            }
            _ => AuthDecision::deny("unknown user"),
        });
        let puller = PPPuller::new_with(
            "127.0.0.1",
            port,
            Options::plain_server().authenticator(only_admin),
        )
        .unwrap();
        for i in 0..3 {
            let got = within(puller.pull()).await.unwrap();
            assert_eq!(got, zmq_sansio::Msg::from(format!("task {i}")));
        }
    });
}

/// The port of a bound endpoint, for a Python peer to connect to.
fn port_of(endpoint: &str) -> String {
    endpoint.rsplit(':').next().unwrap().to_owned()
}

/// python/zmq_envelope.py's own tests (standard library only: no pyzmq needed).
#[test]
fn python_envelope_module_unittests() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/python");
    let output = Command::new("python3")
        .args(["-m", "unittest", "-v", "test_zmq_envelope"])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(dir)
        .output()
        .expect("python3 must be installed for these tests");
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("Ran 7 tests"), "{report}");
}

/// A Python publisher enveloping with python/zmq_envelope.py (a gap and a duplicate in
/// every ten numbers, a default-form message after each): our subscriber reads both forms,
/// the envelope as sent, and judges every number as the script dictates.
#[test]
fn python_enveloped_publisher_to_rust_subscriber() {
    use std::time::{SystemTime, UNIX_EPOCH};
    let port = free_port();
    let _python = PythonPeer::spawn("envelope_publisher", &[&port.to_string(), "1000"]);
    run(async {
        let subscriber = Subscriber::new("127.0.0.1", &[port], 1000).unwrap();
        let mut previous: Option<u64> = None;
        let mut plain = 0;
        loop {
            let stats = subscriber.sequence_stats();
            if stats.gaps >= 2 && stats.duplicates >= 2 && plain >= 3 {
                break;
            }
            let delivery = within(subscriber.subscribe_envelope()).await.unwrap();
            let Some(envelope) = delivery.envelope else {
                assert!(
                    matches!(&delivery.payload, Payload::Text(t) if t.starts_with("plain ")),
                    "{:?}",
                    delivery.payload
                );
                assert_eq!(delivery.sequence, None);
                plain += 1;
                continue;
            };
            assert_eq!(envelope.source, "py sensor/é");
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64;
            assert!(
                envelope.timestamp_ms <= now_ms + 1 && envelope.timestamp_ms + 60_000 > now_ms,
                "{} vs now {now_ms}",
                envelope.timestamp_ms
            );
            let seq = envelope.seq;
            assert_eq!(
                delivery.payload,
                Payload::Json(json!({"seq": seq, "name": "né"}))
            );
            let expected = match previous {
                None => Sequence::First,
                Some(p) if p == seq => {
                    assert_eq!(seq % 10, 7, "only 7, 17, … are sent twice");
                    Sequence::Duplicate
                }
                Some(p) if seq == p + 2 && seq % 10 == 6 => Sequence::Gap { missed: p + 1..seq },
                Some(p) => {
                    assert_eq!(seq, p + 1, "nothing else is skipped");
                    Sequence::InOrder
                }
            };
            assert_eq!(delivery.sequence, Some(expected), "number {seq}");
            previous = Some(seq);
        }
        let stats = subscriber.sequence_stats();
        assert_eq!(stats.missed, stats.gaps, "one number per gap");
        assert_eq!((stats.late, stats.restarts, stats.first), (0, 0, 1));
    });
}

/// Our enveloping publisher and a default one, read by a Python subscriber with
/// python/zmq_envelope.py: it tells the forms apart, reads the envelope, rebuilds the same
/// text (the two implementations write the same octets), and the zmq_async module's own
/// reading of an enveloped message is the text after the type.
#[test]
fn rust_enveloped_publisher_to_python_subscriber() {
    use std::time::{Duration, UNIX_EPOCH};
    run(async {
        let enveloped = Publisher::bind("tcp://127.0.0.1:*")
            .unwrap()
            .with_msgid(7)
            .with_envelope_source("rust pub/ü%")
            .unwrap()
            .with_envelope_clock(|| UNIX_EPOCH + Duration::from_millis(1_700_000_000_123));
        let plain = Publisher::bind("tcp://127.0.0.1:*").unwrap().with_msgid(7);
        let ports = format!(
            "{},{}",
            port_of(enveloped.endpoint()),
            port_of(plain.endpoint())
        );
        let mut python = PythonPeer::spawn("envelope_subscriber", &[&ports, "7", "4"]);
        enveloped.wait_for_subscribers(1).await;
        plain.wait_for_subscribers(1).await;
        enveloped.publish("Hi from Rust é").await.unwrap();
        enveloped.publish_to(8, "another id").await.unwrap();
        enveloped.publish_json(&json!({"data": 42})).await.unwrap();
        enveloped.publish("bye").await.unwrap();
        plain.publish("plain é").await.unwrap();

        let lines: Vec<Value> = (0..4)
            .map(|_| serde_json::from_str(&python.line()).unwrap())
            .collect();
        let (plain_lines, enveloped_lines): (Vec<&Value>, Vec<&Value>) =
            lines.iter().partition(|l| l["envelope"].is_null());
        assert_eq!(
            plain_lines,
            [
                &json!({"msgid": 7, "msgtype": "text", "value": "plain é", "envelope": null,
                "rebuilt_equal": true, "zmq_async": "plain é"})
            ]
        );
        let expected = [
            ("text", json!("Hi from Rust é"), "first"),
            ("json", json!({"data": 42}), "in_order"),
            ("text", json!("bye"), "in_order"),
        ];
        assert_eq!(enveloped_lines.len(), 3, "{lines:?}");
        for (seq, (line, (msgtype, value, verdict))) in
            enveloped_lines.iter().zip(expected).enumerate()
        {
            assert_eq!(line["msgid"], 7);
            assert_eq!(
                line["envelope"],
                json!([1_700_000_000_123u64, "rust pub/ü%", seq])
            );
            assert_eq!(line["msgtype"], msgtype);
            assert_eq!(line["value"], value);
            assert_eq!(line["verdict"], verdict);
            assert_eq!(line["rebuilt_equal"], true, "{line}");
            let original = line["zmq_async"].as_str().unwrap();
            let header = format!("1 1700000000123 rust%20pub/%C3%BC%25 {seq} {msgtype} ");
            assert!(original.starts_with(&header), "{original:?}");
        }
    });
}
