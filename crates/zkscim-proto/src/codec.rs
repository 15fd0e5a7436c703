//! The one place that turns bytes into CBOR values and back (RFC 8949).
//!
//! Everything zkscim signs or hashes is CBOR. Signatures cover bytes, so what we *produce* must
//! be reproducible by any implementation: [`Value::to_bytes`] writes the core deterministic
//! encoding of RFC 8949 §4.2.1 (shortest integers, lengths and floats; definite lengths; map keys
//! sorted by the bytewise order of their encodings). What we *receive* is hostile until proven
//! otherwise: [`decode`] accepts only that same deterministic encoding, within explicit size,
//! depth and item limits, and names the byte offset of the first thing it refuses.
//!
//! Accepting only one encoding of each value means two parties can never disagree about what a
//! signature or hash covers, and it closes the door on malleability (the same logical object
//! arriving as different bytes with different hashes, defeating replay and dedup checks).
//!
//! Why not `serde_cbor` here: it neither enforces deterministic encoding on input nor lets the
//! caller bound nesting depth, both of which this module must guarantee. The workspace keeps every
//! CBOR concern in this module, so the codec can be swapped without touching callers; the test
//! suite cross-checks this decoder against `serde_cbor` on well-formed input.

use std::cmp::Ordering;
use std::fmt;

/// Hard ceiling on any decoded object: 1 MiB.
pub const MAX_OBJECT_BYTES: usize = 1 << 20;
/// Hard ceiling on nesting (arrays, maps and tags count one level each).
pub const MAX_DEPTH: usize = 64;

/// A CBOR data item in the subset zkscim uses.
///
/// Integers are split into [`Value::Unsigned`] and [`Value::Negative`] so the full CBOR range
/// (−2⁶⁴ … 2⁶⁴−1) round-trips exactly. Maps keep their entries in a `Vec`: the decoder yields them
/// in canonical order and the encoder sorts them, so insertion order never reaches the wire.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Major type 0: an unsigned integer.
    Unsigned(u64),
    /// Major type 1: the integer `-1 - n`.
    Negative(u64),
    /// Major type 2: a byte string.
    Bytes(Vec<u8>),
    /// Major type 3: a UTF-8 text string.
    Text(String),
    /// Major type 4: an array.
    Array(Vec<Value>),
    /// Major type 5: a map. Keys must be unique.
    Map(Vec<(Value, Value)>),
    /// Major type 6: a tagged item.
    Tag(u64, Box<Value>),
    /// Simple values 20 and 21.
    Bool(bool),
    /// Simple value 22.
    Null,
    /// A finite floating-point number (encoded in its shortest exact width).
    Float(f64),
}

/// Limits applied while decoding untrusted bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest input accepted, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting accepted.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: MAX_OBJECT_BYTES,
            max_depth: MAX_DEPTH,
        }
    }
}

/// Why bytes were refused as CBOR. Every variant carries the byte offset where decoding stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input is larger than the configured limit.
    #[error("CBOR object is {len} bytes, larger than the {max}-byte limit")]
    TooLarge {
        /// Input length.
        len: usize,
        /// Configured limit.
        max: usize,
    },
    /// The input ends in the middle of an item.
    #[error("CBOR input ends early at byte {offset}: {needed} more byte(s) needed")]
    Truncated {
        /// Offset where more bytes were needed.
        offset: usize,
        /// How many more were needed (at least).
        needed: usize,
    },
    /// Bytes follow a complete item.
    #[error("{count} unexpected byte(s) after the CBOR item, starting at byte {offset}")]
    TrailingBytes {
        /// Offset of the first extra byte.
        offset: usize,
        /// How many extra bytes.
        count: usize,
    },
    /// Nesting deeper than the limit.
    #[error("CBOR nesting deeper than {max} levels at byte {offset}")]
    TooDeep {
        /// Offset of the item that crossed the limit.
        offset: usize,
        /// Configured limit.
        max: usize,
    },
    /// Valid CBOR, but not in the deterministic encoding we require.
    #[error("CBOR not in deterministic encoding at byte {offset}: {reason}")]
    NonCanonical {
        /// Offset of the offending item.
        offset: usize,
        /// What rule was broken.
        reason: &'static str,
    },
    /// A map contains the same key twice.
    #[error("CBOR map has a duplicate key at byte {offset}")]
    DuplicateKey {
        /// Offset of the repeated key.
        offset: usize,
    },
    /// A text string is not valid UTF-8.
    #[error("CBOR text string at byte {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// Offset of the string header.
        offset: usize,
    },
    /// CBOR that is well-formed but outside the subset zkscim accepts.
    #[error("unsupported CBOR at byte {offset}: {what}")]
    Unsupported {
        /// Offset of the item.
        offset: usize,
        /// What was found.
        what: &'static str,
    },
    /// Malformed CBOR (reserved additional-information values and the like).
    #[error("malformed CBOR at byte {offset}: {reason}")]
    Malformed {
        /// Offset of the item.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

impl CodecError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CodecError::TooLarge { .. } => "cbor.too_large",
            CodecError::Truncated { .. } => "cbor.truncated",
            CodecError::TrailingBytes { .. } => "cbor.trailing_bytes",
            CodecError::TooDeep { .. } => "cbor.too_deep",
            CodecError::NonCanonical { .. } => "cbor.non_canonical",
            CodecError::DuplicateKey { .. } => "cbor.duplicate_key",
            CodecError::InvalidUtf8 { .. } => "cbor.invalid_utf8",
            CodecError::Unsupported { .. } => "cbor.unsupported",
            CodecError::Malformed { .. } => "cbor.malformed",
        }
    }
}

/// Decode one deterministic-encoded item with the default [`Limits`].
pub fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
    decode_with_limits(bytes, Limits::default())
}

/// Decode one deterministic-encoded item, refusing anything outside `limits`.
pub fn decode_with_limits(bytes: &[u8], limits: Limits) -> Result<Value, CodecError> {
    // The ceilings are hard: a caller may tighten them, never loosen them (recursion depth is
    // stack use).
    let limits = Limits {
        max_bytes: limits.max_bytes.min(MAX_OBJECT_BYTES),
        max_depth: limits.max_depth.min(MAX_DEPTH),
    };
    if bytes.len() > limits.max_bytes {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let mut reader = Reader {
        bytes,
        pos: 0,
        max_depth: limits.max_depth,
    };
    let value = reader.item(0)?;
    if reader.pos != bytes.len() {
        return Err(CodecError::TrailingBytes {
            offset: reader.pos,
            count: bytes.len() - reader.pos,
        });
    }
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    max_depth: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let slice = self.bytes.get(self.pos..end).ok_or(CodecError::Truncated {
                    offset: self.pos,
                    needed: n,
                })?;
                self.pos = end;
                Ok(slice)
            }
            None => Err(CodecError::Truncated {
                offset: self.pos,
                needed: n - (self.bytes.len() - self.pos),
            }),
        }
    }

    fn byte(&mut self) -> Result<u8, CodecError> {
        let slice = self.take(1)?;
        slice.first().copied().ok_or(CodecError::Truncated {
            offset: self.pos,
            needed: 1,
        })
    }

    /// Reads the argument of a head whose initial byte had additional information `info`,
    /// insisting on the shortest form.
    fn argument(&mut self, start: usize, info: u8) -> Result<u64, CodecError> {
        let non_canonical = CodecError::NonCanonical {
            offset: start,
            reason: "integer or length not in its shortest form",
        };
        match info {
            0..=23 => Ok(u64::from(info)),
            24 => {
                let v = u64::from(self.byte()?);
                if v < 24 {
                    return Err(non_canonical);
                }
                Ok(v)
            }
            25 => {
                let v = u64::from(u16::from_be_bytes(self.array::<2>()?));
                if v <= 0xff {
                    return Err(non_canonical);
                }
                Ok(v)
            }
            26 => {
                let v = u64::from(u32::from_be_bytes(self.array::<4>()?));
                if v <= 0xffff {
                    return Err(non_canonical);
                }
                Ok(v)
            }
            27 => {
                let v = u64::from_be_bytes(self.array::<8>()?);
                if v <= 0xffff_ffff {
                    return Err(non_canonical);
                }
                Ok(v)
            }
            28..=30 => Err(CodecError::Malformed {
                offset: start,
                reason: "reserved additional information value",
            }),
            _ => Err(CodecError::NonCanonical {
                offset: start,
                reason: "indefinite-length items are not allowed",
            }),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let slice = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    /// A declared element count, checked against the bytes left so a forged huge count cannot
    /// make us allocate before we run out of input (every item is at least one byte).
    fn count(&mut self, start: usize, declared: u64, per_item: usize) -> Result<usize, CodecError> {
        let remaining = self.bytes.len() - self.pos;
        let needed = usize::try_from(declared)
            .ok()
            .and_then(|d| d.checked_mul(per_item))
            .unwrap_or(usize::MAX);
        if needed > remaining {
            return Err(CodecError::Truncated {
                offset: start,
                needed: needed.saturating_sub(remaining),
            });
        }
        usize::try_from(declared).map_err(|_| CodecError::Truncated {
            offset: start,
            needed: usize::MAX,
        })
    }

    fn item(&mut self, depth: usize) -> Result<Value, CodecError> {
        let start = self.pos;
        let initial = self.byte()?;
        let major = initial >> 5;
        let info = initial & 0x1f;
        match major {
            0 => Ok(Value::Unsigned(self.argument(start, info)?)),
            1 => Ok(Value::Negative(self.argument(start, info)?)),
            2 => {
                let len = self.argument(start, info)?;
                let len = self.count(start, len, 1)?;
                Ok(Value::Bytes(self.take(len)?.to_vec()))
            }
            3 => {
                let len = self.argument(start, info)?;
                let len = self.count(start, len, 1)?;
                let raw = self.take(len)?;
                let text = std::str::from_utf8(raw)
                    .map_err(|_| CodecError::InvalidUtf8 { offset: start })?;
                Ok(Value::Text(text.to_owned()))
            }
            4 => {
                self.enter(start, depth)?;
                let len = self.argument(start, info)?;
                let len = self.count(start, len, 1)?;
                let mut items = Vec::with_capacity(len);
                for _ in 0..len {
                    items.push(self.item(depth + 1)?);
                }
                Ok(Value::Array(items))
            }
            5 => {
                self.enter(start, depth)?;
                let len = self.argument(start, info)?;
                let len = self.count(start, len, 2)?;
                let mut entries: Vec<(Value, Value)> = Vec::with_capacity(len);
                let mut previous_key: Option<&[u8]> = None;
                for _ in 0..len {
                    let key_start = self.pos;
                    let key = self.item(depth + 1)?;
                    let key_bytes = self.bytes.get(key_start..self.pos).unwrap_or_default();
                    if let Some(prev) = previous_key {
                        match prev.cmp(key_bytes) {
                            Ordering::Less => {}
                            Ordering::Equal => {
                                return Err(CodecError::DuplicateKey { offset: key_start })
                            }
                            Ordering::Greater => {
                                return Err(CodecError::NonCanonical {
                                    offset: key_start,
                                    reason: "map keys not in bytewise ascending order",
                                })
                            }
                        }
                    }
                    previous_key = Some(key_bytes);
                    let value = self.item(depth + 1)?;
                    entries.push((key, value));
                }
                Ok(Value::Map(entries))
            }
            6 => {
                self.enter(start, depth)?;
                let tag = self.argument(start, info)?;
                let inner = self.item(depth + 1)?;
                Ok(Value::Tag(tag, Box::new(inner)))
            }
            _ => self.simple_or_float(start, info),
        }
    }

    fn enter(&self, start: usize, depth: usize) -> Result<(), CodecError> {
        if depth >= self.max_depth {
            return Err(CodecError::TooDeep {
                offset: start,
                max: self.max_depth,
            });
        }
        Ok(())
    }

    fn simple_or_float(&mut self, start: usize, info: u8) -> Result<Value, CodecError> {
        let value = match info {
            20 => return Ok(Value::Bool(false)),
            21 => return Ok(Value::Bool(true)),
            22 => return Ok(Value::Null),
            23 => {
                return Err(CodecError::Unsupported {
                    offset: start,
                    what: "the simple value 'undefined'",
                })
            }
            25 => f16_to_f64(u16::from_be_bytes(self.array::<2>()?)),
            26 => f64::from(f32::from_be_bytes(self.array::<4>()?)),
            27 => f64::from_be_bytes(self.array::<8>()?),
            31 => {
                return Err(CodecError::Malformed {
                    offset: start,
                    reason: "'break' outside an indefinite-length item",
                })
            }
            28..=30 => {
                return Err(CodecError::Malformed {
                    offset: start,
                    reason: "reserved additional information value",
                })
            }
            _ => {
                return Err(CodecError::Unsupported {
                    offset: start,
                    what: "simple values other than false, true and null",
                })
            }
        };
        if !value.is_finite() {
            return Err(CodecError::Unsupported {
                offset: start,
                what: "NaN and infinite floats",
            });
        }
        let width = self.pos - start;
        if encoded_float(value).len() != width {
            return Err(CodecError::NonCanonical {
                offset: start,
                reason: "float not in its shortest exact width",
            });
        }
        Ok(Value::Float(value))
    }
}

impl Value {
    /// The core deterministic encoding (RFC 8949 §4.2.1) of this value.
    ///
    /// Map keys are sorted by their encoded bytes here, whatever order they were built in.
    /// Map keys must be unique; a map built with duplicate keys encodes to bytes that
    /// [`decode`] refuses, and debug builds assert against it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Unsigned(n) => head(out, 0, *n),
            Value::Negative(n) => head(out, 1, *n),
            Value::Bytes(b) => {
                head(out, 2, b.len() as u64);
                out.extend_from_slice(b);
            }
            Value::Text(t) => {
                head(out, 3, t.len() as u64);
                out.extend_from_slice(t.as_bytes());
            }
            Value::Array(items) => {
                head(out, 4, items.len() as u64);
                for item in items {
                    item.encode_into(out);
                }
            }
            Value::Map(entries) => {
                let mut encoded: Vec<(Vec<u8>, &Value)> =
                    entries.iter().map(|(k, v)| (k.to_bytes(), v)).collect();
                encoded.sort_by(|a, b| a.0.cmp(&b.0));
                debug_assert!(
                    encoded.windows(2).all(|w| match w {
                        [a, b] => a.0 != b.0,
                        _ => true,
                    }),
                    "CBOR map built with duplicate keys"
                );
                head(out, 5, encoded.len() as u64);
                for (key, value) in encoded {
                    out.extend_from_slice(&key);
                    value.encode_into(out);
                }
            }
            Value::Tag(tag, inner) => {
                head(out, 6, *tag);
                inner.encode_into(out);
            }
            Value::Bool(false) => out.push(0xf4),
            Value::Bool(true) => out.push(0xf5),
            Value::Null => out.push(0xf6),
            Value::Float(f) => out.extend_from_slice(&encoded_float(*f)),
        }
    }

    /// An integer value from an `i64`.
    pub fn int(n: i64) -> Value {
        if n >= 0 {
            Value::Unsigned(n.unsigned_abs())
        } else {
            Value::Negative(n.unsigned_abs() - 1)
        }
    }

    /// A text value.
    pub fn text(s: impl Into<String>) -> Value {
        Value::Text(s.into())
    }

    /// A byte-string value.
    pub fn bytes(b: impl Into<Vec<u8>>) -> Value {
        Value::Bytes(b.into())
    }

    /// This value as an `i64`, if it is an integer in range.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Unsigned(n) => i64::try_from(*n).ok(),
            Value::Negative(n) => i64::try_from(*n).ok().map(|n| -1 - n),
            _ => None,
        }
    }

    /// This value as a `u64`, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Unsigned(n) => Some(*n),
            _ => None,
        }
    }

    /// The text, if this is a text string.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The bytes, if this is a byte string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The items, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The entries, if this is a map.
    pub fn as_map(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// A short name of this value's CBOR type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Unsigned(_) | Value::Negative(_) => "integer",
            Value::Bytes(_) => "byte string",
            Value::Text(_) => "text string",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
            Value::Tag(..) => "tagged item",
            Value::Bool(_) => "boolean",
            Value::Null => "null",
            Value::Float(_) => "float",
        }
    }
}

/// Appends the head of a data item of major type `major` with argument `n`, shortest form
/// (RFC 8949 §4.2.1).
pub(crate) fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n <= 0xff {
        out.push(m | 24);
        out.push(n as u8);
    } else if n <= 0xffff {
        out.push(m | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= 0xffff_ffff {
        out.push(m | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Shortest exact encoding of a finite float (RFC 8949 §4.2.2 preferred serialization).
fn encoded_float(v: f64) -> Vec<u8> {
    if let Some(half) = f64_to_f16_exact(v) {
        let mut out = vec![0xf9];
        out.extend_from_slice(&half.to_be_bytes());
        return out;
    }
    let single = v as f32;
    if f64::from(single) == v {
        let mut out = vec![0xfa];
        out.extend_from_slice(&single.to_be_bytes());
        return out;
    }
    let mut out = vec![0xfb];
    out.extend_from_slice(&v.to_be_bytes());
    out
}

/// The IEEE 754 binary16 bits of `v` if `v` is exactly representable in half precision.
fn f64_to_f16_exact(v: f64) -> Option<u16> {
    let single = v as f32;
    if f64::from(single) != v || !v.is_finite() {
        return None;
    }
    let bits = single.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exponent = ((bits >> 23) & 0xff) as i32;
    let mantissa = bits & 0x7f_ffff;
    if exponent == 0 {
        // Zero survives; binary32 subnormals are far below binary16's range.
        return (mantissa == 0).then_some(sign);
    }
    let e = exponent - 127;
    if (-14..=15).contains(&e) {
        if mantissa & 0x1fff != 0 {
            return None;
        }
        return Some(sign | (((e + 15) as u16) << 10) | (mantissa >> 13) as u16);
    }
    if (-24..-14).contains(&e) {
        let significand = mantissa | 0x80_0000;
        let shift = (-(e + 1)) as u32;
        if significand & ((1u32 << shift) - 1) != 0 {
            return None;
        }
        return Some(sign | (significand >> shift) as u16);
    }
    None
}

fn f16_to_f64(half: u16) -> f64 {
    let sign = if half & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((half >> 10) & 0x1f);
    let mantissa = f64::from(half & 0x3ff);
    match exponent {
        0 => sign * mantissa * 2f64.powi(-24),
        31 if mantissa == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + mantissa / 1024.0) * 2f64.powi(exponent - 15),
    }
}

impl fmt::Display for Value {
    /// CBOR diagnostic notation (RFC 8949 §8), for humans and error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Unsigned(n) => write!(f, "{n}"),
            Value::Negative(n) => write!(f, "-{}", u128::from(*n) + 1),
            Value::Bytes(b) => write!(f, "h'{}'", hex::encode(b)),
            Value::Text(t) => write!(f, "{t:?}"),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            Value::Tag(tag, inner) => write!(f, "{tag}({inner})"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Null => f.write_str("null"),
            Value::Float(v) => write!(f, "{v:?}"),
        }
    }
}

/// Why a JSON value could not be carried as CBOR, or the reverse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonBridgeError {
    /// A JSON number that is neither a 64-bit integer nor a finite double.
    #[error("JSON number {0} cannot be represented exactly")]
    Number(String),
    /// JSON nested deeper than [`MAX_DEPTH`].
    #[error("JSON nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// A CBOR item with no JSON equivalent (byte strings, tags, non-text map keys).
    #[error("CBOR {0} has no JSON equivalent")]
    NotJson(&'static str),
    /// An integer outside JSON's interoperable range.
    #[error("CBOR integer {0} is outside the range JSON carries")]
    IntegerRange(String),
}

impl JsonBridgeError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            JsonBridgeError::Number(_) => "json.number",
            JsonBridgeError::TooDeep => "json.too_deep",
            JsonBridgeError::NotJson(_) => "json.not_json",
            JsonBridgeError::IntegerRange(_) => "json.integer_range",
        }
    }
}

/// Carries a JSON value (a SCIM resource, a PATCH body) into CBOR.
///
/// Integers stay integers; other numbers become floats; object member order is irrelevant because
/// the encoder sorts map keys.
pub fn from_json(json: &serde_json::Value) -> Result<Value, JsonBridgeError> {
    from_json_at(json, 0)
}

fn from_json_at(json: &serde_json::Value, depth: usize) -> Result<Value, JsonBridgeError> {
    if depth >= MAX_DEPTH {
        return Err(JsonBridgeError::TooDeep);
    }
    Ok(match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::Unsigned(u)
            } else if let Some(i) = n.as_i64() {
                Value::int(i)
            } else {
                match n.as_f64() {
                    Some(f) if f.is_finite() => Value::Float(f),
                    _ => return Err(JsonBridgeError::Number(n.to_string())),
                }
            }
        }
        serde_json::Value::String(s) => Value::Text(s.clone()),
        serde_json::Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| from_json_at(item, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        serde_json::Value::Object(members) => Value::Map(
            members
                .iter()
                .map(|(k, v)| Ok((Value::Text(k.clone()), from_json_at(v, depth + 1)?)))
                .collect::<Result<_, JsonBridgeError>>()?,
        ),
    })
}

/// Carries a CBOR value back to JSON; refuses anything JSON cannot hold.
pub fn to_json(value: &Value) -> Result<serde_json::Value, JsonBridgeError> {
    to_json_at(value, 0)
}

fn to_json_at(value: &Value, depth: usize) -> Result<serde_json::Value, JsonBridgeError> {
    if depth >= MAX_DEPTH {
        return Err(JsonBridgeError::TooDeep);
    }
    Ok(match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Unsigned(n) => serde_json::Value::from(*n),
        Value::Negative(_) => match value.as_i64() {
            Some(i) => serde_json::Value::from(i),
            None => return Err(JsonBridgeError::IntegerRange(value.to_string())),
        },
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .ok_or_else(|| JsonBridgeError::Number(f.to_string()))?,
        Value::Text(t) => serde_json::Value::String(t.clone()),
        Value::Array(items) => serde_json::Value::Array(
            items
                .iter()
                .map(|item| to_json_at(item, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(entries) => {
            let mut object = serde_json::Map::with_capacity(entries.len());
            for (k, v) in entries {
                let Value::Text(key) = k else {
                    return Err(JsonBridgeError::NotJson("map key that is not text"));
                };
                object.insert(key.clone(), to_json_at(v, depth + 1)?);
            }
            serde_json::Value::Object(object)
        }
        Value::Bytes(_) => return Err(JsonBridgeError::NotJson("byte string")),
        Value::Tag(..) => return Err(JsonBridgeError::NotJson("tagged item")),
    })
}

/// Why a decoded CBOR structure does not have the shape a zkscim object needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// The top-level item is the wrong CBOR type.
    #[error("{object} must be a CBOR {expected}, found a {found}")]
    WrongType {
        /// Which object or field.
        object: &'static str,
        /// Expected CBOR type.
        expected: &'static str,
        /// Found CBOR type.
        found: &'static str,
    },
    /// A required field is absent.
    #[error("{object} is missing field {key} ({name})")]
    Missing {
        /// Which object.
        object: &'static str,
        /// The field's CBOR key.
        key: i64,
        /// The field's name.
        name: &'static str,
    },
    /// A field with a key the format does not define.
    #[error("{object} has unknown field {key}")]
    Unknown {
        /// Which object.
        object: &'static str,
        /// The unexpected key, in diagnostic notation.
        key: String,
    },
    /// A field whose value is not acceptable.
    #[error("{object} field {key} ({name}) is invalid: {reason}")]
    Invalid {
        /// Which object.
        object: &'static str,
        /// The field's CBOR key.
        key: i64,
        /// The field's name.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

impl ShapeError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ShapeError::WrongType { .. } => "shape.wrong_type",
            ShapeError::Missing { .. } => "shape.missing_field",
            ShapeError::Unknown { .. } => "shape.unknown_field",
            ShapeError::Invalid { .. } => "shape.invalid_field",
        }
    }
}

/// Reads an integer-keyed CBOR map field by field, with errors that name the field.
///
/// Every field must be consumed: [`FieldReader::finish`] refuses keys nobody asked for, so an
/// object can never carry signed content that this version silently ignores.
#[derive(Debug)]
pub struct FieldReader<'a> {
    object: &'static str,
    entries: Vec<(i64, &'a Value)>,
    consumed: Vec<bool>,
}

impl<'a> FieldReader<'a> {
    /// Starts reading `value`, which must be a map with integer keys.
    pub fn new(object: &'static str, value: &'a Value) -> Result<Self, ShapeError> {
        let Value::Map(map) = value else {
            return Err(ShapeError::WrongType {
                object,
                expected: "map",
                found: value.type_name(),
            });
        };
        let mut entries = Vec::with_capacity(map.len());
        for (k, v) in map {
            match k.as_i64() {
                Some(key) => entries.push((key, v)),
                None => {
                    return Err(ShapeError::Unknown {
                        object,
                        key: k.to_string(),
                    })
                }
            }
        }
        let consumed = vec![false; entries.len()];
        Ok(FieldReader {
            object,
            entries,
            consumed,
        })
    }

    /// The object name used in errors.
    pub fn object(&self) -> &'static str {
        self.object
    }

    /// The raw value of an optional field.
    pub fn optional(&mut self, key: i64) -> Option<&'a Value> {
        let position = self.entries.iter().position(|(k, _)| *k == key)?;
        if let Some(flag) = self.consumed.get_mut(position) {
            *flag = true;
        }
        self.entries.get(position).map(|(_, v)| *v)
    }

    /// The raw value of a required field.
    pub fn required(&mut self, key: i64, name: &'static str) -> Result<&'a Value, ShapeError> {
        self.optional(key).ok_or(ShapeError::Missing {
            object: self.object,
            key,
            name,
        })
    }

    /// An error for field `key` saying why its value is unacceptable.
    pub fn invalid(&self, key: i64, name: &'static str, reason: impl Into<String>) -> ShapeError {
        ShapeError::Invalid {
            object: self.object,
            key,
            name,
            reason: reason.into(),
        }
    }

    /// A required non-negative integer field.
    pub fn uint(&mut self, key: i64, name: &'static str) -> Result<u64, ShapeError> {
        let v = self.required(key, name)?;
        v.as_u64().ok_or_else(|| {
            self.invalid(
                key,
                name,
                format!("expected unsigned integer, found {}", v.type_name()),
            )
        })
    }

    /// A required text field.
    pub fn text(&mut self, key: i64, name: &'static str) -> Result<&'a str, ShapeError> {
        let v = self.required(key, name)?;
        v.as_text().ok_or_else(|| {
            self.invalid(key, name, format!("expected text, found {}", v.type_name()))
        })
    }

    /// An optional text field.
    pub fn optional_text(
        &mut self,
        key: i64,
        name: &'static str,
    ) -> Result<Option<&'a str>, ShapeError> {
        match self.optional(key) {
            None => Ok(None),
            Some(v) => v.as_text().map(Some).ok_or_else(|| {
                self.invalid(key, name, format!("expected text, found {}", v.type_name()))
            }),
        }
    }

    /// A required byte-string field.
    pub fn bytes(&mut self, key: i64, name: &'static str) -> Result<&'a [u8], ShapeError> {
        let v = self.required(key, name)?;
        v.as_bytes().ok_or_else(|| {
            self.invalid(
                key,
                name,
                format!("expected byte string, found {}", v.type_name()),
            )
        })
    }

    /// A required byte-string field of exactly `N` bytes.
    pub fn fixed_bytes<const N: usize>(
        &mut self,
        key: i64,
        name: &'static str,
    ) -> Result<[u8; N], ShapeError> {
        let raw = self.bytes(key, name)?;
        <[u8; N]>::try_from(raw).map_err(|_| {
            self.invalid(
                key,
                name,
                format!("expected {N} bytes, found {}", raw.len()),
            )
        })
    }

    /// A required array field.
    pub fn array(&mut self, key: i64, name: &'static str) -> Result<&'a [Value], ShapeError> {
        let v = self.required(key, name)?;
        v.as_array().ok_or_else(|| {
            self.invalid(
                key,
                name,
                format!("expected array, found {}", v.type_name()),
            )
        })
    }

    /// A required array of text strings.
    pub fn text_array(&mut self, key: i64, name: &'static str) -> Result<Vec<&'a str>, ShapeError> {
        let items = self.array(key, name)?;
        items
            .iter()
            .map(|item| {
                item.as_text().ok_or_else(|| {
                    self.invalid(
                        key,
                        name,
                        format!("expected text items, found {}", item.type_name()),
                    )
                })
            })
            .collect()
    }

    /// Ends reading: refuses any field that was not asked for.
    pub fn finish(self) -> Result<(), ShapeError> {
        for ((key, _), used) in self.entries.iter().zip(&self.consumed) {
            if !used {
                return Err(ShapeError::Unknown {
                    object: self.object,
                    key: key.to_string(),
                });
            }
        }
        Ok(())
    }
}

/// Builds an integer-keyed map, skipping absent optional fields.
#[derive(Debug, Default)]
pub struct MapBuilder {
    entries: Vec<(Value, Value)>,
}

impl MapBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        MapBuilder::default()
    }

    /// Adds field `key`.
    pub fn field(mut self, key: i64, value: Value) -> Self {
        self.entries.push((Value::int(key), value));
        self
    }

    /// Adds field `key` if `value` is present.
    pub fn optional(self, key: i64, value: Option<Value>) -> Self {
        match value {
            Some(v) => self.field(key, v),
            None => self,
        }
    }

    /// The finished map value.
    pub fn build(self) -> Value {
        Value::Map(self.entries)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn to_json_names_what_json_cannot_hold() {
        use super::JsonBridgeError as E;
        let mut deep = Value::Null;
        for _ in 0..(super::MAX_DEPTH + 1) {
            deep = Value::Array(vec![deep]);
        }
        let text = |t: &str| Value::Text(t.to_owned());
        let fine = Value::Map(vec![
            (text("a"), Value::Unsigned(1)),
            (
                text("b"),
                Value::Array(vec![Value::Bool(true), Value::Null]),
            ),
            (text("c"), Value::Negative(5)),
            (text("d"), Value::Float(1.5)),
        ]);
        assert_eq!(
            super::to_json(&fine).unwrap(),
            serde_json::json!({"a": 1, "b": [true, null], "c": -6, "d": 1.5})
        );
        let cases = [
            (
                Value::Negative(u64::MAX),
                E::IntegerRange(Value::Negative(u64::MAX).to_string()),
            ),
            (Value::Float(f64::NAN), E::Number(f64::NAN.to_string())),
            (
                Value::Map(vec![(Value::Unsigned(1), Value::Null)]),
                E::NotJson("map key that is not text"),
            ),
            (
                Value::Array(vec![text("ok"), Value::Bytes(vec![1])]),
                E::NotJson("byte string"),
            ),
            (
                Value::Map(vec![(text("t"), Value::Tag(1, Box::new(Value::Null)))]),
                E::NotJson("tagged item"),
            ),
            // The first error in document order wins.
            (
                Value::Array(vec![Value::Negative(u64::MAX), Value::Bytes(vec![])]),
                E::IntegerRange(Value::Negative(u64::MAX).to_string()),
            ),
            (deep, E::TooDeep),
        ];
        for (value, error) in cases {
            assert_eq!(super::to_json(&value), Err(error), "{value:?}");
        }
        assert!(super::to_json(&Value::Negative(i64::MAX as u64)).is_ok());
    }

    use super::*;

    /// Any value, JSON-representable or not, shallow or past the depth limit.
    fn any_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            any::<u64>().prop_map(Value::Unsigned),
            prop_oneof![any::<u64>(), 0..8u64].prop_map(Value::Negative),
            proptest::collection::vec(any::<u8>(), 0..3).prop_map(Value::Bytes),
            "[a-c]{0,2}".prop_map(Value::Text),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
            prop_oneof![any::<f64>(), Just(f64::NAN), Just(f64::INFINITY)].prop_map(Value::Float),
        ];
        leaf.prop_recursive(MAX_DEPTH as u32 + 2, 256, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((inner.clone(), inner.clone()), 0..3)
                    .prop_map(Value::Map),
                proptest::collection::vec(("[a-c]{1,2}", inner.clone()), 0..3).prop_map(|m| {
                    Value::Map(m.into_iter().map(|(k, v)| (Value::Text(k), v)).collect())
                }),
                (0..3u64, inner).prop_map(|(t, v)| Value::Tag(t, Box::new(v))),
            ]
        })
    }

    proptest::proptest! {
        /// A statement keeps its resource as JSON and encodes it back with `from_json`: every
        /// value that decodes and converts must come back as the very same bytes.
        #[test]
        fn decodable_values_round_trip_through_json(value in any_value()) {
            fn distinct_keys(v: &Value) -> bool {
                match v {
                    Value::Array(items) => items.iter().all(distinct_keys),
                    Value::Map(entries) => {
                        // Keys are encoded only once they are known to be encodable themselves.
                        entries.iter().all(|(k, v)| distinct_keys(k) && distinct_keys(v)) && {
                            let keys: std::collections::BTreeSet<Vec<u8>> =
                                entries.iter().map(|(k, _)| k.to_bytes()).collect();
                            keys.len() == entries.len()
                        }
                    }
                    Value::Tag(_, inner) => distinct_keys(inner),
                    _ => true,
                }
            }
            // A map with a repeated key cannot be encoded (nor decoded): not a value to convert.
            proptest::prop_assume!(distinct_keys(&value));
            let bytes = value.to_bytes();
            if let (Ok(_), Ok(json)) = (decode(&bytes), to_json(&value)) {
                let back = from_json(&json).map(|v| v.to_bytes());
                proptest::prop_assert_eq!(back, Ok(bytes));
            }
        }
    }

    fn roundtrip(v: &Value) {
        let bytes = v.to_bytes();
        let decoded = decode(&bytes).unwrap();
        assert_eq!(decoded.to_bytes(), bytes, "bytes {}", hex::encode(&bytes));
    }

    #[test]
    fn rfc8949_appendix_a_integers() {
        let cases: &[(Value, &str)] = &[
            (Value::Unsigned(0), "00"),
            (Value::Unsigned(23), "17"),
            (Value::Unsigned(24), "1818"),
            (Value::Unsigned(100), "1864"),
            (Value::Unsigned(1000), "1903e8"),
            (Value::Unsigned(1_000_000), "1a000f4240"),
            (Value::Unsigned(1_000_000_000_000), "1b000000e8d4a51000"),
            (Value::Unsigned(u64::MAX), "1bffffffffffffffff"),
            (Value::Negative(u64::MAX), "3bffffffffffffffff"),
            (Value::int(-1), "20"),
            (Value::int(-10), "29"),
            (Value::int(-100), "3863"),
            (Value::int(-1000), "3903e7"),
        ];
        for (v, h) in cases {
            assert_eq!(hex::encode(v.to_bytes()), *h);
            roundtrip(v);
        }
    }

    #[test]
    fn rfc8949_appendix_a_floats_shortest() {
        let cases: &[(f64, &str)] = &[
            (0.0, "f90000"),
            (-0.0, "f98000"),
            (1.0, "f93c00"),
            (1.1, "fb3ff199999999999a"),
            (1.5, "f93e00"),
            (65504.0, "f97bff"),
            (100000.0, "fa47c35000"),
            (3.4028234663852886e+38, "fa7f7fffff"),
            (1.0e+300, "fb7e37e43c8800759c"),
            (5.960464477539063e-8, "f90001"),
            (0.00006103515625, "f90400"),
            (-4.0, "f9c400"),
            (-4.1, "fbc010666666666666"),
        ];
        for (f, h) in cases {
            assert_eq!(hex::encode(Value::Float(*f).to_bytes()), *h, "{f}");
            roundtrip(&Value::Float(*f));
        }
    }

    #[test]
    fn map_keys_sorted_bytewise() {
        let v = Value::Map(vec![
            (Value::text("aa"), Value::Unsigned(1)),
            (Value::text("b"), Value::Unsigned(2)),
            (Value::int(-1), Value::Unsigned(3)),
            (Value::Unsigned(10), Value::Unsigned(4)),
            (Value::Unsigned(100), Value::Unsigned(5)),
        ]);
        // 0x0a < 0x1864 < 0x20 < 0x6162 ("b") < 0x626161 ("aa")
        assert_eq!(hex::encode(v.to_bytes()), "a50a04186405200361620262616101");
        roundtrip(&v);
    }

    #[test]
    fn refuses_non_canonical_forms() {
        let cases: &[(&str, &str)] = &[
            ("1817", "cbor.non_canonical"),     // 23 in two bytes
            ("190017", "cbor.non_canonical"),   // 23 in three bytes
            ("5f4100ff", "cbor.non_canonical"), // indefinite bytes
            ("9f01ff", "cbor.non_canonical"),   // indefinite array
            ("a10101ff", "cbor.trailing_bytes"),
            ("a202010101", "cbor.non_canonical"), // keys 2 then 1
            ("a201010101", "cbor.duplicate_key"),
            ("fa3f800000", "cbor.non_canonical"), // 1.0 as f32
            ("f97e00", "cbor.unsupported"),       // NaN
            ("f7", "cbor.unsupported"),           // undefined
            ("f0", "cbor.unsupported"),           // simple(16)
            ("1c", "cbor.malformed"),
            ("ff", "cbor.malformed"),
            ("62c328", "cbor.invalid_utf8"),
            ("0001", "cbor.trailing_bytes"),
            ("", "cbor.truncated"),
            ("1a0001", "cbor.truncated"),
            ("5a7fffffff00", "cbor.truncated"),
            ("9bffffffffffffffff", "cbor.truncated"),
        ];
        for (h, code) in cases {
            let err = decode(&hex::decode(h).unwrap()).unwrap_err();
            assert_eq!(err.code(), *code, "{h}: {err}");
        }
    }

    #[test]
    fn depth_and_size_limits() {
        let mut deep = vec![0x81u8; MAX_DEPTH];
        deep.push(0x00);
        assert!(decode(&deep).is_ok());
        let mut too_deep = vec![0x81u8; MAX_DEPTH + 1];
        too_deep.push(0x00);
        assert_eq!(decode(&too_deep).unwrap_err().code(), "cbor.too_deep");
        let big = Value::Bytes(vec![0; MAX_OBJECT_BYTES]).to_bytes();
        assert_eq!(decode(&big).unwrap_err().code(), "cbor.too_large");
    }

    #[test]
    fn json_bridge_roundtrip() {
        let json = serde_json::json!({"b": [1, -2, 1.5, "x", null, true], "a": {"z": 18446744073709551615u64}});
        let cbor = from_json(&json).unwrap();
        let back = to_json(&decode(&cbor.to_bytes()).unwrap()).unwrap();
        assert_eq!(back, json);
    }
}
