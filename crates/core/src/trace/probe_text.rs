//! Splits one trace probe argument into its parts, as BCC's trace reads
//! it: `SPEC[(SIGNATURE)] [(PREDICATE)] ["FORMAT"[, ARG...]]`. The spec
//! ends at the first blank or parenthesis, so `(arg1 > 0) "x: %d"` never
//! splits on ':'; parentheses and quotes are balanced before anything is
//! cut.

/// A probe argument, cut into parts (not yet parsed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProbeText {
    /// The probe specification, without `+OFFSET`.
    pub spec: String,
    /// `func+OFFSET`: bytes into the function (0 without).
    pub offset: u64,
    /// `func(int fd, char *buf)`: names for the arguments.
    pub signature: Option<String>,
    /// The predicate, without its outer parentheses.
    pub predicate: Option<String>,
    /// The format string, its escapes (`\n`, `\t`, `\"`, `\\`) read.
    pub format: Option<String>,
    /// The expressions after the format, each as typed.
    pub args: Vec<String>,
}

/// Splits `text`; an error names what is wrong and where.
pub fn split(text: &str) -> Result<ProbeText, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty probe: give a function, e.g. 'do_sys_openat2' or 'c:malloc'".into());
    }
    let spec_end = text
        .find(|c: char| c.is_whitespace() || c == '(' || c == '"')
        .unwrap_or(text.len());
    let (spec, offset) = split_offset(&text[..spec_end])?;
    let mut out = ProbeText {
        spec,
        offset,
        ..ProbeText::default()
    };
    let mut rest = &text[spec_end..];
    if rest.starts_with('(') {
        // Right after the spec, as in BCC: a signature.
        let (inside, after) = balanced(rest)?;
        out.signature = Some(inside.trim().to_string());
        rest = after;
    }
    rest = rest.trim_start();
    if rest.starts_with('(') {
        let (inside, after) = balanced(rest)?;
        if inside.trim().is_empty() {
            return Err("empty predicate '()': give a condition, e.g. (arg1 > 0)".into());
        }
        out.predicate = Some(inside.trim().to_string());
        rest = after.trim_start();
    }
    if rest.is_empty() {
        return Ok(out);
    }
    if !rest.starts_with('"') {
        return Err(format!(
            "expected a format string in double quotes at '{}', e.g. \"%d\", arg1",
            snippet(rest)
        ));
    }
    let (format, after) = string_literal(rest)?;
    out.format = Some(format);
    let after = after.trim_start();
    if after.is_empty() {
        return Ok(out);
    }
    let Some(args) = after.strip_prefix(',') else {
        return Err(format!(
            "expected ',' and the format's arguments after the format string, at '{}'",
            snippet(after)
        ));
    };
    out.args = split_args(args)?;
    Ok(out)
}

/// `func+0x10` -> (`func`, 16); an offset is decimal or hex.
fn split_offset(spec: &str) -> Result<(String, u64), String> {
    let Some((func, offset)) = spec.rsplit_once('+') else {
        return Ok((spec.to_string(), 0));
    };
    let parsed = match offset.strip_prefix("0x").or(offset.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => offset.parse(),
    };
    match parsed {
        Ok(n) if !func.is_empty() => Ok((func.to_string(), n)),
        _ => Err(format!(
            "invalid offset '+{offset}' in '{spec}': give bytes into the function, decimal or hex \
             (func+0x12)"
        )),
    }
}

/// `text` starts with '(': the part inside the matching ')', and what
/// follows it. Parentheses inside string and character literals don't
/// count.
fn balanced(text: &str) -> Result<(&str, &str), String> {
    let mut depth = 0usize;
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Ok((&text[1..i], &text[i + 1..]));
                }
            }
            '"' | '\'' => skip_quoted(&mut chars, c)?,
            _ => {}
        }
    }
    Err(format!(
        "unmatched '(' at '{}': close it with ')'",
        snippet(text)
    ))
}

/// Moves `chars` past the literal that `quote` opened.
fn skip_quoted(chars: &mut std::str::CharIndices<'_>, quote: char) -> Result<(), String> {
    while let Some((_, c)) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if c == quote {
            return Ok(());
        }
    }
    Err(format!(
        "unterminated {quote}...{quote}: close it with {quote}"
    ))
}

/// `text` starts with '"': the string, its escapes read, and what follows.
pub fn string_literal(text: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = text.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &text[i + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, '0')) => out.push('\0'),
                Some((_, other)) => out.push(other),
                None => break,
            },
            _ => out.push(c),
        }
    }
    Err(format!(
        "unterminated string at '{}': close it with \"",
        snippet(text)
    ))
}

/// The format's arguments, split at the commas outside parentheses and
/// literals (`STRCMP("a,b", arg1), arg2` is two).
fn split_args(text: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => {
                return Err(format!("unmatched ')' at '{}'", snippet(&text[i..])));
            }
            ')' => depth -= 1,
            '"' | '\'' => skip_quoted(&mut chars, c)?,
            ',' if depth == 0 => {
                args.push(text[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err(format!("unmatched '(' in '{}'", snippet(text.trim())));
    }
    args.push(text[start..].trim().to_string());
    if let Some(i) = args.iter().position(String::is_empty) {
        return Err(format!(
            "empty argument {} after the format string: remove the extra ','",
            i + 1
        ));
    }
    Ok(args)
}

/// The start of `text`, short enough for a one-line error.
pub fn snippet(text: &str) -> String {
    let mut s: String = text.chars().take(40).collect();
    if s.len() < text.len() {
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str) -> ProbeText {
        split(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn bcc_probes_split_into_spec_predicate_and_format() {
        let p = parts(r#"c:open (arg2 == 42) "%s %d", arg1, arg2"#);
        assert_eq!(p.spec, "c:open");
        assert_eq!(p.predicate.as_deref(), Some("arg2 == 42"));
        assert_eq!(p.format.as_deref(), Some("%s %d"));
        assert_eq!(p.args, ["arg1", "arg2"]);
        // Colons inside the predicate and format stay there.
        let p = parts(r#"t:sched:sched_switch (args->prev_pid > 0) "x: %d", args->prev_pid"#);
        assert_eq!(p.spec, "t:sched:sched_switch");
        assert_eq!(p.predicate.as_deref(), Some("args->prev_pid > 0"));
        assert_eq!(p.format.as_deref(), Some("x: %d"));
        let p = parts("do_sys_open");
        assert_eq!(
            p,
            ProbeText {
                spec: "do_sys_open".into(),
                ..ProbeText::default()
            }
        );
        let p = parts(r#"r::do_sys_open "%llx", retval"#);
        assert_eq!((p.spec.as_str(), p.predicate), ("r::do_sys_open", None));
        let p = parts(r#"u:pthread:pthread_create (arg4 != 0)"#);
        assert_eq!(p.predicate.as_deref(), Some("arg4 != 0"));
        assert_eq!(p.format, None);
    }

    #[test]
    fn parentheses_and_quotes_nest() {
        let p = parts(r#"c:open ((arg1 & 3) == (1 << 1) && STRCMP("a)b,c", arg2)) "%s", arg2"#);
        assert_eq!(
            p.predicate.as_deref(),
            Some(r#"(arg1 & 3) == (1 << 1) && STRCMP("a)b,c", arg2)"#)
        );
        let p = parts(r#"c:f "%d %s", (arg1 + 1) * 2, STRCMP("x,y", arg2)"#);
        assert_eq!(p.args, ["(arg1 + 1) * 2", r#"STRCMP("x,y", arg2)"#]);
        // Commas in literals at the top level stay too.
        let p = parts(r#"c:f "%d %d", ',', "a,b""#);
        assert_eq!(p.args, ["','", r#""a,b""#]);
        let p = parts(r#"c:f "say \"hi\"\t%d\n", arg1"#);
        assert_eq!(p.format.as_deref(), Some("say \"hi\"\t%d\n"));
    }

    #[test]
    fn signatures_and_offsets() {
        let p = parts(r#"p::SyS_nanosleep(struct timespec *ts) "sleep %lld", ts->tv_nsec"#);
        assert_eq!(p.spec, "p::SyS_nanosleep");
        assert_eq!(p.signature.as_deref(), Some("struct timespec *ts"));
        assert_eq!(p.args, ["ts->tv_nsec"]);
        assert_eq!(parts("kfree_skb+0x12").offset, 0x12);
        assert_eq!(parts("c:malloc+16").offset, 16);
        assert_eq!(parts("c:malloc+16").spec, "c:malloc");
    }

    #[test]
    fn mistakes_are_named() {
        let err = |text: &str| split(text).unwrap_err();
        assert!(err("").contains("empty probe"));
        assert!(
            err("c:f (arg1 > 0").contains("unmatched '('"),
            "{}",
            err("c:f (arg1 > 0")
        );
        assert!(err(r#"c:f "%d"#).contains("unterminated string"));
        assert!(err("c:f arg1").contains("expected a format string"));
        assert!(err(r#"c:f "%d" arg1"#).contains("expected ','"));
        assert!(err(r#"c:f "%d",, arg1"#).contains("empty argument 1"));
        assert!(err(r#"c:f "%d", arg1,"#).contains("empty argument 2"));
        assert!(err(r#"c:f "%d", f(arg1"#).contains("unmatched '('"));
        assert!(err(r#"c:f "%d", arg1)"#).contains("unmatched ')'"));
        assert!(err("c:f ()").contains("empty predicate"));
        assert!(err("c:f+zz").contains("invalid offset"));
        assert!(err("+16").contains("invalid offset"), "{}", err("+16"));
        assert!(err("c:f ('a)").contains("unterminated '"));
        assert!(snippet(&"x".repeat(100)).ends_with("..."));
        assert_eq!(snippet("short"), "short");
    }
}
