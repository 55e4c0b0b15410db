//! Shared by the command-line examples: how they end, their security flags, and the seeded
//! dice of the guide examples.
// Each example uses the server's or the client's half of the flags, not both.
#![allow(dead_code)]

use std::error::Error;
use std::process::ExitCode;

use zmq_sansio::easy::Options;
use zmq_sansio::io::Authenticator;
use zmq_sansio::security::{
    AuthDecision, Credentials, CurveKeyPair, CurvePublicKey, CurveSecretKey, KeyError,
};

/// Ends a command-line example: on error, prints it for a person (its message and each
/// cause, not the `Debug` form `main` returning `Result` would print) and exits with 1.
pub fn exit_with(result: Result<(), zmq_sansio::easy::Error>) -> ExitCode {
    let Err(err) = result else {
        return ExitCode::SUCCESS;
    };
    let mut shown = err.to_string();
    eprintln!("error: {shown}");
    let mut source = err.source();
    while let Some(cause) = source {
        // Most messages already end with their cause's: say each thing once.
        let text = cause.to_string();
        if !shown.contains(&text) {
            eprintln!("  caused by: {text}");
            shown = text;
        }
        source = cause.source();
    }
    ExitCode::FAILURE
}

/// Whether `--keygen` was given. Looked for before the other flags are parsed, so that it
/// works without the flags an example otherwise requires (`--port` …).
pub fn keygen_requested() -> bool {
    std::env::args_os()
        .skip(1)
        .take_while(|arg| arg != "--")
        .any(|arg| arg == "--keygen")
}

/// Prints a new CURVE key pair in Z85, as libzmq's `curve_keygen` does (`--keygen`).
pub fn print_new_keypair() {
    let keypair = CurveKeyPair::generate();
    println!("== CURVE PUBLIC KEY ==");
    println!("{}", keypair.public());
    println!();
    println!("== CURVE SECRET KEY ==");
    println!("{}", keypair.secret().to_z85().as_str());
}

/// Security flags of the examples that bind: they are the PLAIN or CURVE server.
#[derive(clap::Args)]
pub struct ServerSecurity {
    /// Print a new CURVE key pair (public and secret key, Z85) and exit.
    #[arg(long, exclusive = true)]
    keygen: bool,
    /// Be a CURVE server with this secret key (Z85); clients need its public key.
    #[arg(long, value_name = "Z85", value_parser = parse_secret_key, conflicts_with = "curve_cert")]
    curve_secret_key: Option<CurveSecretKey>,
    /// Be a CURVE server with the key pair of this secret certificate file (czmq/pyzmq
    /// format, as `zmq.auth.create_certificates` writes).
    #[arg(long, value_name = "FILE", value_parser = read_certificate)]
    curve_cert: Option<CurveKeyPair>,
    /// Let in only the CURVE clients with these public keys (Z85; repeat the flag for more).
    /// Default: every client that knows our public key.
    #[arg(long, value_name = "Z85")]
    allow_key: Vec<CurvePublicKey>,
    /// Be a PLAIN server (user names and passwords travel in clear) letting in the users
    /// named by --allow-user (a PLAIN server checking no one would let no one in, as
    /// libzmq's without a ZAP handler).
    #[arg(
        long,
        requires = "allow_user",
        conflicts_with_all = ["curve_secret_key", "curve_cert", "allow_key"]
    )]
    plain_server: bool,
    /// Let in this PLAIN user (implies --plain-server; repeat the flag for more users).
    #[arg(
        long,
        value_name = "USER:PASSWORD",
        value_parser = parse_user,
        conflicts_with_all = ["curve_secret_key", "curve_cert", "allow_key"]
    )]
    allow_user: Vec<(String, String)>,
}

impl ServerSecurity {
    /// The options the flags ask for (none: no security), after saying on stderr what
    /// they are.
    pub fn options(&self) -> Options {
        let keypair = self
            .curve_secret_key
            .clone()
            .map(CurveKeyPair::from_secret)
            .or_else(|| self.curve_cert.clone());
        if let Some(keypair) = keypair {
            eprintln!("security: CURVE server, public key {}", keypair.public());
            let options = Options::curve_server(keypair.secret().clone());
            if self.allow_key.is_empty() {
                return options;
            }
            eprintln!(
                "security: letting in {} client key(s)",
                self.allow_key.len()
            );
            return options.authenticator(allow_keys(self.allow_key.clone()));
        }
        if !self.allow_key.is_empty() {
            eprintln!("security: --allow-key is ignored without a CURVE key");
        }
        if !self.allow_user.is_empty() {
            eprintln!(
                "security: PLAIN server, letting in {} user(s)",
                self.allow_user.len()
            );
            return Options::plain_server().authenticator(allow_users(self.allow_user.clone()));
        }
        Options::default()
    }
}

/// Security flags of the examples that connect: they are the PLAIN or CURVE client.
#[derive(clap::Args)]
pub struct ClientSecurity {
    /// Print a new CURVE key pair (public and secret key, Z85) and exit.
    #[arg(long, exclusive = true)]
    keygen: bool,
    /// Be a CURVE client of the server with this public key (Z85).
    #[arg(long, value_name = "Z85")]
    curve_server_key: Option<CurvePublicKey>,
    /// Our own CURVE secret key (Z85; the public key the server sees is derived from it).
    /// Default: a new key pair for this run.
    #[arg(
        long,
        value_name = "Z85",
        value_parser = parse_secret_key,
        requires = "curve_server_key",
        conflicts_with = "curve_cert"
    )]
    curve_secret_key: Option<CurveSecretKey>,
    /// Our own CURVE key pair, from a secret certificate file (czmq/pyzmq format).
    #[arg(long, value_name = "FILE", value_parser = read_certificate, requires = "curve_server_key")]
    curve_cert: Option<CurveKeyPair>,
    /// Be a PLAIN client with this user name (needs --plain-password).
    #[arg(
        long,
        value_name = "USER",
        requires = "plain_password",
        conflicts_with = "curve_server_key"
    )]
    plain_user: Option<String>,
    /// The PLAIN password.
    #[arg(long, value_name = "PASSWORD", requires = "plain_user")]
    plain_password: Option<String>,
}

impl ClientSecurity {
    /// The options the flags ask for (none: no security), after saying on stderr what
    /// they are.
    pub fn options(&self) -> Options {
        if let Some(server_key) = self.curve_server_key {
            let keypair = match (&self.curve_secret_key, &self.curve_cert) {
                (Some(secret), _) => CurveKeyPair::from_secret(secret.clone()),
                (None, Some(keypair)) => keypair.clone(),
                (None, None) => CurveKeyPair::generate(),
            };
            eprintln!(
                "security: CURVE client of {server_key}, our public key {}",
                keypair.public()
            );
            return Options::curve_client(server_key, keypair);
        }
        if let (Some(user), Some(password)) = (&self.plain_user, &self.plain_password) {
            eprintln!("security: PLAIN client, user {user:?}");
            return Options::plain_client(user.clone(), password);
        }
        Options::default()
    }
}

/// Lets in the CURVE clients with these public keys.
pub fn allow_keys(keys: Vec<CurvePublicKey>) -> Authenticator {
    Authenticator::new(move |request| match &request.credentials {
        Credentials::Curve { public_key } if keys.contains(public_key) => {
            AuthDecision::allow_as(public_key.to_z85())
        }
        Credentials::Curve { public_key } => {
            AuthDecision::deny(format!("unknown client key {public_key}"))
        }
        _ => AuthDecision::deny("not a CURVE client"),
    })
}

/// Lets in the PLAIN users with these passwords.
pub fn allow_users(users: Vec<(String, String)>) -> Authenticator {
    Authenticator::new(move |request| {
        let Credentials::Plain { username, password } = &request.credentials else {
            return AuthDecision::deny("not a PLAIN client");
        };
        let known = users.iter().any(|(user, pass)| {
            user.as_bytes() == &username[..] && same_secret(pass.as_bytes(), password)
        });
        if known {
            AuthDecision::allow_as(username.clone())
        } else {
            AuthDecision::deny(format!(
                "wrong user name or password for {:?}",
                String::from_utf8_lossy(username)
            ))
        }
    })
}

/// Compares secrets without stopping at the first difference.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |diff, (x, y)| diff | (x ^ y)) == 0
}

fn parse_secret_key(text: &str) -> Result<CurveSecretKey, KeyError> {
    CurveSecretKey::from_z85(text)
}

fn read_certificate(path: &str) -> Result<CurveKeyPair, String> {
    let text = std::fs::read_to_string(path).map_err(|err| format!("cannot read {path}: {err}"))?;
    CurveKeyPair::from_certificate(&text).map_err(|err| format!("{path}: {err}"))
}

fn parse_user(text: &str) -> Result<(String, String), String> {
    let (user, password) = text
        .split_once(':')
        .ok_or_else(|| "expected USER:PASSWORD".to_owned())?;
    Ok((user.to_owned(), password.to_owned()))
}

/// The dice of the guide examples (SplitMix64, seeded): the guide's C programs call
/// `rand()`, which differs between platforms and runs; with a seed, the same `--seed`
/// replays the same zip codes, workloads and simulated failures.
pub struct Rng(u64);

impl Rng {
    /// A generator that starts from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A number from 0 to `n - 1` (the guide's `randof(n)`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}
