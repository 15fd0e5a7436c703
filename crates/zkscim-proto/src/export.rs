//! The log export format: one file holding a tenant's log entries, the exact bytes each entry
//! logged, and the signed checkpoints over them, so an auditor can verify everything offline.
//!
//! ```text
//! export  = magic record*          magic = "ZKSCIM-EXPORT/1\n" (16 bytes)
//! record  = length (u32 big-endian) body (deterministic CBOR map, 1..=MAX_RECORD_BYTES bytes)
//! header     {1: 0, 2: tenant, 3: origin, 4: log key text, 5: root key text, 6: first seq, 7: count}
//! entry      {1: 1, 2: seq, 3: entry bytes, 4: submitted bytes}
//! checkpoint {1: 2, 2: signed note text, 3?: [cosignature line text, ...]}
//! end        {1: 3, 2: count, 3: SHA-256 of every byte before the end record's length prefix}
//! ```
//!
//! The first record is the header and the last the end record; entries and checkpoints come in
//! between, in log order. `spec/export.md` is the normative text.
//!
//! Owns: encoding records ([`Record::to_bytes`], [`ExportWriter`]) and decoding them from any
//! [`Read`] ([`ExportReader`]), holding at most one record in memory, with errors that name the
//! record number and byte offset. The decoder checks structure only (magic, framing, record
//! shapes, header first, end last, counts, the end digest): what the records *mean* (chain links,
//! Merkle roots, signatures) is the auditor's job, which reports it as findings rather than
//! refusing to read on.
//!
//! Must never: buffer more than one record, accept a record it would not itself produce, or read
//! past the end record.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

use crate::codec::{self, CodecError, FieldReader, Limits, MapBuilder, ShapeError, Value};

/// The 16 bytes every export starts with.
pub const MAGIC: &[u8; 16] = b"ZKSCIM-EXPORT/1\n";
/// Largest record body: room for an entry whose submitted bytes reach 2 MiB, plus framing.
pub const MAX_RECORD_BYTES: usize = 2 * 1024 * 1024 + 64 * 1024;
/// Largest number of cosignature lines on one checkpoint record.
pub const MAX_COSIGNATURES: usize = 100;

/// Decoding limits for one record body.
const RECORD_LIMITS: Limits = Limits {
    max_bytes: MAX_RECORD_BYTES,
    max_depth: 4,
};

const KEY_TYPE: i64 = 1;
const TYPE_HEADER: u64 = 0;
const TYPE_ENTRY: u64 = 1;
const TYPE_CHECKPOINT: u64 = 2;
const TYPE_END: u64 = 3;

/// The first record: which log this is and how many entries follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Tenant id (field 2).
    pub tenant: String,
    /// Checkpoint origin of the tenant's log (field 3).
    pub origin: String,
    /// The log's note verifier key, C2SP text form (field 4). Informational: an auditor uses the
    /// key it was configured with, never this one.
    pub log_key: String,
    /// The tenant root public key from the genesis entry, `ed25519:` text form (field 5).
    /// Informational, like `log_key`.
    pub root_key: String,
    /// Sequence number of the first entry record (field 6); 0 for a full export.
    pub first_seq: u64,
    /// Number of entry records (field 7).
    pub count: u64,
}

/// One log entry with the exact bytes it logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryRecord {
    /// The entry's sequence number (field 2).
    pub seq: u64,
    /// The stored entry bytes (field 3), hashed as they are.
    pub entry: Vec<u8>,
    /// The exact submitted bytes whose SHA-256 the entry records (field 4).
    pub submitted: Vec<u8>,
}

/// A signed checkpoint and the witness cosignatures the server holds for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointRecord {
    /// The C2SP signed note (checkpoint text, blank line, log signature lines) (field 2).
    pub note: String,
    /// Cosignature lines (`— name base64\n`), each a complete line (field 3, omitted when
    /// empty).
    pub cosignatures: Vec<String>,
}

impl CheckpointRecord {
    /// The note with the cosignature lines appended: what a verifier that knows the witnesses'
    /// keys checks.
    pub fn combined_note(&self) -> String {
        let mut out = self.note.clone();
        for line in &self.cosignatures {
            out.push_str(line);
        }
        out
    }
}

/// The last record: how many entries there were, and a digest of everything before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct End {
    /// Number of entry records (field 2).
    pub count: u64,
    /// SHA-256 of every byte before this record's length prefix (field 3).
    pub sha256: [u8; 32],
}

/// Any record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// The header.
    Header(Header),
    /// A log entry.
    Entry(EntryRecord),
    /// A checkpoint.
    Checkpoint(CheckpointRecord),
    /// The end.
    End(End),
}

/// Why an export could not be read or written. Every variant names where it happened: `record`
/// counts from 0 (the header), `offset` is the byte offset of the record's length prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// The underlying reader or writer failed.
    #[error("I/O error at byte {offset}: {message}")]
    Io {
        /// Byte offset reached.
        offset: u64,
        /// The I/O error.
        message: String,
    },
    /// The file does not start with [`MAGIC`].
    #[error("not a zkscim export: the first 16 bytes must be \"ZKSCIM-EXPORT/1\\n\"")]
    BadMagic,
    /// The data stops before the end record.
    #[error("export truncated in record {record} at byte {offset}: the end record is missing")]
    Truncated {
        /// Record being read.
        record: u64,
        /// Offset of that record's length prefix.
        offset: u64,
    },
    /// A length prefix is 0 or above [`MAX_RECORD_BYTES`].
    #[error("record {record} at byte {offset} has length {len}; records are 1 to {max} bytes")]
    RecordLength {
        /// Record number.
        record: u64,
        /// Offset.
        offset: u64,
        /// Declared length.
        len: u64,
        /// Limit.
        max: usize,
    },
    /// A record body is not one deterministic CBOR item.
    #[error("record {record} at byte {offset} is not deterministic CBOR: {source}")]
    Cbor {
        /// Record number.
        record: u64,
        /// Offset.
        offset: u64,
        /// Codec error.
        source: CodecError,
    },
    /// A record body has the wrong fields.
    #[error("record {record} at byte {offset} is malformed: {source}")]
    Shape {
        /// Record number.
        record: u64,
        /// Offset.
        offset: u64,
        /// Shape error.
        source: ShapeError,
    },
    /// A record type this version does not know.
    #[error("record {record} at byte {offset} has unknown type {kind}")]
    UnknownType {
        /// Record number.
        record: u64,
        /// Offset.
        offset: u64,
        /// The type found.
        kind: u64,
    },
    /// A record appears where the format does not allow it.
    #[error("record {record} at byte {offset} is a {found} record; expected {expected}")]
    Misplaced {
        /// Record number.
        record: u64,
        /// Offset.
        offset: u64,
        /// What may appear here.
        expected: &'static str,
        /// What was found.
        found: &'static str,
    },
    /// The number of entry records disagrees with the header or the end record.
    #[error(
        "entry count mismatch at record {record}: header says {header}, end record says {end}, \
         the export holds {actual}"
    )]
    CountMismatch {
        /// Record number of the end record.
        record: u64,
        /// Header count.
        header: u64,
        /// End record count.
        end: u64,
        /// Entry records actually read.
        actual: u64,
    },
    /// The end record's digest does not match the bytes before it.
    #[error("end record {record} at byte {offset}: digest {found} does not match {expected}")]
    DigestMismatch {
        /// Record number.
        record: u64,
        /// Offset.
        offset: u64,
        /// SHA-256 of the bytes read, hex.
        expected: String,
        /// Digest in the end record, hex.
        found: String,
    },
    /// Bytes follow the end record.
    #[error("bytes follow the end record, at byte {offset}")]
    TrailingBytes {
        /// Offset of the first extra byte.
        offset: u64,
    },
}

impl ExportError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ExportError::Io { .. } => "export.io",
            ExportError::BadMagic => "export.bad_magic",
            ExportError::Truncated { .. } => "export.truncated",
            ExportError::RecordLength { .. } => "export.record_length",
            ExportError::Cbor { .. } => "export.cbor",
            ExportError::Shape { .. } => "export.shape",
            ExportError::UnknownType { .. } => "export.unknown_type",
            ExportError::Misplaced { .. } => "export.misplaced",
            ExportError::CountMismatch { .. } => "export.count_mismatch",
            ExportError::DigestMismatch { .. } => "export.digest_mismatch",
            ExportError::TrailingBytes { .. } => "export.trailing_bytes",
        }
    }
}

impl Record {
    fn type_name(&self) -> &'static str {
        match self {
            Record::Header(_) => "header",
            Record::Entry(_) => "entry",
            Record::Checkpoint(_) => "checkpoint",
            Record::End(_) => "end",
        }
    }

    /// The record body: a deterministic CBOR map (without the length prefix).
    pub fn to_bytes(&self) -> Vec<u8> {
        let map = match self {
            Record::Header(h) => MapBuilder::new()
                .field(KEY_TYPE, Value::Unsigned(TYPE_HEADER))
                .field(2, Value::text(h.tenant.clone()))
                .field(3, Value::text(h.origin.clone()))
                .field(4, Value::text(h.log_key.clone()))
                .field(5, Value::text(h.root_key.clone()))
                .field(6, Value::Unsigned(h.first_seq))
                .field(7, Value::Unsigned(h.count)),
            Record::Entry(e) => MapBuilder::new()
                .field(KEY_TYPE, Value::Unsigned(TYPE_ENTRY))
                .field(2, Value::Unsigned(e.seq))
                .field(3, Value::bytes(e.entry.clone()))
                .field(4, Value::bytes(e.submitted.clone())),
            Record::Checkpoint(c) => MapBuilder::new()
                .field(KEY_TYPE, Value::Unsigned(TYPE_CHECKPOINT))
                .field(2, Value::text(c.note.clone()))
                .optional(
                    3,
                    (!c.cosignatures.is_empty()).then(|| {
                        Value::Array(c.cosignatures.iter().cloned().map(Value::Text).collect())
                    }),
                ),
            Record::End(e) => MapBuilder::new()
                .field(KEY_TYPE, Value::Unsigned(TYPE_END))
                .field(2, Value::Unsigned(e.count))
                .field(3, Value::bytes(e.sha256.to_vec())),
        };
        map.build().to_bytes()
    }

    /// The record framed for the file: length prefix and body.
    pub fn to_framed(&self) -> Vec<u8> {
        let body = self.to_bytes();
        let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
        let mut out = Vec::with_capacity(4 + body.len());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Decodes one record body strictly (no unknown field, deterministic encoding).
    pub fn from_bytes(body: &[u8]) -> Result<Record, RecordError> {
        let value = codec::decode_with_limits(body, RECORD_LIMITS).map_err(RecordError::Cbor)?;
        let mut r = FieldReader::new("export record", &value).map_err(RecordError::Shape)?;
        let kind = r.uint(KEY_TYPE, "type").map_err(RecordError::Shape)?;
        let record = match kind {
            TYPE_HEADER => Record::Header(Header {
                tenant: r.text(2, "tenant")?.to_owned(),
                origin: r.text(3, "origin")?.to_owned(),
                log_key: r.text(4, "log_key")?.to_owned(),
                root_key: r.text(5, "root_key")?.to_owned(),
                first_seq: r.uint(6, "first_seq")?,
                count: r.uint(7, "count")?,
            }),
            TYPE_ENTRY => Record::Entry(EntryRecord {
                seq: r.uint(2, "seq")?,
                entry: r.bytes(3, "entry")?.to_vec(),
                submitted: r.bytes(4, "submitted")?.to_vec(),
            }),
            TYPE_CHECKPOINT => {
                let note = r.text(2, "note")?.to_owned();
                let cosignatures = match r.optional(3) {
                    None => Vec::new(),
                    Some(_) => {
                        let lines = r.text_array(3, "cosignatures")?;
                        if lines.is_empty() {
                            // Absent and empty must not both encode "no cosignatures".
                            return Err(r
                                .invalid(3, "cosignatures", "omit the field when empty")
                                .into());
                        }
                        if lines.len() > MAX_COSIGNATURES {
                            return Err(r.invalid(3, "cosignatures", "more than 100 lines").into());
                        }
                        if lines.iter().any(|l| !l.ends_with('\n')) {
                            return Err(r
                                .invalid(3, "cosignatures", "each line must end with a newline")
                                .into());
                        }
                        lines.into_iter().map(str::to_owned).collect()
                    }
                };
                Record::Checkpoint(CheckpointRecord { note, cosignatures })
            }
            TYPE_END => Record::End(End {
                count: r.uint(2, "count")?,
                sha256: r.fixed_bytes::<32>(3, "sha256")?,
            }),
            other => return Err(RecordError::UnknownType(other)),
        };
        r.finish()?;
        Ok(record)
    }
}

/// Why a record body was refused (without position; [`ExportReader`] adds it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Not deterministic CBOR.
    #[error("{0}")]
    Cbor(CodecError),
    /// Wrong fields.
    #[error("{0}")]
    Shape(#[from] ShapeError),
    /// Unknown record type.
    #[error("unknown record type {0}")]
    UnknownType(u64),
}

impl RecordError {
    fn at(self, record: u64, offset: u64) -> ExportError {
        match self {
            RecordError::Cbor(source) => ExportError::Cbor {
                record,
                offset,
                source,
            },
            RecordError::Shape(source) => ExportError::Shape {
                record,
                offset,
                source,
            },
            RecordError::UnknownType(kind) => ExportError::UnknownType {
                record,
                offset,
                kind,
            },
        }
    }
}

fn io_error(offset: u64, e: &io::Error) -> ExportError {
    ExportError::Io {
        offset,
        message: e.to_string(),
    }
}

/// Writes an export: the magic and header on creation, then entries and checkpoints, then the
/// end record on [`ExportWriter::finish`]. Holds no record in memory beyond the one it writes.
#[derive(Debug)]
pub struct ExportWriter<W: Write> {
    out: W,
    hasher: Sha256,
    offset: u64,
    header_count: u64,
    count: u64,
    records: u64,
}

impl<W: Write> ExportWriter<W> {
    /// Writes the magic and `header`.
    pub fn new(out: W, header: &Header) -> Result<Self, ExportError> {
        let mut w = ExportWriter {
            out,
            hasher: Sha256::new(),
            offset: 0,
            header_count: header.count,
            count: 0,
            records: 0,
        };
        w.raw(MAGIC)?;
        w.record(&Record::Header(header.clone()))?;
        Ok(w)
    }

    fn raw(&mut self, bytes: &[u8]) -> Result<(), ExportError> {
        self.out
            .write_all(bytes)
            .map_err(|e| io_error(self.offset, &e))?;
        self.hasher.update(bytes);
        self.offset = self.offset.saturating_add(bytes.len() as u64);
        Ok(())
    }

    fn record(&mut self, record: &Record) -> Result<(), ExportError> {
        let framed = record.to_framed();
        let len = framed.len().saturating_sub(4);
        if len > MAX_RECORD_BYTES {
            return Err(ExportError::RecordLength {
                record: self.records,
                offset: self.offset,
                len: len as u64,
                max: MAX_RECORD_BYTES,
            });
        }
        self.raw(&framed)?;
        self.records = self.records.saturating_add(1);
        Ok(())
    }

    /// Writes one entry record.
    pub fn write_entry(
        &mut self,
        seq: u64,
        entry: &[u8],
        submitted: &[u8],
    ) -> Result<(), ExportError> {
        self.record(&Record::Entry(EntryRecord {
            seq,
            entry: entry.to_vec(),
            submitted: submitted.to_vec(),
        }))?;
        self.count = self.count.saturating_add(1);
        Ok(())
    }

    /// Writes one checkpoint record.
    pub fn write_checkpoint(
        &mut self,
        note: &str,
        cosignatures: &[String],
    ) -> Result<(), ExportError> {
        self.record(&Record::Checkpoint(CheckpointRecord {
            note: note.to_owned(),
            cosignatures: cosignatures.to_vec(),
        }))
    }

    /// Writes the end record and returns the writer. Refuses when the number of entries written
    /// differs from the header's count, so a writer cannot produce an export its reader refuses.
    pub fn finish(mut self) -> Result<W, ExportError> {
        if self.count != self.header_count {
            return Err(ExportError::CountMismatch {
                record: self.records,
                header: self.header_count,
                end: self.count,
                actual: self.count,
            });
        }
        let end = Record::End(End {
            count: self.count,
            sha256: self.hasher.clone().finalize().into(),
        });
        let framed = end.to_framed();
        self.out
            .write_all(&framed)
            .map_err(|e| io_error(self.offset, &e))?;
        self.out.flush().map_err(|e| io_error(self.offset, &e))?;
        Ok(self.out)
    }
}

/// An entry or checkpoint read from an export, with where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Positioned<T> {
    /// Record number (the header is 0).
    pub record: u64,
    /// Byte offset of the record's length prefix.
    pub offset: u64,
    /// The record.
    pub item: T,
}

/// What [`ExportReader::next_item`] yields between the header and the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// An entry record.
    Entry(EntryRecord),
    /// A checkpoint record.
    Checkpoint(CheckpointRecord),
}

/// Streaming reader: reads the magic and header on creation, then yields entries and
/// checkpoints one at a time, and checks the end record (count, digest, nothing after it).
#[derive(Debug)]
pub struct ExportReader<R: Read> {
    input: R,
    header: Header,
    hasher: Sha256,
    offset: u64,
    record: u64,
    entries: u64,
    buf: Vec<u8>,
    done: bool,
}

impl<R: Read> ExportReader<R> {
    /// Reads and checks the magic and the header record.
    pub fn new(mut input: R) -> Result<Self, ExportError> {
        let mut magic = [0u8; 16];
        match read_full(&mut input, &mut magic) {
            Ok(16) if &magic == MAGIC => {}
            Ok(_) => return Err(ExportError::BadMagic),
            Err(e) => return Err(io_error(0, &e)),
        }
        let mut reader = ExportReader {
            input,
            header: Header {
                tenant: String::new(),
                origin: String::new(),
                log_key: String::new(),
                root_key: String::new(),
                first_seq: 0,
                count: 0,
            },
            hasher: Sha256::new(),
            offset: 16,
            record: 0,
            entries: 0,
            buf: Vec::new(),
            done: false,
        };
        reader.hasher.update(MAGIC);
        let (record, offset, parsed) = reader.read_record()?;
        match parsed {
            Record::Header(h) => reader.header = h,
            other => {
                return Err(ExportError::Misplaced {
                    record,
                    offset,
                    expected: "the header",
                    found: other.type_name(),
                })
            }
        }
        Ok(reader)
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Entry records read so far.
    pub fn entries_read(&self) -> u64 {
        self.entries
    }

    /// Reads one framed record; returns its number, offset and decoded body. Hashes the frame
    /// unless it is the end record, whose digest covers only what precedes it.
    fn read_record(&mut self) -> Result<(u64, u64, Record), ExportError> {
        let record = self.record;
        let offset = self.offset;
        let mut prefix = [0u8; 4];
        match read_full(&mut self.input, &mut prefix) {
            Ok(4) => {}
            Ok(_) => return Err(ExportError::Truncated { record, offset }),
            Err(e) => return Err(io_error(offset, &e)),
        }
        let len = u32::from_be_bytes(prefix) as usize;
        if len == 0 || len > MAX_RECORD_BYTES {
            return Err(ExportError::RecordLength {
                record,
                offset,
                len: len as u64,
                max: MAX_RECORD_BYTES,
            });
        }
        self.buf.clear();
        self.buf.resize(len, 0);
        match read_full(&mut self.input, &mut self.buf) {
            Ok(n) if n == len => {}
            Ok(_) => return Err(ExportError::Truncated { record, offset }),
            Err(e) => return Err(io_error(offset, &e)),
        }
        let parsed = Record::from_bytes(&self.buf).map_err(|e| e.at(record, offset))?;
        if !matches!(parsed, Record::End(_)) {
            self.hasher.update(prefix);
            self.hasher.update(&self.buf);
        }
        self.offset = offset.saturating_add(4).saturating_add(len as u64);
        self.record = record.saturating_add(1);
        Ok((record, offset, parsed))
    }

    /// The next entry or checkpoint, or `None` once the end record has been read and checked.
    pub fn next_item(&mut self) -> Result<Option<Positioned<Item>>, ExportError> {
        if self.done {
            return Ok(None);
        }
        let (record, offset, parsed) = self.read_record()?;
        let item = match parsed {
            Record::Entry(e) => {
                self.entries = self.entries.saturating_add(1);
                Item::Entry(e)
            }
            Record::Checkpoint(c) => Item::Checkpoint(c),
            Record::Header(_) => {
                return Err(ExportError::Misplaced {
                    record,
                    offset,
                    expected: "an entry, checkpoint or end record",
                    found: "header",
                })
            }
            Record::End(end) => {
                self.finish_end(record, offset, &end)?;
                return Ok(None);
            }
        };
        Ok(Some(Positioned {
            record,
            offset,
            item,
        }))
    }

    fn finish_end(&mut self, record: u64, offset: u64, end: &End) -> Result<(), ExportError> {
        if end.count != self.entries || self.header.count != self.entries {
            return Err(ExportError::CountMismatch {
                record,
                header: self.header.count,
                end: end.count,
                actual: self.entries,
            });
        }
        let expected: [u8; 32] = self.hasher.clone().finalize().into();
        if expected != end.sha256 {
            return Err(ExportError::DigestMismatch {
                record,
                offset,
                expected: hex::encode(expected),
                found: hex::encode(end.sha256),
            });
        }
        let mut extra = [0u8; 1];
        match read_full(&mut self.input, &mut extra) {
            Ok(0) => {}
            Ok(_) => {
                return Err(ExportError::TrailingBytes {
                    offset: self.offset,
                })
            }
            Err(e) => return Err(io_error(self.offset, &e)),
        }
        self.done = true;
        Ok(())
    }
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match input.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Encodes a whole export in memory (tests, vectors, small logs).
pub fn encode(header: &Header, items: &[Item]) -> Result<Vec<u8>, ExportError> {
    let mut w = ExportWriter::new(Vec::new(), header)?;
    for item in items {
        match item {
            Item::Entry(e) => w.write_entry(e.seq, &e.entry, &e.submitted)?,
            Item::Checkpoint(c) => w.write_checkpoint(&c.note, &c.cosignatures)?,
        }
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn header(count: u64) -> Header {
        Header {
            tenant: "acme".into(),
            origin: "zkscim.example/acme".into(),
            log_key: "k".into(),
            root_key: "r".into(),
            first_seq: 0,
            count,
        }
    }

    fn sample() -> Vec<u8> {
        encode(
            &header(2),
            &[
                Item::Entry(EntryRecord {
                    seq: 0,
                    entry: vec![1, 2],
                    submitted: vec![3],
                }),
                Item::Checkpoint(CheckpointRecord {
                    note: "n\n".into(),
                    cosignatures: vec!["— w abc\n".into()],
                }),
                Item::Entry(EntryRecord {
                    seq: 1,
                    entry: vec![4],
                    submitted: vec![],
                }),
            ],
        )
        .unwrap()
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Item>, ExportError> {
        let mut r = ExportReader::new(bytes)?;
        let mut out = Vec::new();
        while let Some(p) = r.next_item()? {
            out.push(p.item);
        }
        Ok(out)
    }

    #[test]
    fn round_trip() {
        let items = read_all(&sample()).unwrap();
        assert_eq!(items.len(), 3);
    }

    #[test]
    fn every_truncation_is_detected() {
        let bytes = sample();
        for cut in 0..bytes.len() {
            assert!(read_all(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let bytes = sample();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert!(read_all(&b).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn trailing_bytes_refused() {
        let mut bytes = sample();
        bytes.push(0);
        assert_eq!(
            read_all(&bytes).unwrap_err().code(),
            "export.trailing_bytes"
        );
    }

    #[test]
    fn writer_refuses_wrong_count() {
        let w = ExportWriter::new(Vec::new(), &header(1)).unwrap();
        assert_eq!(w.finish().unwrap_err().code(), "export.count_mismatch");
    }
}
