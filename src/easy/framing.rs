//! The `"<msgid> <msgtype> <body>"` text framing of the Python module. JSON bodies go
//! through [`crate::python_json`], so both sides produce and accept the same octets, NaN
//! and ±Infinity included.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Error;
use super::coding::Coding;
use crate::python_json;

/// The default message id (the Python module's default).
pub const DEFAULT_MSGID: i64 = 1000;

/// What a published message carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// `msgtype` `text`: the body as it is.
    Text(String),
    /// `msgtype` `json`: the body parsed as Python's `json.loads` parses it.
    ///
    /// A [`Value`] cannot hold NaN or ±Infinity, which Python sends as the bare tokens
    /// `NaN`, `Infinity` and `-Infinity`: here they read as [`Value::Null`]. To receive the
    /// real values, deserialize into a type with `f64` fields
    /// ([`Subscriber::subscribe_as`](super::Subscriber::subscribe_as)).
    Json(Value),
}

/// Why a received message could not be read. The subscriber stays usable: only this one
/// message is lost.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
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

/// A received body, its JSON not parsed yet: parsing waits until the target type is
/// known, so that [`Subscriber::subscribe_as`](super::Subscriber::subscribe_as) reads
/// NaN straight into an `f64` instead of through a [`Value`] that would make it `null`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawPayload {
    Text(String),
    Json(String),
}

impl RawPayload {
    /// The body as [`Payload`]: JSON parsed into a [`Value`].
    pub(crate) fn parse(self) -> Result<Payload, Error> {
        match self {
            RawPayload::Text(text) => Ok(Payload::Text(text)),
            RawPayload::Json(body) => python_json::from_str(&body)
                .map(Payload::Json)
                .map_err(json_read_error),
        }
    }

    /// The body as a `T`: JSON deserialized from its text, text offered as a JSON string.
    pub(crate) fn deserialize<T: DeserializeOwned>(self) -> Result<T, Error> {
        match self {
            RawPayload::Json(body) => python_json::from_str(&body).map_err(json_read_error),
            // As a JSON string, so that `String` (and enums of unit variants) read text.
            RawPayload::Text(text) => {
                serde_json::from_value(Value::String(text)).map_err(|e| Error::Json(e.to_string()))
            }
        }
    }
}

/// A body that is not JSON is a malformed message; JSON of the wrong shape for the
/// requested type is the caller's [`Error::Json`].
fn json_read_error(error: python_json::Error) -> Error {
    match error {
        python_json::Error::Data { .. } => Error::Json(error.to_string()),
        other => MalformedMessage::BadJson(other.to_string()).into(),
    }
}

/// Splits `"<msgid> <msgtype> <body>"` without parsing the body.
pub(crate) fn split(coding: &Coding, octets: &[u8]) -> Result<(i64, RawPayload), Error> {
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
        RawPayload::Json(body.to_owned())
    } else {
        RawPayload::Text(body.to_owned())
    };
    Ok((msgid, payload))
}

/// Reads `"<msgid> <msgtype> <body>"`, a JSON body into a [`Value`] (the subscriber does
/// it in two steps, [`split`] then [`RawPayload::parse`], to log between them).
#[cfg(test)]
pub(crate) fn decode(coding: &Coding, octets: &[u8]) -> Result<(i64, Payload), Error> {
    let (msgid, raw) = split(coding, octets)?;
    Ok((msgid, raw.parse()?))
}

/// Renders `value` exactly as Python's `json.dumps(value)` would: `", "` and `": "`
/// separators, non-ASCII as `\uXXXX` escapes, floats as Python's `repr`, NaN and
/// ±Infinity as `NaN`, `Infinity` and `-Infinity` (see [`crate::python_json::to_string`]).
pub fn to_python_json<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    python_json::to_string(value).map_err(|e| Error::Json(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[test]
    fn json_matches_python_json_dumps() {
        // Expected string produced by CPython 3.11's `json.dumps` on the same dict.
        let value = json!({"data": 42, "f": 1e16, "g": 0.1, "h": 1e-5, "i": 123456789012345678.0,
            "j": 1.0, "k": -0.0, "u": "héllo 😀", "l": [1, 2.5, null, true], "e": {}, "a": [],
            "q": "\"\\/\n\u{1}\u{7f}"});
        assert_eq!(
            to_python_json(&value).unwrap(),
            r#"{"data": 42, "f": 1e+16, "g": 0.1, "h": 1e-05, "i": 1.2345678901234568e+17, "j": 1.0, "k": -0.0, "u": "h\u00e9llo \ud83d\ude00", "l": [1, 2.5, null, true], "e": {}, "a": [], "q": "\"\\/\n\u0001\u007f"}"#
        );
    }

    #[derive(Serialize, Deserialize, Debug)]
    struct X {
        x: f64,
    }

    #[test]
    fn nan_and_infinities_on_the_wire() {
        let coding = Coding::UTF_8;
        // Publishing: Python's tokens, not `null`.
        let body = to_python_json(&X { x: f64::NAN }).unwrap();
        let wire = encode(&coding, 1000, &OutgoingPayload::Json(body)).unwrap();
        assert_eq!(&wire[..], br#"1000 json {"x": NaN}"#);

        // Receiving as a `Value`: what Python sends parses, and reads as null.
        assert_eq!(
            decode(&coding, b"1000 json NaN").unwrap(),
            (1000, Payload::Json(Value::Null))
        );
        assert_eq!(
            decode(&coding, b"7 json {\"x\": -Infinity}").unwrap(),
            (7, Payload::Json(json!({"x": null})))
        );

        // Receiving as a type (`subscribe_as`): the real values.
        let (msgid, raw) = split(&coding, &wire).unwrap();
        assert_eq!(msgid, 1000);
        assert!(raw.deserialize::<X>().unwrap().x.is_nan());
        let (_, raw) = split(&coding, b"7 json {\"x\": -Infinity}").unwrap();
        assert_eq!(raw.deserialize::<X>().unwrap().x, f64::NEG_INFINITY);
        let (_, raw) = split(&coding, b"7 json [Infinity, 1.5]").unwrap();
        assert_eq!(raw.deserialize::<Vec<f64>>().unwrap(), [f64::INFINITY, 1.5]);
    }

    #[test]
    fn typed_reads_tell_bad_json_from_the_wrong_type() {
        let coding = Coding::UTF_8;
        let read = |octets: &[u8]| split(&coding, octets).unwrap().1.deserialize::<X>();
        // Not JSON (as Python reads it): the message is malformed.
        assert!(matches!(
            read(b"1 json {\"x\": nan}"),
            Err(Error::Malformed(MalformedMessage::BadJson(_)))
        ));
        assert!(matches!(
            read(b"1 json \"\\ud800\""),
            Err(Error::Malformed(MalformedMessage::BadJson(_)))
        ));
        // JSON of another shape: the caller's type does not fit.
        assert!(matches!(read(b"1 json {\"y\": 1}"), Err(Error::Json(_))));
        // Text bodies are offered as a JSON string.
        let (_, raw) = split(&coding, b"1 text NaN").unwrap();
        assert_eq!(raw.deserialize::<String>().unwrap(), "NaN");
        assert!(matches!(read(b"1 text {\"x\": 1}"), Err(Error::Json(_))));
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
        assert_eq!(
            malformed(b"1 json [1,]"),
            "malformed message: invalid JSON body: Expecting value at line 1 column 4 (byte 3)"
        );
        assert!(
            malformed(b"1 text \xff").contains("utf-8")
                || malformed(b"1 text \xff").contains("UTF-8")
        );
    }

    #[test]
    fn unwritable_json_is_an_error() {
        let map = std::collections::BTreeMap::from([((1, 2), 3)]);
        assert!(matches!(to_python_json(&map), Err(Error::Json(m)) if m.contains("not tuple")));
    }
}
