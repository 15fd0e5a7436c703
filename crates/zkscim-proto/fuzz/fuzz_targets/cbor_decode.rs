//! Decodes arbitrary bytes as deterministic CBOR. Whatever is accepted must re-encode to exactly
//! the input (the decoder accepts canonical encodings only), must decode again to the same value,
//! and the JSON bridge must not panic on it.
#![no_main]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use libfuzzer_sys::fuzz_target;
use zkscim_proto::codec::{self, Limits};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = codec::decode(data) else {
        return;
    };
    let encoded = value.to_bytes();
    assert_eq!(encoded, data, "accepted a non-canonical encoding");
    assert_eq!(codec::decode(&encoded).as_ref(), Ok(&value));
    // Tighter limits may refuse, but must agree when they accept.
    let tight = Limits {
        max_bytes: data.len(),
        max_depth: 4,
    };
    if let Ok(again) = codec::decode_with_limits(data, tight) {
        assert_eq!(again, value);
    }
    if let Ok(json) = codec::to_json(&value) {
        let _ = codec::from_json(&json);
    }
    let _ = value.to_string();
});
