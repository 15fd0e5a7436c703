//! C2SP signed-note.
