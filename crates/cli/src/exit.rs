//! Exit codes, in one place (SPEC §5).

/// Success.
pub const OK: i32 = 0;
/// A runtime failure: loading or attaching failed, a map could not be read.
pub const FAILURE: i32 = 1;
/// A usage error: bad options, a probe that matches nothing, a bad regex.
pub const USAGE: i32 = 2;
/// A second Ctrl-C: stop without the final summary.
pub const INTERRUPTED: i32 = 130;
