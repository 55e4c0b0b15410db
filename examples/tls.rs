//! REQ/REP over TLS (`tls+tcp://`) in one process: a CA and a server certificate for
//! `localhost` are generated on the spot (rcgen), the REP binds with the certificate, the
//! REQ connects trusting the CA, and they exchange a few requests. With `--mutual`, the
//! server also requires a client certificate from a second CA, which the client presents.
//!
//! Run with `cargo run --features tls --example tls [-- --mutual]` (add `RUST_LOG=debug` to
//! see the connections). `tls+tcp://` is for zmq-sansio peers: libzmq has no TLS (use CURVE
//! with it).

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use zmq_sansio::io::Socket;
use zmq_sansio::io::tls::{TlsClientConfig, TlsServerConfig};
use zmq_sansio::proto::SocketType;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A self-signed certificate authority.
fn make_ca(name: &str) -> Result<CertifiedIssuer<'static, KeyPair>> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(CertifiedIssuer::self_signed(params, KeyPair::generate()?)?)
}

/// A certificate for `names` signed by `ca`, and its key, both PEM.
fn issue(
    ca: &Issuer<'_, KeyPair>,
    names: &[&str],
    purpose: ExtendedKeyUsagePurpose,
) -> Result<(String, String)> {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.extended_key_usages = vec![purpose];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, ca)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn main() -> Result<()> {
    env_logger::init();
    let mutual = std::env::args().any(|a| a == "--mutual");

    let server_ca = make_ca("example server CA")?;
    let (chain, key) = issue(
        &server_ca,
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let mut server_tls = TlsServerConfig::from_pem(chain.as_bytes(), key.as_bytes())?;
    let mut client_tls = TlsClientConfig::from_pem(server_ca.pem().as_bytes())?;
    if mutual {
        let client_ca = make_ca("example client CA")?;
        let (chain, key) = issue(&client_ca, &["client"], ExtendedKeyUsagePurpose::ClientAuth)?;
        server_tls = server_tls.require_client_cert(client_ca.pem().as_bytes())?;
        client_tls = client_tls.client_cert(chain.as_bytes(), key.as_bytes())?;
    }

    smol::block_on(async {
        let rep = Socket::builder(SocketType::Rep)
            .tls_server(server_tls)
            .build()?;
        let endpoint = rep.bind("tls+tcp://127.0.0.1:*")?;
        println!("REP bound {endpoint}");
        let server = smol::spawn(async move {
            for _ in 0..3 {
                let request = rep.recv().await?;
                println!(
                    "REP got {:?}",
                    String::from_utf8_lossy(&request.frames()[0])
                );
                rep.send(request).await?;
            }
            rep.close().await;
            Ok::<_, zmq_sansio::io::Error>(())
        });

        // Connect by name: the certificate is checked for "localhost".
        let port = endpoint.rsplit(':').next().unwrap_or_default();
        let req = Socket::builder(SocketType::Req)
            .tls_client(client_tls)
            .build()?;
        req.connect(&format!("tls+tcp://localhost:{port}"))?;
        for i in 1..=3 {
            req.send(format!("request {i}")).await?;
            let reply = req.recv().await?;
            println!("REQ got {:?}", String::from_utf8_lossy(&reply.frames()[0]));
        }
        req.close().await;
        server.await?;
        println!("done{}", if mutual { " (mutual TLS)" } else { "" });
        Ok(())
    })
}
