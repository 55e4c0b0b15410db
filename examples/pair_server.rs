//! A pair server that echoes every message back.
//!
//! `cargo run --example pair_server -- --port 5560`
//!
//! Encrypted: `--curve-secret-key <secret>` (from `--keygen`), `--allow-key <Z85>`;
//! passwords: `--plain-server` or `--allow-user user:password`.

use std::process::ExitCode;

use clap::Parser;
use zmq_sansio::easy::{Error, PairServer};

mod support;

#[derive(Parser)]
#[command(about = "Echo every message from the pair client")]
struct Args {
    /// TCP port to bind on every interface.
    #[arg(long)]
    port: u16,
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
        let server = PairServer::new_with(args.port, args.security.options())?;
        eprintln!("pair_server: bound to {}", server.endpoint());
        server.run().await
    })
}
