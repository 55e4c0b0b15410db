//! Reading: a serde `Deserializer` that accepts what Python's `json.loads` accepts.

use serde::de::{self, DeserializeSeed, IntoDeserializer, Unexpected, Visitor};
use serde::{Deserialize, forward_to_deserialize_any};

use super::{Error, MAX_DEPTH, Position};

/// Reads `text` as Python's `json.loads(text)` would, into any deserializable type.
///
/// See the [module docs](super) for what is accepted and for what Rust types cannot hold
/// (NaN and ±Infinity in a [`serde_json::Value`] read as `null`).
pub fn from_str<'de, T: Deserialize<'de>>(text: &'de str) -> Result<T, Error> {
    let mut de = Deserializer {
        text,
        pos: 0,
        depth: 0,
    };
    if text.starts_with('\u{feff}') {
        return Err(de.syntax("Unexpected UTF-8 BOM (decode using utf-8-sig)", 0));
    }
    let value = T::deserialize(&mut de)?;
    de.skip_whitespace();
    if de.pos < text.len() {
        return Err(de.syntax("Extra data", de.pos));
    }
    Ok(value)
}

/// The reader: a cursor over the text. Every position it stops at is an ASCII byte or the
/// end, so slicing the text there never splits a character.
struct Deserializer<'de> {
    text: &'de str,
    pos: usize,
    depth: usize,
}

/// A string literal's contents: borrowed when it had no escapes.
enum Text<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl<'de> Text<'de> {
    fn as_str(&self) -> &str {
        match self {
            Text::Borrowed(s) => s,
            Text::Owned(s) => s,
        }
    }

    fn visit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Text::Borrowed(s) => visitor.visit_borrowed_str(s),
            Text::Owned(s) => visitor.visit_string(s),
        }
    }

    fn visit_enum<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Text::Borrowed(s) => {
                visitor.visit_enum(de::value::BorrowedStrDeserializer::<Error>::new(s))
            }
            Text::Owned(s) => visitor.visit_enum(s.into_deserializer()),
        }
    }
}

/// A number token, classified as `json.loads` classifies it.
enum Number<'de> {
    /// No fraction or exponent: an integer, of whatever size.
    Integer(&'de str),
    /// A fraction or exponent, or one of the non-finite tokens.
    Float(f64),
}

/// The end of the JSON number (`-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?`, Python's own
/// regular expression) starting at `start`, and whether it is an integer; `None` when there
/// is no number there. Like Python's, it stops before a `.` or `e` that is not followed by
/// digits, leaving them to be refused as what comes after the number.
fn scan_number(bytes: &[u8], start: usize) -> Option<(usize, bool)> {
    let digit = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
    let mut i = start;
    if bytes.get(i) == Some(&b'-') {
        i += 1;
    }
    match bytes.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while digit(i) {
                i += 1;
            }
        }
        _ => return None,
    }
    let mut integer = true;
    if bytes.get(i) == Some(&b'.') && digit(i + 1) {
        i += 1;
        while digit(i) {
            i += 1;
        }
        integer = false;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(bytes.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if digit(j) {
            while digit(j) {
                j += 1;
            }
            i = j;
            integer = false;
        }
    }
    Some((i, integer))
}

/// A number key of an object (`"1"`, `"-2.5"`, `"NaN"`), for integer and float map keys.
fn key_number(key: &str) -> Option<Number<'_>> {
    match key {
        "NaN" => return Some(Number::Float(f64::NAN)),
        "Infinity" => return Some(Number::Float(f64::INFINITY)),
        "-Infinity" => return Some(Number::Float(f64::NEG_INFINITY)),
        _ => {}
    }
    let (end, integer) = scan_number(key.as_bytes(), 0)?;
    if end != key.len() {
        return None;
    }
    if integer {
        Some(Number::Integer(key))
    } else {
        key.parse().ok().map(Number::Float)
    }
}

impl Number<'_> {
    /// Visits as `json.loads` types it: `u64` or `i64` when the integer fits, else `f64`.
    fn visit<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Number::Float(value) => visitor.visit_f64(value),
            Number::Integer(token) => {
                if token.starts_with('-') {
                    if let Ok(value) = token.parse::<i64>() {
                        return visitor.visit_i64(value);
                    }
                } else if let Ok(value) = token.parse::<u64>() {
                    return visitor.visit_u64(value);
                }
                // Beyond 64 bits: the nearest double (Rust's parse rounds correctly, and
                // cannot fail on an integer token; NaN would only mark a broken scanner).
                visitor.visit_f64(token.parse().unwrap_or(f64::NAN))
            }
        }
    }

    /// Visits an integer as `i128`/`u128` when it fits, for targets of those widths.
    fn visit_wide<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if let Number::Integer(token) = self {
            if token.starts_with('-') {
                if let Ok(value) = token.parse::<i128>() {
                    return visitor.visit_i128(value);
                }
            } else if let Ok(value) = token.parse::<u128>() {
                return visitor.visit_u128(value);
            }
        }
        self.visit(visitor)
    }
}

impl<'de> Deserializer<'de> {
    fn bytes(&self) -> &'de [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    /// JSON's whitespace, exactly: Python's `[ \t\n\r]*`.
    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        let before = self.bytes().get(..offset).unwrap_or_default();
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let column = 1 + self
            .text
            .get(line_start..offset)
            .map_or(offset - line_start, |s| s.chars().count());
        Position {
            line,
            column,
            offset,
        }
    }

    fn syntax(&self, message: &str, at: usize) -> Error {
        Error::Syntax {
            message: message.to_owned(),
            position: self.position(at),
        }
    }

    /// Gives a data error from a visitor the position of the value it was about.
    fn locate(&self, error: Error, at: usize) -> Error {
        match error {
            Error::Data {
                message,
                position: None,
            } => Error::Data {
                message,
                position: Some(self.position(at)),
            },
            other => other,
        }
    }

    fn slice(&self, from: usize, to: usize) -> Result<&'de str, Error> {
        // Both ends are at ASCII bytes; `get` keeps an error in this reasoning from panicking.
        self.text
            .get(from..to)
            .ok_or_else(|| self.syntax("internal error: slice inside a character", from))
    }

    /// Consumes `literal` (`null`, `true`, `NaN`, …) or fails as Python does.
    fn literal(&mut self, literal: &str, start: usize) -> Result<(), Error> {
        let rest = self.bytes().get(self.pos..).unwrap_or_default();
        if rest.starts_with(literal.as_bytes()) {
            self.pos += literal.len();
            Ok(())
        } else {
            Err(self.syntax("Expecting value", start))
        }
    }

    /// Opens one level of nesting at `at`, or refuses the level too many.
    fn enter(&mut self, at: usize) -> Result<(), Error> {
        if self.depth >= MAX_DEPTH {
            return Err(Error::TooDeep {
                position: self.position(at),
            });
        }
        self.depth += 1;
        Ok(())
    }

    /// The number at the cursor (a digit, `-`, `N` or `I`).
    fn number(&mut self) -> Result<Number<'de>, Error> {
        let start = self.pos;
        match self.bytes().get(start..start + 2) {
            Some([b'N', ..]) => {
                self.literal("NaN", start)?;
                return Ok(Number::Float(f64::NAN));
            }
            Some([b'I', ..]) => {
                self.literal("Infinity", start)?;
                return Ok(Number::Float(f64::INFINITY));
            }
            Some([b'-', b'I']) => {
                self.literal("-Infinity", start)?;
                return Ok(Number::Float(f64::NEG_INFINITY));
            }
            _ => {}
        }
        let Some((end, integer)) = scan_number(self.bytes(), start) else {
            return Err(self.syntax("Expecting value", start));
        };
        let token = self.slice(start, end)?;
        self.pos = end;
        if integer {
            Ok(Number::Integer(token))
        } else {
            // Correctly rounded; overflow gives ±infinity, as Python's `float()` does.
            token
                .parse()
                .map(Number::Float)
                .map_err(|_| self.syntax("Expecting value", start))
        }
    }

    /// The string literal whose opening quote is at the cursor.
    fn string(&mut self) -> Result<Text<'de>, Error> {
        let open = self.pos;
        let bytes = self.bytes();
        let mut i = open + 1;
        let mut run = i;
        let mut owned: Option<String> = None;
        // A lone surrogate is our refusal, not a syntax error: Python reads on, so a syntax
        // error later in the string is what it reports, and so do we.
        let mut lone: Option<Error> = None;
        loop {
            match bytes.get(i) {
                None => return Err(self.syntax("Unterminated string starting at", open)),
                Some(b'"') => {
                    if let Some(err) = lone {
                        return Err(err);
                    }
                    let tail = self.slice(run, i)?;
                    self.pos = i + 1;
                    return Ok(match owned {
                        None => Text::Borrowed(tail),
                        Some(mut text) => {
                            text.push_str(tail);
                            Text::Owned(text)
                        }
                    });
                }
                Some(b'\\') => {
                    let before = self.slice(run, i)?;
                    let text = owned.get_or_insert_with(String::new);
                    text.push_str(before);
                    i = self.escape(open, i, text, &mut lone)?;
                    run = i;
                }
                Some(&byte) if byte < 0x20 => {
                    return Err(self.syntax("Invalid control character at", i));
                }
                Some(_) => i += 1,
            }
        }
    }

    /// Appends the escape whose backslash is at `at`; returns the index after it.
    fn escape(
        &self,
        open: usize,
        at: usize,
        out: &mut String,
        lone: &mut Option<Error>,
    ) -> Result<usize, Error> {
        let simple = match self.bytes().get(at + 1) {
            None => return Err(self.syntax("Unterminated string starting at", open)),
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => return self.unicode_escape(at, out, lone),
            Some(_) => return Err(self.syntax("Invalid \\escape", at)),
        };
        out.push(simple);
        Ok(at + 2)
    }

    /// `\uXXXX`, or a surrogate pair of two of them, at `at`. Half a pair is noted in
    /// `lone` (the first one is the string's error if nothing else is wrong with it) and
    /// skipped as Python skips it.
    fn unicode_escape(
        &self,
        at: usize,
        out: &mut String,
        lone_slot: &mut Option<Error>,
    ) -> Result<usize, Error> {
        let unit = self.hex4(at + 2)?;
        let lone = || Error::LoneSurrogate {
            unit,
            position: self.position(at),
        };
        let mut skip_lone = || {
            lone_slot.get_or_insert_with(lone);
            Ok(at + 6)
        };
        let code = match unit {
            0xD800..=0xDBFF => {
                if self.bytes().get(at + 6..at + 8) != Some(b"\\u") {
                    return skip_lone();
                }
                let low = self.hex4(at + 8)?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return skip_lone();
                }
                let code = 0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                out.push(char::from_u32(code).ok_or_else(lone)?);
                return Ok(at + 12);
            }
            0xDC00..=0xDFFF => return skip_lone(),
            _ => u32::from(unit),
        };
        out.push(char::from_u32(code).ok_or_else(lone)?);
        Ok(at + 6)
    }

    /// Four hex digits at `at` (strictly: no sign, no underscores, as CPython's scanner,
    /// which also wants the text to go on after them: at its very end they are invalid).
    fn hex4(&self, at: usize) -> Result<u16, Error> {
        let invalid = || self.syntax("Invalid \\uXXXX escape", at - 1);
        let digits = self
            .bytes()
            .get(at..at + 4)
            .filter(|_| self.bytes().len() > at + 4)
            .ok_or_else(invalid)?;
        let mut unit = 0u16;
        for &digit in digits {
            let value = char::from(digit).to_digit(16).ok_or_else(invalid)?;
            unit = (unit << 4) | u16::try_from(value).map_err(|_| invalid())?;
        }
        Ok(unit)
    }

    /// After a visitor has taken what it wanted of an array or object: the closing
    /// bracket, or an error saying why it is not there.
    fn close(&mut self, bracket: u8, start: usize) -> Result<(), Error> {
        self.skip_whitespace();
        match self.peek() {
            Some(b) if b == bracket => {
                self.pos += 1;
                Ok(())
            }
            Some(b',') => Err(Error::Data {
                message: format!(
                    "the {} has more items than the Rust type takes",
                    if bracket == b']' { "array" } else { "object" }
                ),
                position: Some(self.position(start)),
            }),
            _ => Err(self.syntax("Expecting ',' delimiter", self.pos)),
        }
    }

    /// The value at the cursor is not what `visitor` takes: read past it first, so that
    /// broken JSON is reported as such rather than as a type mismatch.
    fn type_error<V: Visitor<'de>>(&mut self, visitor: &V, start: usize) -> Error {
        let unexpected = match self.peek() {
            Some(b'n') => Unexpected::Unit,
            Some(b't') => Unexpected::Bool(true),
            Some(b'f') => Unexpected::Bool(false),
            Some(b'[') => Unexpected::Seq,
            Some(b'{') => Unexpected::Map,
            _ => Unexpected::Other("number"),
        };
        if let Err(error) = de::Deserializer::deserialize_any(&mut *self, de::IgnoredAny) {
            return error;
        }
        self.locate(de::Error::invalid_type(unexpected, visitor), start)
    }
}

impl<'de> de::Deserializer<'de> for &mut Deserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.skip_whitespace();
        let start = self.pos;
        let result = match self.peek() {
            Some(b'n') => {
                self.literal("null", start)?;
                visitor.visit_unit()
            }
            Some(b't') => {
                self.literal("true", start)?;
                visitor.visit_bool(true)
            }
            Some(b'f') => {
                self.literal("false", start)?;
                visitor.visit_bool(false)
            }
            Some(b'"') => self.string()?.visit(visitor),
            Some(b'[') => {
                self.enter(start)?;
                self.pos += 1;
                let value = visitor.visit_seq(Seq {
                    de: &mut *self,
                    first: true,
                });
                self.depth -= 1;
                value.and_then(|value| self.close(b']', start).map(|()| value))
            }
            Some(b'{') => {
                self.enter(start)?;
                self.pos += 1;
                let value = visitor.visit_map(Map {
                    de: &mut *self,
                    first: true,
                });
                self.depth -= 1;
                value.and_then(|value| self.close(b'}', start).map(|()| value))
            }
            Some(b'-' | b'0'..=b'9' | b'N' | b'I') => self.number()?.visit(visitor),
            _ => return Err(self.syntax("Expecting value", start)),
        };
        result.map_err(|error| self.locate(error, start))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.skip_whitespace();
        let start = self.pos;
        if self.peek() == Some(b'n') {
            self.literal("null", start)?;
            visitor
                .visit_none()
                .map_err(|error| self.locate(error, start))
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.skip_whitespace();
        let start = self.pos;
        let result = match self.peek() {
            Some(b'"') => self.string()?.visit_enum(visitor),
            Some(b'{') => {
                self.enter(start)?;
                self.pos += 1;
                let value = visitor.visit_enum(Variant { de: &mut *self });
                self.depth -= 1;
                value.and_then(|value| self.close(b'}', start).map(|()| value))
            }
            None => return Err(self.syntax("Expecting value", start)),
            Some(_) => return Err(self.type_error(&visitor, start)),
        };
        result.map_err(|error| self.locate(error, start))
    }

    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_wide(visitor)
    }

    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_wide(visitor)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

impl<'de> Deserializer<'de> {
    /// `i128`/`u128` targets: integers of any size that fits them, exactly.
    fn deserialize_wide<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        self.skip_whitespace();
        let start = self.pos;
        if matches!(self.peek(), Some(b'-' | b'0'..=b'9')) {
            let result = self.number()?.visit_wide(visitor);
            return result.map_err(|error| self.locate(error, start));
        }
        de::Deserializer::deserialize_any(self, visitor)
    }
}

/// The items of an array, for a visitor.
struct Seq<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    first: bool,
}

impl<'de> de::SeqAccess<'de> for Seq<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.de.skip_whitespace();
        match self.de.peek() {
            Some(b']') => return Ok(None),
            Some(b',') if !self.first => self.de.pos += 1,
            _ if self.first => {}
            _ => return Err(self.de.syntax("Expecting ',' delimiter", self.de.pos)),
        }
        self.first = false;
        seed.deserialize(&mut *self.de).map(Some)
    }
}

/// The entries of an object, for a visitor.
struct Map<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    first: bool,
}

impl<'de> de::MapAccess<'de> for Map<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        self.de.skip_whitespace();
        match self.de.peek() {
            Some(b'}') => return Ok(None),
            Some(b',') if !self.first => {
                self.de.pos += 1;
                self.de.skip_whitespace();
            }
            _ if self.first => {}
            _ => return Err(self.de.syntax("Expecting ',' delimiter", self.de.pos)),
        }
        self.first = false;
        key_then_colon(self.de, seed).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(&mut *self.de)
    }
}

/// An object key and the `:` after it (Python checks the colon before the value).
fn key_then_colon<'de, K: DeserializeSeed<'de>>(
    de: &mut Deserializer<'de>,
    seed: K,
) -> Result<K::Value, Error> {
    if de.peek() != Some(b'"') {
        return Err(de.syntax("Expecting property name enclosed in double quotes", de.pos));
    }
    let start = de.pos;
    let key = de.string()?;
    let key = seed
        .deserialize(Key { key })
        .map_err(|error| de.locate(error, start))?;
    de.skip_whitespace();
    if de.peek() != Some(b':') {
        return Err(de.syntax("Expecting ':' delimiter", de.pos));
    }
    de.pos += 1;
    Ok(key)
}

/// An object key (always a JSON string), offered as a string or, for targets that want
/// one, as the number, bool or unit variant it spells: the inverse of how [`to_string`]
/// writes non-string keys.
struct Key<'de> {
    key: Text<'de>,
}

impl<'de> Key<'de> {
    fn number<V: Visitor<'de>>(self, visitor: V, wide: bool) -> Result<V::Value, Error> {
        match key_number(self.key.as_str()) {
            Some(number) if wide => number.visit_wide(visitor),
            Some(number) => number.visit(visitor),
            None => self.key.visit(visitor),
        }
    }
}

macro_rules! key_numbers {
    ($($method:ident => $wide:expr),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.number(visitor, $wide)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Key<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.key.visit(visitor)
    }

    key_numbers! {
        deserialize_i8 => false, deserialize_i16 => false, deserialize_i32 => false,
        deserialize_i64 => false, deserialize_u8 => false, deserialize_u16 => false,
        deserialize_u32 => false, deserialize_u64 => false, deserialize_f32 => false,
        deserialize_f64 => false, deserialize_i128 => true, deserialize_u128 => true,
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.key.as_str() {
            "true" => visitor.visit_bool(true),
            "false" => visitor.visit_bool(false),
            _ => self.key.visit(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.key.visit_enum(visitor)
    }

    forward_to_deserialize_any! {
        char str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

/// `{"Variant": value}`, for an enum visitor.
struct Variant<'a, 'de> {
    de: &'a mut Deserializer<'de>,
}

impl<'de> de::EnumAccess<'de> for Variant<'_, 'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        self.de.skip_whitespace();
        if self.de.peek() == Some(b'}') {
            return Err(Error::Data {
                message: "expected an enum variant: an object with one key, got an empty object"
                    .into(),
                position: None,
            });
        }
        let variant = key_then_colon(self.de, seed)?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        <()>::deserialize(&mut *self.de)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(&mut *self.de)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_any(&mut *self.de, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_any(&mut *self.de, visitor)
    }
}
