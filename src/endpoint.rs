//! ZeroMQ endpoint strings: `tcp://host:port`, `tcp://*:port`, `tcp://127.0.0.1:*`,
//! `tcp://[::1]:port`, `ipc:///path`, `inproc://name` (sockets of one process), and
//! `tls+tcp://host:port` (TLS over TCP, between
//! zmq-sansio peers: see the `tls` cargo feature).

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use thiserror::Error;

/// Where a TCP endpoint binds or connects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// `*`: every interface (binding only).
    Any,
    /// A literal IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A name to resolve (`localhost`, `example.com`).
    Name(String),
}

/// A parsed endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// TCP; a port of `None` (`*`) asks the system for a free port when binding.
    Tcp {
        /// Host or interface.
        host: Host,
        /// Port, or `None` for an ephemeral one.
        port: Option<u16>,
    },
    /// A Unix domain socket.
    Ipc(PathBuf),
    /// Sockets of this process, by name (`inproc://name`): messages move between them
    /// by value, with no encoding.
    Inproc(String),
    /// TLS over TCP (`tls+tcp://host:port`), the same forms as [`Endpoint::Tcp`]. Only
    /// zmq-sansio speaks it (libzmq has no TLS transport); it needs the `tls` cargo feature
    /// and a TLS configuration on the socket.
    Tls {
        /// Host or interface; when connecting, also the name the server's certificate must
        /// carry unless the TLS configuration names another.
        host: Host,
        /// Port, or `None` for an ephemeral one.
        port: Option<u16>,
    },
}

/// Why an endpoint string was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// No `scheme://`.
    #[error(
        "endpoint \"{0}\" has no transport: expected tcp://host:port, tls+tcp://host:port, ipc:///path or inproc://name"
    )]
    MissingScheme(String),
    /// A transport we do not implement.
    #[error(
        "endpoint \"{endpoint}\": unsupported transport \"{scheme}\" (tcp, tls+tcp, ipc and inproc are supported)"
    )]
    UnsupportedTransport {
        /// The whole endpoint.
        endpoint: String,
        /// Its scheme.
        scheme: String,
    },
    /// `tcp://` without `:port`.
    #[error("endpoint \"{0}\" has no port: expected tcp://host:port")]
    MissingPort(String),
    /// The port is neither a number from 0 to 65535 nor `*`.
    #[error("endpoint \"{endpoint}\": invalid port \"{port}\" (expected 0-65535 or *)")]
    BadPort {
        /// The whole endpoint.
        endpoint: String,
        /// The port text.
        port: String,
    },
    /// The host part is empty or malformed.
    #[error("endpoint \"{endpoint}\": invalid host \"{host}\"")]
    BadHost {
        /// The whole endpoint.
        endpoint: String,
        /// The host text.
        host: String,
    },
    /// `ipc://` with no path, or `inproc://` with no name.
    #[error("endpoint \"{0}\" has an empty path or name")]
    EmptyPath(String),
    /// Connecting needs a concrete address.
    #[error(
        "cannot connect to \"{0}\": connecting needs a host and a port, not * (only bind accepts wildcards)"
    )]
    WildcardConnect(String),
}

impl Endpoint {
    /// Checks that the endpoint names one concrete peer, as connecting requires.
    pub fn check_connectable(&self) -> Result<(), EndpointError> {
        match self {
            Self::Tcp {
                host: Host::Any, ..
            }
            | Self::Tcp { port: None, .. }
            | Self::Tls {
                host: Host::Any, ..
            }
            | Self::Tls { port: None, .. } => Err(EndpointError::WildcardConnect(self.to_string())),
            _ => Ok(()),
        }
    }

    /// The host and port to pass to the resolver (`*` becomes the IPv4 wildcard), for TCP
    /// and TLS-over-TCP endpoints.
    pub fn tcp_target(&self) -> Option<(String, u16)> {
        match self {
            Self::Tcp { host, port } | Self::Tls { host, port } => {
                let host = match host {
                    Host::Any => "0.0.0.0".to_owned(),
                    Host::Ip(ip) => ip.to_string(),
                    Host::Name(name) => name.clone(),
                };
                Some((host, port.unwrap_or(0)))
            }
            Self::Ipc(_) | Self::Inproc(_) => None,
        }
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(endpoint: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = endpoint
            .split_once("://")
            .ok_or_else(|| EndpointError::MissingScheme(endpoint.to_owned()))?;
        match scheme {
            "tcp" => parse_tcp(endpoint, rest),
            "tls+tcp" => match parse_tcp(endpoint, rest)? {
                Self::Tcp { host, port } => Ok(Self::Tls { host, port }),
                other => Ok(other),
            },
            "ipc" if rest.is_empty() => Err(EndpointError::EmptyPath(endpoint.to_owned())),
            "ipc" => Ok(Self::Ipc(PathBuf::from(rest))),
            "inproc" if rest.is_empty() => Err(EndpointError::EmptyPath(endpoint.to_owned())),
            "inproc" => Ok(Self::Inproc(rest.to_owned())),
            _ => Err(EndpointError::UnsupportedTransport {
                endpoint: endpoint.to_owned(),
                scheme: scheme.to_owned(),
            }),
        }
    }
}

fn parse_tcp(endpoint: &str, rest: &str) -> Result<Endpoint, EndpointError> {
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| EndpointError::MissingPort(endpoint.to_owned()))?;
    let bad_host = || EndpointError::BadHost {
        endpoint: endpoint.to_owned(),
        host: host.to_owned(),
    };
    let port = match port {
        "*" | "0" => None,
        digits if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Some(digits.parse::<u16>().map_err(|_| EndpointError::BadPort {
                endpoint: endpoint.to_owned(),
                port: port.to_owned(),
            })?)
        }
        _ => {
            return Err(EndpointError::BadPort {
                endpoint: endpoint.to_owned(),
                port: port.to_owned(),
            });
        }
    };
    let host = if host == "*" {
        Host::Any
    } else if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Host::Ip(v6.parse().map_err(|_| bad_host())?)
    } else if let Ok(ip) = host.parse::<IpAddr>() {
        if ip.is_ipv6() {
            return Err(bad_host()); // IPv6 needs brackets: tcp://[::1]:5555
        }
        Host::Ip(ip)
    } else if !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        Host::Name(host.to_owned())
    } else {
        return Err(bad_host());
    };
    Ok(Endpoint::Tcp { host, port })
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp { host, port } | Self::Tls { host, port } => {
                f.write_str(match self {
                    Self::Tls { .. } => "tls+tcp://",
                    _ => "tcp://",
                })?;
                match host {
                    Host::Any => f.write_str("*")?,
                    Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
                    Host::Ip(ip) => write!(f, "{ip}")?,
                    Host::Name(name) => f.write_str(name)?,
                }
                match port {
                    Some(port) => write!(f, ":{port}"),
                    None => f.write_str(":*"),
                }
            }
            Self::Ipc(path) => write!(f, "ipc://{}", path.display()),
            Self::Inproc(name) => write!(f, "inproc://{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Endpoint, EndpointError> {
        s.parse()
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(
            parse("tcp://127.0.0.1:5555").unwrap(),
            Endpoint::Tcp {
                host: Host::Ip([127, 0, 0, 1].into()),
                port: Some(5555)
            }
        );
        assert_eq!(
            parse("tcp://*:5555").unwrap(),
            Endpoint::Tcp {
                host: Host::Any,
                port: Some(5555)
            }
        );
        assert_eq!(
            parse("tcp://127.0.0.1:*").unwrap(),
            Endpoint::Tcp {
                host: Host::Ip([127, 0, 0, 1].into()),
                port: None
            }
        );
        assert_eq!(
            parse("tcp://[::1]:80").unwrap(),
            Endpoint::Tcp {
                host: Host::Ip("::1".parse().unwrap()),
                port: Some(80)
            }
        );
        assert_eq!(
            parse("tcp://localhost:1").unwrap(),
            Endpoint::Tcp {
                host: Host::Name("localhost".into()),
                port: Some(1)
            }
        );
        assert_eq!(
            parse("tls+tcp://localhost:7").unwrap(),
            Endpoint::Tls {
                host: Host::Name("localhost".into()),
                port: Some(7)
            }
        );
        assert_eq!(
            parse("tls+tcp://*:*").unwrap(),
            Endpoint::Tls {
                host: Host::Any,
                port: None
            }
        );
        assert_eq!(
            parse("ipc:///tmp/x.sock").unwrap(),
            Endpoint::Ipc("/tmp/x.sock".into())
        );
        assert_eq!(
            parse("inproc://workers").unwrap(),
            Endpoint::Inproc("workers".into())
        );
        assert!(parse("inproc://").is_err());
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "tcp://127.0.0.1:5555",
            "tcp://*:1",
            "tcp://[::1]:80",
            "tcp://host:*",
            "ipc:///tmp/a",
            "inproc://a:b/c",
            "tls+tcp://127.0.0.1:5555",
            "tls+tcp://*:*",
            "tls+tcp://[::1]:80",
            "tls+tcp://localhost:1",
        ] {
            assert_eq!(parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn malformed_endpoints_name_the_problem() {
        let cases = [
            ("localhost:5555", "no transport"),
            ("udp://host:1", "unsupported transport \"udp\""),
            ("tcp://host", "no port"),
            ("tcp://host:99999", "invalid port \"99999\""),
            ("tcp://host:abc", "invalid port \"abc\""),
            ("tcp://:5555", "invalid host \"\""),
            ("tcp://::1:5555", "invalid host"),
            ("tcp://[::zz]:1", "invalid host"),
            ("tcp://a b:1", "invalid host"),
            ("ipc://", "empty path or name"),
            ("inproc://", "empty path or name"),
            ("tls+tcp://host", "no port"),
            ("tls+tcp://a b:1", "invalid host"),
            ("tls://host:1", "unsupported transport \"tls\""),
        ];
        for (input, expected) in cases {
            let err = parse(input).unwrap_err().to_string();
            assert!(err.contains(expected), "{input}: {err}");
        }
    }

    #[test]
    fn wildcards_cannot_be_connected_to() {
        assert!(parse("tcp://*:1").unwrap().check_connectable().is_err());
        assert!(parse("tcp://host:*").unwrap().check_connectable().is_err());
        assert!(parse("tcp://host:1").unwrap().check_connectable().is_ok());
        assert!(parse("ipc:///x").unwrap().check_connectable().is_ok());
        assert!(parse("tls+tcp://*:1").unwrap().check_connectable().is_err());
        assert!(
            parse("tls+tcp://host:*")
                .unwrap()
                .check_connectable()
                .is_err()
        );
        assert!(
            parse("tls+tcp://host:1")
                .unwrap()
                .check_connectable()
                .is_ok()
        );
    }
}
