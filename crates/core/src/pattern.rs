//! Name matching: `*`/`?` globs by default, regular expressions with `-r`.
//!
//! Globs match the whole name. Regular expressions are anchored at the start
//! only, as BCC's Python `re.match` is, so `-r 'vfs_'` matches `vfs_read`.

use regex::{Regex, RegexBuilder};
use thiserror::Error;

/// A bad pattern, explained on one line with the position of the problem.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("bad {kind} '{pattern}': {message} at position {position}")]
pub struct PatternError {
    /// "regular expression" or "pattern".
    pub kind: &'static str,
    pub pattern: String,
    pub message: String,
    pub position: usize,
}

/// Longer patterns are refused before they are compiled: no symbol name
/// is this long, and a huge pattern would cost seconds or gigabytes.
pub const MAX_PATTERN_LEN: usize = 1024;
/// The most memory one compiled pattern may take.
const COMPILED_SIZE_LIMIT: usize = 16 << 20;

/// A compiled name pattern.
#[derive(Debug, Clone)]
pub struct Matcher {
    regex: Regex,
}

impl Matcher {
    /// A shell-style glob: `*` any run of characters, `?` one character.
    pub fn glob(pattern: &str) -> Result<Matcher, PatternError> {
        check_len(pattern)?;
        let mut re = String::from("^");
        for c in pattern.chars() {
            match c {
                '*' => re.push_str(".*"),
                '?' => re.push('.'),
                c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
            }
        }
        re.push('$');
        compile(pattern, &re)
    }

    /// A regular expression, anchored at the start of the name.
    pub fn regex(pattern: &str) -> Result<Matcher, PatternError> {
        check_len(pattern)?;
        if let Err(err) = regex_syntax::ast::parse::Parser::new().parse(pattern) {
            return Err(PatternError {
                kind: "regular expression",
                pattern: pattern.to_string(),
                message: err.kind().to_string(),
                position: err.span().start.offset,
            });
        }
        compile(pattern, &format!("^(?:{pattern})"))
    }

    /// A glob, or with `use_regex` a regular expression.
    pub fn new(pattern: &str, use_regex: bool) -> Result<Matcher, PatternError> {
        if use_regex {
            Matcher::regex(pattern)
        } else {
            Matcher::glob(pattern)
        }
    }

    pub fn is_match(&self, name: &str) -> bool {
        self.regex.is_match(name)
    }
}

fn check_len(pattern: &str) -> Result<(), PatternError> {
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(PatternError {
            kind: "pattern",
            pattern: format!("{}...", pattern.chars().take(40).collect::<String>()),
            message: format!(
                "pattern of {} bytes is longer than the limit of {MAX_PATTERN_LEN}",
                pattern.len()
            ),
            position: MAX_PATTERN_LEN,
        });
    }
    Ok(())
}

fn compile(pattern: &str, re: &str) -> Result<Matcher, PatternError> {
    let regex = RegexBuilder::new(re)
        .size_limit(COMPILED_SIZE_LIMIT)
        .build()
        .map_err(|err| PatternError {
            kind: "pattern",
            pattern: pattern.to_string(),
            message: err
                .to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .to_string(),
            position: 0,
        })?;
    Ok(Matcher { regex })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_whole_names() {
        let m = Matcher::glob("vfs_*").unwrap();
        assert!(m.is_match("vfs_read"));
        assert!(m.is_match("vfs_"));
        assert!(!m.is_match("do_vfs_read"));
        let m = Matcher::glob("sys_enter_get?id").unwrap();
        assert!(m.is_match("sys_enter_getpid"));
        assert!(!m.is_match("sys_enter_getppid"));
        assert!(!Matcher::glob("read").unwrap().is_match("readv"));
    }

    #[test]
    fn glob_treats_regex_characters_literally() {
        let m = Matcher::glob("a.b+c").unwrap();
        assert!(m.is_match("a.b+c"));
        assert!(!m.is_match("axbbc"));
    }

    #[test]
    fn regex_is_anchored_at_the_start_only() {
        let m = Matcher::regex("vfs_(read|write)").unwrap();
        assert!(m.is_match("vfs_read"));
        assert!(m.is_match("vfs_readv"));
        assert!(!m.is_match("do_vfs_read"));
        let m = Matcher::regex("^vfs_(read|write)$").unwrap();
        assert!(!m.is_match("vfs_readv"));
    }

    #[test]
    fn huge_patterns_are_refused_not_compiled() {
        let stars = "*a".repeat(5_000);
        for use_regex in [false, true] {
            let err = Matcher::new(&stars, use_regex).unwrap_err();
            assert!(err.to_string().contains("longer than the limit"), "{err}");
        }
        // Within the length limit but too big once compiled.
        let err = Matcher::regex("(a{1000}){1000}").unwrap_err();
        assert!(err.to_string().contains("size limit"), "{err}");
        assert!(Matcher::glob(&"*".repeat(MAX_PATTERN_LEN)).is_ok());
    }

    #[test]
    fn bad_regex_names_the_position() {
        let err = Matcher::regex("vfs_(read").unwrap_err();
        assert_eq!(err.position, 4);
        assert!(err.to_string().contains("unclosed group"), "{err}");
        assert!(err.to_string().contains("'vfs_(read'"), "{err}");
        let err = Matcher::regex("ab[").unwrap_err();
        assert_eq!(err.position, 2);
        assert!(Matcher::new("*", true).is_err());
        assert!(Matcher::new("*", false).is_ok());
    }
}
