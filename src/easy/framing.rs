//! The `"<msgid> <msgtype> <body>"` text framing of the Python module, and its enveloped
//! form `"<msgid> envelope 1 <unix_ms> <source> <seq> <msgtype> <body>"` (see
//! [`super::envelope`]). JSON bodies go through [`crate::python_json`], so both sides
//! produce and accept the same octets, NaN and ±Infinity included.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Error;
use super::coding::Coding;
use super::envelope::{self, ENVELOPE_TOKEN, Envelope};
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
    /// The type is `envelope` but what follows is not a version 1 envelope header.
    #[error("malformed envelope: {0}")]
    BadEnvelope(String),
    /// The type is `envelope` with a version this crate does not know.
    #[error("envelope version {0:?} is not supported (this reader knows version 1)")]
    UnsupportedEnvelope(String),
}

/// The type of a message's body, as the framing names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MsgType {
    /// `text`: the body as it is.
    Text,
    /// `json`: the body is JSON text.
    Json,
}

impl MsgType {
    /// The token on the wire.
    pub fn token(self) -> &'static str {
        match self {
            MsgType::Text => "text",
            MsgType::Json => "json",
        }
    }

    /// As the Python module reads it: `json` is JSON, any other type is text.
    pub fn from_token(token: &str) -> Self {
        if token == "json" {
            MsgType::Json
        } else {
            MsgType::Text
        }
    }
}

/// One message of the framing as text (before `coding`), in either form: the default
/// `"<msgid> <msgtype> <body>"`, or enveloped when `envelope` is set. For tools and tests
/// that build or read messages themselves; the publisher and subscriber use the same
/// code.
///
/// ```
/// use zmq_sansio::easy::{Envelope, Frame, MsgType};
///
/// let frame = Frame {
///     msgid: 1000,
///     envelope: Some(Envelope { timestamp_ms: 1_700_000_000_000, source: "lab 2".into(), seq: 0 }),
///     msgtype: MsgType::Text,
///     body: "Hi there!".into(),
/// };
/// let text = frame.to_text()?;
/// assert_eq!(text, "1000 envelope 1 1700000000000 lab%202 0 text Hi there!");
/// assert_eq!(Frame::parse(&text)?, frame);
/// assert_eq!(Frame::parse("1000 text Hi there!")?.envelope, None);
/// # Ok::<(), zmq_sansio::easy::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The message id, first so that SUB prefix filtering selects by it.
    pub msgid: i64,
    /// The envelope, for the enveloped form.
    pub envelope: Option<Envelope>,
    /// The body's type.
    pub msgtype: MsgType,
    /// The body, JSON not parsed.
    pub body: String,
}

impl Frame {
    /// The text on the wire (before `coding`). Fails only for an envelope whose source id
    /// is empty or too long ([`Error::InvalidSource`]).
    pub fn to_text(&self) -> Result<String, Error> {
        let Some(e) = &self.envelope else {
            return Ok(write_text(self.msgid, None, self.msgtype, &self.body));
        };
        envelope::validate_source(&e.source)?;
        let escaped_source = envelope::escape_source(&e.source);
        let header = Header {
            timestamp_ms: e.timestamp_ms,
            escaped_source: &escaped_source,
            seq: e.seq,
        };
        Ok(write_text(
            self.msgid,
            Some(header),
            self.msgtype,
            &self.body,
        ))
    }

    /// Reads either form. The type token `envelope` marks the enveloped form; any other
    /// type but `json` is text, as in the Python module.
    pub fn parse(text: &str) -> Result<Frame, MalformedMessage> {
        let mut fields = text.splitn(3, ' ');
        let (Some(id), Some(kind), Some(rest)) = (fields.next(), fields.next(), fields.next())
        else {
            let fields = text.split(' ').count().min(2);
            let preview: String = text.chars().take(40).collect();
            return Err(MalformedMessage::MissingFields { fields, preview });
        };
        let msgid = id
            .parse::<i64>()
            .map_err(|_| MalformedMessage::BadMsgId(id.to_owned()))?;
        if kind != ENVELOPE_TOKEN {
            return Ok(Frame {
                msgid,
                envelope: None,
                msgtype: MsgType::from_token(kind),
                body: rest.to_owned(),
            });
        }
        let (envelope, inner) = envelope::read_header(rest)?;
        let Some((kind, body)) = inner.split_once(' ') else {
            return Err(MalformedMessage::BadEnvelope(
                "expected \"<msgtype> <body>\" after the sequence number".into(),
            ));
        };
        Ok(Frame {
            msgid,
            envelope: Some(envelope),
            msgtype: MsgType::from_token(kind),
            body: body.to_owned(),
        })
    }

    /// The body for [`RawPayload`]'s readers.
    fn into_raw(self) -> RawPayload {
        match self.msgtype {
            MsgType::Text => RawPayload::Text(self.body),
            MsgType::Json => RawPayload::Json(self.body),
        }
    }
}

/// An envelope ready to write: the source already escaped (a publisher escapes its own
/// once).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header<'a> {
    pub(crate) timestamp_ms: u64,
    pub(crate) escaped_source: &'a str,
    pub(crate) seq: u64,
}

/// The text of a message, in the default form without a header.
fn write_text(msgid: i64, header: Option<Header<'_>>, msgtype: MsgType, body: &str) -> String {
    match header {
        None => format!("{msgid} {} {body}", msgtype.token()),
        Some(h) => {
            let mut text = String::with_capacity(body.len() + h.escaped_source.len() + 64);
            text.push_str(&msgid.to_string());
            text.push(' ');
            envelope::write_header(&mut text, h.timestamp_ms, h.escaped_source, h.seq);
            text.push(' ');
            text.push_str(msgtype.token());
            text.push(' ');
            text.push_str(body);
            text
        }
    }
}

/// Builds the wire form of a message: the default form, or enveloped with `header`.
pub(crate) fn encode(
    coding: &Coding,
    msgid: i64,
    header: Option<Header<'_>>,
    payload: &OutgoingPayload<'_>,
) -> Result<bytes::Bytes, Error> {
    let text = match payload {
        OutgoingPayload::Text(body) => write_text(msgid, header, MsgType::Text, body),
        OutgoingPayload::Json(body) => write_text(msgid, header, MsgType::Json, body),
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

/// Splits a message of either form into id, envelope and body, the body not parsed.
pub(crate) fn split(
    coding: &Coding,
    octets: &[u8],
) -> Result<(i64, Option<Envelope>, RawPayload), Error> {
    let text = coding.decode(octets)?;
    let mut frame = Frame::parse(&text)?;
    let envelope = frame.envelope.take();
    Ok((frame.msgid, envelope, frame.into_raw()))
}

/// Reads `"<msgid> <msgtype> <body>"`, a JSON body into a [`Value`] (the subscriber does
/// it in two steps, [`split`] then [`RawPayload::parse`], to log between them).
#[cfg(test)]
pub(crate) fn decode(coding: &Coding, octets: &[u8]) -> Result<(i64, Payload), Error> {
    let (msgid, _, raw) = split(coding, octets)?;
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
        let wire = encode(&coding, 1000, None, &OutgoingPayload::Json(body)).unwrap();
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
        let (msgid, _, raw) = split(&coding, &wire).unwrap();
        assert_eq!(msgid, 1000);
        assert!(raw.deserialize::<X>().unwrap().x.is_nan());
        let (_, _, raw) = split(&coding, b"7 json {\"x\": -Infinity}").unwrap();
        assert_eq!(raw.deserialize::<X>().unwrap().x, f64::NEG_INFINITY);
        let (_, _, raw) = split(&coding, b"7 json [Infinity, 1.5]").unwrap();
        assert_eq!(raw.deserialize::<Vec<f64>>().unwrap(), [f64::INFINITY, 1.5]);
    }

    #[test]
    fn typed_reads_tell_bad_json_from_the_wrong_type() {
        let coding = Coding::UTF_8;
        let read = |octets: &[u8]| split(&coding, octets).unwrap().2.deserialize::<X>();
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
        let (_, _, raw) = split(&coding, b"1 text NaN").unwrap();
        assert_eq!(raw.deserialize::<String>().unwrap(), "NaN");
        assert!(matches!(read(b"1 text {\"x\": 1}"), Err(Error::Json(_))));
    }

    #[test]
    fn framing_round_trip_and_errors() {
        let coding = Coding::UTF_8;
        let wire = encode(&coding, 1000, None, &OutgoingPayload::Text("Hi there!")).unwrap();
        assert_eq!(&wire[..], b"1000 text Hi there!");
        assert_eq!(
            decode(&coding, &wire).unwrap(),
            (1000, Payload::Text("Hi there!".into()))
        );
        let wire = encode(
            &coding,
            7,
            None,
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
    fn enveloped_form_and_its_errors() {
        let coding = Coding::UTF_8;
        let header = Header {
            timestamp_ms: 1_700_000_000_000,
            escaped_source: "a%20b",
            seq: 3,
        };
        let wire = encode(&coding, -5, Some(header), &OutgoingPayload::Text("x y")).unwrap();
        assert_eq!(&wire[..], b"-5 envelope 1 1700000000000 a%20b 3 text x y");
        let (msgid, envelope, raw) = split(&coding, &wire).unwrap();
        assert_eq!((msgid, raw), (-5, RawPayload::Text("x y".into())));
        assert_eq!(
            envelope,
            Some(Envelope {
                timestamp_ms: 1_700_000_000_000,
                source: "a b".into(),
                seq: 3
            })
        );
        // The body may be empty, as in the default form; the inner type follows the
        // module's rule (anything but json is text).
        let frame = Frame::parse("1 envelope 1 0 s 0 other ").unwrap();
        assert_eq!((frame.msgtype, frame.body.as_str()), (MsgType::Text, ""));

        let malformed = |text: &str| Frame::parse(text).unwrap_err();
        assert!(matches!(
            malformed("1 envelope"),
            MalformedMessage::MissingFields { fields: 2, .. }
        ));
        assert_eq!(
            malformed("1 envelope 2 0 s 0 text hi"),
            MalformedMessage::UnsupportedEnvelope("2".into())
        );
        for bad in [
            "1 envelope 1 0 s 0 text",
            "1 envelope 1 0 s 0",
            "1 envelope 1 -1 s 0 text hi",
            "1 envelope 1 0 s x text hi",
            "1 envelope 1 0 %zz 0 text hi",
            "1 envelope 1 0  0 text hi",
        ] {
            assert!(
                matches!(malformed(bad), MalformedMessage::BadEnvelope(_)),
                "{bad:?}: {:?}",
                malformed(bad)
            );
        }
        let message = Error::from(malformed("1 envelope 1 0 s x text hi")).to_string();
        assert_eq!(
            message,
            "malformed message: malformed envelope: sequence number \"x\" is not an unsigned integer"
        );
    }

    #[test]
    fn unwritable_json_is_an_error() {
        let map = std::collections::BTreeMap::from([((1, 2), 3)]);
        assert!(matches!(to_python_json(&map), Err(Error::Json(m)) if m.contains("not tuple")));
    }
}
