//! A USDT site's argument specs, as `<sys/sdt.h>` writes them into the
//! note: `SIZE@LOCATION` each, SIZE negative for signed, the location a
//! register (`%edi`), memory at a register and offset (`-20(%rbp)`), or a
//! constant (`$5`). trace compiles reads of them ([`super::codegen`]).

use super::check::Int;
use super::codegen::{UsdtArg, UsdtLoc};
use crate::arch;

/// The arguments of one site, or which spec this machine can't read.
pub fn parse(spec: &str) -> Result<Vec<UsdtArg>, String> {
    spec.split_whitespace().map(arg).collect()
}

fn arg(text: &str) -> Result<UsdtArg, String> {
    let bad = |why: &str| format!("USDT argument '{text}': {why}");
    let (size, loc) = text.split_once('@').ok_or_else(|| bad("no SIZE@"))?;
    let size: i8 = size.parse().map_err(|_| bad("bad size"))?;
    let bytes = size.unsigned_abs();
    if !matches!(bytes, 1 | 2 | 4 | 8) {
        return Err(bad("a size other than 1, 2, 4 or 8 bytes"));
    }
    let ty = Int {
        bytes,
        signed: size.is_negative(),
    };
    let register = |name: &str| {
        arch::register(name)
            .map(|(off, _)| off)
            .ok_or_else(|| bad(&format!("register {name} is not one rtools reads")))
    };
    let loc = if let Some(imm) = loc.strip_prefix('$') {
        UsdtLoc::Const(number(imm).ok_or_else(|| bad("bad constant"))?)
    } else if let Some(reg) = loc.strip_prefix('%') {
        UsdtLoc::Reg(register(reg)?)
    } else if let Some((offset, rest)) = loc.split_once('(') {
        let reg = rest
            .strip_suffix(')')
            .and_then(|r| r.strip_prefix('%'))
            .ok_or_else(|| bad("bad memory operand"))?;
        if reg.contains(',') {
            return Err(bad("indexed memory operands are not read"));
        }
        let offset = if offset.is_empty() {
            0
        } else {
            number(offset)
                .and_then(|o| i32::try_from(o).ok())
                .ok_or_else(|| bad("bad offset"))?
        };
        UsdtLoc::Mem {
            base: register(reg)?,
            offset,
        }
    } else {
        return Err(bad("an unknown location"));
    };
    Ok(UsdtArg { loc, ty })
}

/// Decimal or `0x` hex, either with a sign.
fn number(text: &str) -> Option<i64> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let v = match digits.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok()?,
        None => digits.parse().ok()?,
    };
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_sdt_h_writes() {
        let args = parse("-4@%edi 8@%rsi 8@-16(%rbp) 4@$5 -8@$-3 2@(%rax) 1@0x10(%r12)").unwrap();
        let s4 = Int {
            bytes: 4,
            signed: true,
        };
        assert_eq!(
            args[0],
            UsdtArg {
                loc: UsdtLoc::Reg(112),
                ty: s4
            }
        );
        assert_eq!(
            args[1],
            UsdtArg {
                loc: UsdtLoc::Reg(104),
                ty: Int::U64
            }
        );
        assert_eq!(
            args[2].loc,
            UsdtLoc::Mem {
                base: 32,
                offset: -16
            }
        );
        assert_eq!(
            args[3],
            UsdtArg {
                loc: UsdtLoc::Const(5),
                ty: Int::U32
            }
        );
        assert_eq!(
            args[4],
            UsdtArg {
                loc: UsdtLoc::Const(-3),
                ty: Int::S64
            }
        );
        assert_eq!(
            args[5].loc,
            UsdtLoc::Mem {
                base: 80,
                offset: 0
            }
        );
        assert_eq!(
            args[5].ty,
            Int {
                bytes: 2,
                signed: false
            }
        );
        assert_eq!(
            args[6].loc,
            UsdtLoc::Mem {
                base: 24,
                offset: 16
            }
        );
        assert_eq!(parse("").unwrap(), []);
    }

    #[test]
    fn specs_it_cannot_read_are_named() {
        let err = |s: &str| parse(s).unwrap_err();
        assert!(
            err("8@%xmm0").contains("register xmm0"),
            "{}",
            err("8@%xmm0")
        );
        assert!(err("3@%eax").contains("size other than"));
        assert!(err("%eax").contains("no SIZE@"));
        assert!(err("x@%eax").contains("bad size"));
        assert!(err("8@8(%rax,%rbx,2)").contains("indexed"));
        assert!(err("8@$zz").contains("bad constant"));
        assert!(err("8@zz(%rax)").contains("bad offset"));
        assert!(err("8@8(%rax").contains("bad memory operand"));
        assert!(err("8@rax").contains("unknown location"));
    }
}
