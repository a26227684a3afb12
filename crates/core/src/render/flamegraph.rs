//! SVG flame graphs from folded stacks, with inferno, in process.

use inferno::flamegraph::{self, Options};

/// Writes an SVG flame graph of `folded` lines (`a;b;c COUNT`).
pub fn svg(folded: &[String], title: &str) -> Result<Vec<u8>, String> {
    let mut options = Options::default();
    options.title = title.to_string();
    options.count_name = "calls".to_string();
    let mut out = Vec::new();
    flamegraph::from_lines(&mut options, folded.iter().map(String::as_str), &mut out)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_the_frames() {
        let svg = super::svg(
            &[
                "app;main;gamma 3".to_string(),
                "app;main;delta 1".to_string(),
            ],
            "t",
        )
        .unwrap();
        let text = String::from_utf8(svg).unwrap();
        assert!(text.starts_with("<?xml") && text.contains("<svg"), "{text}");
        assert!(text.contains("gamma") && text.contains("delta"));
    }
}
