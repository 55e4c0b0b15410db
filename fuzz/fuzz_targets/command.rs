//! `Command::parse`, `RawCommand::parse` and `Metadata::parse` on arbitrary bodies.
//!
//! Invariants:
//! - a parsed command encodes back to exactly the input (parsing is lossless and encoding
//!   canonical), and parsing that again gives the same command;
//! - `Command::parse` succeeds whenever `RawCommand::parse` does, unless the name is one of
//!   the ZMTP commands whose data has a grammar (READY, ERROR, PING, PONG);
//! - a parsed metadata block encodes back to exactly the input, its `encoded_len` is exact,
//!   and `get` finds the first property of each name, case-insensitively;
//! - commands built from the input round-trip too, with ERROR reasons truncated to 255.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use zmq_sansio::proto::{Command, MAX_PING_CONTEXT, Metadata, RawCommand};

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    check_command(&body);
    check_metadata(&body);
    check_constructed(&body);
});

fn check_command(body: &Bytes) {
    let raw = RawCommand::parse(body.clone());
    match Command::parse(body.clone()) {
        Ok(command) => {
            assert_eq!(command.to_bytes(), body, "encoding is not the parsed input");
            assert_eq!(Command::parse(command.to_bytes()), Ok(command.clone()));
            let raw = raw.expect("a command that parses has a valid name");
            assert_eq!(command.name(), &raw.name[..]);
        }
        Err(err) => {
            if let Ok(raw) = raw {
                assert!(
                    matches!(&raw.name[..], b"READY" | b"ERROR" | b"PING" | b"PONG"),
                    "unknown command {} refused: {err}",
                    raw.name_str()
                );
            }
        }
    }
}

fn check_metadata(block: &Bytes) {
    let Ok(metadata) = Metadata::parse(block.clone()) else {
        return;
    };
    let mut out = BytesMut::new();
    metadata.encode(&mut out);
    assert_eq!(
        &out[..],
        &block[..],
        "metadata encoding is not the parsed input"
    );
    assert_eq!(metadata.encoded_len(), block.len());
    assert_eq!(Metadata::parse(out.freeze()).as_ref(), Ok(&metadata));

    for (name, _) in metadata.iter() {
        let first = metadata
            .iter()
            .find(|(other, _)| other.eq_ignore_ascii_case(name))
            .map(|(_, value)| value);
        assert_eq!(metadata.get(&name.to_ascii_lowercase()), first);
        assert_eq!(metadata.get(&name.to_ascii_uppercase()), first);
    }

    // The same block as a READY command.
    let ready = Command::Ready(metadata.clone()).to_bytes();
    assert_eq!(&ready[..6], b"\x05READY");
    assert_eq!(&ready[6..], &block[..]);
    assert_eq!(Command::parse(ready), Ok(Command::Ready(metadata)));
}

/// Commands built by hand from the input: the encoder must produce what the parser reads.
fn check_constructed(data: &Bytes) {
    let truncated = data.slice(..data.len().min(255));
    let error = Command::Error(data.clone());
    assert_eq!(
        Command::parse(error.to_bytes()),
        Ok(Command::Error(truncated))
    );

    let context = data.slice(..data.len().min(MAX_PING_CONTEXT));
    let ttl_deciseconds = u16::from_be_bytes([
        data.first().copied().unwrap_or(0),
        data.get(1).copied().unwrap_or(0),
    ]);
    for command in [
        Command::Subscribe(data.clone()),
        Command::Cancel(data.clone()),
        Command::Pong(context.clone()),
        Command::Ping {
            ttl_deciseconds,
            context,
        },
    ] {
        assert_eq!(Command::parse(command.to_bytes()).as_ref(), Ok(&command));
    }
}
