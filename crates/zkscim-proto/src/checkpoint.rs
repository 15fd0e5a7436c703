//! C2SP transparency-log checkpoints (`c2sp.org/tlog-checkpoint`): the note text that a log
//! signs to commit to its tree head.
//!
//! ```text
//! <origin>\n
//! <tree size, decimal, no leading zeros>\n
//! <base64 of the 32-byte RFC 6962 root hash>\n
//! [<extension line>\n]...
//! ```
//!
//! Parsing is strict so that one tree head has exactly one textual form: a checkpoint that
//! parses re-serialises to the same bytes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use thiserror::Error;

use crate::merkle::Hash;
use crate::note::{KeyType, NoteError, NoteVerifier, VerifiedNote};

/// Largest checkpoint text accepted, in bytes.
pub const MAX_CHECKPOINT_BYTES: usize = 64 * 1024;
/// Largest origin line accepted, in bytes.
pub const MAX_ORIGIN_BYTES: usize = 1024;
/// Largest number of extension lines accepted.
pub const MAX_EXTENSION_LINES: usize = 64;

/// Errors from building, parsing and opening checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The text exceeds [`MAX_CHECKPOINT_BYTES`].
    #[error("checkpoint is {len} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// Size of the input.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A control character other than the line-terminating newlines.
    #[error("control character U+{code:04X} on line {line}")]
    ControlChar {
        /// 1-based line number.
        line: usize,
        /// The offending code point.
        code: u32,
    },
    /// The text does not end in a newline.
    #[error("checkpoint text must end in a newline")]
    MissingFinalNewline,
    /// Fewer than the three mandatory lines.
    #[error("checkpoint has {lines} lines, at least 3 are required")]
    TooFewLines {
        /// Lines found.
        lines: usize,
    },
    /// The origin line is empty.
    #[error("origin line is empty")]
    EmptyOrigin,
    /// The origin line exceeds [`MAX_ORIGIN_BYTES`].
    #[error("origin is {len} bytes, more than the {max}-byte limit")]
    OriginTooLong {
        /// Length found.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The size line is not a canonical decimal `u64`.
    #[error("tree size line {value:?}: {reason}")]
    Size {
        /// The line as found (truncated to 32 bytes).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The root hash line is not canonical base64 of exactly 32 bytes.
    #[error("root hash line is not canonical base64 of 32 bytes")]
    RootHash,
    /// An extension line is empty (which would be read as the note's blank separator line).
    #[error("extension line {line} is empty")]
    EmptyExtension {
        /// 1-based line number within the checkpoint.
        line: usize,
    },
    /// More than [`MAX_EXTENSION_LINES`] extension lines.
    #[error("checkpoint has {count} extension lines, more than the limit of {max}")]
    TooManyExtensions {
        /// Extension lines found.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The signed note around the checkpoint failed to verify.
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    /// The note verified, but not with an Ed25519 key named after the checkpoint's origin.
    #[error(
        "checkpoint for origin {origin:?} carries no valid signature by a log key of that name"
    )]
    NotSignedByOrigin {
        /// The checkpoint's origin.
        origin: String,
    },
}

impl CheckpointError {
    /// Stable machine-readable code for this error (note errors keep their `note.*` codes).
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "checkpoint.too_large",
            Self::ControlChar { .. } => "checkpoint.malformed.control_char",
            Self::MissingFinalNewline => "checkpoint.malformed.missing_final_newline",
            Self::TooFewLines { .. } => "checkpoint.malformed.too_few_lines",
            Self::EmptyOrigin => "checkpoint.origin.empty",
            Self::OriginTooLong { .. } => "checkpoint.origin.too_long",
            Self::Size { .. } => "checkpoint.size.malformed",
            Self::RootHash => "checkpoint.root_hash.malformed",
            Self::EmptyExtension { .. } => "checkpoint.extension.empty",
            Self::TooManyExtensions { .. } => "checkpoint.extension.too_many",
            Self::Note(e) => e.code(),
            Self::NotSignedByOrigin { .. } => "checkpoint.not_signed_by_origin",
        }
    }
}

/// A log's signed tree head body. Fields are private so that every value is valid and
/// [`Checkpoint::to_text`] cannot produce something [`Checkpoint::parse`] would reject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root_hash: Hash,
    extensions: Vec<String>,
}

fn check_line(line: &str, line_no: usize) -> Result<(), CheckpointError> {
    // Newlines cannot occur inside a line by construction; every other control is forbidden
    // by the signed-note format that carries checkpoints.
    match line.chars().find(|&c| c < ' ' || c == '\u{7f}') {
        Some(c) => Err(CheckpointError::ControlChar {
            line: line_no,
            code: u32::from(c),
        }),
        None => Ok(()),
    }
}

fn check_origin(origin: &str) -> Result<(), CheckpointError> {
    if origin.is_empty() {
        return Err(CheckpointError::EmptyOrigin);
    }
    if origin.len() > MAX_ORIGIN_BYTES {
        return Err(CheckpointError::OriginTooLong {
            len: origin.len(),
            max: MAX_ORIGIN_BYTES,
        });
    }
    if origin.contains('\n') {
        return Err(CheckpointError::ControlChar {
            line: 1,
            code: 0x0a,
        });
    }
    check_line(origin, 1)
}

fn check_extensions(extensions: &[String]) -> Result<(), CheckpointError> {
    if extensions.len() > MAX_EXTENSION_LINES {
        return Err(CheckpointError::TooManyExtensions {
            count: extensions.len(),
            max: MAX_EXTENSION_LINES,
        });
    }
    for (i, e) in extensions.iter().enumerate() {
        let line = i + 4;
        if e.is_empty() {
            return Err(CheckpointError::EmptyExtension { line });
        }
        if e.contains('\n') {
            return Err(CheckpointError::ControlChar { line, code: 0x0a });
        }
        check_line(e, line)?;
    }
    Ok(())
}

fn parse_size(s: &str) -> Result<u64, CheckpointError> {
    let bad = |reason| CheckpointError::Size {
        value: s.chars().take(32).collect(),
        reason,
    };
    if s.is_empty() {
        return Err(bad("empty"));
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("not ASCII decimal digits"));
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(bad("leading zero"));
    }
    s.parse::<u64>().map_err(|_| bad("exceeds 2^64-1"))
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: &str, size: u64, root_hash: Hash) -> Result<Self, CheckpointError> {
        Self::with_extensions(origin, size, root_hash, Vec::new())
    }

    /// A checkpoint with extension lines (each non-empty, no control characters). The spec
    /// discourages extensions because monitors cannot audit them.
    pub fn with_extensions(
        origin: &str,
        size: u64,
        root_hash: Hash,
        extensions: Vec<String>,
    ) -> Result<Self, CheckpointError> {
        check_origin(origin)?;
        check_extensions(&extensions)?;
        let cp = Self {
            origin: origin.to_owned(),
            size,
            root_hash,
            extensions,
        };
        let len = cp.to_text().len();
        if len > MAX_CHECKPOINT_BYTES {
            return Err(CheckpointError::TooLarge {
                len,
                max: MAX_CHECKPOINT_BYTES,
            });
        }
        Ok(cp)
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 6962 root hash at [`Checkpoint::size`].
    pub fn root_hash(&self) -> &Hash {
        &self.root_hash
    }

    /// The extension lines, without their newlines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The canonical note text, ending in a newline, ready for [`crate::note::NoteSigner::sign`].
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root_hash)
        );
        for e in &self.extensions {
            out.push_str(e);
            out.push('\n');
        }
        out
    }

    /// Parses checkpoint note text (without signatures), accepting only the canonical form.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        if text.len() > MAX_CHECKPOINT_BYTES {
            return Err(CheckpointError::TooLarge {
                len: text.len(),
                max: MAX_CHECKPOINT_BYTES,
            });
        }
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingFinalNewline)?;
        let lines: Vec<&str> = body.split('\n').collect();
        let (Some(origin), Some(size), Some(root), rest) =
            (lines.first(), lines.get(1), lines.get(2), lines.get(3..))
        else {
            return Err(CheckpointError::TooFewLines { lines: lines.len() });
        };
        check_origin(origin)?;
        check_line(size, 2)?;
        let size = parse_size(size)?;
        check_line(root, 3)?;
        let decoded = STANDARD
            .decode(root)
            .map_err(|_| CheckpointError::RootHash)?;
        let root_hash: Hash = decoded
            .as_slice()
            .try_into()
            .map_err(|_| CheckpointError::RootHash)?;
        if STANDARD.encode(root_hash) != *root {
            return Err(CheckpointError::RootHash);
        }
        let extensions: Vec<String> = rest
            .unwrap_or_default()
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        check_extensions(&extensions)?;
        Ok(Self {
            origin: (*origin).to_owned(),
            size,
            root_hash,
            extensions,
        })
    }

    /// Verifies a signed checkpoint note and parses its text.
    ///
    /// Beyond [`NoteVerifier::verify`], this requires a valid plain Ed25519 signature by a key
    /// whose name equals the origin line, so that a verifier configured with both log and witness
    /// keys never accepts a checkpoint that only a witness signed (or that a different log
    /// signed). Cosignatures that verified are reported in the returned [`VerifiedNote`].
    pub fn open(
        note: &str,
        verifier: &NoteVerifier,
    ) -> Result<(Self, VerifiedNote), CheckpointError> {
        let verified = verifier.verify(note)?;
        let cp = Self::parse(&verified.text)?;
        if !verified
            .signatures
            .iter()
            .any(|s| s.key_type == KeyType::Ed25519 && s.name == cp.origin)
        {
            return Err(CheckpointError::NotSignedByOrigin { origin: cp.origin });
        }
        Ok((cp, verified))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::{CosignatureSigner, NoteSigner};

    // The example from c2sp.org/tlog-checkpoint (text only; its signing key is not published).
    const SPEC_TEXT: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn spec_example_round_trips() {
        let cp = Checkpoint::parse(SPEC_TEXT).unwrap();
        assert_eq!(cp.origin(), "example.com/behind-the-sofa");
        assert_eq!(cp.size(), 20_852_163);
        assert_eq!(cp.to_text(), SPEC_TEXT);
    }

    #[test]
    fn extensions_round_trip() {
        let cp =
            Checkpoint::with_extensions("o", 0, [0; 32], vec!["ext a".into(), "b".into()]).unwrap();
        let t = cp.to_text();
        assert_eq!(Checkpoint::parse(&t).unwrap(), cp);
    }

    #[test]
    fn rejects_non_canonical() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        let cases = [
            (
                format!("o\n1\n{root}"),
                "checkpoint.malformed.missing_final_newline",
            ),
            (format!("o\n1\n{root}\n\n"), "checkpoint.extension.empty"),
            (format!("\n1\n{root}\n"), "checkpoint.origin.empty"),
            ("o\n1\n".to_owned(), "checkpoint.malformed.too_few_lines"),
            (format!("o\n01\n{root}\n"), "checkpoint.size.malformed"),
            (format!("o\n+1\n{root}\n"), "checkpoint.size.malformed"),
            (format!("o\n\n{root}\n"), "checkpoint.size.malformed"),
            (
                format!("o\n18446744073709551616\n{root}\n"),
                "checkpoint.size.malformed",
            ),
            (
                "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n".to_owned(),
                "checkpoint.root_hash.malformed",
            ),
            (
                "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n".to_owned(),
                "checkpoint.root_hash.malformed",
            ),
            ("o\n1\nAAAA\n".to_owned(), "checkpoint.root_hash.malformed"),
            (
                format!("o\n1\n{root}\r\n"),
                "checkpoint.malformed.control_char",
            ),
            (
                format!("o\t\n1\n{root}\n"),
                "checkpoint.malformed.control_char",
            ),
            (
                format!("{}\n1\n{root}\n", "o".repeat(MAX_ORIGIN_BYTES + 1)),
                "checkpoint.origin.too_long",
            ),
            (
                format!("o\n1\n{root}\n{}", "x\n".repeat(MAX_EXTENSION_LINES + 1)),
                "checkpoint.extension.too_many",
            ),
            (
                format!("o\n1\n{root}\n{}\n", "x".repeat(MAX_CHECKPOINT_BYTES)),
                "checkpoint.too_large",
            ),
        ];
        for (text, code) in cases {
            assert_eq!(
                Checkpoint::parse(&text).unwrap_err().code(),
                code,
                "{text:?}"
            );
        }
        assert_eq!(
            Checkpoint::parse(&format!("o\n18446744073709551615\n{root}\n"))
                .unwrap()
                .size(),
            u64::MAX
        );
        assert_eq!(
            Checkpoint::parse(&format!("o\n0\n{root}\n"))
                .unwrap()
                .size(),
            0
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn built_checkpoints_round_trip(
            origin in "[a-z0-9./+ \u{e9}-]{1,40}",
            size in proptest::prelude::any::<u64>(),
            root in proptest::prelude::any::<[u8; 32]>(),
            ext in proptest::collection::vec("[ -~]{1,20}", 0..4),
        ) {
            let cp = Checkpoint::with_extensions(&origin, size, root, ext).unwrap();
            proptest::prop_assert_eq!(Checkpoint::parse(&cp.to_text()).unwrap(), cp);
        }

        /// Canonical form: whatever arbitrary text parses re-serialises to exactly that text.
        #[test]
        fn parse_accepts_only_canonical_text(
            text in "[a-z0-9]{0,4}\n[0-9+-]{0,3}\n[A-Za-z0-9+/=_-]{40,46}\n([ -~]{0,3}\n){0,2}",
        ) {
            if let Ok(cp) = Checkpoint::parse(&text) {
                proptest::prop_assert_eq!(cp.to_text(), text);
            }
        }

        #[test]
        fn single_byte_edits_of_valid_text_never_alias(
            size in proptest::prelude::any::<u64>(),
            root in proptest::prelude::any::<[u8; 32]>(),
            pos in proptest::prelude::any::<usize>(),
            byte in 0u8..128,
        ) {
            let cp = Checkpoint::new("example.com/log", size, root).unwrap();
            let mut t = cp.to_text().into_bytes();
            let i = pos % t.len();
            t[i] = byte;
            if let Ok(s) = std::str::from_utf8(&t) {
                if let Ok(other) = Checkpoint::parse(s) {
                    // Either the edit was a no-op or it produced a different, canonical value.
                    proptest::prop_assert_eq!(other.to_text(), s);
                    proptest::prop_assert!(s == cp.to_text() || other != cp);
                }
            }
        }
    }

    #[test]
    fn open_requires_the_origin_log_signature() {
        let log = NoteSigner::from_seed("example.com/log", &[1; 32]).unwrap();
        let other = NoteSigner::from_seed("example.com/other", &[3; 32]).unwrap();
        let witness = CosignatureSigner::from_seed("witness.example/w1", &[2; 32]).unwrap();
        let cp = Checkpoint::new("example.com/log", 9, [7; 32]).unwrap();
        let note = log.sign(&cp.to_text()).unwrap();
        let cosigned = witness.cosign(&note, 1_700_000_000).unwrap();
        let v = NoteVerifier::new(vec![
            log.verifier_key().unwrap(),
            other.verifier_key().unwrap(),
            witness.verifier_key().unwrap(),
        ])
        .unwrap();
        let (got, verified) = Checkpoint::open(&cosigned, &v).unwrap();
        assert_eq!(got, cp);
        assert_eq!(verified.signatures.len(), 2);

        // Only a witness cosignature: the note verifies but is not a log checkpoint.
        let text = cp.to_text();
        let witness_only = format!("{text}\n{}", witness.cosignature_line(&text, 5).unwrap());
        assert_eq!(
            Checkpoint::open(&witness_only, &v).unwrap_err().code(),
            "checkpoint.not_signed_by_origin"
        );
        // Signed by a different log's key.
        let wrong_log = other.sign(&text).unwrap();
        assert_eq!(
            Checkpoint::open(&wrong_log, &v).unwrap_err().code(),
            "checkpoint.not_signed_by_origin"
        );
        // Note errors keep their own codes.
        let unknown = NoteVerifier::new(vec![]).unwrap();
        assert_eq!(
            Checkpoint::open(&note, &unknown).unwrap_err().code(),
            "note.unverified"
        );
    }
}
