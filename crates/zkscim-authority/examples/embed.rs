//! Embedding the authority in your own service: open it on a SQLite file, nest its router
//! under your own, submit from code, and follow the log as an event feed.
//!
//! Run: `cargo run -p zkscim-authority --example embed`
//! (uses a temporary database and the public demo keys; never use those keys in production).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::routing::get;
use axum::Router;
use zkscim_authority::http::{router, HttpConfig};
use zkscim_authority::{Authority, Config, ReceiptOutcome};
use zkscim_proto::envelope::{Envelope, Genesis, Header};
use zkscim_proto::keys::SigningKey;

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    // The log key signs checkpoints; keep a real one in a 0600 file (see `zkscim serve`).
    let log_key = SigningKey::generate(&mut rand_core::OsRng);
    let authority = Authority::open(Config::new(dir.path().join("zkscim.db"), &log_key)).unwrap();

    // Nest the authority's API under your own application.
    let app: Router = Router::new().route("/", get(|| async { "my SaaS" })).nest(
        "/identity",
        router(
            authority.clone(),
            HttpConfig::with_admin_token("operator-secret"),
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!(
        "serving on http://{}/identity",
        listener.local_addr().unwrap()
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // Tenant creation from code (your operator authentication happened elsewhere).
    let root = SigningKey::from_seed(&[7; 32]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = Header::new("acme", now, vec![], &mut rand_core::OsRng);
    let genesis = Envelope::new(
        header,
        Genesis {
            root: root.public_key(),
        },
    )
    .sign(&root);
    let receipt = authority.submit("acme", genesis, true).await.unwrap();
    assert!(matches!(receipt.outcome, ReceiptOutcome::Applied { .. }));
    println!("tenant acme created at log index {}", receipt.index);

    // The log is the event feed: remember the last index you processed and resume after it.
    let mut cursor = 0;
    loop {
        let (events, next) = authority.events("acme", cursor, 100).unwrap();
        if events.is_empty() {
            break;
        }
        for entry in events {
            println!("event {}: {:?} {:?}", entry.seq, entry.kind, entry.outcome);
        }
        cursor = next;
    }
    println!("feed cursor now {cursor}");

    server.abort();
    authority.shutdown();
}
