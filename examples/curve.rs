//! CURVE end to end in one process: key pairs for a server and a client, a request/reply
//! round trip encrypted with them, an authenticator that lets in only the client's public
//! key, and a stranger it keeps out.
//!
//! `cargo run --example curve` (add `RUST_LOG=warn` to see the refused connection logged)

use std::process::ExitCode;
use std::time::Duration;

use zmq_sansio::easy::{Error, Options, RRClient, RRServer};
use zmq_sansio::io::Authenticator;
use zmq_sansio::security::{AuthDecision, Credentials, CurveKeyPair};

mod support;

fn main() -> ExitCode {
    support::exit_with(run())
}

fn run() -> Result<(), Error> {
    env_logger::init();
    // Long-term identities, as `zmq_curve_keypair` makes them. The server's public key is
    // what clients must know; a certificate file is how czmq and pyzmq keep a pair.
    let server_keys = CurveKeyPair::generate();
    let client_keys = CurveKeyPair::generate();
    println!("server public key: {}", server_keys.public());
    println!("client public key: {}", client_keys.public());
    let certificate = client_keys.to_certificate();
    let reread = CurveKeyPair::from_certificate(&certificate).expect("our own certificate");
    assert_eq!(reread, client_keys);
    // (It holds the secret key: keep such files private; never print them.)
    println!(
        "client key pair written and read back as a czmq/pyzmq certificate ({} octets)",
        certificate.len()
    );

    // The server lets in only the client whose public key it knows.
    let known = *client_keys.public();
    let only_our_client = Authenticator::new(move |request| match &request.credentials {
        Credentials::Curve { public_key } if *public_key == known => {
            println!(
                "authenticator: letting in {public_key} from {}",
                request.address
            );
            AuthDecision::allow_as("our client")
        }
        Credentials::Curve { public_key } => {
            println!("authenticator: refusing {public_key}");
            AuthDecision::deny("unknown client key")
        }
        _ => AuthDecision::deny("CURVE only"),
    });
    let server = RRServer::bind_with(
        "tcp://127.0.0.1:*",
        Options::curve_server(server_keys.secret().clone()).authenticator(only_our_client),
    )?
    .with_handler(|request: String| format!("Echo: {request}"));
    let endpoint = server.endpoint().to_owned();
    println!("server: CURVE, bound to {endpoint}");
    let stop = server.stop_handle();

    smol::block_on(async {
        let serving = smol::spawn(async move { server.run().await });

        let client = RRClient::connect_with(
            &endpoint,
            Options::curve_client(*server_keys.public(), client_keys),
        )?
        .with_timeout(Duration::from_secs(10));
        println!("client: sending \"Hello\"");
        let reply = client.request_text("Hello").await?;
        println!("client: got {reply:?}");
        client.close().await;

        // A client with the right server key but an identity the server does not know
        // completes no handshake (it reconnects and is refused again, as libzmq clients
        // do), so its request is never answered.
        let stranger = RRClient::connect_with(
            &endpoint,
            Options::curve_client(*server_keys.public(), CurveKeyPair::generate()),
        )?
        .with_timeout(Duration::from_millis(500));
        println!("stranger: sending \"let me in\"");
        match stranger.request_text("let me in").await {
            Err(Error::NoReply { .. }) => println!("stranger: no reply, as expected"),
            Ok(reply) => panic!("the stranger was answered: {reply:?}"),
            Err(other) => return Err(other),
        }
        stranger.close().await;

        stop.stop();
        serving.await?;
        println!("server: stopped");
        Ok(())
    })
}
