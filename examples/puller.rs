//! Connects to a pusher and prints each message it takes.
//!
//! `cargo run --example puller -- --host localhost --port 5558 --count 3`
//!
//! Of a CURVE pusher: add `--curve-server-key <its public key>`; of a PLAIN one,
//! `--plain-user <user> --plain-password <password>`.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::Parser;
use zmq_sansio::easy::{Error, PPPuller};

mod support;

#[derive(Parser)]
#[command(about = "Pull messages and print them")]
struct Args {
    /// Host of the pusher.
    #[arg(long, default_value = "localhost")]
    host: String,
    /// Port of the pusher.
    #[arg(long)]
    port: u16,
    /// Exit after this many messages (default: run forever).
    #[arg(long)]
    count: Option<u64>,
    #[command(flatten)]
    security: support::ClientSecurity,
}

fn main() -> ExitCode {
    support::exit_with(run())
}

fn run() -> Result<(), Error> {
    env_logger::init();
    if support::keygen_requested() {
        support::print_new_keypair();
        return Ok(());
    }
    let args = Args::parse();
    let taken = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&taken);
    let puller = PPPuller::new_with(&args.host, args.port, args.security.options())?;
    let stop = puller.stop_handle();
    let count = args.count;
    let puller = puller.with_handler(move |msg: String| {
        println!("{msg}");
        if count.is_some_and(|count| counter.fetch_add(1, Ordering::SeqCst) + 1 >= count) {
            stop.stop();
        }
    });
    smol::block_on(async {
        puller.run().await?;
        puller.close().await;
        Ok(())
    })
}
