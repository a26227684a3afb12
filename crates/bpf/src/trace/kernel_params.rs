//! Kernel functions' parameters by name and type, from the kernel's BTF:
//! how `trace 'do_sys_openat2 "%s", filename'` needs no signature, and how
//! many arguments an fentry program may read.

use std::collections::HashMap;

use libbpf_rs::btf::types::{Func, FuncProto, Int, IntEncoding};
use libbpf_rs::btf::{Btf, BtfKind, BtfType, TypeId};
use rtools_core::trace::check::{self, Param, ParamType};

/// The kernel's functions, as BTF describes them.
pub struct KernelParams {
    btf: Btf<'static>,
    funcs: HashMap<String, TypeId>,
}

impl KernelParams {
    /// The kernel's BTF, or None where it has none.
    pub fn load() -> Option<KernelParams> {
        let btf = Btf::from_vmlinux().ok()?;
        let funcs = btf
            .type_by_kind::<Func<'_>>()
            .filter_map(|f| Some((f.name()?.to_str()?.to_string(), f.type_id())))
            .collect();
        Some(KernelParams { btf, funcs })
    }

    /// `func`'s parameters, in order; None when BTF does not know it.
    pub fn params(&self, func: &str) -> Option<Vec<Param>> {
        let id = *self.funcs.get(func)?;
        let f: Func<'_> = self.btf.type_by_id(id)?;
        let proto = FuncProto::try_from(f.next_type()?).ok()?;
        Some(
            proto
                .iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    let name = p.name?.to_str()?.to_string();
                    let ty = self.btf.type_by_id::<BtfType<'_>>(p.ty)?;
                    Some(Param {
                        name,
                        index: u8::try_from(i).ok()?,
                        ty: param_type(ty),
                    })
                })
                .collect(),
        )
    }

    /// What a type a signature names is, from BTF (BCC's `ktime_t rqtp`,
    /// `enum pid_type type`): integers, enums and pointers; None for a
    /// name BTF lacks, or a struct or union by value.
    pub fn type_named(&self, name: &str) -> Option<ParamType> {
        let name = name.trim();
        let name = name.strip_prefix("const ").unwrap_or(name).trim();
        let (enumeration, bare) = match name.split_once(char::is_whitespace) {
            Some(("enum", bare)) => (true, bare.trim()),
            Some(_) => return None,
            None => (false, name),
        };
        if bare.contains('\0') {
            return None;
        }
        let ty: BtfType<'_> = self.btf.type_by_name(bare)?;
        let named = if enumeration {
            matches!(ty.kind(), BtfKind::Enum | BtfKind::Enum64)
        } else {
            ty.kind() == BtfKind::Typedef
        };
        let scalar = matches!(
            ty.skip_mods_and_typedefs().kind(),
            BtfKind::Int | BtfKind::Enum | BtfKind::Enum64 | BtfKind::Ptr
        );
        (named && scalar).then(|| param_type(ty))
    }

    /// How many arguments `func` takes (an fentry program reads no
    /// further), None when BTF does not know it.
    pub fn arg_count(&self, func: &str) -> Option<u8> {
        let id = *self.funcs.get(func)?;
        let f: Func<'_> = self.btf.type_by_id(id)?;
        let proto = FuncProto::try_from(f.next_type()?).ok()?;
        u8::try_from(proto.len()).ok()
    }
}

fn param_type(ty: BtfType<'_>) -> ParamType {
    let ty = ty.skip_mods_and_typedefs();
    match ty.kind() {
        BtfKind::Int => match Int::try_from(ty) {
            Ok(int) => ParamType::Int(check::Int {
                bytes: (int.bits / 8).clamp(1, 8),
                signed: matches!(int.encoding, IntEncoding::Signed),
            }),
            Err(_) => ParamType::Ptr,
        },
        BtfKind::Enum => ParamType::Int(check::Int::U32),
        BtfKind::Ptr => {
            let to = ty.next_type().map(|t| t.skip_mods_and_typedefs());
            let chars = to.is_some_and(|t| {
                t.kind() == BtfKind::Int
                    && Int::try_from(t).is_ok_and(|i| i.bits == 8)
                    && t.name()
                        .is_some_and(|n| n.to_str().is_some_and(|n| n.ends_with("char")))
            });
            if chars {
                ParamType::CharPtr
            } else {
                ParamType::Ptr
            }
        }
        _ => ParamType::Ptr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn do_sys_openat2_names_its_filename() {
        let Some(k) = KernelParams::load() else {
            crate::skip_test("the kernel has no BTF");
            return;
        };
        let Some(params) = k.params("do_sys_openat2") else {
            crate::skip_test("this kernel's BTF has no do_sys_openat2");
            return;
        };
        let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names[..2], ["dfd", "filename"]);
        assert_eq!(params[1].ty, ParamType::CharPtr);
        assert_eq!(
            params[0].ty,
            ParamType::Int(check::Int {
                bytes: 4,
                signed: true
            })
        );
        assert_eq!(k.arg_count("do_sys_openat2"), Some(params.len() as u8));
        assert!(k.params("rtools_no_such_function").is_none());
    }

    /// Issue 25: BCC signatures name kernel typedefs (trace(8)'s
    /// `ktime_t`): BTF says what they are.
    #[test]
    fn typedefs_and_enums_named_in_signatures() {
        let Some(k) = KernelParams::load() else {
            crate::skip_test("the kernel has no BTF");
            return;
        };
        let s64 = ParamType::Int(check::Int {
            bytes: 8,
            signed: true,
        });
        assert_eq!(k.type_named("ktime_t"), Some(s64.clone()));
        assert_eq!(k.type_named("const ktime_t"), Some(s64));
        assert_eq!(
            k.type_named("enum pid_type"),
            Some(ParamType::Int(check::Int::U32))
        );
        assert_eq!(k.type_named("gfp_t"), Some(ParamType::Int(check::Int::U32)));
        // A struct by value, a struct's name, no such name.
        assert_eq!(k.type_named("atomic_t"), None);
        assert_eq!(k.type_named("struct file"), None);
        assert_eq!(k.type_named("file"), None);
        assert_eq!(k.type_named("rtools_no_such_type"), None);
    }
}
