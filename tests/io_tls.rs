//! TLS as a transport (`tls+tcp://`, feature `tls`): a CA and certificates generated at test
//! time with rcgen; REQ/REP, PUB/SUB and PUSH/PULL inside TLS; clients that must be refused
//! (untrusted CA, wrong server name, no or wrong client certificate under mutual TLS) are,
//! while correctly configured ones still get through; reconnecting to a server that comes
//! back on the same port; configuration errors that say what is wrong.
//!
//! Refusals are observed through the warnings the io layer logs for failed TLS handshakes
//! (a logger installed here records them, and tests wait for the one they expect), and by
//! checking, with a bounded wait, that nothing was delivered.

use std::sync::{Condvar, Mutex, Once};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use smol::Timer;
use smol::future::or;
use zmq_sansio::Msg;
use zmq_sansio::io::tls::{TlsClientConfig, TlsError, TlsServerConfig};
use zmq_sansio::io::{Error, Socket};
use zmq_sansio::proto::SocketType;

/// The longest any single wait may take (generous: the machine may be loaded).
const PATIENCE: Duration = Duration::from_secs(20);
/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(500);

// ---------------------------------------------------------------------------------------
// Certificates

/// A certificate authority made for one test.
struct Ca(CertifiedIssuer<'static, KeyPair>);

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        Self(CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap())
    }

    fn pem(&self) -> String {
        self.0.pem()
    }

    /// A certificate signed by this CA for `names` (DNS names or IP addresses), and its
    /// private key, both PEM.
    fn issue(&self, names: &[&str], purpose: ExtendedKeyUsagePurpose) -> (String, String) {
        let sans: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(sans).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("peer"));
        params.extended_key_usages = vec![purpose];
        let key = KeyPair::generate().unwrap();
        let issuer: &Issuer<'_, KeyPair> = &self.0;
        let cert = params.signed_by(&key, issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A server configuration with a certificate for `names`.
    fn server(&self, names: &[&str]) -> TlsServerConfig {
        let (cert, key) = self.issue(names, ExtendedKeyUsagePurpose::ServerAuth);
        TlsServerConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap()
    }

    /// A client configuration that trusts this CA only.
    fn client(&self) -> TlsClientConfig {
        TlsClientConfig::from_pem(self.pem().as_bytes()).unwrap()
    }

    /// A client certificate and key for mutual TLS.
    fn client_identity(&self, name: &str) -> (String, String) {
        self.issue(&[name], ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// The names the usual server certificate carries.
const LOCAL: &[&str] = &["localhost", "127.0.0.1"];

// ---------------------------------------------------------------------------------------
// Sockets and waiting

fn builder(kind: SocketType) -> zmq_sansio::io::SocketBuilder {
    Socket::builder(kind)
        .linger(Duration::from_millis(200))
        .reconnect_interval(Duration::from_millis(50))
        .reconnect_interval_max(Duration::from_millis(500))
}

fn server(kind: SocketType, config: TlsServerConfig) -> Socket {
    builder(kind).tls_server(config).build().unwrap()
}

fn client(kind: SocketType, config: TlsClientConfig) -> Socket {
    builder(kind).tls_client(config).build().unwrap()
}

/// `fut`'s output, or a panic naming `what` after [`PATIENCE`].
async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    or(fut, async {
        Timer::after(PATIENCE).await;
        panic!("{what}: not done within {PATIENCE:?}");
    })
    .await
}

async fn recv(socket: &Socket) -> Msg {
    socket
        .recv_timeout(PATIENCE)
        .await
        .expect("a message within the patience window")
}

/// Checks (for [`QUIET`]) that nothing arrives.
async fn nothing_arrives(socket: &Socket, what: &str) {
    match socket.recv_timeout(QUIET).await {
        Err(Error::Timeout(_)) => {}
        other => panic!("{what}: expected nothing, got {other:?}"),
    }
}

/// Waits (bounded) for `condition`, checking it every few milliseconds.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < PATIENCE,
            "{what}: not within {PATIENCE:?}"
        );
        Timer::after(Duration::from_millis(10)).await;
    }
}

async fn round_trip(req: &Socket, rep: &Socket, text: &str) {
    req.send(text.to_owned()).await.unwrap();
    let request = recv(rep).await;
    assert_eq!(request.frames()[0], text);
    rep.send(request).await.unwrap();
    assert_eq!(recv(req).await.frames()[0], text);
}

// ---------------------------------------------------------------------------------------
// The warnings of failed handshakes

/// Every warning logged in this process (tests run in parallel: each looks for its own
/// endpoint's).
static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static LOGGED: Condvar = Condvar::new();

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = record.args().to_string();
            WARNINGS.lock().unwrap().push(line);
            LOGGED.notify_all();
        }
    }

    fn flush(&self) {}
}

fn capture_warnings() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&Capture).unwrap();
        log::set_max_level(log::LevelFilter::Warn);
    });
}

/// Waits (bounded, off the executor) until a warning containing every one of `needles`
/// has been logged; returns it.
async fn warned(needles: &[&str]) -> String {
    let needles: Vec<String> = needles.iter().map(|n| n.to_string()).collect();
    smol::unblock(move || {
        let found = |w: &String| needles.iter().all(|n| w.contains(n.as_str()));
        let warnings = WARNINGS.lock().unwrap();
        let (warnings, _) = LOGGED
            .wait_timeout_while(warnings, PATIENCE, |ws| !ws.iter().any(found))
            .unwrap();
        match warnings.iter().find(|w| found(w)) {
            Some(w) => w.clone(),
            None => panic!(
                "no warning with {needles:?} within {PATIENCE:?}; warnings: {:#?}",
                *warnings
            ),
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------
// Patterns

#[test]
fn req_rep_over_tls_by_address_and_by_name() {
    smol::block_on(async {
        let ca = Ca::new("test CA");
        let rep = server(SocketType::Rep, ca.server(LOCAL));
        let endpoint = rep.bind("tls+tcp://127.0.0.1:*").unwrap();
        assert!(endpoint.starts_with("tls+tcp://127.0.0.1:"), "{endpoint}");
        assert!(!endpoint.ends_with(":*") && !endpoint.ends_with(":0"));

        // By IP address: the certificate's IP SAN is checked.
        let req = client(SocketType::Req, ca.client());
        req.connect(&endpoint).unwrap();
        within("handshake", req.wait_for_peers(1)).await;
        for i in 0..10 {
            round_trip(&req, &rep, &format!("request {i}")).await;
        }

        // By name: the certificate's DNS SAN is checked.
        let port = endpoint.rsplit(':').next().unwrap();
        let by_name = client(SocketType::Req, ca.client());
        by_name
            .connect(&format!("tls+tcp://localhost:{port}"))
            .unwrap();
        by_name.send("by name").await.unwrap();
        let request = recv(&rep).await;
        assert_eq!(request.frames()[0], "by name");
        rep.send(request).await.unwrap();
        assert_eq!(recv(&by_name).await.frames()[0], "by name");

        // A large multipart message crosses many TLS records intact.
        let big = vec![7u8; 1 << 20];
        let msg = Msg::from_frames([bytes::Bytes::from_static(b"head"), big.clone().into()]);
        req.send(msg).await.unwrap();
        let got = recv(&rep).await;
        assert_eq!(got.frames()[1].len(), big.len());
        assert!(got.frames()[1].iter().all(|&b| b == 7));
        rep.send(got).await.unwrap();
        assert_eq!(recv(&req).await.frames()[1].len(), big.len());

        by_name.close().await;
        req.close().await;
        rep.close().await;
    });
}

#[test]
fn pub_sub_over_tls() {
    smol::block_on(async {
        let ca = Ca::new("test CA");
        let publisher = server(SocketType::Pub, ca.server(LOCAL));
        let endpoint = publisher.bind("tls+tcp://127.0.0.1:*").unwrap();
        let subscriber = builder(SocketType::Sub)
            .tls_client(ca.client())
            .subscribe("weather.")
            .build()
            .unwrap();
        subscriber.connect(&endpoint).unwrap();
        within("subscription", publisher.wait_for_subscribers(1)).await;
        publisher.send("sports.result").await.unwrap();
        for i in 0..100 {
            publisher.send(format!("weather.{i}")).await.unwrap();
        }
        for i in 0..100 {
            assert_eq!(recv(&subscriber).await.frames()[0], format!("weather.{i}"));
        }
        subscriber.close().await;
        publisher.close().await;
    });
}

#[test]
fn push_pull_over_tls_with_the_client_binding_side_reversed() {
    smol::block_on(async {
        let ca = Ca::new("test CA");
        // PULL binds (TLS server), PUSH connects (TLS client); a small HWM makes the
        // pusher wait for the puller, as over tcp://.
        let pull = builder(SocketType::Pull)
            .recv_hwm(10)
            .tls_server(ca.server(LOCAL))
            .build()
            .unwrap();
        let endpoint = pull.bind("tls+tcp://*:*").unwrap();
        assert!(endpoint.starts_with("tls+tcp://0.0.0.0:"), "{endpoint}");
        let port = endpoint.rsplit(':').next().unwrap();
        let push = builder(SocketType::Push)
            .send_hwm(10)
            .tls_client(ca.client())
            .build()
            .unwrap();
        push.connect(&format!("tls+tcp://127.0.0.1:{port}"))
            .unwrap();
        let sender = smol::spawn({
            let push = push.clone();
            async move {
                for i in 0..2000u32 {
                    push.send(i.to_be_bytes().to_vec()).await.unwrap();
                }
            }
        });
        for i in 0..2000u32 {
            assert_eq!(recv(&pull).await.frames()[0], i.to_be_bytes()[..]);
        }
        within("sender", sender).await;
        push.close().await;
        pull.close().await;
    });
}

#[test]
fn heartbeats_keep_an_idle_tls_connection() {
    smol::block_on(async {
        let ca = Ca::new("test CA");
        let heartbeat = |b: zmq_sansio::io::SocketBuilder| {
            b.heartbeat(Duration::from_millis(50), Duration::from_millis(2000))
        };
        let rep = heartbeat(builder(SocketType::Rep))
            .tls_server(ca.server(LOCAL))
            .build()
            .unwrap();
        let endpoint = rep.bind("tls+tcp://127.0.0.1:*").unwrap();
        let req = heartbeat(builder(SocketType::Req))
            .tls_client(ca.client())
            .build()
            .unwrap();
        req.connect(&endpoint).unwrap();
        round_trip(&req, &rep, "before").await;
        // Many heartbeat intervals of silence, PINGs and PONGs inside TLS.
        Timer::after(Duration::from_millis(600)).await;
        assert_eq!(req.connected_peers(), 1);
        assert_eq!(rep.connected_peers(), 1);
        round_trip(&req, &rep, "after").await;
        req.close().await;
        rep.close().await;
    });
}

// ---------------------------------------------------------------------------------------
// Refusals

#[test]
fn a_client_trusting_another_ca_is_refused_and_a_good_one_still_gets_through() {
    capture_warnings();
    smol::block_on(async {
        let ca = Ca::new("the real CA");
        let other = Ca::new("some other CA");
        let rep = server(SocketType::Rep, ca.server(LOCAL));
        let endpoint = rep.bind("tls+tcp://127.0.0.1:*").unwrap();

        let bad = client(SocketType::Req, other.client());
        bad.connect(&endpoint).unwrap();
        bad.send("from the wrong side").await.unwrap(); // queued, never delivered
        let warning = warned(&[&format!("{endpoint}: TLS handshake failed"), "certificate"]).await;
        assert!(warning.contains("UnknownIssuer"), "{warning}");
        warned(&[&endpoint, "TLS handshake from"]).await;
        nothing_arrives(&rep, "untrusted client").await;
        assert_eq!(rep.connected_peers(), 0);
        assert_eq!(bad.connected_peers(), 0);

        // The listener keeps accepting: a correctly configured client works.
        let good = client(SocketType::Req, ca.client());
        good.connect(&endpoint).unwrap();
        round_trip(&good, &rep, "from the right side").await;
        nothing_arrives(&rep, "untrusted client, later").await;
        assert_eq!(bad.connected_peers(), 0);

        bad.close().await;
        good.close().await;
        rep.close().await;
    });
}

#[test]
fn the_server_name_is_checked_by_default_and_can_be_named() {
    capture_warnings();
    smol::block_on(async {
        let ca = Ca::new("test CA");
        // A certificate for a name that is not the address connected to.
        let rep = server(SocketType::Rep, ca.server(&["zmq.example.com"]));
        let endpoint = rep.bind("tls+tcp://127.0.0.1:*").unwrap();

        let mismatched = client(SocketType::Req, ca.client());
        mismatched.connect(&endpoint).unwrap();
        mismatched.send("mismatch").await.unwrap();
        let warning = warned(&[&format!("{endpoint}: TLS handshake failed")]).await;
        assert!(warning.contains("not valid for name"), "{warning}");
        nothing_arrives(&rep, "name mismatch").await;

        // Naming the server explicitly checks the certificate against that name instead.
        let named = client(
            SocketType::Req,
            ca.client().server_name("zmq.example.com").unwrap(),
        );
        named.connect(&endpoint).unwrap();
        round_trip(&named, &rep, "named").await;

        // And a wrong explicit name is refused too.
        let wrong = client(
            SocketType::Req,
            ca.client().server_name("other.example.com").unwrap(),
        );
        let port = endpoint.rsplit(':').next().unwrap();
        let localhost = format!("tls+tcp://localhost:{port}");
        wrong.connect(&localhost).unwrap();
        wrong.send("wrong name").await.unwrap();
        warned(&[
            &format!("{localhost}: TLS handshake failed"),
            "not valid for name",
        ])
        .await;
        nothing_arrives(&rep, "wrong explicit name").await;

        for socket in [mismatched, named, wrong, rep] {
            socket.close().await;
        }
    });
}

#[test]
fn mutual_tls_accepts_certified_clients_only() {
    capture_warnings();
    smol::block_on(async {
        let ca = Ca::new("server CA");
        let client_ca = Ca::new("client CA");
        let stranger_ca = Ca::new("stranger CA");
        let config = ca
            .server(LOCAL)
            .require_client_cert(client_ca.pem().as_bytes())
            .unwrap();
        let rep = server(SocketType::Rep, config);
        let endpoint = rep.bind("tls+tcp://127.0.0.1:*").unwrap();

        // No client certificate: refused by the server.
        let anonymous = client(SocketType::Req, ca.client());
        anonymous.connect(&endpoint).unwrap();
        anonymous.send("anonymous").await.unwrap();
        warned(&[&endpoint, "TLS handshake from", "no certificates"]).await;
        nothing_arrives(&rep, "client without a certificate").await;

        // A certificate from a CA the server does not trust: refused.
        let (cert, key) = stranger_ca.client_identity("stranger");
        let stranger = client(
            SocketType::Req,
            ca.client()
                .client_cert(cert.as_bytes(), key.as_bytes())
                .unwrap(),
        );
        stranger.connect(&endpoint).unwrap();
        stranger.send("stranger").await.unwrap();
        warned(&[&endpoint, "TLS handshake from", "UnknownIssuer"]).await;
        nothing_arrives(&rep, "client with an untrusted certificate").await;

        // A certificate from the client CA: accepted.
        let (cert, key) = client_ca.client_identity("member");
        let member = client(
            SocketType::Req,
            ca.client()
                .client_cert(cert.as_bytes(), key.as_bytes())
                .unwrap(),
        );
        member.connect(&endpoint).unwrap();
        round_trip(&member, &rep, "member").await;
        assert_eq!(rep.connected_peers(), 1);

        for socket in [anonymous, stranger, member, rep] {
            socket.close().await;
        }
    });
}

// ---------------------------------------------------------------------------------------
// Reconnecting

/// The server closes and a new one binds the same port: the client reconnects (a new TLS
/// handshake), messages it queued meanwhile are delivered, and traffic flows again.
#[test]
fn client_reconnects_when_the_tls_server_comes_back() {
    smol::block_on(async {
        let ca = Ca::new("test CA");
        let first = server(SocketType::Router, ca.server(LOCAL));
        let endpoint = first.bind("tls+tcp://127.0.0.1:*").unwrap();
        let dealer = builder(SocketType::Dealer)
            .linger(Duration::ZERO)
            .tls_client(ca.client())
            .build()
            .unwrap();
        dealer.connect(&endpoint).unwrap();
        dealer.send("one").await.unwrap();
        let got = recv(&first).await;
        assert_eq!(got.frames()[1], "one");
        first.send(got).await.unwrap();
        assert_eq!(recv(&dealer).await.frames()[0], "one");

        first.close().await;
        drop(first);
        eventually("the dealer notices", || dealer.connected_peers() == 0).await;
        dealer.send("while away").await.unwrap();

        let second = server(SocketType::Router, ca.server(LOCAL));
        assert_eq!(second.bind(&endpoint).unwrap(), endpoint);
        within("reconnect", second.wait_for_peers(1)).await;
        let queued = recv(&second).await;
        assert_eq!(queued.frames()[1], "while away");
        second.send(queued).await.unwrap();
        assert_eq!(recv(&dealer).await.frames()[0], "while away");

        dealer.close().await;
        second.close().await;
    });
}

/// Closing a socket whose listener holds a connection stuck before its TLS handshake (a
/// client that connected and says nothing) returns promptly, and that client does not stop
/// the listener from serving others meanwhile.
#[test]
fn a_silent_client_blocks_neither_the_listener_nor_close() {
    smol::block_on(async {
        let ca = Ca::new("test CA");
        let rep = builder(SocketType::Rep)
            .handshake_timeout(Some(Duration::from_secs(60)))
            .tls_server(ca.server(LOCAL))
            .build()
            .unwrap();
        let endpoint = rep.bind("tls+tcp://127.0.0.1:*").unwrap();
        let port: u16 = endpoint.rsplit(':').next().unwrap().parse().unwrap();
        let silent = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();

        let req = client(SocketType::Req, ca.client());
        req.connect(&endpoint).unwrap();
        round_trip(&req, &rep, "despite the silent one").await;
        req.close().await;

        let started = Instant::now();
        within("close", rep.close()).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "close took {:?}",
            started.elapsed()
        );
        drop(silent);
    });
}

// ---------------------------------------------------------------------------------------
// Configuration

#[test]
fn tls_endpoints_without_a_tls_configuration_are_clear_errors() {
    let plain = Socket::new(SocketType::Rep);
    let err = plain.bind("tls+tcp://127.0.0.1:*").unwrap_err().to_string();
    assert!(err.contains("tls_server"), "{err}");
    let err = plain
        .connect("tls+tcp://127.0.0.1:5555")
        .unwrap_err()
        .to_string();
    assert!(err.contains("tls_client"), "{err}");
    // A client configuration does not make a server, nor the reverse.
    let ca = Ca::new("test CA");
    let only_client = client(SocketType::Rep, ca.client());
    assert!(only_client.bind("tls+tcp://127.0.0.1:*").is_err());
    let only_server = server(SocketType::Req, ca.server(LOCAL));
    assert!(only_server.connect("tls+tcp://127.0.0.1:5555").is_err());
    // Wildcards cannot be connected to, as with tcp://.
    let err = only_client
        .connect("tls+tcp://*:5555")
        .unwrap_err()
        .to_string();
    assert!(err.contains("connecting needs a host and a port"), "{err}");
}

#[test]
fn bad_certificates_and_keys_are_typed_errors() {
    let ca = Ca::new("test CA");
    let (cert, key) = ca.issue(LOCAL, ExtendedKeyUsagePurpose::ServerAuth);
    assert!(matches!(
        TlsClientConfig::from_pem(b"no pem here"),
        Err(TlsError::NoCertificate(_))
    ));
    assert!(matches!(
        TlsServerConfig::from_pem(cert.as_bytes(), cert.as_bytes()),
        Err(TlsError::NoPrivateKey(_))
    ));
    assert!(matches!(
        TlsServerConfig::from_pem(key.as_bytes(), key.as_bytes()),
        Err(TlsError::NoCertificate(_))
    ));
    let truncated = &cert[..cert.len() / 2];
    assert!(matches!(
        TlsClientConfig::from_pem(truncated.as_bytes()),
        Err(TlsError::Pem { .. })
    ));
    // A key that is not the certificate's.
    let (_, other_key) = ca.issue(LOCAL, ExtendedKeyUsagePurpose::ServerAuth);
    let err = TlsServerConfig::from_pem(cert.as_bytes(), other_key.as_bytes());
    assert!(matches!(err, Err(TlsError::Rustls { .. })), "{err:?}");
    assert!(matches!(
        ca.client().server_name("not a name!"),
        Err(TlsError::BadServerName(_))
    ));
    assert!(ca.client().server_name("10.0.0.1").is_ok());
    // The PEM shortcuts do not apply to a rustls configuration taken as it is.
    let raw = TlsClientConfig::from_rustls(ca.client().rustls_config().clone());
    assert!(matches!(
        raw.client_cert(cert.as_bytes(), key.as_bytes()),
        Err(TlsError::FromRustls(_))
    ));
    let raw = TlsServerConfig::from_rustls(ca.server(LOCAL).rustls_config().clone());
    assert!(matches!(
        raw.require_client_cert(ca.pem().as_bytes()),
        Err(TlsError::FromRustls(_))
    ));
}

/// A rustls configuration taken as it is works end to end.
#[test]
fn rustls_configurations_can_be_given_as_they_are() {
    smol::block_on(async {
        let ca = Ca::new("test CA");
        let rep = server(
            SocketType::Rep,
            TlsServerConfig::from_rustls(ca.server(LOCAL).rustls_config().clone()),
        );
        let endpoint = rep.bind("tls+tcp://127.0.0.1:*").unwrap();
        let req = client(
            SocketType::Req,
            TlsClientConfig::from_rustls(ca.client().rustls_config().clone()),
        );
        req.connect(&endpoint).unwrap();
        round_trip(&req, &rep, "raw").await;
        req.close().await;
        rep.close().await;
    });
}

/// A ZMTP security mechanism runs inside TLS as over tcp://: PLAIN's password is then sent
/// encrypted.
#[test]
fn plain_runs_inside_tls() {
    smol::block_on(async {
        let ca = Ca::new("test CA");
        let rep = builder(SocketType::Rep)
            .plain_server()
            .authenticator(zmq_sansio::io::Authenticator::new(
                |request| match &request.credentials {
                    zmq_sansio::security::Credentials::Plain { username, .. }
                        if username == "admin" =>
                    {
                        zmq_sansio::security::AuthDecision::allow()
                    }
                    _ => zmq_sansio::security::AuthDecision::deny("unknown user"),
                },
            ))
            .tls_server(ca.server(LOCAL))
            .build()
            .unwrap();
        let endpoint = rep.bind("tls+tcp://127.0.0.1:*").unwrap();
        let req = builder(SocketType::Req)
            .plain_client("admin", "secret")
            .tls_client(ca.client())
            .build()
            .unwrap();
        req.connect(&endpoint).unwrap();
        round_trip(&req, &rep, "plain inside tls").await;
        req.close().await;
        rep.close().await;
    });
}

/// The port of a bound endpoint.
fn port_of(endpoint: &str) -> u16 {
    endpoint.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn the_easy_classes_take_tls_and_their_port_constructors_use_it() {
    use zmq_sansio::easy::{Options, Publisher, RRClient, RRServer, Subscriber};
    smol::block_on(async {
        let ca = Ca::new("test CA");
        let server = RRServer::new_with(0, Options::new().tls_server(ca.server(LOCAL)))
            .unwrap()
            .with_handler(|request: String| format!("tls: {request}"));
        assert!(
            server.endpoint().starts_with("tls+tcp://"),
            "{}",
            server.endpoint()
        );
        let port = port_of(server.endpoint());
        let stop = server.stop_handle();
        let serving = smol::spawn(async move { server.run().await });
        let client =
            RRClient::new_with("localhost", port, Options::new().tls_client(ca.client())).unwrap();
        let reply = within("an easy request over TLS", client.request_text("hi")).await;
        assert_eq!(reply.unwrap(), "tls: hi");
        // A client that trusts another CA gets nothing.
        let stranger = RRClient::new_with(
            "localhost",
            port,
            Options::new().tls_client(Ca::new("other CA").client()),
        )
        .unwrap()
        .with_timeout(Duration::from_millis(300));
        assert!(stranger.request_text("hi").await.is_err());
        stop.stop();
        within("the server stops", serving).await.unwrap();

        let publisher =
            Publisher::new_with(0, Options::new().tls_server(ca.server(LOCAL))).unwrap();
        let port = port_of(publisher.endpoint());
        let subscriber = Subscriber::new_with(
            "localhost",
            &[port],
            1000,
            Options::new().tls_client(ca.client()),
        )
        .unwrap();
        let received = within("a subscriber over TLS", async {
            loop {
                publisher.publish("hello").await.unwrap();
                if let Ok(Ok(payload)) =
                    smol::future::or(async { Ok(subscriber.subscribe().await) }, async {
                        smol::Timer::after(Duration::from_millis(50)).await;
                        Err(())
                    })
                    .await
                {
                    break payload;
                }
            }
        })
        .await;
        assert!(format!("{received:?}").contains("hello"), "{received:?}");
    });
}
