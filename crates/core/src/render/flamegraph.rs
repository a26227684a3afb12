//! SVG flame graphs from folded stacks, with inferno, in process.

use inferno::flamegraph::{self, Options};

/// Writes an SVG flame graph of `folded` lines (`a;b;c COUNT`); with no
/// lines, an SVG that says nothing was sampled (inferno refuses to draw
/// none, and a run that counted nothing still leaves a file a browser
/// opens).
pub fn svg(folded: &[String], title: &str) -> Result<Vec<u8>, String> {
    if folded.is_empty() {
        return Ok(empty(title).into_bytes());
    }
    let mut options = Options::default();
    options.title = title.to_string();
    options.count_name = "calls".to_string();
    let mut out = Vec::new();
    flamegraph::from_lines(&mut options, folded.iter().map(String::as_str), &mut out)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

fn empty(title: &str) -> String {
    let title: String = title
        .chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            c => c.to_string(),
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" standalone=\"no\"?>\n\
         <svg version=\"1.1\" width=\"1200\" height=\"80\" \
         xmlns=\"http://www.w3.org/2000/svg\">\n\
         <text x=\"600\" y=\"28\" text-anchor=\"middle\" font-size=\"17\">{title}</text>\n\
         <text x=\"600\" y=\"56\" text-anchor=\"middle\" font-size=\"13\">\
         No stacks: nothing was counted while tracing.</text>\n</svg>\n"
    )
}

#[cfg(test)]
mod tests {
    /// Issue 25: `--flamegraph` of a run that counted nothing failed.
    #[test]
    fn no_stacks_make_an_svg_that_says_so() {
        let svg = super::svg(&[], "stackcount <c:x&y> \"z\"").unwrap();
        let text = String::from_utf8(svg).unwrap();
        assert!(text.starts_with("<?xml") && text.contains("<svg"), "{text}");
        assert!(text.trim_end().ends_with("</svg>"), "{text}");
        assert!(
            text.contains("stackcount &lt;c:x&amp;y&gt; &quot;z&quot;"),
            "{text}"
        );
        assert!(text.contains("No stacks"), "{text}");
    }

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
