//! One probe argument of trace's command line, read once: split, its
//! format parsed, its signature's names, its expressions' syntax checked
//! (so typos fail before anything needs root); typed later against each
//! target ([`Parsed::typed`]).

use super::check::{self, Param, Scope, TExpr, Value};
use super::event::Slot;
use super::format::{self, Format};
use super::probe_text::{self, ProbeText};
use super::{expr, signature, ProbeError};

#[derive(Debug, Clone)]
pub struct Parsed {
    /// The argument as typed.
    pub raw: String,
    pub text: ProbeText,
    pub format: Format,
    /// Names from the signature, if it has one.
    pub params: Vec<Param>,
    /// BCC's `-B`: STRCMP's literal may be a list of bytes.
    pub byte_lists: bool,
}

impl Parsed {
    pub fn new(raw: &str) -> Result<Parsed, ProbeError> {
        let err = |m: String| ProbeError::new(raw, m);
        let text = probe_text::split(raw).map_err(err)?;
        let format = format::parse(text.format.as_deref().unwrap_or("")).map_err(err)?;
        let params = match &text.signature {
            Some(sig) => signature::parse(sig).map_err(err)?,
            None => Vec::new(),
        };
        for e in text.predicate.iter().chain(&text.args) {
            expr::parse(e).map_err(|e| err(e.message))?;
        }
        if text.args.len() != format.convs().count() {
            return Err(err(format!(
                "the format has {} conversion(s) but {} argument(s) follow it: give one \
                 argument per %",
                format.convs().count(),
                text.args.len()
            )));
        }
        Ok(Parsed {
            raw: raw.to_string(),
            text,
            format,
            params,
            byte_lists: false,
        })
    }

    /// Whether the probe prints a message (BCC's header then ends in "-").
    pub fn has_format(&self) -> bool {
        self.text.format.is_some()
    }

    /// What each value takes in the record: strings `string_size` bytes
    /// and a NUL.
    pub fn slots(&self, string_size: usize) -> Vec<Slot> {
        self.format
            .convs()
            .map(|c| {
                if c.kind.wants_string() {
                    // -Z characters, as BCC prints, and the NUL after them.
                    Slot::Str(string_size + 1)
                } else {
                    Slot::Num
                }
            })
            .collect()
    }

    /// The predicate and the values, typed against what `scope` offers.
    pub fn typed(&self, scope: &Scope<'_>) -> Result<(Option<TExpr>, Vec<Value>), String> {
        let predicate = self
            .text
            .predicate
            .as_deref()
            .map(|p| check::predicate(p, scope))
            .transpose()?;
        let values = check::values(&self.format, &self.text.args, scope)?;
        Ok((predicate, values))
    }
}

#[cfg(test)]
mod tests {
    use super::super::check::Site;
    use super::*;

    #[test]
    fn probes_read_once_and_type_later() {
        let p = Parsed::new(r#"c:open(char *path) (arg2 == 42) "%s %d", path, arg2"#).unwrap();
        assert_eq!(p.text.spec, "c:open");
        assert_eq!(p.params.len(), 1);
        assert!(p.has_format());
        // -Z 80: 80 characters (as BCC prints) and a NUL.
        assert_eq!(p.slots(80), [Slot::Str(81), Slot::Num]);
        let scope = Scope {
            site: Site::UserFunction,
            ret: false,
            params: &p.params,
            byte_lists: false,
        };
        let (pred, values) = p.typed(&scope).unwrap();
        assert!(pred.is_some());
        assert_eq!(values.len(), 2);
        assert!(!Parsed::new("do_sys_open").unwrap().has_format());
    }

    #[test]
    fn syntax_errors_come_first() {
        let err = |raw: &str| Parsed::new(raw).unwrap_err().to_string();
        assert!(
            err("c:f (arg1 >)").starts_with("in probe 'c:f (arg1 >)': expected a value"),
            "{}",
            err("c:f (arg1 >)")
        );
        assert!(err(r#"c:f "%d %d", arg1"#).contains("2 conversion(s) but 1 argument(s)"));
        assert!(err(r#"c:f "%q""#).contains("unknown conversion"));
        assert!(err("c:f(int) ").contains("needs a type and a name"));
        assert!(err(r#"c:f "%d", arg1 +"#).contains("expected a value"));
    }
}
