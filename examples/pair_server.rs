//! A pair server that echoes every message back.
//!
//! `cargo run --example pair_server -- --port 5560`

use clap::Parser;
use zmq_sansio::easy::{Error, PairServer};

#[derive(Parser)]
#[command(about = "Echo every message from the pair client")]
struct Args {
    /// TCP port to bind on every interface.
    #[arg(long)]
    port: u16,
}

fn main() -> Result<(), Error> {
    env_logger::init();
    let args = Args::parse();
    smol::block_on(async { PairServer::new(args.port)?.run().await })
}
