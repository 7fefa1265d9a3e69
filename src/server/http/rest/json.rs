//! Strict JSON reading for request bodies: the same syntax as `serde_json`, but a key that
//! appears twice in one object is an error naming that key. A proxy or firewall that reads the
//! first of two keys and otpgate the last would otherwise see two different requests.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Longest key name quoted back in an error; the rest is cut, so an error stays small.
const MAX_QUOTED_KEY_CHARS: usize = 64;

/// Why a body is not acceptable JSON.
#[derive(Debug)]
pub enum StrictJsonError {
    /// Not JSON at all (or cut short): the parser's error, for its line and column.
    Syntax(serde_json::Error),
    /// A key given twice in one object; the path of the key, e.g. `otps.email`.
    DuplicateKey(String),
}

impl fmt::Display for StrictJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrictJsonError::Syntax(e) => write!(
                f,
                "body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
            StrictJsonError::DuplicateKey(path) => write!(f, "{path}: duplicate key"),
        }
    }
}

/// Parses `bytes` as one JSON value, refusing duplicate keys at any depth.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, StrictJsonError> {
    let duplicate = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let seed = StrictValue {
        path: String::new(),
        duplicate: &duplicate,
    };
    let parsed = seed
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    match (parsed, duplicate.into_inner()) {
        (_, Some(path)) => Err(StrictJsonError::DuplicateKey(path)),
        (Ok(value), None) => Ok(value),
        (Err(e), None) => Err(StrictJsonError::Syntax(e)),
    }
}

/// Reads one value at `path`; records the first duplicate key it meets in `duplicate`.
struct StrictValue<'a> {
    path: String,
    duplicate: &'a RefCell<Option<String>>,
}

impl StrictValue<'_> {
    fn child(&self, segment: &str) -> String {
        if self.path.is_empty() {
            segment.to_owned()
        } else {
            format!("{}.{segment}", self.path)
        }
    }
}

fn quoted(key: &str) -> String {
    let mut cut: String = key.chars().take(MAX_QUOTED_KEY_CHARS).collect();
    if cut.len() < key.len() {
        cut.push('…');
    }
    // Control characters would make the message hard to read (and to log): show them escaped.
    cut.escape_debug().to_string()
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    /// A number with no fraction (`268.0`, `6e0`) is an integer, as JSON Schema counts it: a
    /// field documented as `integer` accepts every such spelling.
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // i64::MAX is not exactly representable as f64: `<` keeps the cast in range.
        if v.fract() == 0.0 && v >= i64::MIN as f64 && v < i64::MAX as f64 {
            Ok(Value::from(v as i64))
        } else {
            Ok(Value::from(v))
        }
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue {
            path: format!("{}[{}]", self.path, items.len()),
            duplicate: self.duplicate,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                let path = self.child(&quoted(&key));
                self.duplicate.borrow_mut().get_or_insert(path);
                return Err(de::Error::custom("duplicate key"));
            }
            let value = map.next_value_seed(StrictValue {
                path: self.child(&quoted(&key)),
                duplicate: self.duplicate,
            })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duplicate(json: &str) -> Option<String> {
        match parse_strict(json.as_bytes()) {
            Err(StrictJsonError::DuplicateKey(path)) => Some(path),
            _ => None,
        }
    }

    #[test]
    fn duplicate_keys_are_named_at_any_depth() {
        assert_eq!(
            duplicate(r#"{"session_token":"a","session_token":"b"}"#).as_deref(),
            Some("session_token")
        );
        assert_eq!(
            duplicate(r#"{"otps":{"email":"1","email":"2"}}"#).as_deref(),
            Some("otps.email")
        );
        assert_eq!(
            duplicate(r#"{"a":[{"x":1},{"y":1,"y":2}]}"#).as_deref(),
            Some("a[1].y")
        );
        // Escapes name the same key: "\u0061" is "a".
        assert_eq!(duplicate(r#"{"a":1,"\u0061":2}"#).as_deref(), Some("a"));
        assert_eq!(
            parse_strict(br#"{"session_token":"a","session_token":"b"}"#)
                .unwrap_err()
                .to_string(),
            "session_token: duplicate key"
        );
    }

    #[test]
    fn integral_numbers_are_integers_whatever_their_spelling() {
        for (json, integer) in [
            ("268.0", 268),
            ("6e0", 6),
            ("-12.5e3", -12_500),
            ("-0.0", 0),
        ] {
            assert_eq!(
                parse_strict(json.as_bytes()).unwrap(),
                Value::from(integer),
                "{json}"
            );
        }
        assert!(parse_strict(b"268.5").unwrap().is_f64());
        assert!(
            parse_strict(b"1e19").unwrap().is_f64(),
            "beyond i64 stays a float"
        );
        let typed: Option<i64> = serde_json::from_value(parse_strict(b"600.0").unwrap()).unwrap();
        assert_eq!(typed, Some(600));
    }

    #[test]
    fn quoted_keys_are_short_and_printable() {
        let long = format!(r#"{{"{k}":1,"{k}":2}}"#, k = "k".repeat(500));
        let path = duplicate(&long).unwrap();
        assert!(path.chars().count() <= MAX_QUOTED_KEY_CHARS + 1, "{path}");
        assert_eq!(
            duplicate(r#"{"a\nb":1,"a\nb":2}"#).as_deref(),
            Some("a\\nb")
        );
    }

    #[test]
    fn everything_else_parses_as_serde_json_does() {
        for json in [
            r#"{"a":1,"b":[1,2,{"c":null}],"d":{"a":1}}"#,
            r#"[{"a":1},{"a":2}]"#,
            r#""text""#,
            "-12.25",
            "1e300",
            "18446744073709551615",
            "true",
            "null",
            " {} ",
        ] {
            let ours = parse_strict(json.as_bytes()).unwrap();
            let theirs: Value = serde_json::from_str(json).unwrap();
            assert_eq!(ours, theirs, "{json}");
        }
        for bad in ["", "{", r#"{"a":1,}"#, "[1 2]", "{} {}", "nul"] {
            assert!(
                matches!(
                    parse_strict(bad.as_bytes()),
                    Err(StrictJsonError::Syntax(_))
                ),
                "{bad}"
            );
        }
        let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        assert!(matches!(
            parse_strict(deep.as_bytes()),
            Err(StrictJsonError::Syntax(_))
        ));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// Any JSON value without floats (integral floats become integers, by design), with
        /// keys unique per object as a `Map` keeps them.
        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<String>().prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 64, 8, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                    proptest::collection::btree_map(any::<String>(), inner, 0..8)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn any_bytes_get_an_answer_and_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
                let _ = parse_strict(&bytes);
            }

            #[test]
            fn json_without_duplicates_reads_as_serde_json_reads_it(value in json_value()) {
                let text = serde_json::to_string(&value).unwrap();
                prop_assert_eq!(parse_strict(text.as_bytes()).unwrap(), value);
            }

            #[test]
            fn a_key_given_twice_is_named_wherever_it_is(
                value in json_value(),
                key in "[a-z_]{1,12}",
                first in any::<i64>(),
                second in any::<String>(),
            ) {
                let inner = serde_json::to_string(&value).unwrap();
                let twice = format!(
                    "{{\"outer\":{{{key:?}:{first},\"other\":{inner},{key:?}:{second:?}}}}}",
                    key = key,
                    first = first,
                    inner = inner,
                    second = second,
                );
                match parse_strict(twice.as_bytes()) {
                    Err(StrictJsonError::DuplicateKey(path)) => {
                        prop_assert_eq!(path, format!("outer.{key}"))
                    }
                    other => prop_assert!(false, "{other:?} for {twice}"),
                }
            }
        }
    }
}
