//! CPython parity of the JSON codec: exact strings, accept/reject cases, properties.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use serde::de::Visitor;
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value, json};

use super::*;

// Every expected string in this module was produced by CPython 3.11's `json.dumps` (or
// read off `json.JSONDecodeError`) on the same data, and pasted in.

#[test]
fn floats_across_repr_boundaries() {
    let floats = [
        0.0,
        -0.0,
        1e-5,
        1e-4,
        0.0001234,
        9.999999999999999e-5,
        0.00010000000000000002,
        1e15,
        1e16,
        9999999999999998.0,
        1.0000000000000002e16,
        123456789012345678.0,
        1.7976931348623157e308,
        5e-324,
        2.2250738585072014e-308,
        0.1,
        1.0 / 3.0,
        2.5,
        100.0,
        1e22,
        1e-7,
        -2.5e-7,
        12345678901234567890.0,
        0.5,
        1e100,
        -1e-300,
        4.35,
        0.3,
    ];
    // json.dumps([0.0, -0.0, 1e-5, …]) in CPython 3.11.
    assert_eq!(
        to_string(&floats).unwrap(),
        "[0.0, -0.0, 1e-05, 0.0001, 0.0001234, 9.999999999999999e-05, \
         0.00010000000000000002, 1000000000000000.0, 1e+16, 9999999999999998.0, \
         1.0000000000000002e+16, 1.2345678901234568e+17, 1.7976931348623157e+308, 5e-324, \
         2.2250738585072014e-308, 0.1, 0.3333333333333333, 2.5, 100.0, 1e+22, 1e-07, \
         -2.5e-07, 1.2345678901234567e+19, 0.5, 1e+100, -1e-300, 4.35, 0.3]"
    );
    // Exact ties between two shortest strings: Python takes the even digit.
    // json.dumps([1916823361774188.25, 2.0**-1074 * 3, 0.1 + 0.2])
    assert_eq!(
        // (The tie, 1916823361774188.25, is exact: the sum is computed without rounding.)
        to_string(&[1916823361774188.0 + 0.25, 1.5e-323, 0.1 + 0.2]).unwrap(),
        "[1916823361774188.2, 1.5e-323, 0.30000000000000004]"
    );
    // f32 widened to f64 first, as numpy's float32 → float does.
    // json.dumps(struct.unpack('f', struct.pack('f', -11.708939))[0])
    assert_eq!(to_string(&-11.708939f32).unwrap(), "-11.708938598632812");
    assert_eq!(to_string(&0.1f32).unwrap(), "0.10000000149011612");
    assert_eq!(to_string(&f32::MAX).unwrap(), "3.4028234663852886e+38");
    assert_eq!(to_string(&1e-45f32).unwrap(), "1.401298464324817e-45");
}

#[test]
fn non_finite_floats_everywhere() {
    assert_eq!(to_string(&f64::NAN).unwrap(), "NaN");
    assert_eq!(to_string(&-f64::NAN).unwrap(), "NaN");
    assert_eq!(to_string(&f64::INFINITY).unwrap(), "Infinity");
    assert_eq!(to_string(&f64::NEG_INFINITY).unwrap(), "-Infinity");
    assert_eq!(to_string(&f32::NAN).unwrap(), "NaN");
    assert_eq!(
        to_string(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.0]).unwrap(),
        "[NaN, Infinity, -Infinity, 1.0]"
    );

    #[derive(Serialize)]
    struct Xyz {
        x: f64,
        y: f64,
        z: f32,
    }
    let xyz = Xyz {
        x: f64::NAN,
        y: f64::INFINITY,
        z: f32::NEG_INFINITY,
    };
    assert_eq!(
        to_string(&xyz).unwrap(),
        r#"{"x": NaN, "y": Infinity, "z": -Infinity}"#
    );

    // json.dumps({nan: 1, inf: 2, -inf: 3, 1.5: 4, -0.0: 5, 1e16: 6})
    let keys = FloatKeys(vec![
        (f64::NAN, 1),
        (f64::INFINITY, 2),
        (f64::NEG_INFINITY, 3),
        (1.5, 4),
        (-0.0, 5),
        (1e16, 6),
    ]);
    assert_eq!(
        to_string(&keys).unwrap(),
        r#"{"NaN": 1, "Infinity": 2, "-Infinity": 3, "1.5": 4, "-0.0": 5, "1e+16": 6}"#
    );
}

/// A map with float keys, which no std map can hold.
#[derive(Debug)]
struct FloatKeys(Vec<(f64, i32)>);

impl Serialize for FloatKeys {
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de> Deserialize<'de> for FloatKeys {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = FloatKeys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map with float keys")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<FloatKeys, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<f64, i32>()? {
                    entries.push(entry);
                }
                Ok(FloatKeys(entries))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

#[test]
fn map_keys_as_python_converts_dict_keys() {
    // json.dumps({-128: "a", 0: "b", 2**127-1: "c"})
    let ints = BTreeMap::from([(-128i128, "a"), (0, "b"), (i128::MAX, "c")]);
    assert_eq!(
        to_string(&ints).unwrap(),
        r#"{"-128": "a", "0": "b", "170141183460469231731687303715884105727": "c"}"#
    );
    // json.dumps({2**128-1: [1, 2]})
    let wide = BTreeMap::from([(u128::MAX, [1u8, 2])]);
    assert_eq!(
        to_string(&wide).unwrap(),
        r#"{"340282366920938463463374607431768211455": [1, 2]}"#
    );
    // json.dumps({False: 2, True: 1})
    let bools = BTreeMap::from([(false, 2), (true, 1)]);
    assert_eq!(to_string(&bools).unwrap(), r#"{"false": 2, "true": 1}"#);
    // json.dumps({None: 0, "k": 1, "é": 2})
    let options = BTreeMap::from([(None, 0), (Some("k"), 1), (Some("é"), 2)]);
    assert_eq!(
        to_string(&options).unwrap(),
        r#"{"null": 0, "k": 1, "\u00e9": 2}"#
    );
    let chars = BTreeMap::from([('a', 1)]);
    assert_eq!(to_string(&chars).unwrap(), r#"{"a": 1}"#);

    // Python: TypeError: keys must be str, int, float, bool or None, not tuple
    let tuples = BTreeMap::from([((1, 2), 3)]);
    let error = to_string(&tuples).unwrap_err();
    assert_eq!(
        error,
        Error::Serialize("keys must be str, int, float, bool or None, not tuple".into())
    );
    assert!(to_string(&BTreeMap::from([(vec![1], 1)])).is_err());
    assert!(to_string(&BTreeMap::from([(BTreeMap::from([(1, 1)]), 1)])).is_err());

    // And back: keys read as the numbers, bools and floats they spell.
    let back: BTreeMap<i128, String> = from_str(&to_string(&ints).unwrap()).unwrap();
    assert_eq!(back.get(&i128::MAX).map(String::as_str), Some("c"));
    let back: BTreeMap<u128, Vec<u8>> = from_str(&to_string(&wide).unwrap()).unwrap();
    assert_eq!(back, BTreeMap::from([(u128::MAX, vec![1, 2])]));
    let back: BTreeMap<bool, i32> = from_str(r#"{"false": 2, "true": 1}"#).unwrap();
    assert_eq!(back, bools);
    let back: HashMap<i8, i32> = from_str(r#"{"-128": 1, "127": 2}"#).unwrap();
    assert_eq!(back, HashMap::from([(-128, 1), (127, 2)]));
    let back: FloatKeys = from_str(r#"{"NaN": 1, "-Infinity": 3, "1e+16": 6}"#).unwrap();
    assert!(back.0[0].0.is_nan() && back.0[1].0 == f64::NEG_INFINITY);
    assert_eq!(back.0[2], (1e16, 6));
    // A key that is not a number, for a number key type: a data error with its place.
    let error = from_str::<HashMap<i32, i32>>(r#"{"1": 1, "x": 2}"#).unwrap_err();
    assert!(
        matches!(&error, Error::Data { message, position: Some(p) }
            if message.contains("expected i32") && p.offset == 9),
        "{error}"
    );
    let error = from_str::<HashMap<u8, i32>>(r#"{"300": 1}"#).unwrap_err();
    assert!(matches!(error, Error::Data { .. }), "{error}");
}

#[test]
fn integers_of_every_width() {
    // json.dumps([2**127-1, -2**127, 2**128-1, 2**63, -2**63])
    let text = "[170141183460469231731687303715884105727, \
                -170141183460469231731687303715884105728, \
                340282366920938463463374607431768211455, 9223372036854775808, \
                -9223372036854775808]";
    let wide = (i128::MAX, i128::MIN, u128::MAX, 1u64 << 63, i64::MIN);
    assert_eq!(to_string(&wide).unwrap(), text);
    assert_eq!(
        from_str::<(i128, i128, u128, u64, i64)>(text).unwrap(),
        wide
    );
    assert_eq!(
        to_string(&(i8::MIN, u8::MAX, i16::MIN, u16::MAX, i32::MIN, u32::MAX)).unwrap(),
        "[-128, 255, -32768, 65535, -2147483648, 4294967295]"
    );
}

#[test]
fn every_escape_as_python_writes_it() {
    let text: String = (0..=0x20u8)
        .map(char::from)
        .chain("\"\\/~\u{7f}\u{80}é\u{2028}\u{ffff}😀\u{10ffff}".chars())
        .collect();
    // json.dumps(''.join(chr(i) for i in range(0x21)) + '"\\/~\x7f\x80é\u2028\uffff😀\U0010ffff')
    let python = r#""\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f \"\\/~\u007f\u0080\u00e9\u2028\uffff\ud83d\ude00\udbff\udfff""#;
    assert_eq!(to_string(&text).unwrap(), python);
    assert_eq!(from_str::<String>(python).unwrap(), text);
    assert_eq!(to_string(&'😀').unwrap(), r#""\ud83d\ude00""#);
    assert_eq!(to_string("").unwrap(), r#""""#);
    // Upper-case hex, `\/` and a raw DEL are read as Python reads them.
    assert_eq!(
        from_str::<String>("\"\\uD83D\\uDE00\\/\u{7f}\"").unwrap(),
        "😀/\u{7f}"
    );
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Copy)]
struct Unit;

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Newtype(u8);

#[derive(Serialize, Deserialize, Debug)]
enum Kind {
    A,
    B(f64),
    C(i32, String),
    D { x: Option<f64>, y: Vec<u8> },
}

#[derive(Serialize, Deserialize, Debug)]
struct Nested {
    values: Vec<f64>,
    empty: Vec<i32>,
    map: BTreeMap<String, i32>,
}

/// Bytes serialized as bytes (not as a sequence), as `serde_bytes` does.
#[derive(Debug, PartialEq)]
struct Bytes(Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<u8>::deserialize(deserializer).map(Bytes)
    }
}

#[derive(Serialize, Deserialize, Debug)]
struct Outer {
    name: String,
    unit: Unit,
    nothing: Option<i32>,
    some: Option<f64>,
    ch: char,
    tuple: (i32, f64, bool),
    e: Vec<Kind>,
    nested: Nested,
    bytes: Bytes,
    newtype: Newtype,
    char_key_map: BTreeMap<char, i32>,
}

#[test]
fn nested_structs_enums_options_bytes_as_python_writes_them() {
    let outer = Outer {
        name: "Zürich".into(),
        unit: Unit,
        nothing: None,
        some: Some(21.5),
        ch: 'é',
        tuple: (1, -2.5, true),
        e: vec![
            Kind::A,
            Kind::B(f64::NAN),
            Kind::C(7, "x".into()),
            Kind::D {
                x: None,
                y: vec![0, 255],
            },
        ],
        nested: Nested {
            values: vec![1e16, 1e-5],
            empty: vec![],
            map: BTreeMap::new(),
        },
        bytes: Bytes(vec![0, 1, 127, 128, 255]),
        newtype: Newtype(3),
        char_key_map: BTreeMap::from([('a', 1)]),
    };
    // json.dumps of the same data as dicts, lists and None.
    let python = r#"{"name": "Z\u00fcrich", "unit": null, "nothing": null, "some": 21.5, "ch": "\u00e9", "tuple": [1, -2.5, true], "e": ["A", {"B": NaN}, {"C": [7, "x"]}, {"D": {"x": null, "y": [0, 255]}}], "nested": {"values": [1e+16, 1e-05], "empty": [], "map": {}}, "bytes": [0, 1, 127, 128, 255], "newtype": 3, "char_key_map": {"a": 1}}"#;
    let text = to_string(&outer).unwrap();
    assert_eq!(text, python);

    let back: Outer = from_str(&text).unwrap();
    assert_eq!(back.name, "Zürich");
    assert_eq!(back.unit, Unit);
    assert_eq!((back.nothing, back.some, back.ch), (None, Some(21.5), 'é'));
    assert_eq!(back.tuple, (1, -2.5, true));
    assert!(matches!(back.e[0], Kind::A));
    assert!(matches!(back.e[1], Kind::B(x) if x.is_nan()));
    assert!(matches!(&back.e[2], Kind::C(7, x) if x == "x"));
    assert!(matches!(&back.e[3], Kind::D { x: None, y } if y == &[0, 255]));
    assert_eq!(back.nested.values, [1e16, 1e-5]);
    assert_eq!(back.bytes, outer.bytes);
    assert_eq!(back.newtype, Newtype(3));
    assert_eq!(back.char_key_map, outer.char_key_map);
    // Re-written identically.
    assert_eq!(to_string(&back).unwrap(), python);

    assert_eq!(to_string(&()).unwrap(), "null");
    assert_eq!(to_string(&None::<i32>).unwrap(), "null");
    assert_eq!(to_string(&Vec::<i32>::new()).unwrap(), "[]");
    assert_eq!(to_string(&BTreeMap::<i32, i32>::new()).unwrap(), "{}");
    assert_eq!(to_string(&[Vec::<i32>::new()]).unwrap(), "[[]]");
    assert_eq!(to_string(&Kind::A).unwrap(), r#""A""#);
}

#[test]
fn enums_read_as_serde_json_reads_them() {
    assert!(matches!(from_str::<Kind>(r#" "A" "#), Ok(Kind::A)));
    assert!(matches!(from_str::<Kind>(r#"{"A": null}"#), Ok(Kind::A)));
    assert!(
        matches!(from_str::<Kind>(r#"{"B": -Infinity}"#), Ok(Kind::B(x)) if x == f64::NEG_INFINITY)
    );
    assert!(
        matches!(from_str::<Kind>(r#"{ "C" : [1, "\u00e9"] }"#), Ok(Kind::C(1, s)) if s == "é")
    );
    assert!(
        matches!(from_str::<Kind>(r#"{"D": {"y": [], "x": NaN}}"#), Ok(Kind::D { x: Some(x), y }) if x.is_nan() && y.is_empty())
    );
    assert!(matches!(
        from_str::<Kind>(r#"{"D": [1.5, [2]]}"#),
        Ok(Kind::D { x: Some(1.5), .. })
    ));

    let data = |text: &str| match from_str::<Kind>(text) {
        Err(Error::Data { message, position }) => (message, position.map(|p| p.offset)),
        other => panic!("{text}: {other:?}"),
    };
    assert!(data(r#""E""#).0.contains("unknown variant `E`"));
    assert_eq!(data("{}").1, Some(0));
    assert!(data(r#"{"A": null, "B": 1}"#).0.contains("more items"));
    assert!(data("[1]").0.contains("invalid type: sequence"));
    assert!(data("5").0.contains("invalid type: number"));
    assert!(data("null").0.contains("invalid type: unit value"));
    assert!(data(r#"{"B": "x"}"#).0.contains("invalid type: string"));
    // Syntax errors inside still win.
    assert!(matches!(
        from_str::<Kind>(r#"{"B" 1}"#),
        Err(Error::Syntax { .. })
    ));
    assert!(matches!(
        from_str::<Kind>(r#"{"B": 1"#),
        Err(Error::Syntax { .. })
    ));
    assert!(matches!(
        from_str::<Kind>(r#"{"B": 1 2}"#),
        Err(Error::Syntax { .. })
    ));
    assert!(matches!(from_str::<Kind>(""), Err(Error::Syntax { .. })));
    assert!(matches!(from_str::<Kind>("x"), Err(Error::Syntax { .. })));
    assert!(matches!(
        from_str::<Kind>("[1,]"),
        Err(Error::Syntax { .. })
    ));
    assert!(matches!(from_str::<Kind>("nul"), Err(Error::Syntax { .. })));
}

#[test]
fn reads_what_python_reads() {
    let value = |text: &str| from_str::<Value>(text).unwrap();
    // NaN and the infinities: a `Value` holds them as null; `f64` as themselves.
    assert_eq!(value("NaN"), Value::Null);
    assert_eq!(
        value(" [NaN, Infinity, -Infinity, 1] "),
        json!([null, null, null, 1])
    );
    assert_eq!(value(r#"{"x": -Infinity}"#), json!({"x": null}));
    assert!(from_str::<f64>("NaN").unwrap().is_nan());
    assert_eq!(from_str::<f64>("Infinity").unwrap(), f64::INFINITY);
    assert_eq!(
        from_str::<f64>("\t-Infinity\r\n").unwrap(),
        f64::NEG_INFINITY
    );
    let xs: Vec<Option<f64>> = from_str("[NaN, null, -Infinity]").unwrap();
    assert!(xs[0].is_some_and(f64::is_nan) && xs[1].is_none());
    assert_eq!(xs[2], Some(f64::NEG_INFINITY));

    // Numbers as Python types them: -0 is the integer 0, overflow is infinity,
    // integers beyond 64 bits are the nearest double.
    assert_eq!(value("-0"), json!(0));
    assert_eq!(from_str::<i64>("-0").unwrap(), 0);
    assert!(from_str::<f64>("-0.0").unwrap().is_sign_negative());
    assert_eq!(from_str::<f64>("1e400").unwrap(), f64::INFINITY);
    assert_eq!(from_str::<f64>("-1e400").unwrap(), f64::NEG_INFINITY);
    assert_eq!(from_str::<f64>("1e-400").unwrap(), 0.0);
    assert_eq!(value("1E+2"), json!(100.0));
    assert_eq!(value("18446744073709551615"), json!(u64::MAX));
    assert_eq!(value("18446744073709551616"), json!(18446744073709551616.0));
    assert_eq!(value("-9223372036854775808"), json!(i64::MIN));
    assert_eq!(value("-9223372036854775809"), json!(-9223372036854775809.0));
    assert_eq!(from_str::<f64>("5e-324").unwrap(), 5e-324);
    assert_eq!(from_str::<u8>("255").unwrap(), 255);
    assert!(matches!(from_str::<u8>("256"), Err(Error::Data { .. })));

    // Strings: every escape, surrogate pairs, raw non-ASCII, DEL.
    assert_eq!(
        value(r#""\"\\\/\b\f\n\r\t\u0000\u00e9\ud83d\ude00é""#),
        json!("\"\\/\u{8}\u{c}\n\r\t\u{0}é😀é")
    );
    // Borrowed when there is nothing to unescape.
    assert_eq!(from_str::<&str>(r#""plain é""#).unwrap(), "plain é");
    // Duplicate keys: the last value wins, in the first key's place (as a dict).
    assert_eq!(
        value(r#"{"a": 1, "b": 2, "a": 3}"#).to_string(),
        r#"{"a":3,"b":2}"#
    );
    assert_eq!(value("[[], {}, [[]], \"\"]"), json!([[], {}, [[]], ""]));
}

#[test]
fn refuses_what_python_refuses_at_the_same_place() {
    // (text, json.JSONDecodeError's msg, pos (in characters), lineno, colno) from
    // CPython 3.11.
    let python: &[(&str, &str, usize, usize, usize)] = &[
        ("", "Expecting value", 0, 1, 1),
        ("  ", "Expecting value", 2, 1, 3),
        ("-NaN", "Expecting value", 0, 1, 1),
        ("nan", "Expecting value", 0, 1, 1),
        ("inf", "Expecting value", 0, 1, 1),
        ("+1", "Expecting value", 0, 1, 1),
        ("[1,]", "Expecting value", 3, 1, 4),
        (
            "{\"a\":1,}",
            "Expecting property name enclosed in double quotes",
            7,
            1,
            8,
        ),
        ("'a'", "Expecting value", 0, 1, 1),
        ("1 // c", "Extra data", 2, 1, 3),
        ("\"\x01\"", "Invalid control character at", 1, 1, 2),
        ("\"\t\"", "Invalid control character at", 1, 1, 2),
        (
            "\u{feff}1",
            "Unexpected UTF-8 BOM (decode using utf-8-sig)",
            0,
            1,
            1,
        ),
        ("01", "Extra data", 1, 1, 2),
        ("1.", "Extra data", 1, 1, 2),
        (".5", "Expecting value", 0, 1, 1),
        ("1e", "Extra data", 1, 1, 2),
        ("1.5e", "Extra data", 3, 1, 4),
        ("-", "Expecting value", 0, 1, 1),
        ("[-]", "Expecting value", 1, 1, 2),
        ("NaNx", "Extra data", 3, 1, 4),
        ("Infinit", "Expecting value", 0, 1, 1),
        ("-Inf", "Expecting value", 0, 1, 1),
        ("\x0c1", "Expecting value", 0, 1, 1),
        ("{\"a\" 1}", "Expecting ':' delimiter", 5, 1, 6),
        ("[1 2]", "Expecting ',' delimiter", 3, 1, 4),
        ("\"\\x\"", "Invalid \\escape", 1, 1, 2),
        ("\"\\u12g4\"", "Invalid \\uXXXX escape", 2, 1, 3),
        ("\"\\ud800\\u12g4\"", "Invalid \\uXXXX escape", 8, 1, 9),
        ("\"abc", "Unterminated string starting at", 0, 1, 1),
        ("\"a\\", "Unterminated string starting at", 0, 1, 1),
        // Escapes at the very end of the text, as CPython reports them (found by the
        // CPython proptest: its scanner wants a character after the four digits).
        ("\"\\ud83d\\ude00", "Invalid \\uXXXX escape", 8, 1, 9),
        (
            "\"\\ud83d\\ude00x",
            "Unterminated string starting at",
            0,
            1,
            1,
        ),
        ("\"\\u0041", "Invalid \\uXXXX escape", 2, 1, 3),
        ("[", "Expecting value", 1, 1, 2),
        ("{\"a\":1", "Expecting ',' delimiter", 6, 1, 7),
        ("[1,[2]", "Expecting ',' delimiter", 6, 1, 7),
        ("1\n 2", "Extra data", 3, 2, 2),
        ("tru", "Expecting value", 0, 1, 1),
        ("true false", "Extra data", 5, 1, 6),
        (
            "{1: 2}",
            "Expecting property name enclosed in double quotes",
            1,
            1,
            2,
        ),
        ("{\"a\": 1 \"b\": 2}", "Expecting ',' delimiter", 8, 1, 9),
        ("[1] ]", "Extra data", 4, 1, 5),
        ("\"é\" x", "Extra data", 4, 1, 5),
        ("[1,\n  2,\n  x]", "Expecting value", 11, 3, 3),
        ("[NaN", "Expecting ',' delimiter", 4, 1, 5),
        (
            "{\"a\": Infinity,}",
            "Expecting property name enclosed in double quotes",
            15,
            1,
            16,
        ),
        ("-01", "Extra data", 2, 1, 3),
        ("1.e5", "Extra data", 1, 1, 2),
        ("[1,,2]", "Expecting value", 3, 1, 4),
        (
            "{,}",
            "Expecting property name enclosed in double quotes",
            1,
            1,
            2,
        ),
        ("{\"a\":}", "Expecting value", 5, 1, 6),
        ("null null", "Extra data", 5, 1, 6),
        ("[true, False]", "Expecting value", 7, 1, 8),
    ];
    for &(text, message, char_pos, line, column) in python {
        let offset = text
            .char_indices()
            .nth(char_pos)
            .map_or(text.len(), |(i, _)| i);
        let expected = Error::Syntax {
            message: message.into(),
            position: Position {
                line,
                column,
                offset,
            },
        };
        assert_eq!(from_str::<Value>(text).unwrap_err(), expected, "{text:?}");
        // The same for any target: `IgnoredAny` takes every value, so only syntax counts.
        assert_eq!(
            from_str::<de::IgnoredAny>(text).unwrap_err(),
            expected,
            "{text:?}"
        );
    }
    let error = from_str::<Value>("[1,\n  2,\n  x]").unwrap_err();
    assert_eq!(
        error.to_string(),
        "Expecting value at line 3 column 3 (byte 11)"
    );
}

#[test]
fn lone_surrogates_are_refused_with_a_reason() {
    // Python reads all three (into a str with a lone surrogate); Rust strings cannot.
    for (text, unit, offset) in [
        (r#""\ud800""#, 0xd800, 1),
        (r#"["x\udc00"]"#, 0xdc00, 3),
        (r#""\ud800\u0041""#, 0xd800, 1),
        (r#""\uDBFF""#, 0xdbff, 1),
    ] {
        let error = from_str::<Value>(text).unwrap_err();
        assert!(
            matches!(&error, Error::LoneSurrogate { unit: u, position } if *u == unit && position.offset == offset),
            "{text}: {error:?}"
        );
        assert!(
            error.to_string().contains("Rust string cannot hold"),
            "{error}"
        );
    }
}

#[test]
fn nesting_limit_is_serde_json_s() {
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let ok = nested(MAX_DEPTH);
    assert!(from_str::<Value>(&ok).is_ok());
    assert!(serde_json::from_str::<Value>(&ok).is_ok());
    let deep = nested(MAX_DEPTH + 1);
    assert!(serde_json::from_str::<Value>(&deep).is_err());
    assert_eq!(
        from_str::<Value>(&deep).unwrap_err(),
        Error::TooDeep {
            position: Position {
                line: 1,
                column: MAX_DEPTH + 1,
                offset: MAX_DEPTH,
            }
        }
    );
    let objects = format!(
        "{}1{}",
        "{\"a\": ".repeat(MAX_DEPTH + 1),
        "}".repeat(MAX_DEPTH + 1)
    );
    assert!(matches!(
        from_str::<Value>(&objects),
        Err(Error::TooDeep { .. })
    ));
    // Far beyond: no stack overflow, just the error.
    let hostile = "[".repeat(1_000_000);
    assert!(matches!(
        from_str::<Value>(&hostile),
        Err(Error::TooDeep { .. })
    ));
    assert!(matches!(
        from_str::<Kind>(&"{\"D\": ".repeat(100_000)),
        Err(Error::TooDeep { .. })
    ));
}

#[test]
fn data_errors_say_where() {
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Reading {
        celsius: f64,
    }
    let error = from_str::<Reading>(r#"{"celsius": "warm"}"#).unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"invalid type: string "warm", expected f64 at line 1 column 13 (byte 12)"#
    );
    let error = from_str::<Reading>("\n {}").unwrap_err();
    assert_eq!(
        error.to_string(),
        "missing field `celsius` at line 2 column 2 (byte 2)"
    );
    let error = from_str::<(i32,)>("[1, 2]").unwrap_err();
    assert!(error.to_string().contains("more items"), "{error}");
    let error = from_str::<(i32, i32)>("[1]").unwrap_err();
    assert!(error.to_string().contains("invalid length 1"), "{error}");
}

#[test]
fn typed_round_trip_keeps_non_finite_floats() {
    #[derive(Serialize, Deserialize, Debug)]
    struct Sample {
        x: f64,
        y: f32,
        z: Vec<f64>,
        w: Option<f64>,
    }
    let sample = Sample {
        x: f64::NAN,
        y: f32::INFINITY,
        z: vec![f64::NEG_INFINITY, -0.0, 5e-324],
        w: Some(f64::NAN),
    };
    let text = to_string(&sample).unwrap();
    assert_eq!(
        text,
        r#"{"x": NaN, "y": Infinity, "z": [-Infinity, -0.0, 5e-324], "w": NaN}"#
    );
    let back: Sample = from_str(&text).unwrap();
    assert!(back.x.is_nan() && back.y == f32::INFINITY);
    assert_eq!(back.z[0], f64::NEG_INFINITY);
    assert_eq!(back.z[1].to_bits(), (-0.0f64).to_bits());
    assert_eq!(back.z[2], 5e-324);
    assert!(back.w.is_some_and(f64::is_nan));
}

// ---- properties --------------------------------------------------------------------

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        prop_oneof![Just(0.0), Just(-0.0), Just(1e16), Just(1e-5), Just(5e-324)]
            .prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// Equal, except that floats may differ by a few units in the last place: serde_json
/// (without its `float_roundtrip` feature, as here) does not always round correctly.
/// And "-0", which Python (and so we) reads as the integer 0, serde_json as -0.0.
fn same_as_serde_json(ours: &Value, theirs: &Value) -> bool {
    match (ours, theirs) {
        (Value::Number(a), Value::Number(b)) if b.is_f64() => match (a.as_f64(), b.as_f64()) {
            _ if a.is_f64() => {
                let (a, b) = (
                    a.as_f64().unwrap_or(f64::NAN),
                    b.as_f64().unwrap_or(f64::NAN),
                );
                a.is_sign_negative() == b.is_sign_negative()
                    && a.to_bits().abs_diff(b.to_bits()) <= 4
            }
            (Some(a), Some(b)) => a == 0.0 && b == 0.0 && b.is_sign_negative(),
            _ => false,
        },
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_as_serde_json(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ka, a), (kb, b))| ka == kb && same_as_serde_json(a, b))
        }
        _ => ours == theirs,
    }
}

/// Small documents with short strings, so that edits land on structure.
fn small_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1000i64..1000).prop_map(Value::from),
        prop_oneof![
            Just(0.5),
            Just(-0.0),
            Just(1e16),
            Just(1e-5),
            Just(2.5e-300)
        ]
        .prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        "[a-z\"\\\\/é😀\n\u{1}]{0,3}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z]{0,2}", inner), 0..4)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// Near-JSON text: valid documents, written by us or by serde_json, with one to three
/// characters deleted, inserted or replaced (structural characters most often).
fn near_json() -> impl Strategy<Value = String> {
    let structural = "[]{}\",:-. ".repeat(3);
    let alphabet: Vec<char> =
        format!("{structural}0123456789+eE\t\n\r\x0c\\/ubfnrtNaIiy\x00\x01é😀'")
            .chars()
            .collect();
    let edit = (
        0..3u8,
        any::<prop::sample::Index>(),
        prop::sample::select(alphabet),
    );
    (
        small_value(),
        any::<bool>(),
        prop::collection::vec(edit, 1..=3),
    )
        .prop_map(|(value, python, edits)| {
            let text = if python {
                to_string(&value).unwrap_or_default()
            } else {
                serde_json::to_string(&value).unwrap_or_default()
            };
            let mut chars: Vec<char> = text.chars().collect();
            for (edit, index, c) in edits {
                let at = index.index(chars.len() + 1);
                match edit {
                    0 if at < chars.len() => {
                        chars.remove(at);
                    }
                    1 => chars.insert(at, c),
                    _ if at < chars.len() => chars[at] = c,
                    _ => chars.push(c),
                }
            }
            chars.into_iter().collect()
        })
}

/// Whether serde_json's verdict on `text` is comparable to ours: it does not know the
/// tokens Python adds, and refuses numbers too large for a double that Python reads
/// as infinity.
fn comparable(text: &str, theirs: &Result<Value, serde_json::Error>) -> bool {
    !text.contains("NaN")
        && !text.contains("Infinity")
        && !theirs
            .as_ref()
            .is_err_and(|e| e.to_string().contains("number out of range"))
}

fn check_against_serde_json(text: &str) -> Result<(), TestCaseError> {
    let ours = from_str::<Value>(text);
    let theirs = serde_json::from_str::<Value>(text);
    if comparable(text, &theirs) {
        prop_assert_eq!(
            ours.is_ok(),
            theirs.is_ok(),
            "{:?}: {:?} vs {:?}",
            text,
            ours,
            theirs
        );
        if let (Ok(ours), Ok(theirs)) = (&ours, &theirs) {
            prop_assert!(
                same_as_serde_json(ours, theirs),
                "{:?}: {} vs {}",
                text,
                ours,
                theirs
            );
        }
    }
    if let Ok(value) = ours {
        let again = to_string(&value).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(from_str::<Value>(&again).ok(), Some(value));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn python_json_round_trips_any_value(v in value()) {
        let text = to_string(&v).unwrap();
        prop_assert!(text.bytes().all(|b| (b' '..=b'~').contains(&b)), "{}", text);
        prop_assert_eq!(from_str::<Value>(&text).unwrap(), v);
    }

    #[test]
    fn python_json_reads_valid_json_as_serde_json_does(v in value()) {
        let text = serde_json::to_string(&v).unwrap();
        let ours = from_str::<Value>(&text).unwrap();
        let theirs = serde_json::from_str::<Value>(&text).unwrap();
        prop_assert!(same_as_serde_json(&ours, &theirs), "{}: {} vs {}", text, ours, theirs);
        // And we read exactly what was written (correct rounding).
        prop_assert_eq!(ours, v);
    }

    #[test]
    fn python_json_accepts_what_serde_json_accepts(text in any::<String>()) {
        check_against_serde_json(&text)?;
    }

    #[test]
    fn python_json_typed_floats_round_trip_bit_for_bit(xs in prop::collection::vec(any::<f64>(), 0..8)) {
        let text = to_string(&xs).unwrap();
        let back: Vec<f64> = from_str(&text).unwrap();
        prop_assert_eq!(back.len(), xs.len());
        for (a, b) in back.iter().zip(&xs) {
            prop_assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "{} vs {}", a, b);
        }
    }
}

proptest! {
    // Cheap cases, and where the parser's decisions are: many of them.
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn python_json_accepts_what_serde_json_accepts_near_json(text in near_json()) {
        check_against_serde_json(&text)?;
    }
}
