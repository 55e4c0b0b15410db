//! `python_json::from_str` and `to_string` on arbitrary text (octets as UTF-8, invalid
//! sequences replaced). Invariants:
//! - nothing panics or overflows the stack, for a `serde_json::Value`, a derived struct or
//!   `IgnoredAny`, and the three agree on whether the text is JSON as Python reads it;
//! - every error's position lies within the text;
//! - whenever serde_json (correctly rounding, `float_roundtrip`) accepts the text, we read
//!   the same `Value`, except `-0`, which Python reads as the integer 0 and serde_json as
//!   -0.0; whenever we accept a text without `NaN`/`Infinity`, serde_json does too, unless
//!   a number overflows a double (Python reads it as infinity, serde_json refuses);
//! - what we read, written back with `to_string`, reads back to itself (for the struct:
//!   to the same text).
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zmq_sansio::python_json::{self, Error, Position};

#[derive(Serialize, Deserialize, Debug)]
enum Kind {
    Unit,
    New(f64),
    Tup(u8, bool),
    Rec { x: f64 },
}

#[derive(Serialize, Deserialize, Debug)]
struct Small {
    #[serde(default)]
    a: Option<f64>,
    #[serde(default)]
    b: Vec<i64>,
    #[serde(default)]
    c: String,
    #[serde(default)]
    d: Option<Kind>,
    #[serde(default)]
    e: BTreeMap<i32, f32>,
    #[serde(default)]
    f: Option<u128>,
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    let ours = python_json::from_str::<Value>(text);
    let any = python_json::from_str::<IgnoredAny>(text);
    let small = python_json::from_str::<Small>(text);
    for error in [
        ours.as_ref().err(),
        any.as_ref().err(),
        small.as_ref().err(),
    ]
    .into_iter()
    .flatten()
    {
        check_position(text, error);
    }
    assert_eq!(
        ours.is_ok(),
        any.is_ok(),
        "Value and IgnoredAny disagree: {ours:?} vs {any:?}"
    );
    if small.is_ok() {
        assert!(
            ours.is_ok(),
            "the struct read what a Value could not: {ours:?}"
        );
    }
    if let Err(error) = &small {
        if ours.is_ok() {
            assert!(
                matches!(error, Error::Data { .. }),
                "valid JSON refused for its syntax when read as a struct: {error}"
            );
        }
    }

    let theirs = serde_json::from_str::<Value>(text);
    match (&ours, &theirs) {
        (Ok(ours), Ok(theirs)) => assert!(same(ours, theirs), "{ours} vs serde_json's {theirs}"),
        (Err(error), Ok(theirs)) => panic!("serde_json reads {theirs}, we refuse: {error}"),
        (Ok(ours), Err(error)) => assert!(
            text.contains("NaN")
                || text.contains("Infinity")
                || error.to_string().contains("number out of range"),
            "we read {ours}, serde_json refuses: {error}"
        ),
        (Err(_), Err(_)) => {}
    }

    if let Ok(value) = &ours {
        let written = python_json::to_string(value).expect("a Value always writes");
        let back = python_json::from_str::<Value>(&written).expect("our output reads back");
        assert_eq!(&back, value, "{written}");
    }
    if let Ok(small) = &small {
        let written = python_json::to_string(small).expect("the struct always writes");
        let back = python_json::from_str::<Small>(&written).expect("our output reads back");
        let again = python_json::to_string(&back).expect("the struct always writes");
        assert_eq!(again, written);
    }
});

fn check_position(text: &str, error: &Error) {
    let position: Option<&Position> = match error {
        Error::Syntax { position, .. }
        | Error::LoneSurrogate { position, .. }
        | Error::TooDeep { position } => Some(position),
        Error::Data { position, .. } => position.as_ref(),
        _ => None,
    };
    if let Some(position) = position {
        assert!(position.offset <= text.len(), "{error}");
        assert!(text.is_char_boundary(position.offset), "{error}");
        assert!(position.line >= 1 && position.column >= 1, "{error}");
    }
}

/// Equal, but for `-0`: Python's (and our) integer 0, serde_json's -0.0.
fn same(ours: &Value, theirs: &Value) -> bool {
    match (ours, theirs) {
        (Value::Number(a), Value::Number(b)) if a != b => {
            a.as_u64() == Some(0) && b.as_f64().is_some_and(|b| b == 0.0 && b.is_sign_negative())
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ka, a), (kb, b))| ka == kb && same(a, b))
        }
        _ => ours == theirs,
    }
}
