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
    PPPuller, PPPusher, PairClient, Payload, Publisher, RRClient, RRServer, Subscriber,
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
