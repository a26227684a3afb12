//! Writing results: stdout for what users parse, stderr for the rest. A
//! closed pipe (`rtools ... | head`) ends the tool quietly.

use std::io::{self, Write};
use std::sync::OnceLock;

use crate::exit;

/// `eprintln!` that cannot panic: with stderr closed the message is lost,
/// nothing more (SPEC §5: no input makes rtools panic).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub(crate) use say;

static TOOL: OnceLock<&'static str> = OnceLock::new();

/// Names the running tool, for messages printed far from the dispatcher.
pub fn set_tool(name: &'static str) {
    let _ = TOOL.set(name);
}

/// The running tool's name (`rtools` before one was chosen).
pub fn tool() -> &'static str {
    TOOL.get().copied().unwrap_or("rtools")
}

/// Writes `text` to stdout and flushes it; exits quietly if the reader has
/// gone away.
pub fn stdout(text: &str) {
    stdout_bytes(text.as_bytes());
}

/// [`stdout`] for output that is bytes (trace's messages, as printf's).
pub fn stdout_bytes(bytes: &[u8]) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|_| out.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(exit::OK);
        }
        say!("{}: error: writing output: {e}", tool());
        std::process::exit(exit::FAILURE);
    }
}

/// Local wall-clock time as HH:MM:SS (BCC's `strftime("%H:%M:%S")`), and
/// Unix seconds.
pub fn now() -> (String, f64) {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since_epoch.as_secs() as libc::time_t;
    // SAFETY: zeroed is a valid `tm`; localtime_r fills it from `secs`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    unsafe { libc::localtime_r(&secs, &mut tm) };
    (
        format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec),
        since_epoch.as_secs_f64(),
    )
}
