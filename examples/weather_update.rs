//! Weather updates over PUB/SUB: the ZeroMQ guide's wuserver and wuclient (chapter 1,
//! "Basics", section "Getting the Message Out").
//!
//! `cargo run --example weather_update` runs a server and three clients in one process and
//! exits with an error unless every client got its updates, and only those of its zip code.
//!
//! One role at a time, to mix with the guide's C or Python programs:
//! `cargo run --example weather_update -- --role server --port 5556` (wuserver) and
//! `cargo run --example weather_update -- --role client --zip 10001` (wuclient).

use std::error::Error;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use smol::future::{or, yield_now};
use zmq_sansio::io::Socket;
use zmq_sansio::proto::SocketType;

mod support;

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Role {
    /// A server and three clients in this process.
    All,
    /// Publish updates forever (wuserver).
    Server,
    /// Average the temperature of one zip code (wuclient).
    Client,
}

#[derive(Parser)]
#[command(about = "Publish weather updates, or average those of one zip code")]
struct Args {
    /// Which program to be.
    #[arg(long, value_enum, default_value_t = Role::All)]
    role: Role,
    /// Server: TCP port to bind on every interface.
    #[arg(long, default_value_t = 5556)]
    port: u16,
    /// Client: the server to connect to.
    #[arg(long, default_value = "tcp://localhost:5556")]
    connect: String,
    /// Client: the zip code to listen for.
    #[arg(long, default_value = "10001")]
    zip: String,
    /// Client: how many updates to average.
    #[arg(long, default_value_t = 100)]
    updates: u32,
    /// Server: how many zip codes to publish for, from 10000 up [default: 90000, up to
    /// 99999; with --role all: 10, so that each comes up often].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=90_000))]
    zip_codes: Option<u64>,
    /// Server: seed of the random updates.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Publishes "zipcode temperature relhumidity" as fast as it can, forever. It never waits
/// for anyone: PUB drops what a subscriber's queue has no room for, and everything sent
/// before a subscriber joined. Returns only on an error.
async fn server(publisher: Socket, zip_codes: u64, seed: u64) -> Result<(), Box<dyn Error>> {
    let mut dice = support::Rng::new(seed);
    loop {
        let zipcode = 10_000 + dice.below(zip_codes);
        let temperature = dice.below(215) as i64 - 80;
        let relhumidity = dice.below(50) + 10;
        publisher
            .send(format!("{zipcode:05} {temperature} {relhumidity}"))
            .await?;
        // Sending never has to wait on PUB, so let the tasks sharing this thread run.
        yield_now().await;
    }
}

/// Averages the temperature of `updates` updates for `zip`, checking that no other zip
/// code got through the filter.
async fn client(endpoint: &str, zip: &str, updates: u32) -> Result<i64, Box<dyn Error>> {
    // A subscription matches any message that starts with it: the trailing space makes it
    // a whole zip code (without it, `--zip 1000` would take 10000 to 10009 as well).
    let subscriber = Socket::builder(SocketType::Sub)
        .subscribe(format!("{zip} "))
        .build()?;
    subscriber.connect(endpoint)?;
    let mut total = 0;
    for _ in 0..updates {
        let update = subscriber.recv().await?;
        let text = String::from_utf8_lossy(update.first().map_or(&[][..], |frame| frame));
        let fields: Vec<&str> = text.split(' ').collect();
        let [zipcode, temperature, _relhumidity] = fields[..] else {
            return Err(format!("not a weather update: {text:?}").into());
        };
        if zipcode != zip {
            return Err(format!("client {zip}: got an update for {zipcode}").into());
        }
        total += temperature.parse::<i64>()?;
    }
    let average = total / i64::from(updates.max(1));
    println!("client {zip}: average temperature for zipcode '{zip}' was {average}F");
    subscriber.close().await;
    Ok(average)
}

fn main() -> Result<(), Box<dyn Error>> {
    env_logger::init();
    let args = Args::parse();
    smol::block_on(async {
        match args.role {
            Role::Server => {
                let publisher = Socket::new(SocketType::Pub);
                let endpoint = publisher.bind(&format!("tcp://*:{}", args.port))?;
                println!("server: publishing on {endpoint}");
                server(publisher, args.zip_codes.unwrap_or(90_000), args.seed).await
            }
            Role::Client => {
                println!("client {}: connecting to {}", args.zip, args.connect);
                client(&args.connect, &args.zip, args.updates).await?;
                Ok(())
            }
            Role::All => whole_scenario(&args).await,
        }
    })
}

/// A server and three clients, each client on a zip code of its own.
async fn whole_scenario(args: &Args) -> Result<(), Box<dyn Error>> {
    let zip_codes = args.zip_codes.unwrap_or(10);
    let publisher = Socket::new(SocketType::Pub);
    let endpoint = publisher.bind("tcp://127.0.0.1:*")?;
    println!(
        "server: publishing on {endpoint} for zip codes 10000 to {}",
        9_999 + zip_codes
    );
    let clients = async {
        let zips = ["10001", "10002", "10003"];
        futures::future::try_join_all(zips.map(|zip| client(&endpoint, zip, args.updates))).await?;
        println!(
            "all clients got {} updates, each of its own zip code",
            args.updates
        );
        Ok(())
    };
    // The clients end the scenario; the server would publish forever. A timeout guards
    // against a client that never gets its updates.
    let deadline = async {
        smol::Timer::after(Duration::from_secs(20)).await;
        Err("the clients did not get their updates within 20 s".into())
    };
    or(
        or(clients, server(publisher, zip_codes, args.seed)),
        deadline,
    )
    .await
}
