//! TLS as a transport (cargo feature `tls`): the configuration of `tls+tcp://` endpoints.
//!
//! A socket that binds a `tls+tcp://` endpoint needs a [`TlsServerConfig`]
//! ([`SocketBuilder::tls_server`](super::SocketBuilder::tls_server)); one that connects to
//! one needs a [`TlsClientConfig`] ([`SocketBuilder::tls_client`](super::SocketBuilder::tls_client)).
//! The TLS handshake runs when the TCP connection is made, before the ZMTP greeting; the
//! ZMTP connection then runs inside TLS exactly as over `tcp://` (same reconnects,
//! heartbeats and high-water marks). A failed TLS handshake is logged with its reason and
//! counts as a failed connection: the connecting side retries with its reconnect backoff,
//! the binding side drops that one connection and keeps accepting.
//!
//! The client checks the server's certificate against the trusted roots and against a
//! server name, by default the host of the endpoint it connects to (a DNS name or an IP
//! address); [`TlsClientConfig::server_name`] names another. Certificates and keys are
//! read from PEM; [`TlsClientConfig::from_rustls`] and [`TlsServerConfig::from_rustls`]
//! take a [`rustls`] configuration as it is, for anything else.
//!
//! libzmq has no TLS transport: `tls+tcp://` is for zmq-sansio peers. To secure
//! connections to libzmq (or pyzmq, …) peers, use the CURVE mechanism.
//!
//! ```no_run
//! use zmq_sansio::io::Socket;
//! use zmq_sansio::io::tls::{TlsClientConfig, TlsServerConfig};
//! use zmq_sansio::proto::SocketType;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = TlsServerConfig::from_pem(
//!     &std::fs::read("server-chain.pem")?,
//!     &std::fs::read("server-key.pem")?,
//! )?;
//! let rep = Socket::builder(SocketType::Rep).tls_server(server).build()?;
//! let endpoint = rep.bind("tls+tcp://127.0.0.1:*")?;
//!
//! let client = TlsClientConfig::from_pem(&std::fs::read("ca.pem")?)?;
//! let req = Socket::builder(SocketType::Req).tls_client(client).build()?;
//! req.connect(&endpoint)?;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;

use futures_rustls::pki_types::pem::{self, PemObject};
use futures_rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use futures_rustls::rustls::crypto::CryptoProvider;
use futures_rustls::rustls::server::WebPkiClientVerifier;
use futures_rustls::rustls::{self as tls, ClientConfig, RootCertStore, ServerConfig};
use thiserror::Error;

use crate::endpoint::{Endpoint, Host};

/// The rustls crate this module builds on, for [`TlsClientConfig::from_rustls`] and
/// [`TlsServerConfig::from_rustls`] (its `pki_types` names certificates and keys).
pub use futures_rustls::rustls;

/// Why a TLS configuration could not be made.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM input is malformed.
    #[error("{what}: malformed PEM: {source}")]
    Pem {
        /// Which input (e.g. "server certificate chain").
        what: &'static str,
        /// The parser's complaint.
        source: pem::Error,
    },
    /// A PEM input holds no certificate.
    #[error("{0}: no certificate found in the PEM")]
    NoCertificate(&'static str),
    /// The key PEM holds no private key (PKCS#8, PKCS#1 or SEC1).
    #[error("{0}: no private key found in the PEM")]
    NoPrivateKey(&'static str),
    /// A trusted root certificate was refused (not a parsable CA certificate).
    #[error("{what}: certificate refused as a trust anchor: {source}")]
    BadRoot {
        /// Which input.
        what: &'static str,
        /// Why.
        source: tls::Error,
    },
    /// rustls refused a certificate and key pair (e.g. a key that does not match, or of an
    /// unsupported type).
    #[error("{what}: {source}")]
    Rustls {
        /// What was being configured.
        what: &'static str,
        /// rustls' error.
        source: tls::Error,
    },
    /// The client certificate verifier could not be built.
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] tls::server::VerifierBuilderError),
    /// A PEM shortcut was used on a configuration made by `from_rustls`: set this in the
    /// rustls configuration instead.
    #[error("{0}: set it in the rustls configuration given to from_rustls")]
    FromRustls(&'static str),
    /// Not a DNS name or an IP address.
    #[error("invalid TLS server name \"{0}\"")]
    BadServerName(String),
}

/// The crypto provider every configuration made here uses: ring, named explicitly so that
/// no process-wide default has to be installed (nor can conflict).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(tls::crypto::ring::default_provider())
}

fn certificates(what: &'static str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem { what, source })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(what));
    }
    Ok(certs)
}

fn private_key(what: &'static str, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|source| match source {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey(what),
        source => TlsError::Pem { what, source },
    })
}

fn root_store(what: &'static str, pem: &[u8]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(what, pem)? {
        roots
            .add(cert)
            .map_err(|source| TlsError::BadRoot { what, source })?;
    }
    Ok(roots)
}

/// A certificate chain and its private key, kept to rebuild a configuration.
struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Identity {
    fn from_pem(
        chain_what: &'static str,
        chain_pem: &[u8],
        key_what: &'static str,
        key_pem: &[u8],
    ) -> Result<Self, TlsError> {
        Ok(Self {
            chain: certificates(chain_what, chain_pem)?,
            key: private_key(key_what, key_pem)?,
        })
    }
}

/// The TLS side of a socket that connects to `tls+tcp://` endpoints: which certificate
/// authorities it trusts, the name it expects the server's certificate to carry, and
/// optionally its own certificate (mutual TLS). Cheap to clone.
#[derive(Clone)]
pub struct TlsClientConfig {
    config: Arc<ClientConfig>,
    /// Trusted roots, kept to rebuild `config` when a client certificate is added.
    roots: Option<Arc<RootCertStore>>,
    server_name: Option<ServerName<'static>>,
}

impl fmt::Debug for TlsClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClientConfig")
            .field("server_name", &self.server_name)
            .field(
                "client_auth",
                &self.config.client_auth_cert_resolver.has_certs(),
            )
            .finish_non_exhaustive()
    }
}

impl TlsClientConfig {
    /// Trusts the CA certificates in `ca_pem` (one or more PEM `CERTIFICATE` sections), and
    /// them only. The server's certificate must chain to one of them and name the server
    /// (see [`TlsClientConfig::server_name`]).
    pub fn from_pem(ca_pem: &[u8]) -> Result<Self, TlsError> {
        let roots = Arc::new(root_store("trusted CA certificates", ca_pem)?);
        let config = Self::build(&roots, None)?;
        Ok(Self {
            config,
            roots: Some(roots),
            server_name: None,
        })
    }

    fn build(
        roots: &Arc<RootCertStore>,
        identity: Option<Identity>,
    ) -> Result<Arc<ClientConfig>, TlsError> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Rustls {
                what: "client protocol versions",
                source,
            })?
            .with_root_certificates(Arc::clone(roots));
        let config =
            match identity {
                None => builder.with_no_client_auth(),
                Some(Identity { chain, key }) => builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|source| TlsError::Rustls {
                        what: "client certificate and key",
                        source,
                    })?,
            };
        Ok(Arc::new(config))
    }

    /// Presents a client certificate (`cert_chain_pem`: the certificate first, then any
    /// intermediates) with its private key (`key_pem`: PKCS#8, PKCS#1 or SEC1), for servers
    /// that require one ([`TlsServerConfig::require_client_cert`]).
    ///
    /// Not available on a configuration made by [`TlsClientConfig::from_rustls`] (set the
    /// certificate in the rustls configuration instead): that gives
    /// [`TlsError::FromRustls`].
    pub fn client_cert(mut self, cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        let identity = Identity::from_pem(
            "client certificate chain",
            cert_chain_pem,
            "client private key",
            key_pem,
        )?;
        let roots = (self.roots.as_ref()).ok_or(TlsError::FromRustls("client certificate"))?;
        self.config = Self::build(roots, Some(identity))?;
        Ok(self)
    }

    /// The name the server's certificate must carry, instead of the host of the endpoint
    /// connected to: a DNS name (`zmq.example.com`) or an IP address. For servers reached
    /// through an address their certificate does not name.
    pub fn server_name(mut self, name: &str) -> Result<Self, TlsError> {
        let parsed = ServerName::try_from(name.to_owned())
            .map_err(|_| TlsError::BadServerName(name.to_owned()))?;
        self.server_name = Some(parsed);
        Ok(self)
    }

    /// Uses a rustls client configuration as it is (its roots, verifier, client
    /// certificate, protocol versions …). The server name is still checked as the
    /// configuration's verifier decides, against the endpoint's host unless
    /// [`TlsClientConfig::server_name`] says otherwise.
    pub fn from_rustls(config: Arc<ClientConfig>) -> Self {
        Self {
            config,
            roots: None,
            server_name: None,
        }
    }

    /// The rustls configuration in use.
    pub fn rustls_config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// The name to check the server's certificate against when connecting to `endpoint`.
    pub(crate) fn server_name_for(
        &self,
        endpoint: &Endpoint,
    ) -> std::io::Result<ServerName<'static>> {
        if let Some(name) = &self.server_name {
            return Ok(name.clone());
        }
        let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, why);
        match endpoint {
            Endpoint::Tls { host, .. } | Endpoint::Tcp { host, .. } => match host {
                Host::Ip(ip) => Ok(ServerName::IpAddress((*ip).into())),
                Host::Name(name) => ServerName::try_from(name.clone())
                    .map_err(|_| invalid(format!("\"{name}\" is not a valid TLS server name"))),
                Host::Any => Err(invalid("cannot connect to *".into())),
            },
            _ => Err(invalid(format!("{endpoint} is not a TLS endpoint"))),
        }
    }

    pub(crate) fn connector(&self) -> futures_rustls::TlsConnector {
        futures_rustls::TlsConnector::from(Arc::clone(&self.config))
    }
}

/// The TLS side of a socket that binds `tls+tcp://` endpoints: its certificate chain and
/// private key, and optionally the CA its clients' certificates must chain to (mutual
/// TLS). Cheap to clone.
#[derive(Clone)]
pub struct TlsServerConfig {
    config: Arc<ServerConfig>,
    /// The certificate and key, kept to rebuild `config` when client certificates are
    /// required.
    identity: Option<Arc<Identity>>,
}

impl fmt::Debug for TlsServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServerConfig").finish_non_exhaustive()
    }
}

impl TlsServerConfig {
    /// Serves the certificate chain in `cert_chain_pem` (the server's certificate first,
    /// then any intermediates) with the private key in `key_pem` (PKCS#8, PKCS#1 or SEC1).
    /// Clients are not asked for certificates; see
    /// [`TlsServerConfig::require_client_cert`].
    pub fn from_pem(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        let identity = Identity::from_pem(
            "server certificate chain",
            cert_chain_pem,
            "server private key",
            key_pem,
        )?;
        let config = Self::build(&identity, None)?;
        Ok(Self {
            config,
            identity: Some(Arc::new(identity)),
        })
    }

    fn build(
        identity: &Identity,
        client_roots: Option<RootCertStore>,
    ) -> Result<Arc<ServerConfig>, TlsError> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Rustls {
                what: "server protocol versions",
                source,
            })?;
        let builder = match client_roots {
            None => builder.with_no_client_auth(),
            Some(roots) => builder.with_client_cert_verifier(
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider()).build()?,
            ),
        };
        let config = builder
            .with_single_cert(identity.chain.clone(), identity.key.clone_key())
            .map_err(|source| TlsError::Rustls {
                what: "server certificate and key",
                source,
            })?;
        Ok(Arc::new(config))
    }

    /// Requires every client to present a certificate that chains to one of the CA
    /// certificates in `client_ca_pem` (mutual TLS); clients without one are refused
    /// during the handshake.
    ///
    /// Not available on a configuration made by [`TlsServerConfig::from_rustls`] (set a
    /// client verifier in the rustls configuration instead): that gives
    /// [`TlsError::FromRustls`].
    pub fn require_client_cert(mut self, client_ca_pem: &[u8]) -> Result<Self, TlsError> {
        let roots = root_store("client CA certificates", client_ca_pem)?;
        let identity =
            (self.identity.as_ref()).ok_or(TlsError::FromRustls("required client certificates"))?;
        self.config = Self::build(identity, Some(roots))?;
        Ok(self)
    }

    /// Uses a rustls server configuration as it is (certificate resolver, client
    /// verifier, protocol versions …).
    pub fn from_rustls(config: Arc<ServerConfig>) -> Self {
        Self {
            config,
            identity: None,
        }
    }

    /// The rustls configuration in use.
    pub fn rustls_config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    pub(crate) fn acceptor(&self) -> futures_rustls::TlsAcceptor {
        futures_rustls::TlsAcceptor::from(Arc::clone(&self.config))
    }
}
