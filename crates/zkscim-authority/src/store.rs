//! Persistent state behind the [`Store`] boundary, and its SQLite implementation.
//!
//! Everything is partitioned by tenant: every table's key starts with the tenant id and every
//! query names it, so no query of one tenant can return another's rows.
//!
//! The log writer is the only writer. It opens one [`StoreTxn`] per commit batch, and every
//! effect of a batch (directory changes, log entries, submitted bytes, nonces, Merkle nodes, the
//! log head and its checkpoint) lands in that one transaction or not at all. Readers use their own
//! connections ([`SqliteStore::reader`]) and, thanks to WAL, never block the writer.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

/// Schema version this build writes. Migrations below bring older files up to it.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Why the store failed. Store failures abort the whole batch; nothing is half-applied.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database file was written by a newer zkscim.
    #[error("database schema version {found} is newer than this build supports ({supported}); upgrade zkscim")]
    TooNew {
        /// Version in the file.
        found: i64,
        /// Version this build supports.
        supported: i64,
    },
    /// Another process holds the database's writer lock.
    #[error(
        "{0} is already open for writing by another zkscim process (one database, one writer)"
    )]
    Locked(String),
    /// Stored data does not decode: the file was altered outside zkscim.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Sqlite(_) => "store.sqlite",
            StoreError::TooNew { .. } => "store.too_new",
            StoreError::Corrupt(_) => "store.corrupt",
            StoreError::Locked(_) => "store.locked",
        }
    }
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// A tenant as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRow {
    /// Tenant id.
    pub tenant: String,
    /// Raw root public key.
    pub root_key: [u8; 32],
    /// Encoded protection profile, if one was set by a policy statement.
    pub profile: Option<Vec<u8>>,
}

/// The head of a tenant's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHead {
    /// Number of entries.
    pub size: u64,
    /// Hash of the last entry (all zero for an empty log).
    pub last_entry_hash: [u8; 32],
    /// Serialized Merkle frontier.
    pub frontier: Vec<u8>,
    /// Latest signed checkpoint (signed-note text).
    pub checkpoint: String,
}

/// A stored SCIM resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRow {
    /// Resource type name.
    pub resource_type: String,
    /// Resource id.
    pub id: String,
    /// Version counter (the ETag is `W/"<version>"`).
    pub version: u64,
    /// The resource JSON without `members` (groups keep members in their own table).
    pub body: String,
    /// Log index of the entry that last changed it.
    pub last_seq: u64,
}

/// A stored log entry: its index, its bytes and the hash of the bytes it records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRow {
    /// Log index.
    pub seq: u64,
    /// Encoded entry.
    pub entry: Vec<u8>,
    /// SHA-256 of the submitted bytes.
    pub submitted_hash: [u8; 32],
}

/// A certificate as first seen in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRow {
    /// Certificate id.
    pub id: [u8; 32],
    /// Exact bytes.
    pub bytes: Vec<u8>,
    /// Log index of its first-seen entry.
    pub seq: u64,
}

/// The write side of one commit batch.
pub trait StoreTxn {
    /// Creates a tenant.
    fn insert_tenant(&mut self, tenant: &str, root_key: &[u8; 32]) -> StoreResult<()>;
    /// Replaces a tenant's protection profile.
    fn set_profile(&mut self, tenant: &str, profile: &[u8]) -> StoreResult<()>;
    /// The log index of an earlier identical submission.
    fn submission_seq(&mut self, tenant: &str, hash: &[u8; 32]) -> StoreResult<Option<u64>>;
    /// The submitted-bytes hash that used `nonce` first.
    fn nonce_owner(&mut self, tenant: &str, nonce: &[u8]) -> StoreResult<Option<[u8; 32]>>;
    /// Records a used nonce.
    fn insert_nonce(&mut self, tenant: &str, nonce: &[u8], hash: &[u8; 32]) -> StoreResult<()>;
    /// Whether a certificate was seen.
    fn certificate_seen(&mut self, tenant: &str, id: &[u8; 32]) -> StoreResult<bool>;
    /// Records a certificate's first sighting.
    fn insert_certificate(
        &mut self,
        tenant: &str,
        id: &[u8; 32],
        bytes: &[u8],
        seq: u64,
    ) -> StoreResult<()>;
    /// A certificate's bytes.
    fn certificate(&mut self, tenant: &str, id: &[u8; 32]) -> StoreResult<Option<CertificateRow>>;
    /// Records a revocation.
    fn insert_revocation(&mut self, tenant: &str, id: &[u8; 32], seq: u64) -> StoreResult<()>;
    /// Records that the entry at `seq`, already appended, approves the statement hashed
    /// `approves`.
    fn insert_approval(&mut self, tenant: &str, approves: &[u8; 32], seq: u64) -> StoreResult<()>;
    /// The approvals recorded for the statement hashed `approves` (the exact bytes submitted for
    /// each), in log order.
    fn approvals(&mut self, tenant: &str, approves: &[u8; 32]) -> StoreResult<Vec<Vec<u8>>>;
    /// A resource.
    fn resource(
        &mut self,
        tenant: &str,
        resource_type: &str,
        id: &str,
    ) -> StoreResult<Option<ResourceRow>>;
    /// Inserts or replaces a resource.
    fn put_resource(&mut self, tenant: &str, row: &ResourceRow) -> StoreResult<()>;
    /// Deletes a resource, its memberships and its unique-index claims.
    fn delete_resource(&mut self, tenant: &str, resource_type: &str, id: &str) -> StoreResult<()>;
    /// Whether `member` belongs to `group`.
    fn has_member(&mut self, tenant: &str, group: &str, member: &str) -> StoreResult<bool>;
    /// Adds members to a group (idempotent per member).
    fn add_members(&mut self, tenant: &str, group: &str, members: &[String]) -> StoreResult<()>;
    /// Removes members from a group.
    fn remove_members(&mut self, tenant: &str, group: &str, members: &[String]) -> StoreResult<()>;
    /// Removes every member of a group.
    fn clear_members(&mut self, tenant: &str, group: &str) -> StoreResult<()>;
    /// All members of a group, sorted.
    fn members(&mut self, tenant: &str, group: &str) -> StoreResult<Vec<String>>;
    /// Ids of resources holding an equality-search value (blind-index token or clear value).
    fn index_owners(
        &mut self,
        tenant: &str,
        resource_type: &str,
        attribute: &str,
        value: &str,
    ) -> StoreResult<Vec<String>>;
    /// The equality-search values a resource holds.
    fn resource_indexes(
        &mut self,
        tenant: &str,
        resource_type: &str,
        id: &str,
    ) -> StoreResult<Vec<(String, String)>>;
    /// Replaces the equality-search values a resource holds.
    fn set_indexes(
        &mut self,
        tenant: &str,
        resource_type: &str,
        id: &str,
        values: &[(String, String)],
    ) -> StoreResult<()>;
    /// Whether a certificate is revoked.
    fn is_revoked(&mut self, tenant: &str, id: &[u8; 32]) -> StoreResult<bool>;
    /// Whether any resource has this id.
    fn identity_exists(&mut self, tenant: &str, id: &str) -> StoreResult<bool>;
    /// Appends a log entry with its submitted bytes.
    fn append_entry(
        &mut self,
        tenant: &str,
        seq: u64,
        entry: &[u8],
        submitted_hash: &[u8; 32],
        submitted: &[u8],
    ) -> StoreResult<()>;
    /// Stores completed Merkle subtree hashes.
    fn put_nodes(&mut self, tenant: &str, nodes: &[(u32, u64, [u8; 32])]) -> StoreResult<()>;
    /// Stores the log head.
    fn put_head(&mut self, tenant: &str, head: &LogHead) -> StoreResult<()>;
    /// Commits everything.
    fn commit(self: Box<Self>) -> StoreResult<()>;
}

/// A storage engine. The authority needs exactly this much from one.
pub trait Store: Send {
    /// Starts a write transaction.
    fn begin(&mut self) -> StoreResult<Box<dyn StoreTxn + '_>>;
}

/// SQLite storage: one database file, WAL, `synchronous=FULL`.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Connection,
    checkpointer: Checkpointer,
    /// Held for the store's lifetime: a second writer on the same file would fork the log heads
    /// kept in memory.
    _lock: std::fs::File,
}

const MIGRATIONS: &[&str] = &[
    // Version 1.
    r#"
    CREATE TABLE tenants (
        tenant TEXT PRIMARY KEY,
        root_key BLOB NOT NULL,
        profile BLOB
    ) WITHOUT ROWID;
    CREATE TABLE log_entries (
        tenant TEXT NOT NULL,
        seq INTEGER NOT NULL,
        entry BLOB NOT NULL,
        submitted_hash BLOB NOT NULL,
        PRIMARY KEY (tenant, seq)
    ) WITHOUT ROWID;
    CREATE TABLE submissions (
        tenant TEXT NOT NULL,
        hash BLOB NOT NULL,
        seq INTEGER NOT NULL,
        bytes BLOB NOT NULL,
        PRIMARY KEY (tenant, hash)
    ) WITHOUT ROWID;
    CREATE TABLE nonces (
        tenant TEXT NOT NULL,
        nonce BLOB NOT NULL,
        hash BLOB NOT NULL,
        PRIMARY KEY (tenant, nonce)
    ) WITHOUT ROWID;
    CREATE TABLE merkle_nodes (
        tenant TEXT NOT NULL,
        level INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        hash BLOB NOT NULL,
        PRIMARY KEY (tenant, level, idx)
    ) WITHOUT ROWID;
    CREATE TABLE log_heads (
        tenant TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        last_entry_hash BLOB NOT NULL,
        frontier BLOB NOT NULL,
        checkpoint TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE certificates (
        tenant TEXT NOT NULL,
        id BLOB NOT NULL,
        bytes BLOB NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (tenant, id)
    ) WITHOUT ROWID;
    CREATE TABLE revocations (
        tenant TEXT NOT NULL,
        id BLOB NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (tenant, id)
    ) WITHOUT ROWID;
    CREATE TABLE resources (
        tenant TEXT NOT NULL,
        rtype TEXT NOT NULL,
        id TEXT NOT NULL,
        version INTEGER NOT NULL,
        body TEXT NOT NULL,
        last_seq INTEGER NOT NULL,
        PRIMARY KEY (tenant, rtype, id)
    ) WITHOUT ROWID;
    CREATE TABLE members (
        tenant TEXT NOT NULL,
        group_id TEXT NOT NULL,
        member TEXT NOT NULL,
        PRIMARY KEY (tenant, group_id, member)
    ) WITHOUT ROWID;
    CREATE INDEX members_by_member ON members (tenant, member);
    CREATE TABLE index_values (
        tenant TEXT NOT NULL,
        rtype TEXT NOT NULL,
        attribute TEXT NOT NULL,
        value TEXT NOT NULL,
        id TEXT NOT NULL,
        PRIMARY KEY (tenant, rtype, attribute, value, id)
    ) WITHOUT ROWID;
    CREATE INDEX index_values_by_owner ON index_values (tenant, rtype, id);
    "#,
    // Version 2: witness cosignatures served beside the checkpoint they sign.
    r#"
    CREATE TABLE cosignatures (
        tenant TEXT NOT NULL,
        size INTEGER NOT NULL,
        line TEXT NOT NULL,
        PRIMARY KEY (tenant, size, line)
    ) WITHOUT ROWID;
    "#,
    // Version 3: `identity_exists` looks resources up by id across types; without this index
    // that was a scan of every resource of the tenant, once per membership change.
    r#"
    CREATE INDEX resources_by_id ON resources (tenant, id);
    "#,
    // Version 4: submitted bytes in append order, found through a small index by hash. Kept in a
    // WITHOUT ROWID table keyed by hash, every statement of ~1.2 KB spilled into an overflow page
    // of its own, mostly empty: 94% of the file, and one more page written per submission.
    r#"
    CREATE TABLE submitted (
        id INTEGER PRIMARY KEY,
        tenant TEXT NOT NULL,
        bytes BLOB NOT NULL
    );
    CREATE TABLE submission_hashes (
        tenant TEXT NOT NULL,
        hash BLOB NOT NULL,
        seq INTEGER NOT NULL,
        submitted_id INTEGER NOT NULL,
        PRIMARY KEY (tenant, hash)
    ) WITHOUT ROWID;
    INSERT INTO submitted (id, tenant, bytes)
        SELECT ROW_NUMBER() OVER (ORDER BY tenant, seq, hash), tenant, bytes FROM submissions;
    INSERT INTO submission_hashes (tenant, hash, seq, submitted_id)
        SELECT tenant, hash, seq, ROW_NUMBER() OVER (ORDER BY tenant, seq, hash) FROM submissions;
    DROP TABLE submissions;
    "#,
    // Version 5: approvals (co-signatures), found by the hash of the statement they approve.
    // Their bytes are the submitted bytes of their own log entry, not stored a second time.
    r#"
    CREATE TABLE approvals (
        tenant TEXT NOT NULL,
        approves BLOB NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (tenant, approves, seq)
    ) WITHOUT ROWID;
    "#,
];

/// Most cosignatures kept per checkpoint.
pub const MAX_COSIGNATURES: usize = 32;

/// Stores a witness cosignature line for `tenant`'s checkpoint of size `size`, through its own
/// short-lived connection (cosignatures are rare and do not go through the log writer).
/// Returns false when the checkpoint already has [`MAX_COSIGNATURES`].
pub fn add_cosignature(path: &Path, tenant: &str, size: u64, line: &str) -> StoreResult<bool> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let count: i64 = conn.query_row(
        "SELECT COUNT(*) FROM cosignatures WHERE tenant = ?1 AND size = ?2",
        params![tenant, sql_int(size)],
        |r| r.get(0),
    )?;
    if count as usize >= MAX_COSIGNATURES {
        return Ok(false);
    }
    conn.execute(
        "INSERT OR IGNORE INTO cosignatures (tenant, size, line) VALUES (?1, ?2, ?3)",
        params![tenant, sql_int(size), line],
    )?;
    Ok(true)
}

/// Statements each connection keeps prepared: the writer's transaction cycles through about 25
/// distinct statements, more than rusqlite's default of 16, which made the cache thrash and
/// re-prepare statements on every submission.
const STATEMENT_CACHE: usize = 64;

/// The writer's page cache (KiB, as a negative `cache_size`): SQLite's default of 2 MiB made the
/// writer re-read index pages from the OS on most lookups once the log grew.
const WRITER_CACHE_KIB: i64 = 64 * 1024;

/// How often, at most, the checkpointer copies committed WAL frames back into the database
/// while the writer keeps up (small batches). Small, frequent checkpoints keep each fsync of the
/// database file short, and a long one delays the writer's own WAL fsyncs on the same device:
/// measured at 4,000 submissions/s, p99 was 36 ms with 100 ms between checkpoints, 20 ms with
/// 20 ms, 10 ms with 5 ms.
const CHECKPOINT_INTERVAL_LIGHT: Duration = Duration::from_millis(5);

/// The same when the writer is saturated (its batches hold [`SATURATED_BATCH`] entries or more):
/// each checkpoint copies the hot pages (B-tree interiors, the right edges of append-only
/// tables) once however many commits rewrote them, so fewer of them leave the CPU to the
/// writer (measured at full rate: 8,200 submissions/s with 100 ms, 6,500 with 5 ms).
const CHECKPOINT_INTERVAL_SATURATED: Duration = Duration::from_millis(100);

/// Entries per commit (averaged over the last few commits) from which the writer counts as
/// saturated: a writer that keeps up commits whatever arrived during the previous fsync, a few
/// entries; one large batch after a stall does not make it saturated.
const SATURATED_BATCH: usize = 12;

/// WAL frames after which the writer itself finishes a checkpoint between two batches, so the
/// WAL restarts from its beginning (64 MiB at 4 KiB pages). A checkpoint running beside a busy
/// writer never catches up with the newest frame, and a WAL only restarts once one has.
const WAL_RESTART_FRAMES: i64 = if cfg!(test) { 256 } else { 16_384 };

/// A checkpoint pass at most this long leaves little for the writer's catch-up to copy: about
/// what was committed while it ran.
const CATCH_UP_AFTER_PASS_OF: Duration = Duration::from_millis(10);

/// Copies committed WAL frames back into the database file on its own thread and connection.
///
/// SQLite's automatic checkpoint runs inside the committing transaction: the writer stalled for
/// the copy and an fsync of the database file every few thousand pages, which was the largest
/// source of tail latency and about a sixth of the writer's time. Checkpointing never changes
/// what is committed, so moving it off the writer's path costs no durability.
#[derive(Debug)]
struct Checkpointer {
    wake: Option<std::sync::mpsc::SyncSender<()>>,
    /// Dropping it ends the thread's pause between passes (shutdown does not wait it out).
    stop: Option<std::sync::mpsc::Sender<()>>,
    restart_due: Arc<AtomicBool>,
    /// Entries per commit, see [`batch_average_after`].
    batch_average: Arc<AtomicUsize>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &Path) -> StoreResult<Checkpointer> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        // Dropped (disconnected) on shutdown, so a pause between passes ends at once.
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let restart_due = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&restart_due);
        let batch_average = Arc::new(AtomicUsize::new(0));
        let average = Arc::clone(&batch_average);
        let handle = std::thread::Builder::new()
            .name("zkscim-checkpoint".into())
            .spawn(move || {
                // One wake-up per burst of commits: the channel holds one signal, and the sleep
                // after each checkpoint bounds how often the database file is synced.
                while woken.recv().is_ok() {
                    let started = std::time::Instant::now();
                    let frames = match wal_checkpoint(&conn) {
                        Ok(frames) => frames,
                        Err(e) => {
                            tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
                            0
                        }
                    };
                    let next =
                        after_pass(frames, started.elapsed(), average.load(Ordering::Relaxed));
                    if next.ask_writer {
                        flag.store(true, Ordering::Relaxed);
                    }
                    if let Some(pause) = next.pause {
                        match stopped.recv_timeout(pause) {
                            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Corrupt(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer {
            wake: Some(wake),
            stop: Some(stop),
            restart_due,
            batch_average,
            handle: Some(handle),
        })
    }

    /// A transaction appending `entries` log entries committed: there is something to copy.
    fn committed(&self, entries: usize) {
        // Only the writer's thread commits, so load-then-store loses no update.
        let average = self.batch_average.load(Ordering::Relaxed);
        self.batch_average
            .store(batch_average_after(average, entries), Ordering::Relaxed);
        if let Some(wake) = &self.wake {
            // Full means a wake-up is already pending; that one will see these frames too.
            let _ = wake.try_send(());
        }
    }
}

/// Entries per commit as a moving average, ×16, each commit weighing 1/8: steady batches of
/// `b` entries settle at `16 b`.
fn batch_average_after(average: usize, entries: usize) -> usize {
    average - average / 8 + entries.saturating_mul(2)
}

/// What the checkpoint thread does after a pass.
#[derive(Debug, PartialEq, Eq)]
struct AfterPass {
    /// Ask the writer to finish the checkpoint between two batches (the WAL then starts over).
    ask_writer: bool,
    /// Sleep this long before the next pass; `None`: start it at once.
    pause: Option<Duration>,
}

/// After a pass that took `took` and found `frames` frames in the WAL, with the writer's batch
/// average at `average` (see [`batch_average_after`]).
///
/// Over the restart threshold the writer's catch-up copies what the pass did not reach, and the
/// writer waits for that copy: so it is asked only after a short pass (little is left: about what
/// was committed meanwhile), and a long pass is followed at once by the next, which copies what
/// came in during the long one, fewer frames. On a disk where no pass is that short, the WAL is
/// still not left to grow past twice the threshold.
fn after_pass(frames: i64, took: Duration, average: usize) -> AfterPass {
    let short = took <= CATCH_UP_AFTER_PASS_OF;
    if frames >= WAL_RESTART_FRAMES && !short {
        return AfterPass {
            ask_writer: frames >= 2 * WAL_RESTART_FRAMES,
            pause: None,
        };
    }
    AfterPass {
        ask_writer: frames >= WAL_RESTART_FRAMES,
        pause: Some(if average >= SATURATED_BATCH * 16 {
            CHECKPOINT_INTERVAL_SATURATED
        } else {
            CHECKPOINT_INTERVAL_LIGHT
        }),
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.wake = None;
        self.stop = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Runs a passive checkpoint (it never waits for the writer or readers) and returns how many
/// frames the WAL holds.
fn wal_checkpoint(conn: &Connection) -> StoreResult<i64> {
    Ok(conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1))?)
}

fn configure(conn: &Connection) -> StoreResult<()> {
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
    // The checkpointer thread copies frames back; see [`Checkpointer`].
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        let mut lock_name = path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        lock_name.push(".lock");
        let lock_path = path.with_file_name(lock_name);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| {
                StoreError::Corrupt(format!(
                    "cannot open the lock file {}: {e}",
                    lock_path.display()
                ))
            })?;
        lock.try_lock()
            .map_err(|_| StoreError::Locked(path.display().to_string()))?;
        let mut writer = Connection::open(path)?;
        configure(&writer)?;
        migrate(&mut writer)?;
        let checkpointer = Checkpointer::start(path)?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer,
            checkpointer,
            _lock: lock,
        })
    }

    /// A new read-only connection for query work outside the writer.
    pub fn reader(&self) -> StoreResult<Reader> {
        open_reader(&self.path)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Opens a read-only connection to the database at `path`.
pub fn open_reader(path: &Path) -> StoreResult<Reader> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(Reader { conn })
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let supported = MIGRATIONS.len() as i64;
    if current > supported {
        return Err(StoreError::TooNew {
            found: current,
            supported,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn blob32(v: Vec<u8>) -> StoreResult<[u8; 32]> {
    <[u8; 32]>::try_from(v).map_err(|v| {
        StoreError::Corrupt(format!("expected a 32-byte hash, found {} bytes", v.len()))
    })
}

fn seq_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or_default()
}

fn sql_int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Queries both the writer's transaction and readers run (a transaction derefs to its connection).
mod queries {
    use rusqlite::{params, Connection, OptionalExtension};

    use super::{seq_of, ResourceRow, StoreResult};

    pub fn resource(
        conn: &Connection,
        tenant: &str,
        resource_type: &str,
        id: &str,
    ) -> StoreResult<Option<ResourceRow>> {
        Ok(conn
            .prepare_cached(
                "SELECT version, body, last_seq FROM resources WHERE tenant = ?1 AND rtype = ?2 AND id = ?3",
            )?
            .query_row(params![tenant, resource_type, id], |r| {
                Ok(ResourceRow {
                    resource_type: resource_type.to_owned(),
                    id: id.to_owned(),
                    version: seq_of(r.get(0)?),
                    body: r.get(1)?,
                    last_seq: seq_of(r.get(2)?),
                })
            })
            .optional()?)
    }

    pub fn members(conn: &Connection, tenant: &str, group: &str) -> StoreResult<Vec<String>> {
        let mut stmt = conn.prepare_cached(
            "SELECT member FROM members WHERE tenant = ?1 AND group_id = ?2 ORDER BY member",
        )?;
        let rows = stmt.query_map(params![tenant, group], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn index_owners(
        conn: &Connection,
        tenant: &str,
        resource_type: &str,
        attribute: &str,
        value: &str,
    ) -> StoreResult<Vec<String>> {
        let mut stmt = conn.prepare_cached(
            "SELECT id FROM index_values WHERE tenant = ?1 AND rtype = ?2 AND attribute = ?3 AND value = ?4 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![tenant, resource_type, attribute, value], |r| {
            r.get::<_, String>(0)
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn resource_indexes(
        conn: &Connection,
        tenant: &str,
        resource_type: &str,
        id: &str,
    ) -> StoreResult<Vec<(String, String)>> {
        let mut stmt = conn.prepare_cached(
            "SELECT attribute, value FROM index_values WHERE tenant = ?1 AND rtype = ?2 AND id = ?3",
        )?;
        let rows = stmt.query_map(params![tenant, resource_type, id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

struct SqliteTxn<'a> {
    tx: rusqlite::Transaction<'a>,
    checkpointer: &'a Checkpointer,
    entries: usize,
}

impl Store for SqliteStore {
    fn begin(&mut self) -> StoreResult<Box<dyn StoreTxn + '_>> {
        if self.checkpointer.restart_due.swap(false, Ordering::Relaxed) {
            // Between batches nothing else writes, so this checkpoint reaches the newest frame
            // (the checkpointer has copied nearly all of them already) and the transaction
            // below starts the WAL over instead of growing it. A failure costs only WAL growth:
            // the batch goes on, and the next threshold crossing asks again.
            if let Err(e) = wal_checkpoint(&self.writer) {
                tracing::warn!(error = %e, "WAL catch-up checkpoint failed; the WAL keeps growing");
            }
        }
        let tx = self
            .writer
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        Ok(Box::new(SqliteTxn {
            tx,
            checkpointer: &self.checkpointer,
            entries: 0,
        }))
    }
}

impl StoreTxn for SqliteTxn<'_> {
    fn insert_tenant(&mut self, tenant: &str, root_key: &[u8; 32]) -> StoreResult<()> {
        self.tx
            .prepare_cached("INSERT INTO tenants (tenant, root_key) VALUES (?1, ?2)")?
            .execute(params![tenant, &root_key[..]])?;
        Ok(())
    }

    fn set_profile(&mut self, tenant: &str, profile: &[u8]) -> StoreResult<()> {
        self.tx
            .prepare_cached("UPDATE tenants SET profile = ?2 WHERE tenant = ?1")?
            .execute(params![tenant, profile])?;
        Ok(())
    }

    fn submission_seq(&mut self, tenant: &str, hash: &[u8; 32]) -> StoreResult<Option<u64>> {
        Ok(self
            .tx
            .prepare_cached("SELECT seq FROM submission_hashes WHERE tenant = ?1 AND hash = ?2")?
            .query_row(params![tenant, &hash[..]], |r| r.get::<_, i64>(0))
            .optional()?
            .map(seq_of))
    }

    fn nonce_owner(&mut self, tenant: &str, nonce: &[u8]) -> StoreResult<Option<[u8; 32]>> {
        self.tx
            .prepare_cached("SELECT hash FROM nonces WHERE tenant = ?1 AND nonce = ?2")?
            .query_row(params![tenant, nonce], |r| r.get::<_, Vec<u8>>(0))
            .optional()?
            .map(blob32)
            .transpose()
    }

    fn insert_nonce(&mut self, tenant: &str, nonce: &[u8], hash: &[u8; 32]) -> StoreResult<()> {
        self.tx
            .prepare_cached(
                "INSERT OR IGNORE INTO nonces (tenant, nonce, hash) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![tenant, nonce, &hash[..]])?;
        Ok(())
    }

    fn certificate_seen(&mut self, tenant: &str, id: &[u8; 32]) -> StoreResult<bool> {
        Ok(self
            .tx
            .prepare_cached("SELECT 1 FROM certificates WHERE tenant = ?1 AND id = ?2")?
            .exists(params![tenant, &id[..]])?)
    }

    fn insert_certificate(
        &mut self,
        tenant: &str,
        id: &[u8; 32],
        bytes: &[u8],
        seq: u64,
    ) -> StoreResult<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO certificates (tenant, id, bytes, seq) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![tenant, &id[..], bytes, sql_int(seq)])?;
        Ok(())
    }

    fn certificate(&mut self, tenant: &str, id: &[u8; 32]) -> StoreResult<Option<CertificateRow>> {
        Ok(self
            .tx
            .prepare_cached("SELECT bytes, seq FROM certificates WHERE tenant = ?1 AND id = ?2")?
            .query_row(params![tenant, &id[..]], |r| {
                Ok(CertificateRow {
                    id: *id,
                    bytes: r.get(0)?,
                    seq: seq_of(r.get(1)?),
                })
            })
            .optional()?)
    }

    fn insert_revocation(&mut self, tenant: &str, id: &[u8; 32], seq: u64) -> StoreResult<()> {
        self.tx
            .prepare_cached(
                "INSERT OR IGNORE INTO revocations (tenant, id, seq) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![tenant, &id[..], sql_int(seq)])?;
        Ok(())
    }

    fn insert_approval(&mut self, tenant: &str, approves: &[u8; 32], seq: u64) -> StoreResult<()> {
        self.tx
            .prepare_cached("INSERT INTO approvals (tenant, approves, seq) VALUES (?1, ?2, ?3)")?
            .execute(params![tenant, &approves[..], sql_int(seq)])?;
        Ok(())
    }

    fn approvals(&mut self, tenant: &str, approves: &[u8; 32]) -> StoreResult<Vec<Vec<u8>>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT s.bytes FROM approvals a \
             JOIN log_entries e ON e.tenant = a.tenant AND e.seq = a.seq \
             JOIN submission_hashes h ON h.tenant = e.tenant AND h.hash = e.submitted_hash \
             JOIN submitted s ON s.id = h.submitted_id \
             WHERE a.tenant = ?1 AND a.approves = ?2 ORDER BY a.seq",
        )?;
        let rows = stmt.query_map(params![tenant, &approves[..]], |r| r.get::<_, Vec<u8>>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn resource(
        &mut self,
        tenant: &str,
        resource_type: &str,
        id: &str,
    ) -> StoreResult<Option<ResourceRow>> {
        queries::resource(&self.tx, tenant, resource_type, id)
    }

    fn put_resource(&mut self, tenant: &str, row: &ResourceRow) -> StoreResult<()> {
        self.tx
            .prepare_cached(
                // An upsert, not INSERT OR REPLACE: a replace deletes and re-inserts the row, and
                // with it the `resources_by_id` entry (a random leaf dirtied per update).
                "INSERT INTO resources (tenant, rtype, id, version, body, last_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (tenant, rtype, id) DO UPDATE SET \
                 version = excluded.version, body = excluded.body, last_seq = excluded.last_seq",
            )?
            .execute(params![
                tenant,
                row.resource_type,
                row.id,
                sql_int(row.version),
                row.body,
                sql_int(row.last_seq)
            ])?;
        Ok(())
    }

    fn delete_resource(&mut self, tenant: &str, resource_type: &str, id: &str) -> StoreResult<()> {
        self.tx
            .prepare_cached("DELETE FROM resources WHERE tenant = ?1 AND rtype = ?2 AND id = ?3")?
            .execute(params![tenant, resource_type, id])?;
        self.tx
            .prepare_cached(
                "DELETE FROM index_values WHERE tenant = ?1 AND rtype = ?2 AND id = ?3",
            )?
            .execute(params![tenant, resource_type, id])?;
        if resource_type == "Group" {
            self.clear_members(tenant, id)?;
        }
        // A deleted identity leaves every group it was in.
        self.tx
            .prepare_cached("DELETE FROM members WHERE tenant = ?1 AND member = ?2")?
            .execute(params![tenant, id])?;
        Ok(())
    }

    fn has_member(&mut self, tenant: &str, group: &str, member: &str) -> StoreResult<bool> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT 1 FROM members WHERE tenant = ?1 AND group_id = ?2 AND member = ?3",
            )?
            .exists(params![tenant, group, member])?)
    }

    fn add_members(&mut self, tenant: &str, group: &str, members: &[String]) -> StoreResult<()> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT OR IGNORE INTO members (tenant, group_id, member) VALUES (?1, ?2, ?3)",
        )?;
        for member in members {
            stmt.execute(params![tenant, group, member])?;
        }
        Ok(())
    }

    fn remove_members(&mut self, tenant: &str, group: &str, members: &[String]) -> StoreResult<()> {
        let mut stmt = self.tx.prepare_cached(
            "DELETE FROM members WHERE tenant = ?1 AND group_id = ?2 AND member = ?3",
        )?;
        for member in members {
            stmt.execute(params![tenant, group, member])?;
        }
        Ok(())
    }

    fn clear_members(&mut self, tenant: &str, group: &str) -> StoreResult<()> {
        self.tx
            .prepare_cached("DELETE FROM members WHERE tenant = ?1 AND group_id = ?2")?
            .execute(params![tenant, group])?;
        Ok(())
    }

    fn members(&mut self, tenant: &str, group: &str) -> StoreResult<Vec<String>> {
        queries::members(&self.tx, tenant, group)
    }

    fn index_owners(
        &mut self,
        tenant: &str,
        resource_type: &str,
        attribute: &str,
        value: &str,
    ) -> StoreResult<Vec<String>> {
        queries::index_owners(&self.tx, tenant, resource_type, attribute, value)
    }

    fn resource_indexes(
        &mut self,
        tenant: &str,
        resource_type: &str,
        id: &str,
    ) -> StoreResult<Vec<(String, String)>> {
        queries::resource_indexes(&self.tx, tenant, resource_type, id)
    }

    fn set_indexes(
        &mut self,
        tenant: &str,
        resource_type: &str,
        id: &str,
        values: &[(String, String)],
    ) -> StoreResult<()> {
        // Most writes (patches of other attributes, deactivations) leave a resource's index
        // values as they were; rewriting them anyway dirtied two random B-tree leaves per write.
        let mut current = queries::resource_indexes(&self.tx, tenant, resource_type, id)?;
        let mut wanted = values.to_vec();
        current.sort_unstable();
        wanted.sort_unstable();
        if current == wanted {
            return Ok(());
        }
        self.tx
            .prepare_cached(
                "DELETE FROM index_values WHERE tenant = ?1 AND rtype = ?2 AND id = ?3",
            )?
            .execute(params![tenant, resource_type, id])?;
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO index_values (tenant, rtype, attribute, value, id) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (attribute, value) in values {
            stmt.execute(params![tenant, resource_type, attribute, value, id])?;
        }
        Ok(())
    }

    fn is_revoked(&mut self, tenant: &str, id: &[u8; 32]) -> StoreResult<bool> {
        Ok(self
            .tx
            .prepare_cached("SELECT 1 FROM revocations WHERE tenant = ?1 AND id = ?2")?
            .exists(params![tenant, &id[..]])?)
    }

    fn identity_exists(&mut self, tenant: &str, id: &str) -> StoreResult<bool> {
        Ok(self
            .tx
            .prepare_cached("SELECT 1 FROM resources WHERE tenant = ?1 AND id = ?2 LIMIT 1")?
            .exists(params![tenant, id])?)
    }

    fn append_entry(
        &mut self,
        tenant: &str,
        seq: u64,
        entry: &[u8],
        submitted_hash: &[u8; 32],
        submitted: &[u8],
    ) -> StoreResult<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO log_entries (tenant, seq, entry, submitted_hash) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![tenant, sql_int(seq), entry, &submitted_hash[..]])?;
        self.entries += 1;
        self.tx
            .prepare_cached("INSERT INTO submitted (tenant, bytes) VALUES (?1, ?2)")?
            .execute(params![tenant, submitted])?;
        let id = self.tx.last_insert_rowid();
        let indexed = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO submission_hashes (tenant, hash, seq, submitted_id) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![tenant, &submitted_hash[..], sql_int(seq), id])?;
        if indexed == 0 {
            // These exact bytes are stored already (the rules never log a submission twice,
            // so this is only a guard): keep the first copy.
            self.tx
                .prepare_cached("DELETE FROM submitted WHERE id = ?1")?
                .execute(params![id])?;
        }
        Ok(())
    }

    fn put_nodes(&mut self, tenant: &str, nodes: &[(u32, u64, [u8; 32])]) -> StoreResult<()> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT OR REPLACE INTO merkle_nodes (tenant, level, idx, hash) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (level, index, hash) in nodes {
            stmt.execute(params![tenant, level, sql_int(*index), &hash[..]])?;
        }
        Ok(())
    }

    fn put_head(&mut self, tenant: &str, head: &LogHead) -> StoreResult<()> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO log_heads (tenant, size, last_entry_hash, frontier, checkpoint) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                tenant,
                sql_int(head.size),
                &head.last_entry_hash[..],
                head.frontier,
                head.checkpoint
            ])?;
        Ok(())
    }

    fn commit(self: Box<Self>) -> StoreResult<()> {
        self.tx.commit()?;
        self.checkpointer.committed(self.entries);
        Ok(())
    }
}

/// A read-only connection: log reads, SCIM reads, start-up loading.
#[derive(Debug)]
pub struct Reader {
    conn: Connection,
}

impl Reader {
    /// Every tenant.
    pub fn tenants(&self) -> StoreResult<Vec<TenantRow>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT tenant, root_key, profile FROM tenants ORDER BY tenant")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Option<Vec<u8>>>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (tenant, root, profile) = row?;
            out.push(TenantRow {
                tenant,
                root_key: blob32(root)?,
                profile,
            });
        }
        Ok(out)
    }

    /// A tenant's log head.
    pub fn head(&self, tenant: &str) -> StoreResult<Option<LogHead>> {
        self.conn
            .prepare_cached(
                "SELECT size, last_entry_hash, frontier, checkpoint FROM log_heads WHERE tenant = ?1",
            )?
            .query_row(params![tenant], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?
            .map(|(size, hash, frontier, checkpoint)| {
                Ok(LogHead {
                    size: seq_of(size),
                    last_entry_hash: blob32(hash)?,
                    frontier,
                    checkpoint,
                })
            })
            .transpose()
    }

    /// Log entries `[start, end)`, with their submitted-bytes hashes.
    pub fn entries(&self, tenant: &str, start: u64, end: u64) -> StoreResult<Vec<EntryRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, entry, submitted_hash FROM log_entries WHERE tenant = ?1 AND seq >= ?2 AND seq < ?3 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![tenant, sql_int(start), sql_int(end)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, entry, hash) = row?;
            out.push(EntryRow {
                seq: seq_of(seq),
                entry,
                submitted_hash: blob32(hash)?,
            });
        }
        Ok(out)
    }

    /// The exact bytes submitted with hash `hash`.
    pub fn submitted(&self, tenant: &str, hash: &[u8; 32]) -> StoreResult<Option<Vec<u8>>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT s.bytes FROM submission_hashes h \
                 JOIN submitted s ON s.id = h.submitted_id AND s.tenant = h.tenant \
                 WHERE h.tenant = ?1 AND h.hash = ?2",
            )?
            .query_row(params![tenant, &hash[..]], |r| r.get(0))
            .optional()?)
    }

    /// A completed Merkle subtree hash.
    pub fn node(&self, tenant: &str, level: u32, index: u64) -> StoreResult<Option<[u8; 32]>> {
        self.conn
            .prepare_cached(
                "SELECT hash FROM merkle_nodes WHERE tenant = ?1 AND level = ?2 AND idx = ?3",
            )?
            .query_row(params![tenant, level, sql_int(index)], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .optional()?
            .map(blob32)
            .transpose()
    }

    /// Cosignature lines stored for the checkpoint of size `size`.
    pub fn cosignatures(&self, tenant: &str, size: u64) -> StoreResult<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT line FROM cosignatures WHERE tenant = ?1 AND size = ?2 ORDER BY line",
        )?;
        let rows = stmt.query_map(params![tenant, sql_int(size)], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether a certificate is revoked.
    pub fn is_revoked(&self, tenant: &str, id: &[u8; 32]) -> StoreResult<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM revocations WHERE tenant = ?1 AND id = ?2")?
            .exists(params![tenant, &id[..]])?)
    }

    /// Revoked certificate ids.
    pub fn revocations(&self, tenant: &str) -> StoreResult<Vec<[u8; 32]>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM revocations WHERE tenant = ?1")?;
        let rows = stmt.query_map(params![tenant], |r| r.get::<_, Vec<u8>>(0))?;
        rows.map(|r| blob32(r?)).collect()
    }

    /// One resource.
    pub fn resource(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
    ) -> StoreResult<Option<ResourceRow>> {
        queries::resource(&self.conn, tenant, resource_type, id)
    }

    /// Every resource of a type, ordered by id.
    pub fn resources(&self, tenant: &str, resource_type: &str) -> StoreResult<Vec<ResourceRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, version, body, last_seq FROM resources WHERE tenant = ?1 AND rtype = ?2 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![tenant, resource_type], |r| {
            Ok(ResourceRow {
                resource_type: resource_type.to_owned(),
                id: r.get(0)?,
                version: seq_of(r.get(1)?),
                body: r.get(2)?,
                last_seq: seq_of(r.get(3)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Members of a group, sorted.
    pub fn members(&self, tenant: &str, group: &str) -> StoreResult<Vec<String>> {
        queries::members(&self.conn, tenant, group)
    }

    /// Groups an identity belongs to, sorted.
    pub fn groups_of(&self, tenant: &str, member: &str) -> StoreResult<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT group_id FROM members WHERE tenant = ?1 AND member = ?2 ORDER BY group_id",
        )?;
        let rows = stmt.query_map(params![tenant, member], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Ids of resources holding an equality-search value.
    pub fn index_owners(
        &self,
        tenant: &str,
        resource_type: &str,
        attribute: &str,
        value: &str,
    ) -> StoreResult<Vec<String>> {
        queries::index_owners(&self.conn, tenant, resource_type, attribute, value)
    }

    /// The equality-search values a resource holds.
    pub fn resource_indexes(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
    ) -> StoreResult<Vec<(String, String)>> {
        queries::resource_indexes(&self.conn, tenant, resource_type, id)
    }

    /// Every resource of every type, ordered by (type, id), for the directory digest.
    pub fn all_resources(&self, tenant: &str) -> StoreResult<Vec<ResourceRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT rtype, id, version, body, last_seq FROM resources WHERE tenant = ?1 ORDER BY rtype, id",
        )?;
        let rows = stmt.query_map(params![tenant], |r| {
            Ok(ResourceRow {
                resource_type: r.get(0)?,
                id: r.get(1)?,
                version: seq_of(r.get(2)?),
                body: r.get(3)?,
                last_seq: seq_of(r.get(4)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every membership, ordered by (group, member), for the directory digest.
    pub fn all_members(&self, tenant: &str) -> StoreResult<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT group_id, member FROM members WHERE tenant = ?1 ORDER BY group_id, member",
        )?;
        let rows = stmt.query_map(params![tenant], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_and_refuses_newer_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.db");
        drop(SqliteStore::open(&path).unwrap());
        // Re-opening is a no-op migration.
        drop(SqliteStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        assert_eq!(
            SqliteStore::open(&path).unwrap_err().code(),
            "store.too_new"
        );
    }

    #[test]
    fn continuous_writes_still_restart_the_wal_and_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.db");
        let wal = dir.path().join("z.db-wal");
        let mut store = SqliteStore::open(&path).unwrap();
        let body = "x".repeat(3000);
        // The WAL header's salts (bytes 16..24) change each time the WAL starts over.
        let salts = || {
            use std::io::Read as _;
            let mut header = [0u8; 24];
            let mut file = std::fs::File::open(&wal).ok()?;
            file.read_exact(&mut header).ok()?;
            header.get(16..24).map(<[u8]>::to_vec)
        };
        let mut last_salts = None;
        let mut restarts = 0;
        for batch in 0..1000u64 {
            let mut txn = store.begin().unwrap();
            for i in 0..4u64 {
                txn.put_resource(
                    "acme",
                    &ResourceRow {
                        resource_type: "User".into(),
                        id: format!("{batch}-{i}"),
                        version: 1,
                        body: body.clone(),
                        last_seq: batch * 4 + i,
                    },
                )
                .unwrap();
            }
            txn.commit().unwrap();
            let now = salts();
            if last_salts.is_some() && now != last_salts {
                restarts += 1;
            }
            last_salts = now;
        }
        // About 48 MiB of frames written without a pause: a checkpoint beside a writer that
        // never pauses does not catch up, so without the writer's own catch-up the WAL never
        // starts over and holds every frame.
        assert!(restarts >= 2, "the WAL started over {restarts} times");
        drop(store);
        let reader = open_reader(&path).unwrap();
        let count: i64 = reader
            .conn
            .query_row("SELECT COUNT(*) FROM resources", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 4000);
    }

    #[test]
    fn version_4_moves_submitted_bytes_and_keeps_them_findable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.db");
        {
            // A version-3 file, as an earlier build left it.
            let mut conn = Connection::open(&path).unwrap();
            let tx = conn.transaction().unwrap();
            for sql in &MIGRATIONS[..3] {
                tx.execute_batch(sql).unwrap();
            }
            tx.pragma_update(None, "user_version", 3).unwrap();
            for (tenant, seq, fill) in [("acme", 0u64, 1u8), ("acme", 1, 2), ("beta", 0, 3)] {
                tx.execute(
                    "INSERT INTO submissions (tenant, hash, seq, bytes) VALUES (?1, ?2, ?3, ?4)",
                    params![tenant, vec![fill; 32], sql_int(seq), vec![fill; 1500]],
                )
                .unwrap();
            }
            tx.commit().unwrap();
        }
        let mut store = SqliteStore::open(&path).unwrap();
        let reader = store.reader().unwrap();
        let version: i64 = reader
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert_eq!(
            reader.submitted("acme", &[2; 32]).unwrap(),
            Some(vec![2; 1500])
        );
        assert_eq!(
            reader.submitted("beta", &[3; 32]).unwrap(),
            Some(vec![3; 1500])
        );
        assert_eq!(
            reader.submitted("beta", &[1; 32]).unwrap(),
            None,
            "per tenant"
        );
        let mut txn = store.begin().unwrap();
        assert_eq!(txn.submission_seq("acme", &[2; 32]).unwrap(), Some(1));
        txn.append_entry("acme", 2, b"entry", &[4; 32], &[4; 700])
            .unwrap();
        // Bytes already stored under their hash stay the first copy.
        txn.append_entry("acme", 3, b"entry", &[4; 32], &[9; 700])
            .unwrap();
        txn.commit().unwrap();
        assert_eq!(
            reader.submitted("acme", &[4; 32]).unwrap(),
            Some(vec![4; 700])
        );
        let copies: i64 = reader
            .conn
            .query_row("SELECT COUNT(*) FROM submitted", [], |r| r.get(0))
            .unwrap();
        assert_eq!(copies, 4);
    }

    /// Migration 5 on a version-4 file: approvals recorded afterwards are found by the hash they
    /// approve, with the bytes of their own log entry, in log order and per tenant.
    #[test]
    fn version_5_adds_approvals_found_through_their_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            let tx = conn.transaction().unwrap();
            for sql in &MIGRATIONS[..4] {
                tx.execute_batch(sql).unwrap();
            }
            tx.pragma_update(None, "user_version", 4).unwrap();
            tx.commit().unwrap();
        }
        let mut store = SqliteStore::open(&path).unwrap();
        let approved = [7u8; 32];
        let mut txn = store.begin().unwrap();
        txn.append_entry("acme", 0, b"e0", &[1; 32], &[1; 300])
            .unwrap();
        txn.append_entry("acme", 1, b"e1", &[2; 32], &[2; 300])
            .unwrap();
        txn.append_entry("beta", 0, b"e0", &[3; 32], &[3; 300])
            .unwrap();
        // Recorded out of log order: read back in log order.
        txn.insert_approval("acme", &approved, 1).unwrap();
        txn.insert_approval("acme", &approved, 0).unwrap();
        txn.insert_approval("beta", &approved, 0).unwrap();
        assert_eq!(
            txn.approvals("acme", &approved).unwrap(),
            [vec![1u8; 300], vec![2u8; 300]]
        );
        assert_eq!(txn.approvals("beta", &approved).unwrap(), [vec![3u8; 300]]);
        assert!(txn.approvals("acme", &[8; 32]).unwrap().is_empty());
        txn.commit().unwrap();
    }

    #[test]
    fn shutdown_does_not_wait_out_the_checkpoint_pause() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.db");
        drop(SqliteStore::open(&path).unwrap());
        let checkpointer = Checkpointer::start(&path).unwrap();
        // Saturated: each pass is followed by the long pause.
        for _ in 0..64 {
            checkpointer.committed(4 * SATURATED_BATCH);
        }
        // Let the thread run its pass and enter the pause.
        std::thread::sleep(Duration::from_millis(20));
        let started = std::time::Instant::now();
        drop(checkpointer);
        // The pause is 100 ms; shutdown used to sleep through what was left of it.
        assert!(
            started.elapsed() < CHECKPOINT_INTERVAL_SATURATED / 2,
            "shutdown took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn one_writer_per_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.db");
        let first = SqliteStore::open(&path).unwrap();
        assert_eq!(SqliteStore::open(&path).unwrap_err().code(), "store.locked");
        drop(first);
        SqliteStore::open(&path).unwrap();
    }

    #[test]
    fn transaction_is_atomic_and_tenant_partitioned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.db");
        let mut store = SqliteStore::open(&path).unwrap();
        {
            let mut tx = store.begin().unwrap();
            tx.insert_tenant("a", &[1; 32]).unwrap();
            tx.insert_tenant("b", &[2; 32]).unwrap();
            tx.add_members("a", "g", &["u1".into()]).unwrap();
            tx.commit().unwrap();
        }
        {
            let mut tx = store.begin().unwrap();
            tx.add_members("a", "g", &["u2".into()]).unwrap();
            // Dropped without commit: rolled back.
        }
        let reader = store.reader().unwrap();
        assert_eq!(reader.members("a", "g").unwrap(), ["u1"]);
        assert!(reader.members("b", "g").unwrap().is_empty());
        assert_eq!(reader.tenants().unwrap().len(), 2);
    }

    #[test]
    fn index_values_are_replaced_only_when_they_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.db");
        let mut store = SqliteStore::open(&path).unwrap();
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect()
        };
        let mut txn = store.begin().unwrap();
        txn.set_indexes(
            "a",
            "User",
            "u1",
            &pairs(&[("username", "t1"), ("email", "e1")]),
        )
        .unwrap();
        txn.commit().unwrap();
        let reader = store.reader().unwrap();
        let sorted = |mut v: Vec<(String, String)>| {
            v.sort();
            v
        };
        // The same values in another order: nothing to write, nothing changes.
        let mut txn = store.begin().unwrap();
        txn.set_indexes(
            "a",
            "User",
            "u1",
            &pairs(&[("email", "e1"), ("username", "t1")]),
        )
        .unwrap();
        txn.commit().unwrap();
        assert_eq!(
            sorted(reader.resource_indexes("a", "User", "u1").unwrap()),
            pairs(&[("email", "e1"), ("username", "t1")])
        );
        // A changed value replaces the old one, which then has no owner.
        let mut txn = store.begin().unwrap();
        txn.set_indexes(
            "a",
            "User",
            "u1",
            &pairs(&[("username", "t2"), ("email", "e1")]),
        )
        .unwrap();
        txn.commit().unwrap();
        assert_eq!(
            sorted(reader.resource_indexes("a", "User", "u1").unwrap()),
            pairs(&[("email", "e1"), ("username", "t2")])
        );
        assert!(reader
            .index_owners("a", "User", "username", "t1")
            .unwrap()
            .is_empty());
        assert_eq!(
            reader.index_owners("a", "User", "username", "t2").unwrap(),
            ["u1"]
        );
        // None left.
        let mut txn = store.begin().unwrap();
        txn.set_indexes("a", "User", "u1", &[]).unwrap();
        txn.commit().unwrap();
        assert!(reader
            .resource_indexes("a", "User", "u1")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn saturation_follows_the_batch_sizes_not_one_burst() {
        let settle = |entries: usize| (0..64).fold(0, |a, _| batch_average_after(a, entries));
        let light = settle(3);
        assert!(light < SATURATED_BATCH * 16);
        assert!(settle(30) >= SATURATED_BATCH * 16);
        // One full batch after a stall, among small ones, does not flip the interval.
        assert!(batch_average_after(light, 64) < SATURATED_BATCH * 16);
        let short = CATCH_UP_AFTER_PASS_OF;
        let pause = |average| after_pass(0, short, average).pause;
        assert_eq!(pause(light), Some(CHECKPOINT_INTERVAL_LIGHT));
        assert_eq!(pause(settle(30)), Some(CHECKPOINT_INTERVAL_SATURATED));
    }

    #[test]
    fn the_writer_is_asked_to_catch_up_only_when_little_is_left() {
        let short = CATCH_UP_AFTER_PASS_OF;
        let long = CATCH_UP_AFTER_PASS_OF * 20;
        let t = WAL_RESTART_FRAMES;
        // Under the threshold: never, whatever the pass took.
        assert!(!after_pass(t - 1, long, 0).ask_writer);
        // Over it after a short pass: ask, and pause as usual.
        assert_eq!(
            after_pass(t, short, 0),
            AfterPass {
                ask_writer: true,
                pause: Some(CHECKPOINT_INTERVAL_LIGHT)
            }
        );
        // After a long pass: no pause, the next pass leaves less; ask only at twice the
        // threshold, so a slow disk cannot let the WAL grow without bound.
        assert_eq!(
            after_pass(t, long, 0),
            AfterPass {
                ask_writer: false,
                pause: None
            }
        );
        assert!(after_pass(2 * t, long, 0).ask_writer);
    }
}
