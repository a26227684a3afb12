//! Golden files for formatted output (`crates/core/tests/golden/`).
//! `RTOOLS_BLESS=1 cargo test` rewrites them from the current output.

use std::path::PathBuf;

pub fn check(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("RTOOLS_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with RTOOLS_BLESS=1 to create it)",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "{} differs (RTOOLS_BLESS=1 rewrites it)",
        path.display()
    );
}
