//! `GreetingDecoder` on arbitrary octets. Invariants:
//! - fed all at once, octet by octet, or split in two (at a point picked by the first
//!   octet), the decoder reaches the same greeting or the same error, having consumed the
//!   same number of octets;
//! - it never consumes more than 64 octets, and nothing once the greeting is complete;
//! - a decoded greeting re-encodes to the input with padding and filler zeroed, and decodes
//!   back to itself; its mechanism name is one `MechanismName::new` accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zmq_sansio::proto::{GREETING_LEN, Greeting, GreetingDecoder, GreetingError, MechanismName};

fuzz_target!(|data: &[u8]| {
    let whole = feed_in_pieces(data, [data.len()]);
    let by_octet = feed_in_pieces(data, std::iter::repeat(1));
    let split = data
        .first()
        .map_or(0, |&b| usize::from(b) % (data.len() + 1));
    let halves = feed_in_pieces(data, [split, data.len()]);
    assert_eq!(whole, by_octet, "octet-by-octet feeding differs");
    assert_eq!(whole, halves, "feeding in two pieces differs");

    match whole {
        Ok((consumed, None)) => assert_eq!(consumed, data.len(), "stopped before 64 octets"),
        Ok((consumed, Some(greeting))) => {
            assert_eq!(consumed, GREETING_LEN);
            check_greeting(
                greeting,
                data[..GREETING_LEN].try_into().expect("64 octets"),
            );
        }
        Err(_) => {}
    }
});

/// Feeds `data` in pieces of the given sizes until the greeting completes or fails;
/// returns the octets consumed and the greeting, if complete. (How far a decoder got
/// before an error is not specified, so only the error itself is compared.)
fn feed_in_pieces(
    data: &[u8],
    sizes: impl IntoIterator<Item = usize>,
) -> Result<(usize, Option<Greeting>), GreetingError> {
    let mut decoder = GreetingDecoder::new();
    let mut consumed = 0;
    let mut rest = data;
    for size in sizes {
        if rest.is_empty() {
            break;
        }
        let (piece, after) = rest.split_at(size.min(rest.len()));
        rest = after;
        let before = decoder.received();
        let (used, done) = decoder.feed(piece)?;
        assert!(used <= piece.len() && before + used <= GREETING_LEN);
        assert_eq!(decoder.received(), before + used);
        consumed += used;
        if let Some(greeting) = done {
            // Complete: later input belongs to the frames after the greeting.
            let (used, _) = decoder.feed(rest).expect("a complete greeting stays valid");
            assert_eq!(used, 0, "consumed past the greeting");
            return Ok((consumed, Some(greeting)));
        }
    }
    Ok((consumed, None))
}

fn check_greeting(greeting: Greeting, wire: &[u8; GREETING_LEN]) {
    assert!(greeting.major >= 3, "accepted a pre-ZMTP-3 greeting");
    assert_eq!(Greeting::decode(wire), Ok(greeting));

    // The wire form with the insignificant octets (padding 1..=8, filler 33..) zeroed.
    let mut canonical = *wire;
    canonical[1..9].fill(0);
    canonical[33..].fill(0);
    let encoded = greeting.encode();
    assert_eq!(
        encoded, canonical,
        "re-encoding changed a significant octet"
    );
    assert_eq!(Greeting::decode(&encoded), Ok(greeting));

    let name = greeting.mechanism.as_str();
    assert_eq!(MechanismName::new(name), Some(greeting.mechanism));
}
