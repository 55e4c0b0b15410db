//! The opt-in envelope: a timestamp, a source id and a per-source sequence number carried
//! in front of the Python module's `msgtype` and body (the module document's "扩展建议"
//! asks for "a higher-level message envelope, with timestamps and source ids").
//!
//! The wire form and the reasons for it are documented on [`Envelope`].

use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Error;
use super::framing::MalformedMessage;

/// The `msgtype` token that marks an enveloped message.
pub const ENVELOPE_TOKEN: &str = "envelope";

/// The envelope version this crate writes and reads.
pub const ENVELOPE_VERSION: u32 = 1;

/// The longest source id, in octets of UTF-8 before escaping.
pub const MAX_SOURCE_LEN: usize = 255;

/// What the envelope says about one message: when and by whom it was published, and its
/// place in that publisher's sequence for the message id.
///
/// # Wire form
///
/// ```text
/// default:    <msgid> <msgtype> <body>                                  (unchanged)
/// enveloped:  <msgid> envelope 1 <unix_ms> <source> <seq> <msgtype> <body>
/// e.g.        1000 envelope 1 1712345678901 sensor%20a 41 json {"t": 21.5}
/// ```
///
/// Why this shape:
/// - `"<msgid> "` stays first, so SUB prefix filtering (ours, and the Python original's
///   bare-id prefix) selects enveloped messages exactly as before.
/// - The second field, [`ENVELOPE_TOKEN`] (`envelope`), is the type token. Publishers of
///   the default form (the Python original, and ours without the envelope) only ever write
///   `text` or `json` there, so a default-form message is never read as enveloped; and the
///   Python original, which treats every type but `json` as text, hands an enveloped
///   message to its application as the text `"1 <unix_ms> <source> <seq> <msgtype> <body>"`
///   instead of failing.
/// - The version ([`ENVELOPE_VERSION`], `1`) is a field of its own, after the token: a
///   reader meeting a later version knows it is an envelope it cannot read
///   ([`MalformedMessage::UnsupportedEnvelope`]) instead of mistaking it for text.
/// - The timestamp is Unix time in **milliseconds** (an unsigned decimal integer): what
///   Python's `time.time_ns() // 1_000_000` gives, and finer than the agreement between two
///   hosts' clocks; ordering within a source is the sequence number's job.
/// - The source id is any text of 1 to [`MAX_SOURCE_LEN`] octets of UTF-8, escaped as in
///   a URL: every octet of its UTF-8 that is `%`, a space or not visible ASCII becomes
///   `%XX` (upper-case hex), so the field never holds a space and is ASCII whatever the
///   `coding` (Python: `urllib.parse.quote(source, safe=<visible ASCII but %>)`). Readers
///   accept either case of hex and any visible ASCII left unescaped; the decoded octets
///   must be UTF-8. Escaping rather than restricting lets host names, paths or non-ASCII
///   names serve as ids unchanged; the length bound keeps a subscriber's per-source memory
///   bounded.
/// - The sequence number is a `u64` in decimal, starting at **0** and counting the
///   messages one source published under one message id (the publisher keeps one counter
///   per id it used: [`Publisher::with_envelope`]): a subscriber receives one id, so a count
///   across ids would look to it like gaps whenever the publisher used another id.
/// - Integers are ASCII digits only (no sign, no `_`, leading zeros allowed), at most the
///   range of a `u64`.
///
/// Python reads and writes this form with `python/zmq_envelope.py` (standard library
/// only). [`Frame`](super::Frame) builds and parses it in Rust; a
/// [`Subscriber`](super::Subscriber) reads both forms and judges the sequence numbers
/// ([`SequenceTracker`](super::SequenceTracker)).
///
/// [`Publisher::with_envelope`]: super::Publisher::with_envelope
/// [`MalformedMessage::UnsupportedEnvelope`]: super::MalformedMessage::UnsupportedEnvelope
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Envelope {
    /// When it was published: Unix time in milliseconds, from the publisher's clock.
    pub timestamp_ms: u64,
    /// Who published it (unescaped). Unique per publisher instance unless the publisher
    /// chose it ([`Publisher::with_envelope_source`](super::Publisher::with_envelope_source)).
    pub source: String,
    /// Its number among the messages `source` published under this message id, from 0.
    pub seq: u64,
}

impl Envelope {
    /// The timestamp as a [`SystemTime`].
    pub fn timestamp(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.timestamp_ms)
    }
}

/// Checks that `source` can be a source id (1 to [`MAX_SOURCE_LEN`] octets).
pub(crate) fn validate_source(source: &str) -> Result<(), Error> {
    if source.is_empty() {
        return Err(Error::InvalidSource("a source id cannot be empty".into()));
    }
    if source.len() > MAX_SOURCE_LEN {
        return Err(Error::InvalidSource(format!(
            "a source id is at most {MAX_SOURCE_LEN} octets of UTF-8, this one has {}",
            source.len()
        )));
    }
    Ok(())
}

/// `source` as it travels: `%`, space and every octet outside visible ASCII as `%XX`.
pub(crate) fn escape_source(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    for &octet in source.as_bytes() {
        if octet != b'%' && octet.is_ascii_graphic() {
            out.push(char::from(octet));
        } else {
            let _ = write!(out, "%{octet:02X}");
        }
    }
    out
}

/// The source id a wire field stands for.
fn unescape_source(field: &str) -> Result<String, MalformedMessage> {
    let bad = |why: &str| MalformedMessage::BadEnvelope(format!("source {field:?} {why}"));
    let mut octets = Vec::with_capacity(field.len());
    let mut rest = field.as_bytes();
    while let Some((&octet, tail)) = rest.split_first() {
        if !octet.is_ascii_graphic() {
            return Err(bad("has a character that is not visible ASCII"));
        }
        if octet == b'%' {
            let [high, low, after @ ..] = tail else {
                return Err(bad("has a % not followed by two hex digits"));
            };
            let (Some(high), Some(low)) = (hex_digit(*high), hex_digit(*low)) else {
                return Err(bad("has a % not followed by two hex digits"));
            };
            octets.push(high << 4 | low);
            rest = after;
        } else {
            octets.push(octet);
            rest = tail;
        }
    }
    let source = String::from_utf8(octets).map_err(|_| bad("is not UTF-8 once unescaped"))?;
    validate_source(&source).map_err(|e| bad(&e.to_string()))?;
    Ok(source)
}

fn hex_digit(octet: u8) -> Option<u8> {
    char::from(octet).to_digit(16).map(|d| d as u8)
}

/// An unsigned decimal integer as the envelope writes them: ASCII digits only.
fn parse_u64(what: &str, field: &str) -> Result<u64, MalformedMessage> {
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MalformedMessage::BadEnvelope(format!(
            "{what} {field:?} is not an unsigned integer"
        )));
    }
    field
        .parse()
        .map_err(|_| MalformedMessage::BadEnvelope(format!("{what} {field:?} exceeds 2^64 - 1")))
}

/// Writes the envelope's fields after the token, up to the inner `msgtype`:
/// `"1 <unix_ms> <source> <seq>"`, the source given already escaped.
pub(crate) fn write_header(out: &mut String, timestamp_ms: u64, escaped_source: &str, seq: u64) {
    let _ = write!(
        out,
        "{ENVELOPE_TOKEN} {ENVELOPE_VERSION} {timestamp_ms} {escaped_source} {seq}"
    );
}

/// Reads what follows the token: `"<version> <unix_ms> <source> <seq> <msgtype> <body>"`,
/// into the envelope and the `"<msgtype> <body>"` left.
pub(crate) fn read_header(rest: &str) -> Result<(Envelope, &str), MalformedMessage> {
    let (version, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if version != "1" {
        return Err(MalformedMessage::UnsupportedEnvelope(version.to_owned()));
    }
    let mut fields = rest.splitn(4, ' ');
    let (Some(timestamp), Some(source), Some(seq), Some(inner)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        let preview: String = rest.chars().take(60).collect();
        return Err(MalformedMessage::BadEnvelope(format!(
            "expected \"1 <unix_ms> <source> <seq> <msgtype> <body>\" after {ENVELOPE_TOKEN:?}, got {preview:?}"
        )));
    };
    let envelope = Envelope {
        timestamp_ms: parse_u64("timestamp", timestamp)?,
        source: unescape_source(source)?,
        seq: parse_u64("sequence number", seq)?,
    };
    Ok((envelope, inner))
}

/// Where an enveloping publisher reads the time.
#[derive(Clone)]
pub(crate) struct Clock(Arc<dyn Fn() -> SystemTime + Send + Sync>);

impl Clock {
    pub(crate) fn new(now: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    /// The system clock.
    pub(crate) fn system() -> Self {
        Self::new(SystemTime::now)
    }

    /// Unix time in milliseconds; 0 for a clock set before 1970, `u64::MAX` far beyond.
    pub(crate) fn unix_ms(&self) -> u64 {
        (self.0)()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// A source id unique to this call: `<host>-<pid>-<random hex>`, from the standard
/// library only. The host name comes from the kernel where it can be read without a
/// dependency (Linux), else `localhost`; the random part mixes the process's hash seed,
/// the time and a counter, so two publishers of one process differ too.
pub(crate) fn default_source() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    let random = hasher.finish() as u32;
    let mut host = host_name();
    // Keep room for "-<pid>-<8 hex>" within the limit.
    while host.len() > MAX_SOURCE_LEN - 32 {
        host.pop();
    }
    format!("{host}-{}-{random:08x}", std::process::id())
}

fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| {
            let name = std::fs::read_to_string(path).ok()?;
            let name = name.trim();
            (!name.is_empty()).then(|| name.to_owned())
        })
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_escape_what_could_split_the_fields() {
        assert_eq!(escape_source("sensor-1.a_b~"), "sensor-1.a_b~");
        assert_eq!(escape_source("a b%c"), "a%20b%25c");
        assert_eq!(escape_source("né\n"), "n%C3%A9%0A");
        assert_eq!(escape_source("x:/y?#"), "x:/y?#");
        for source in ["a b%c", "né\n", "😀 \u{7f}", "%", "x:/y?#"] {
            assert_eq!(unescape_source(&escape_source(source)).unwrap(), source);
        }
        assert_eq!(unescape_source("n%c3%a9").unwrap(), "né");
        for bad in ["", "%", "%4", "%G0", "%+1", "a\u{e9}", "%FF", "a\tb"] {
            assert!(
                matches!(unescape_source(bad), Err(MalformedMessage::BadEnvelope(_))),
                "{bad:?}"
            );
        }
        assert!(unescape_source(&"%41".repeat(MAX_SOURCE_LEN)).is_ok());
        assert!(unescape_source(&"%41".repeat(MAX_SOURCE_LEN + 1)).is_err());
    }

    #[test]
    fn validation_says_what_is_wrong() {
        assert!(validate_source("x").is_ok());
        let empty = validate_source("").unwrap_err().to_string();
        assert!(empty.contains("empty"), "{empty}");
        let long = validate_source(&"é".repeat(128)).unwrap_err().to_string();
        assert!(long.contains("256"), "{long}");
    }

    #[test]
    fn integers_are_plain_digits() {
        assert_eq!(parse_u64("seq", "007").unwrap(), 7);
        assert_eq!(parse_u64("seq", "18446744073709551615").unwrap(), u64::MAX);
        for bad in ["", "+1", "-1", "1_0", "٣", "18446744073709551616", " 1"] {
            assert!(parse_u64("seq", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn header_reads_back() {
        let mut text = String::new();
        write_header(&mut text, 1_700_000_000_123, &escape_source("a b"), 41);
        assert_eq!(text, "envelope 1 1700000000123 a%20b 41");
        let (envelope, inner) = read_header("1 1700000000123 a%20b 41 json {\"x\": 1}").unwrap();
        assert_eq!(
            envelope,
            Envelope {
                timestamp_ms: 1_700_000_000_123,
                source: "a b".into(),
                seq: 41
            }
        );
        assert_eq!(inner, "json {\"x\": 1}");
        assert_eq!(
            read_header("2 anything at all"),
            Err(MalformedMessage::UnsupportedEnvelope("2".into()))
        );
        assert!(read_header("1 5 src 3").is_err());
        assert!(read_header("1").is_err());
    }

    #[test]
    fn default_sources_are_valid_and_distinct() {
        let (a, b) = (default_source(), default_source());
        assert_ne!(a, b);
        assert!(validate_source(&a).is_ok());
        assert!(a.contains(&format!("-{}-", std::process::id())), "{a}");
    }

    #[test]
    fn clock_in_milliseconds() {
        let clock = Clock::new(|| UNIX_EPOCH + Duration::from_micros(1_500_999));
        assert_eq!(clock.unix_ms(), 1500);
        let before = Clock::new(|| UNIX_EPOCH - Duration::from_secs(1));
        assert_eq!(before.unix_ms(), 0);
    }
}
