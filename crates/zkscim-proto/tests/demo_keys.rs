//! The keys/ folder must hold exactly the RFC 8032 test-vector keys the docs describe.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use zkscim_proto::keys::{PublicKey, SigningKey};

const DEMO_KEYS: &[(&str, &str)] = &[
    (
        "demo-root",
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    ),
    (
        "demo-admin",
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    ),
    (
        "demo-connector",
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
    ),
    (
        "demo-log",
        "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
    ),
    (
        "demo-witness",
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
    ),
];

#[test]
fn demo_keys_match_rfc8032_seeds() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../keys");
    for (name, seed_hex) in DEMO_KEYS {
        let pem = std::fs::read_to_string(format!("{dir}/{name}.pem")).unwrap();
        let key = SigningKey::from_pkcs8_pem(&pem).unwrap();
        let mut seed = [0u8; 32];
        hex::decode_to_slice(seed_hex, &mut seed).unwrap();
        assert_eq!(
            key.key_id(),
            SigningKey::from_seed(&seed).key_id(),
            "{name}.pem"
        );
        let public = std::fs::read_to_string(format!("{dir}/{name}.pub")).unwrap();
        assert_eq!(
            PublicKey::from_text(&public).unwrap(),
            key.public_key(),
            "{name}.pub"
        );
        // Our own PEM writer produces the same file, byte for byte.
        assert_eq!(
            key.to_pkcs8_pem().unwrap().as_str(),
            pem,
            "{name}.pem encoding"
        );
    }
}
