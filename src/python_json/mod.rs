//! JSON exactly as CPython's `json` module writes and reads it with default arguments, NaN
//! and the infinities included.
//!
//! Python peers of the [`easy`](crate::easy) layer send `json.dumps(obj)` and read with
//! `json.loads(text)`. Those two are not strict JSON: `json.dumps(float('nan'))` is `NaN`,
//! and `json.loads` reads `NaN`, `Infinity` and `-Infinity` back. serde_json writes a
//! non-finite float as `null` (its serializer never hands one to a custom formatter) and
//! refuses those tokens on input, so a Rust peer built on it silently turned a Python NaN
//! into `null` on one side and failed on the other. This module is a small, IO-free codec
//! with its own serde [`Serializer`](serde::Serializer) and
//! [`Deserializer`](serde::Deserializer) that does what Python does.
//!
//! # Writing: [`to_string`]
//!
//! The output is byte for byte what `json.dumps(value)` gives for the same data: `", "` and
//! `": "` separators; `ensure_ascii`, so everything outside `' '..='~'` (DEL included) is a
//! lowercase `\uXXXX` escape, characters beyond the BMP as a UTF-16 surrogate pair; floats
//! as Python's `repr` (shortest round-trip digits, fixed notation for decimal exponents
//! -4 to 15, otherwise `1e+16` style; `f32` widened to `f64` first, as Python has only
//! doubles); `NaN`, `Infinity`, `-Infinity`; integers of any width, `i128`/`u128` included.
//! Map keys follow Python's rule for dict keys: strings as they are, integers, floats and
//! booleans converted (`{1: 2}` → `{"1": 2}`, `True` → `"true"`, `nan` → `"NaN"`), `None`
//! (and `()`) → `"null"`; any other key type is an [`Error::Serialize`], as Python raises
//! `TypeError`. Everything else follows serde_json's data model: bytes as an array of
//! integers, `()`/`None`/unit structs as `null`, enums externally tagged
//! (`"Unit"`, `{"Newtype": 1}`, `{"Tuple": [1, 2]}`, `{"Struct": {"a": 1}}`).
//!
//! # Reading: [`from_str`]
//!
//! Accepts exactly what `json.loads` accepts: strict JSON plus the bare tokens `NaN`,
//! `Infinity` and `-Infinity` (not `-NaN`, `nan`, `inf`, `+1`, trailing commas, comments or
//! single quotes); whitespace is JSON's four characters; raw control characters inside
//! strings are refused (Python's default `strict=True`); anything but whitespace after the
//! value is an error. Errors say what was expected, in Python's words where Python has
//! them, and where: line, column and byte offset.
//!
//! Numbers: a non-negative integer that fits `u64` is visited as `u64`, a negative one that
//! fits `i64` as `i64` (so `-0` is the integer 0, as in Python), everything else as the
//! correctly rounded `f64` (`1e400` is infinity, as in Python). Targets of type `i128` or
//! `u128` get integers of those widths exactly.
//!
//! Where Rust cannot hold what Python reads, the reader says so or degrades as documented:
//!
//! - **[`serde_json::Value`] has no NaN or infinity**: deserializing one into a `Value`
//!   yields [`Value::Null`](serde_json::Value::Null) (that is what `Value` itself does with
//!   a non-finite `f64`). Deserialize into a type with `f64` fields to get the real NaN,
//!   `inf` or `-inf`.
//! - Integers beyond `u64`/`i64` become the nearest `f64` unless the target is
//!   `i128`/`u128` (Python keeps arbitrary precision).
//! - A lone UTF-16 surrogate escape (`"\ud800"`) is an [`Error::LoneSurrogate`]: Python
//!   keeps it in its `str`, a Rust `String` cannot hold it.
//! - Nesting deeper than [`MAX_DEPTH`] levels is an [`Error::TooDeep`], so that hostile
//!   input cannot overflow the stack (Python stops with `RecursionError` near 1000).
//!
//! ```
//! use zmq_sansio::python_json::{from_str, to_string};
//!
//! assert_eq!(to_string(&[1.0, f64::NAN, f64::NEG_INFINITY, 1e16])?,
//!            "[1.0, NaN, -Infinity, 1e+16]");
//! let back: Vec<f64> = from_str("[1.0, NaN, -Infinity, 1e+16]")?;
//! assert!(back[1].is_nan() && back[2] == f64::NEG_INFINITY);
//! // A `Value` cannot hold NaN: it reads as null.
//! let value: serde_json::Value = from_str("{\"x\": NaN}")?;
//! assert_eq!(value, serde_json::json!({"x": null}));
//! # Ok::<(), zmq_sansio::python_json::Error>(())
//! ```

mod read;
mod write;

use std::fmt::{self, Display};

use serde::{de, ser};

pub use read::from_str;
pub use write::to_string;

/// The deepest nesting of arrays and objects [`from_str`] accepts: the same as serde_json,
/// so both refuse exactly the same documents for depth.
pub const MAX_DEPTH: usize = 127;

/// Where in the text an error was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line number, from 1.
    pub line: usize,
    /// Column in characters, from 1 (as Python counts).
    pub column: usize,
    /// Byte offset from the start of the text, from 0 (for slicing the `&str`).
    pub offset: usize,
}

impl Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {} column {} (byte {})",
            self.line, self.column, self.offset
        )
    }
}

/// Why a value could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not JSON as Python's `json.loads` reads it. The message is Python's
    /// where Python has one (`Expecting ',' delimiter`, `Extra data`, …).
    #[error("{message} at {position}")]
    Syntax {
        /// What was wrong or expected.
        message: String,
        /// Where.
        position: Position,
    },
    /// A `\uXXXX` escape of half a UTF-16 surrogate pair without its other half. Python
    /// reads it into a `str`; a Rust `String` cannot hold it.
    #[error(
        "lone surrogate \\u{unit:04x} at {position}: Python's json accepts it, but a Rust string cannot hold half a UTF-16 pair (the sender should send valid Unicode)"
    )]
    LoneSurrogate {
        /// The surrogate code unit.
        unit: u16,
        /// Where its escape starts.
        position: Position,
    },
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    #[error(
        "arrays and objects nested deeper than {MAX_DEPTH} levels at {position}: refused so that input cannot exhaust the stack"
    )]
    TooDeep {
        /// Where the level too many opens.
        position: Position,
    },
    /// Valid JSON that does not fit the requested Rust type (wrong type, missing field,
    /// unknown variant, …).
    #[error("{message}{}", .position.map(|p| format!(" at {p}")).unwrap_or_default())]
    Data {
        /// What did not fit, in serde's words.
        message: String,
        /// Where the value that did not fit starts, when known.
        position: Option<Position>,
    },
    /// A value that `json.dumps` would also refuse (a map key that is not a string,
    /// number, bool or None), or an error of the value's own `Serialize` implementation.
    #[error("cannot write JSON: {0}")]
    Serialize(String),
}

impl ser::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error::Serialize(msg.to_string())
    }
}

impl de::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error::Data {
            message: msg.to_string(),
            position: None,
        }
    }
}

#[cfg(test)]
mod tests;
