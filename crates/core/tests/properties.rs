//! Property tests: the spec parser and the name matchers take any input
//! without panicking (issue 9), and globs keep their meaning.

use proptest::prelude::*;
use rtools_core::pattern::{Matcher, MAX_PATTERN_LEN};
use rtools_core::spec;

/// Strings made mostly of the characters specs and patterns are built of.
fn spec_like() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z_:/.*?()\\[\\]{}|+^$\\\\0-9 -]{0,60}").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_never_panics(text in any::<String>()) {
        let _ = spec::parse(&text);
    }

    #[test]
    fn parse_never_panics_on_spec_like_text(text in spec_like()) {
        if let Ok(parsed) = spec::parse(&text) {
            // Whatever parses names something to match.
            let shown = format!("{:?}", parsed);
            prop_assert!(!shown.is_empty());
        }
    }

    #[test]
    fn matchers_never_panic(pattern in spec_like(), name in "[a-z_0-9.]{0,40}") {
        for use_regex in [false, true] {
            if let Ok(m) = Matcher::new(&pattern, use_regex) {
                let _ = m.is_match(&name);
            }
        }
    }

    #[test]
    fn long_patterns_are_refused_up_front(unit in "[a*?]{1,3}", repeat in 1usize..4000) {
        let pattern = unit.repeat(repeat);
        let result = Matcher::new(&pattern, false);
        prop_assert_eq!(result.is_ok(), pattern.len() <= MAX_PATTERN_LEN);
    }

    #[test]
    fn a_glob_without_wildcards_matches_only_itself(name in "[a-zA-Z0-9_.+()$^|\\[\\]]{1,30}", other in "[a-z]{1,5}") {
        let m = Matcher::glob(&name).unwrap();
        prop_assert!(m.is_match(&name));
        let longer = format!("{name}{other}");
        prop_assert!(!m.is_match(&longer));
    }

    #[test]
    fn star_globs_match_any_infix(prefix in "[a-z_]{0,8}", infix in "[a-z_]{0,8}", suffix in "[a-z_]{0,8}") {
        let m = Matcher::glob(&format!("{prefix}*{suffix}")).unwrap();
        let name = format!("{prefix}{infix}{suffix}");
        prop_assert!(m.is_match(&name));
    }
}
