//! C2SP tlog-checkpoint.
