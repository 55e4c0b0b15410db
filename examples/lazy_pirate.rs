//! Reliable request/reply on the client side: the ZeroMQ guide's lazy pirate, lpclient and
//! lpserver (chapter 4, "Reliable Request-Reply Patterns", section "Client-Side
//! Reliability (Lazy Pirate Pattern)").
//!
//! `cargo run --example lazy_pirate` runs the server under a supervisor that restarts it
//! when it "crashes", and a client, in one process, at a tenth of the guide's times. It
//! exits with an error unless the client got the right reply to every request.
//! `--seed` picks other crashes and overloads; the same seed replays the same ones. Some
//! make the client give up (with `--seed 1`, two overloads and a crash in a row use up
//! its three attempts): that is where the pattern ends, and the run fails.
//!
//! One role at a time, to mix with the guide's C or Python programs:
//! `cargo run --example lazy_pirate -- --role server --port 5555` (lpserver: it exits when
//! it crashes, start it again) and `cargo run --example lazy_pirate -- --role client`
//! (lpclient). `--fast` divides their times by ten too.
//!
//! The client here is the raw pattern on `io` sockets; in an application,
//! `easy::RRClient::connect(endpoint)?.with_timeout(t).with_retries(2)` does the same
//! (three attempts, like the guide's `REQUEST_RETRIES` of 3).

use std::error::Error;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use smol::Timer;
use smol::future::or;
use zmq_sansio::io::{self, Socket};
use zmq_sansio::proto::SocketType;

mod support;

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Role {
    /// A supervised server and a client in this process.
    All,
    /// Answer requests, sometimes slowly, until a simulated crash (lpserver).
    Server,
    /// Send numbered requests, retrying on a fresh socket (lpclient).
    Client,
}

#[derive(Parser)]
#[command(about = "Request/reply that survives a server that crashes or stalls")]
struct Args {
    /// Which program to be.
    #[arg(long, value_enum, default_value_t = Role::All)]
    role: Role,
    /// Server: TCP port to bind on every interface.
    #[arg(long, default_value_t = 5555)]
    port: u16,
    /// Client: the server to connect to.
    #[arg(long, default_value = "tcp://localhost:5555")]
    connect: String,
    /// Client: how many times to send a request before giving up on the server.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    attempts: u32,
    /// Client: stop after this many replies [default: never, as the guide; with --role
    /// all: 10].
    #[arg(long)]
    requests: Option<u64>,
    /// Server: seed of the simulated crashes and overloads.
    #[arg(long, default_value_t = 10)]
    seed: u64,
    /// A tenth of the guide's times (implied by the whole scenario).
    #[arg(long)]
    fast: bool,
}

/// The guide's times, or a tenth of them: only how they compare matters. An overloaded
/// server (overload + work) is slower than the client's patience; a normal one is not.
#[derive(Clone, Copy)]
struct Times {
    /// How long the client waits for a reply (`REQUEST_TIMEOUT`).
    timeout: Duration,
    /// How long the server works on each request.
    work: Duration,
    /// How much longer it takes when it simulates an overload.
    overload: Duration,
}

impl Times {
    fn new(fast: bool) -> Self {
        let scale = if fast { 10 } else { 1 };
        Self {
            timeout: Duration::from_millis(2500) / scale,
            work: Duration::from_secs(1) / scale,
            overload: Duration::from_secs(2) / scale,
        }
    }
}

/// Sends numbered requests and checks each reply, until `requests` replies (if given).
/// Fails once a request went unanswered `attempts` times.
async fn client(
    endpoint: &str,
    attempts: u32,
    requests: Option<u64>,
    times: Times,
) -> Result<(), Box<dyn Error>> {
    let mut client = connect(endpoint)?;
    let mut retries = 0;
    for sequence in 1..=requests.unwrap_or(u64::MAX) {
        let request = sequence.to_string();
        client.send(&request).await?;
        let mut attempts_left = attempts;
        loop {
            match client.recv_timeout(times.timeout).await {
                Ok(reply) if reply.frames() == [request.as_bytes()] => {
                    println!("client: server replied OK ({request})");
                    break;
                }
                Ok(reply) => {
                    return Err(format!("client: malformed reply from server: {reply:?}").into());
                }
                Err(io::Error::Timeout(_)) => {
                    attempts_left -= 1;
                    if attempts_left == 0 {
                        return Err("client: server seems to be offline, abandoning".into());
                    }
                    println!("client: no response from server, retrying…");
                    retries += 1;
                    // A REQ socket must get its reply before it may send again, and the
                    // reply may never come: the only way out is a new socket. It also
                    // keeps a late reply to the old request from being read as the answer
                    // to the new one.
                    client.close().await;
                    client = connect(endpoint)?;
                    client.send(&request).await?;
                }
                Err(other) => return Err(other.into()),
            }
        }
    }
    println!("client: every request answered ({retries} retries)");
    client.close().await;
    Ok(())
}

/// A REQ socket that forgets its request when closed.
fn connect(endpoint: &str) -> Result<Socket, io::Error> {
    println!("client: connecting to server at {endpoint}");
    // No linger: closing would otherwise keep trying to deliver a request that the client
    // has already given up on.
    let client = Socket::builder(SocketType::Req)
        .linger(Duration::ZERO)
        .build()?;
    client.connect(endpoint)?;
    Ok(client)
}

/// A REP socket bound to `endpoint`, that forgets its replies when closed.
fn bind(endpoint: &str) -> Result<(Socket, String), io::Error> {
    let server = Socket::builder(SocketType::Rep)
        .linger(Duration::ZERO)
        .build()?;
    let bound = server.bind(endpoint)?;
    println!("server: bound to {bound}");
    Ok((server, bound))
}

/// Echoes requests until it simulates a crash, after three normal requests, at random; it
/// may simulate an overload first.
async fn server(server: Socket, dice: &mut support::Rng, times: Times) -> Result<(), io::Error> {
    let mut cycles = 0;
    loop {
        let request = server.recv().await?;
        cycles += 1;
        if cycles > 3 && dice.below(3) == 0 {
            println!("server: simulating a crash");
            // The request dies with the socket, unanswered, as with a process that exits.
            server.close().await;
            return Ok(());
        } else if cycles > 3 && dice.below(3) == 0 {
            println!("server: simulating CPU overload");
            // The client stops waiting meanwhile and sends the request again: this reply
            // goes to a socket that is gone, and the server does the work twice. Lazy
            // pirate delivers at least once; requests must be safe to repeat.
            Timer::after(times.overload).await;
        }
        let text = String::from_utf8_lossy(request.first().map_or(&[][..], |frame| frame));
        println!("server: normal request ({text})");
        Timer::after(times.work).await;
        server.send(request).await?;
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    env_logger::init();
    let args = Args::parse();
    let times = Times::new(args.fast || args.role == Role::All);
    let mut dice = support::Rng::new(args.seed);
    smol::block_on(async {
        match args.role {
            Role::Server => {
                let (socket, _) = bind(&format!("tcp://*:{}", args.port))?;
                Ok(server(socket, &mut dice, times).await?)
            }
            Role::Client => client(&args.connect, args.attempts, args.requests, times).await,
            Role::All => {
                let (socket, endpoint) = bind("tcp://127.0.0.1:*")?;
                // What the guide leaves to you: starting the server again after a crash,
                // on the same port.
                let supervisor = async {
                    let mut socket = socket;
                    loop {
                        server(socket, &mut dice, times).await?;
                        // Back before the client's next attempt: it recovers on its first
                        // retry. A supervisor slower than all attempts loses the client.
                        Timer::after(times.timeout / 2).await;
                        println!("supervisor: restarting the server");
                        socket = bind(&endpoint)?.0;
                    }
                };
                let requests = args.requests.unwrap_or(10);
                or(
                    client(&endpoint, args.attempts, Some(requests), times),
                    supervisor,
                )
                .await
            }
        }
    })
}
