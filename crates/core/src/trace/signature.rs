//! A probe's signature, BCC's way of naming arguments
//! (`c:open(char *path, int flags)`): each parameter's name, position and
//! type. Pointers other than `char *` are numbers (their members are not
//! known here); other type names are left for the kernel's BTF to tell
//! (`ktime_t`, at kernel functions).

use super::check::{Param, ParamType};
use super::expr::CType;

/// The parameters of `signature` (the text between its parentheses).
pub fn parse(signature: &str) -> Result<Vec<Param>, String> {
    let signature = signature.trim();
    if signature.is_empty() || signature == "void" {
        return Ok(Vec::new());
    }
    signature
        .split(',')
        .enumerate()
        .map(|(i, decl)| {
            let decl = decl.trim();
            let at = decl
                .rfind(|c: char| c.is_whitespace() || c == '*')
                .ok_or_else(|| {
                    format!("signature parameter '{decl}' needs a type and a name: 'int fd'")
                })?;
            let (ty, name) = decl.split_at(at + 1);
            let (ty, name) = (ty.trim(), name.trim());
            let valid = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
            if !valid || ty.is_empty() {
                return Err(format!(
                    "signature parameter '{decl}' needs a type and a name: 'int fd'"
                ));
            }
            let ty = match CType::parse(ty) {
                Some(CType::CharPtr) => ParamType::CharPtr,
                Some(CType::Int { bytes, signed }) => {
                    ParamType::Int(super::check::Int { bytes, signed })
                }
                Some(CType::Bool) => ParamType::Int(super::check::Int {
                    bytes: 1,
                    signed: false,
                }),
                Some(CType::Ptr(_)) => ParamType::Ptr,
                None if ty.ends_with('*') => ParamType::Ptr,
                None => ParamType::Named(ty.to_string()),
            };
            if i >= super::check::MAX_ARGS as usize {
                return Err(format!(
                    "signature parameter '{decl}': functions' arguments are the first {}",
                    super::check::MAX_ARGS
                ));
            }
            Ok(Param {
                name: name.to_string(),
                index: i as u8,
                ty,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::check::Int;
    use super::*;

    #[test]
    fn names_positions_and_types() {
        let p = parse("char *path, int flags, struct timespec *ts").unwrap();
        assert_eq!(
            p,
            [
                Param {
                    name: "path".into(),
                    index: 0,
                    ty: ParamType::CharPtr
                },
                Param {
                    name: "flags".into(),
                    index: 1,
                    ty: ParamType::Int(Int {
                        bytes: 4,
                        signed: true
                    })
                },
                Param {
                    name: "ts".into(),
                    index: 2,
                    ty: ParamType::Ptr
                },
            ]
        );
        assert_eq!(parse("const char* s").unwrap()[0].ty, ParamType::CharPtr);
        assert_eq!(
            parse("unsigned long n").unwrap()[0].ty,
            ParamType::Int(Int::U64)
        );
        assert!(parse("").unwrap().is_empty());
        assert!(parse("void").unwrap().is_empty());
    }

    #[test]
    fn bad_parameters_are_named() {
        assert!(parse("fd").unwrap_err().contains("needs a type and a name"));
        assert!(parse("int 9x")
            .unwrap_err()
            .contains("needs a type and a name"));
        assert_eq!(
            parse("struct foo bar, ktime_t t").unwrap()[1].ty,
            ParamType::Named("ktime_t".into())
        );
        // Names are C identifiers: underscores, never other signs.
        assert_eq!(parse("int max_len").unwrap()[0].name, "max_len");
        assert!(parse("int a-b")
            .unwrap_err()
            .contains("needs a type and a name"));
        let seven = "int a, int b, int c, int d, int e, int f, int g";
        assert!(parse(seven).unwrap_err().contains("first 6"));
    }
}
