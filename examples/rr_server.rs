//! A request/reply server that answers every request with `Echo: <request>`.
//!
//! `cargo run --example rr_server -- --port 5557`
//!
//! Encrypted: `--curve-secret-key <secret>` (from `--keygen`), and `--allow-key <client
//! public key>` to let in only known clients; passwords: `--allow-user alice:secret`.

use std::process::ExitCode;

use clap::Parser;
use zmq_sansio::easy::{Error, RRServer};

mod support;

#[derive(Parser)]
#[command(about = "Answer requests with \"Echo: <request>\"")]
struct Args {
    /// TCP port to bind on every interface.
    #[arg(long)]
    port: u16,
    /// Text encoding (a WHATWG label).
    #[arg(long, default_value = "utf-8")]
    coding: String,
    #[command(flatten)]
    security: support::ServerSecurity,
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
    smol::block_on(async {
        let server = RRServer::new_with(args.port, args.security.options())?
            .with_coding(&args.coding)?
            .with_handler(|request: String| format!("Echo: {request}"));
        eprintln!("rr_server: bound to {}", server.endpoint());
        server.run().await
    })
}
