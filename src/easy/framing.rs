//! The `"<msgid> <msgtype> <body>"` text framing of the Python module, and JSON written the
//! way Python's `json.dumps` writes it, so both sides produce the same octets.

use std::io;

use serde::Serialize;
use serde_json::Value;
use serde_json::ser::{CharEscape, Formatter};

use super::Error;
use super::coding::Coding;

/// The default message id (the Python module's default).
pub const DEFAULT_MSGID: i64 = 1000;

/// What a published message carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// `msgtype` `text`: the body as it is.
    Text(String),
    /// `msgtype` `json`: the body parsed.
    Json(Value),
}

/// Why a received message could not be read. The subscriber stays usable: only this one
/// message is lost.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MalformedMessage {
    /// Not `"<msgid> <msgtype> <body>"`.
    #[error("expected \"<msgid> <msgtype> <body>\", got {fields} field(s): {preview:?}")]
    MissingFields {
        /// How many space-separated fields there were.
        fields: usize,
        /// The start of the message.
        preview: String,
    },
    /// The id is not an integer.
    #[error("message id {0:?} is not an integer")]
    BadMsgId(String),
    /// The body of a `json` message does not parse.
    #[error("invalid JSON body: {0}")]
    BadJson(String),
}

/// Builds the wire form of a message.
pub(crate) fn encode(
    coding: &Coding,
    msgid: i64,
    payload: &OutgoingPayload<'_>,
) -> Result<bytes::Bytes, Error> {
    let text = match payload {
        OutgoingPayload::Text(body) => format!("{msgid} text {body}"),
        OutgoingPayload::Json(body) => format!("{msgid} json {body}"),
    };
    coding.encode(&text)
}

/// A payload on its way out, the JSON already rendered.
pub(crate) enum OutgoingPayload<'a> {
    Text(&'a str),
    Json(String),
}

/// Reads `"<msgid> <msgtype> <body>"`.
pub(crate) fn decode(coding: &Coding, octets: &[u8]) -> Result<(i64, Payload), Error> {
    let text = coding.decode(octets)?;
    let mut fields = text.splitn(3, ' ');
    let (Some(id), Some(kind), Some(body)) = (fields.next(), fields.next(), fields.next()) else {
        let fields = text.split(' ').count().min(2);
        let preview: String = text.chars().take(40).collect();
        return Err(MalformedMessage::MissingFields { fields, preview }.into());
    };
    let msgid = id
        .parse::<i64>()
        .map_err(|_| MalformedMessage::BadMsgId(id.to_owned()))?;
    // As in the Python module, any type other than `json` is text.
    let payload = if kind == "json" {
        Payload::Json(
            serde_json::from_str(body).map_err(|e| MalformedMessage::BadJson(e.to_string()))?,
        )
    } else {
        Payload::Text(body.to_owned())
    };
    Ok((msgid, payload))
}

/// Renders `value` exactly as Python's `json.dumps(value)` would: `", "` and `": "`
/// separators, non-ASCII as `\uXXXX` escapes, floats as Python's `repr`.
pub fn to_python_json<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    value
        .serialize(&mut serializer)
        .map_err(|e| Error::Json(e.to_string()))?;
    Ok(String::from_utf8(out).expect("the formatter writes ASCII only"))
}

struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        separator(writer, first)
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        separator(writer, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(python_float_repr(value).as_bytes())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        // Python has only doubles: a float32 is widened the same way.
        writer.write_all(python_float_repr(f64::from(value)).as_bytes())
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // `ensure_ascii=True`: every non-ASCII character as UTF-16 `\uXXXX` escapes.
        for c in fragment.chars() {
            if c.is_ascii() {
                writer.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        let text: &[u8] = match escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"/",
            CharEscape::Backspace => b"\\b",
            CharEscape::FormFeed => b"\\f",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(byte) => return write!(writer, "\\u{byte:04x}"),
        };
        writer.write_all(text)
    }
}

/// Python's item separator, `", "`, before every array item and object key but the first.
fn separator<W: ?Sized + io::Write>(writer: &mut W, first: bool) -> io::Result<()> {
    if first {
        Ok(())
    } else {
        writer.write_all(b", ")
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, in fixed notation when the
/// decimal exponent is in -4..16, otherwise as `d.ddde±XX`.
fn python_float_repr(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    // Rust's `{:e}` gives the same shortest round-trip digits: "-1.2345e17".
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("`{:e}` always has an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` exponents are integers");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let point = exponent + 1; // digits are 0.d1d2… × 10^point
    let n = digits.len() as i32;
    let body = if (-4 < point) && (point <= 16) {
        if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point >= n {
            format!("{digits}{}.0", "0".repeat((point - n) as usize))
        } else {
            let (int, frac) = digits.split_at(point as usize);
            format!("{int}.{frac}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let mantissa = if rest.is_empty() {
            first.to_owned()
        } else {
            format!("{first}.{rest}")
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{exp_sign}{:02}", exponent.abs())
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_matches_python_json_dumps() {
        // Expected strings produced by CPython 3.11's `json.dumps`.
        let value = json!({"data": 42, "f": 1e16, "g": 0.1, "h": 1e-5, "i": 123456789012345678.0,
            "j": 1.0, "k": -0.0, "u": "héllo 😀", "l": [1, 2.5, null, true], "e": {}, "a": [],
            "q": "\"\\/\n\u{1}"});
        assert_eq!(
            to_python_json(&value).unwrap(),
            r#"{"data": 42, "f": 1e+16, "g": 0.1, "h": 1e-05, "i": 1.2345678901234568e+17, "j": 1.0, "k": -0.0, "u": "h\u00e9llo \ud83d\ude00", "l": [1, 2.5, null, true], "e": {}, "a": [], "q": "\"\\/\n\u0001"}"#
        );
    }

    #[test]
    fn float_repr_matches_python() {
        let cases = [
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (1e15, "1000000000000000.0"),
            (1e-4, "0.0001"),
            (0.0001234, "0.0001234"),
            (123.456, "123.456"),
            (0.0, "0.0"),
            (-2.5e-7, "-2.5e-07"),
        ];
        for (value, python) in cases {
            assert_eq!(python_float_repr(value), python, "{value:e}");
        }
    }

    #[test]
    fn framing_round_trip_and_errors() {
        let coding = Coding::UTF_8;
        let wire = encode(&coding, 1000, &OutgoingPayload::Text("Hi there!")).unwrap();
        assert_eq!(&wire[..], b"1000 text Hi there!");
        assert_eq!(
            decode(&coding, &wire).unwrap(),
            (1000, Payload::Text("Hi there!".into()))
        );
        let wire = encode(
            &coding,
            7,
            &OutgoingPayload::Json(to_python_json(&json!({"data": 42})).unwrap()),
        )
        .unwrap();
        assert_eq!(&wire[..], b"7 json {\"data\": 42}");
        assert_eq!(
            decode(&coding, &wire).unwrap(),
            (7, Payload::Json(json!({"data": 42})))
        );
        assert_eq!(
            decode(&coding, b"1 text ").unwrap(),
            (1, Payload::Text(String::new()))
        );
        assert_eq!(
            decode(&coding, b"1 other x y").unwrap(),
            (1, Payload::Text("x y".into()))
        );

        let malformed = |octets: &[u8]| decode(&coding, octets).unwrap_err().to_string();
        assert!(malformed(b"1000 text").contains("2 field(s)"));
        assert!(malformed(b"abc text hi").contains("not an integer"));
        assert!(malformed(b"1 json {oops").contains("invalid JSON"));
        assert!(
            malformed(b"1 text \xff").contains("utf-8")
                || malformed(b"1 text \xff").contains("UTF-8")
        );
    }
}
