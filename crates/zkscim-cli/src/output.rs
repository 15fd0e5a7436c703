//! Human and JSON output, and errors that say what to do next.

use std::fmt::Display;

/// An error as the CLI reports it: what failed, a stable code, and a hint.
#[derive(Debug)]
pub struct CliError {
    /// Stable machine-readable code, e.g. `keyfile.permissions`.
    pub code: String,
    /// What failed, in words.
    pub message: String,
    /// What to do next.
    pub hint: Option<String>,
    /// Process exit code: 1 for refusals and failures, 2 for bad usage or input.
    pub exit: u8,
    /// The command already printed its full answer (a report with findings, say): only the
    /// exit code remains to give, so `--json` output stays one document.
    pub reported: bool,
}

impl CliError {
    /// A failure with a code and message.
    pub fn new(code: impl Into<String>, message: impl Display) -> CliError {
        CliError {
            code: code.into(),
            message: message.to_string(),
            hint: None,
            exit: 1,
            reported: false,
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> CliError {
        self.hint = Some(hint.into());
        self
    }

    /// Marks the error as already reported on stdout.
    pub fn reported(mut self) -> CliError {
        self.reported = true;
        self
    }

    /// Marks the error as bad input (exit code 2).
    pub fn input(mut self) -> CliError {
        self.exit = 2;
        self
    }

    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        self.exit
    }
}

impl From<zkscim_keyfile::KeyFileError> for CliError {
    fn from(e: zkscim_keyfile::KeyFileError) -> CliError {
        let hint = match &e {
            zkscim_keyfile::KeyFileError::Exists(_) => {
                Some("pass --force to replace it, or choose another path")
            }
            zkscim_keyfile::KeyFileError::Permissions { .. } => {
                Some("private keys must be readable by their owner only")
            }
            zkscim_keyfile::KeyFileError::Invalid { .. } => Some(
                "expected a PKCS#8 PEM Ed25519 private key as written by `zkscim key generate`",
            ),
            zkscim_keyfile::KeyFileError::Io { .. } => Some("check the path and its permissions"),
            zkscim_keyfile::KeyFileError::TooLarge(_) => Some("is this really a key file?"),
        };
        let err = CliError::new(e.code(), &e);
        match hint {
            Some(h) => err.hint(h),
            None => err,
        }
    }
}

/// Where results go: human text or one JSON document on stdout; errors on stderr.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
}

impl Output {
    /// Output in JSON when `json` is set.
    pub fn new(json: bool) -> Output {
        Output { json }
    }

    /// Whether JSON output was asked for.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Prints a result: `human` as text, or `value` as JSON.
    pub fn result(&self, human: &str, value: &serde_json::Value) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
        } else {
            println!("{human}");
        }
    }

    /// Prints an error to stderr (as JSON on stdout with `--json`, so scripts get one document).
    pub fn error(&self, err: &CliError) {
        if err.reported && self.json {
            return;
        }
        if self.json {
            let value = serde_json::json!({
                "error": { "code": err.code, "message": err.message, "hint": err.hint }
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
        } else {
            eprintln!("error: {}", err.message);
            if let Some(hint) = &err.hint {
                eprintln!("hint: {hint}");
            }
        }
    }
}
