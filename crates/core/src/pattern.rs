//! Name matching: `*`/`?` globs by default, regular expressions with `-r`.
//!
//! Globs match the whole name. Regular expressions are anchored at the start
//! only, as BCC's Python `re.match` is, so `-r 'vfs_'` matches `vfs_read`.

use regex::Regex;
use thiserror::Error;

/// A bad pattern, explained on one line with the position of the problem.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("bad regular expression '{pattern}': {message} at position {position}")]
pub struct PatternError {
    pub pattern: String,
    pub message: String,
    pub position: usize,
}

/// A compiled name pattern.
#[derive(Debug, Clone)]
pub struct Matcher {
    regex: Regex,
}

impl Matcher {
    /// A shell-style glob: `*` any run of characters, `?` one character.
    pub fn glob(pattern: &str) -> Matcher {
        let mut re = String::from("^");
        for c in pattern.chars() {
            match c {
                '*' => re.push_str(".*"),
                '?' => re.push('.'),
                c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
            }
        }
        re.push('$');
        Matcher {
            regex: Regex::new(&re).expect("an escaped glob is a valid regex"),
        }
    }

    /// A regular expression, anchored at the start of the name.
    pub fn regex(pattern: &str) -> Result<Matcher, PatternError> {
        if let Err(err) = regex_syntax::ast::parse::Parser::new().parse(pattern) {
            return Err(PatternError {
                pattern: pattern.to_string(),
                message: err.kind().to_string(),
                position: err.span().start.offset,
            });
        }
        let regex = Regex::new(&format!("^(?:{pattern})")).map_err(|err| PatternError {
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

    /// A glob, or with `use_regex` a regular expression.
    pub fn new(pattern: &str, use_regex: bool) -> Result<Matcher, PatternError> {
        if use_regex {
            Matcher::regex(pattern)
        } else {
            Ok(Matcher::glob(pattern))
        }
    }

    pub fn is_match(&self, name: &str) -> bool {
        self.regex.is_match(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_whole_names() {
        let m = Matcher::glob("vfs_*");
        assert!(m.is_match("vfs_read"));
        assert!(m.is_match("vfs_"));
        assert!(!m.is_match("do_vfs_read"));
        let m = Matcher::glob("sys_enter_get?id");
        assert!(m.is_match("sys_enter_getpid"));
        assert!(!m.is_match("sys_enter_getppid"));
        assert!(!Matcher::glob("read").is_match("readv"));
    }

    #[test]
    fn glob_treats_regex_characters_literally() {
        let m = Matcher::glob("a.b+c");
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
