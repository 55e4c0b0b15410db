//! `zmq_sansio::python_json` against CPython's own `json` module, value by value.
//!
//! One `python3` process answers every case: it reads a request per line and replies with
//! `json.dumps(json.loads(text))` and the exact bits of every float it read. Rust values
//! (a serde-derived struct, lists of floats) written by us must come back from Python
//! byte for byte, with Python reading the same doubles; and near-JSON texts must be
//! accepted or refused by us as Python accepts or refuses them, with the same values.
//!
//! Needs `python3` only (no pyzmq), but runs with the `pyzmq-tests` feature next to the
//! other Python tests: `cargo test --features pyzmq-tests --test python_json_cpython`. A
//! missing `python3` fails the test.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde::de::{self, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zmq_sansio::python_json::{self, Error};

/// Requests: `R <json>` (our output, to read and write back) or `T <json string>` (a text
/// to try). Replies: `OK <json.dumps of the value>\t<hex bits of each float, in order>`,
/// `ERR <msg>\t<pos>\t<lineno>\t<colno>` for a `JSONDecodeError` or `ERR <exception>`.
/// Every line is ASCII (`ensure_ascii`), so no newline hides in one.
const SCRIPT: &str = r#"
import json, struct, sys

def floats(value, out):
    if isinstance(value, float):
        out.append(struct.pack('>d', value).hex())
    elif isinstance(value, list):
        for item in value:
            floats(item, out)
    elif isinstance(value, dict):
        for item in value.values():
            floats(item, out)
    return out

def as_ours(value):
    # Any text read into an untyped value: integers beyond 64 bits become the nearest
    # double there (documented in src/python_json/mod.rs); Python keeps them exact.
    if isinstance(value, int) and not isinstance(value, bool) and not -2**63 <= value < 2**64:
        try:
            return float(value)
        except OverflowError:
            return float('inf') if value > 0 else float('-inf')
    if isinstance(value, list):
        return [as_ours(item) for item in value]
    if isinstance(value, dict):
        return {key: as_ours(item) for key, item in value.items()}
    return value

for line in sys.stdin:
    kind, payload = line.rstrip('\n').split(' ', 1)
    try:
        text = payload if kind == 'R' else json.loads(payload)
        value = json.loads(text)
        if kind == 'T':
            value = as_ours(value)
        reply = 'OK ' + json.dumps(value) + '\t' + ' '.join(floats(value, []))
    except json.JSONDecodeError as error:
        reply = 'ERR %s\t%d\t%d\t%d' % (error.msg, error.pos, error.lineno, error.colno)
    except Exception as error:
        reply = 'ERR ' + type(error).__name__ + ': ' + str(error).replace('\n', ' ')
    sys.stdout.write(reply + '\n')
    sys.stdout.flush()
"#;

/// The Python process, killed (and reaped) however the test ends.
struct Python {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Python {
    fn start() -> Python {
        let mut child = Command::new("python3")
            .args(["-c", SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("python3 is required for this test (it is the reference): {e}")
            });
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Python {
            child,
            stdin,
            stdout,
        }
    }

    fn ask(&mut self, kind: char, payload: &str) -> Reply {
        writeln!(self.stdin, "{kind} {payload}").expect("python3 is gone");
        self.stdin.flush().expect("python3 is gone");
        let mut line = String::new();
        let read = self.stdout.read_line(&mut line).expect("python3 is gone");
        assert!(read > 0, "python3 exited");
        let line = line.trim_end_matches('\n');
        if let Some(error) = line.strip_prefix("ERR ") {
            let fields: Vec<&str> = error.split('\t').collect();
            let number = |i: usize| fields[i].parse::<usize>().expect("python3 sends numbers");
            return Reply::Refused {
                at: (fields.len() == 4).then(|| (number(1), number(2), number(3))),
                message: fields[0].to_owned(),
            };
        }
        let Some((dumps, bits)) = line.strip_prefix("OK ").and_then(|l| l.split_once('\t')) else {
            panic!("unexpected reply from python3: {line:?}");
        };
        let floats = bits
            .split_whitespace()
            .map(|hex| {
                let bits = u64::from_str_radix(hex, 16).expect("python3 sends hex bits");
                f64::from_bits(bits)
            })
            .collect();
        Reply::Read {
            dumps: dumps.to_owned(),
            floats,
        }
    }

    /// Python's `json.dumps(json.loads(ours))` and the floats it read.
    fn round_trip(&mut self, ours: &str) -> Reply {
        assert!(!ours.contains('\n'), "json.dumps output has no raw newline");
        self.ask('R', ours)
    }

    /// Python's verdict on any text.
    fn read(&mut self, text: &str) -> Reply {
        let request = python_json::to_string(text).expect("a str always serializes");
        self.ask('T', &request)
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
enum Reply {
    /// `json.loads` read it: its `json.dumps` and every float it read.
    Read { dumps: String, floats: Vec<f64> },
    /// `json.loads` raised: the message and, for a `JSONDecodeError`, where (character
    /// offset, line, column).
    Refused {
        message: String,
        at: Option<(usize, usize, usize)>,
    },
}

/// Same double, NaN being NaN whatever its sign and payload (Python writes every NaN as
/// `NaN`).
fn same_float(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn same_floats(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(&a, &b)| same_float(a, b))
}

/// Floats of every kind `json.dumps` spells differently: non-finite, signed zero,
/// subnormal, the repr switch-over points, integers as floats, decimal-looking values.
fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>(),
        1 => prop_oneof![
            Just(f64::NAN),
            Just(-f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.0),
            Just(-0.0),
            Just(5e-324),
            Just(f64::MIN_POSITIVE),
            Just(f64::MAX),
            Just(1e16),
            Just(9999999999999998.0),
            Just(1e-5),
            Just(1e-4),
            Just(0.0001234),
        ],
        2 => (any::<i32>(), -330..310i32).prop_map(|(m, e)| {
            format!("{m}e{e}").parse().unwrap_or(0.0)
        }),
        1 => any::<i64>().prop_map(|i| i as f64),
        1 => -1e-3..1e-3f64,
        1 => 1e15..1e17f64,
        1 => f64::MIN_POSITIVE * 0.5..f64::MIN_POSITIVE,
    ]
}

#[derive(Serialize, Deserialize, Debug, Clone)]
enum Mode {
    Idle,
    Scaled(f64),
    Range(f64, i32),
    Calibrated { offset: f64, gain: f32 },
}

#[derive(Serialize, Deserialize, Debug, Clone)]
struct Reading {
    id: u64,
    delta: i64,
    big: i128,
    huge: u128,
    celsius: f64,
    ratio: f32,
    samples: Vec<f64>,
    label: String,
    note: Option<String>,
    limits: Option<(f64, f64)>,
    by_sensor: BTreeMap<String, f64>,
    by_id: BTreeMap<i32, f64>,
    flags: BTreeMap<bool, u8>,
    mode: Mode,
    nothing: (),
    ch: char,
}

impl Reading {
    /// Every float, in the order Python meets them walking the dict.
    fn floats(&self) -> Vec<f64> {
        let mut out = vec![self.celsius, f64::from(self.ratio)];
        out.extend(&self.samples);
        if let Some((a, b)) = self.limits {
            out.extend([a, b]);
        }
        out.extend(self.by_sensor.values());
        out.extend(self.by_id.values());
        match self.mode {
            Mode::Idle => {}
            Mode::Scaled(x) | Mode::Range(x, _) => out.push(x),
            Mode::Calibrated { offset, gain } => out.extend([offset, f64::from(gain)]),
        }
        out
    }
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9 \"\\\\/\n\t\u{0}\u{1f}\u{7f}é😀\u{ffff}\u{10ffff}]{0,12}",
    ]
}

fn reading() -> impl Strategy<Value = Reading> {
    let mode = prop_oneof![
        Just(Mode::Idle),
        float().prop_map(Mode::Scaled),
        (float(), any::<i32>()).prop_map(|(x, n)| Mode::Range(x, n)),
        (float(), any::<f32>()).prop_map(|(offset, gain)| Mode::Calibrated { offset, gain }),
    ];
    (
        (any::<u64>(), any::<i64>(), any::<i128>(), any::<u128>()),
        (float(), any::<f32>(), prop::collection::vec(float(), 0..6)),
        (
            text(),
            prop::option::of(text()),
            prop::option::of((float(), float())),
        ),
        (
            prop::collection::btree_map(text(), float(), 0..4),
            prop::collection::btree_map(any::<i32>(), float(), 0..4),
            prop::collection::btree_map(any::<bool>(), any::<u8>(), 0..2),
        ),
        (mode, any::<char>()),
    )
        .prop_map(
            |(
                (id, delta, big, huge),
                (celsius, ratio, samples),
                (label, note, limits),
                (by_sensor, by_id, flags),
                (mode, ch),
            )| Reading {
                id,
                delta,
                big,
                huge,
                celsius,
                ratio,
                samples,
                label,
                note,
                limits,
                by_sensor,
                by_id,
                flags,
                mode,
                nothing: (),
                ch,
            },
        )
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

fn run<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: fmt::Debug,
{
    if let Err(failure) = runner(cases).run(&strategy, test) {
        panic!("{failure}");
    }
}

#[test]
fn structs_written_by_us_are_read_and_rewritten_identically_by_python() {
    let python = RefCell::new(Python::start());
    run(2000, reading(), |reading| {
        let ours =
            python_json::to_string(&reading).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let Reply::Read { dumps, floats } = python.borrow_mut().round_trip(&ours) else {
            return Err(TestCaseError::fail(format!("python refused {ours}")));
        };
        // (a) Python writes what it read exactly as we wrote it.
        prop_assert_eq!(&dumps, &ours);
        // Python read the very doubles we hold.
        prop_assert!(
            same_floats(&floats, &reading.floats()),
            "python read {:?}, we hold {:?}",
            floats,
            reading.floats()
        );
        // (b) We read Python's output back to the same doubles and the same data.
        let back: Reading =
            python_json::from_str(&dumps).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(
            same_floats(&back.floats(), &reading.floats()),
            "we read {:?}, we wrote {:?}",
            back.floats(),
            reading.floats()
        );
        prop_assert_eq!(
            python_json::to_string(&back).map_err(|e| TestCaseError::fail(e.to_string()))?,
            dumps
        );
        Ok(())
    });
}

#[test]
fn float_lists_written_by_us_are_read_and_rewritten_identically_by_python() {
    let python = RefCell::new(Python::start());
    run(3000, prop::collection::vec(float(), 0..12), |xs| {
        let ours = python_json::to_string(&xs).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let Reply::Read { dumps, floats } = python.borrow_mut().round_trip(&ours) else {
            return Err(TestCaseError::fail(format!("python refused {ours}")));
        };
        prop_assert_eq!(&dumps, &ours);
        prop_assert!(same_floats(&floats, &xs), "python read {:?}", floats);
        let back: Vec<f64> =
            python_json::from_str(&dumps).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(same_floats(&back, &xs), "we read {:?}", back);
        Ok(())
    });
}

/// Any JSON value as `json.loads` types it, NaN included (which `serde_json::Value` cannot
/// hold), so that our reading can be written back and compared with Python's.
#[derive(Debug)]
enum Py {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    List(Vec<Py>),
    Dict(Vec<(String, Py)>),
}

impl Serialize for Py {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Py::Null => serializer.serialize_unit(),
            Py::Bool(b) => serializer.serialize_bool(*b),
            Py::Int(i) => serializer.serialize_i128(*i),
            Py::Float(f) => serializer.serialize_f64(*f),
            Py::Str(s) => serializer.serialize_str(s),
            Py::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Py::Dict(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Py {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Py, D::Error> {
        struct PyVisitor;
        impl<'de> Visitor<'de> for PyVisitor {
            type Value = Py;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Py, E> {
                Ok(Py::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Py, E> {
                Ok(Py::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Py, E> {
                Ok(Py::Int(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Py, E> {
                Ok(Py::Int(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Py, E> {
                Ok(Py::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Py, E> {
                Ok(Py::Str(v.to_owned()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Py, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Py::List(items))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Py, A::Error> {
                let mut entries: Vec<(String, Py)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Py>()? {
                    // A dict: the last value wins, in the first key's place.
                    match entries.iter_mut().find(|(k, _)| *k == key) {
                        Some(entry) => entry.1 = value,
                        None => entries.push((key, value)),
                    }
                }
                Ok(Py::Dict(entries))
            }
        }
        deserializer.deserialize_any(PyVisitor)
    }
}

impl Py {
    fn floats(&self, out: &mut Vec<f64>) {
        match self {
            Py::Float(f) => out.push(*f),
            Py::List(items) => items.iter().for_each(|item| item.floats(out)),
            Py::Dict(entries) => entries.iter().for_each(|(_, value)| value.floats(out)),
            _ => {}
        }
    }
}

/// JSON-ish text as Python writes it (NaN and the infinities included), with a few
/// characters deleted, inserted or replaced.
fn near_json() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        "-?(0|[1-9][0-9]{0,17})(\\.[0-9]{1,20})?([eE][-+]?[0-9]{1,3})?",
        Just("NaN".to_owned()),
        Just("Infinity".to_owned()),
        Just("-Infinity".to_owned()),
    ];
    let string =
        "\"([a-z é😀\u{7f}]|\\\\[\"\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4}|\\\\ud83d\\\\ude00){0,4}\"";
    let leaf = prop_oneof![
        number,
        string.prop_map(|s| s.to_owned()),
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
    ];
    let space = "[ \t\n\r]{0,2}";
    let value = leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec((space, inner.clone()), 0..4).prop_map(|items| {
                let items: Vec<String> =
                    items.into_iter().map(|(s, v)| format!("{s}{v}")).collect();
                format!("[{}]", items.join(","))
            }),
            prop::collection::vec((string, space, inner), 0..4).prop_map(|entries| {
                let entries: Vec<String> = entries
                    .into_iter()
                    .map(|(k, s, v)| format!("{k}{s}:{v}"))
                    .collect();
                format!("{{{}}}", entries.join(", "))
            }),
        ]
    });
    let alphabet: Vec<char> = "[]{}\",:-.eE+0123456789 \t\n\x0cNaIfy\\u'x"
        .chars()
        .collect();
    let edit = (
        0..4u8,
        any::<prop::sample::Index>(),
        prop::sample::select(alphabet),
    );
    (space, value, space, prop::collection::vec(edit, 0..3)).prop_map(
        |(before, value, after, edits)| {
            let mut chars: Vec<char> = format!("{before}{value}{after}").chars().collect();
            for (edit, index, c) in edits {
                let at = index.index(chars.len() + 1);
                match edit {
                    0 if at < chars.len() => {
                        chars.remove(at);
                    }
                    1 => chars.insert(at, c),
                    2 if at < chars.len() => chars[at] = c,
                    _ => {}
                }
            }
            chars.into_iter().collect()
        },
    )
}

#[test]
fn we_accept_exactly_what_python_accepts_and_read_the_same_values() {
    let python = RefCell::new(Python::start());
    run(3000, near_json(), |text| {
        let ours = python_json::from_str::<Py>(&text);
        match (python.borrow_mut().read(&text), ours) {
            (Reply::Read { dumps, floats }, Ok(ours)) => {
                // Integers beyond 64 bits are doubles here, arbitrary ints in Python.
                let mut our_floats = Vec::new();
                ours.floats(&mut our_floats);
                prop_assert!(
                    same_floats(&our_floats, &floats),
                    "{:?}: we read {:?}, python {:?}",
                    text,
                    our_floats,
                    floats
                );
                let ours = python_json::to_string(&ours)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(ours, dumps, "{:?}", text);
            }
            // Refused for the same reason at the same place, in the same words.
            (
                Reply::Refused {
                    message,
                    at: Some((char_pos, line, column)),
                },
                Err(Error::Syntax {
                    message: ours,
                    position,
                }),
            ) => {
                let offset = text
                    .char_indices()
                    .nth(char_pos)
                    .map_or(text.len(), |(i, _)| i);
                prop_assert_eq!(
                    (
                        ours.as_str(),
                        position.line,
                        position.column,
                        position.offset
                    ),
                    (message.as_str(), line, column, offset),
                    "{:?}",
                    text
                );
            }
            // Python keeps lone surrogates in its str; a Rust String cannot (documented).
            // If Python refuses the text, it is for something after the surrogate.
            (Reply::Read { .. }, Err(Error::LoneSurrogate { .. })) => {}
            (
                Reply::Refused {
                    at: Some((char_pos, ..)),
                    ..
                },
                Err(Error::LoneSurrogate { position, .. }),
            ) => {
                let offset = text
                    .char_indices()
                    .nth(char_pos)
                    .map_or(text.len(), |(i, _)| i);
                prop_assert!(position.offset < offset, "{:?}", text);
            }
            (python, ours) => {
                return Err(TestCaseError::fail(format!(
                    "{text:?}: python {python:?}, ours {ours:?}"
                )));
            }
        }
        Ok(())
    });
}

#[test]
fn python_s_own_non_finite_output_reads_as_documented() {
    let mut python = Python::start();
    // What Python writes for its non-finite floats, asked of Python itself.
    let Reply::Read { dumps, floats } = python.read("[NaN, Infinity, -Infinity, -0.0, 1e400]")
    else {
        panic!("python refused its own tokens");
    };
    assert_eq!(dumps, "[NaN, Infinity, -Infinity, -0.0, Infinity]");
    let ours: Vec<f64> = python_json::from_str(&dumps).unwrap();
    assert!(same_floats(&ours, &floats), "{ours:?} vs {floats:?}");
    // A `serde_json::Value` cannot hold them: null, as documented.
    let value: serde_json::Value = python_json::from_str(&dumps).unwrap();
    assert_eq!(value, serde_json::json!([null, null, null, -0.0, null]));
}
