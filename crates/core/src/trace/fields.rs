//! A tracepoint's fields, from its tracefs `format` file: what
//! `args->NAME` reads, at which offset of the record, how wide, signed or
//! not, and whether it is a string (`char *`, `char name[N]`, or a
//! `__data_loc char[]` that points into the record).

/// One field of a tracepoint's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub offset: u16,
    pub size: u16,
    pub signed: bool,
    pub kind: FieldKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Int,
    /// A pointer to a string (`const char *filename`).
    CharPtr,
    /// `char comm[16]`: the string is in the record.
    CharArray,
    /// `__data_loc char[] name`: a u32 of the string's offset (low 16
    /// bits) and length (high 16) in the record.
    DataLoc,
    /// Other arrays, structs: not readable as one value.
    Other,
}

/// The fields of a `format` file, the common ones (`common_pid`, ...) left
/// out as BCC does. Lines it cannot read are skipped.
pub fn parse(format: &str) -> Vec<Field> {
    format
        .lines()
        .filter_map(|line| {
            let line = line.trim().strip_prefix("field:")?;
            let mut parts = line.split(';').map(str::trim);
            let decl = parts.next()?;
            let mut number = |key: &str| {
                parts
                    .next()
                    .and_then(|p| p.strip_prefix(key))
                    .and_then(|v| v.trim().parse::<u16>().ok())
            };
            let offset = number("offset:")?;
            let size = number("size:")?;
            let signed = number("signed:")? == 1;
            let (ty, name) = split_decl(decl)?;
            if name.starts_with("common_") {
                return None;
            }
            let kind = kind_of(ty, &name, size);
            let name = name.split('[').next().unwrap_or(&name).to_string();
            Some(Field {
                name,
                offset,
                size,
                signed,
                kind,
            })
        })
        .collect()
}

/// `const char * filename` -> ("const char *", "filename").
fn split_decl(decl: &str) -> Option<(&str, String)> {
    let at = decl.rfind(|c: char| c.is_whitespace() || c == '*')?;
    let (ty, name) = decl.split_at(at + 1);
    let name = name.trim();
    (!name.is_empty()).then(|| (ty.trim(), name.to_string()))
}

fn kind_of(ty: &str, name: &str, size: u16) -> FieldKind {
    let char_type = ty.trim_start_matches("const ").trim();
    if ty.starts_with("__data_loc") {
        if ty.contains("char") {
            FieldKind::DataLoc
        } else {
            FieldKind::Other
        }
    } else if name.contains('[') {
        if char_type == "char" || char_type == "unsigned char" {
            FieldKind::CharArray
        } else {
            FieldKind::Other
        }
    } else if ty.ends_with('*') {
        if char_type.trim_end_matches('*').trim() == "char" {
            FieldKind::CharPtr
        } else {
            FieldKind::Int
        }
    } else if matches!(size, 1 | 2 | 4 | 8) {
        FieldKind::Int
    } else {
        FieldKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENAT: &str = "name: sys_enter_openat
ID: 782
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;
\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
\tfield:umode_t mode;\toffset:40;\tsize:8;\tsigned:0;

print fmt: \"dfd: 0x%08lx\", ((unsigned long)(REC->dfd))
";

    #[test]
    fn syscall_fields_and_their_kinds() {
        let fields = parse(OPENAT);
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["__syscall_nr", "dfd", "filename", "mode"]);
        assert_eq!(
            fields[2],
            Field {
                name: "filename".into(),
                offset: 24,
                size: 8,
                signed: false,
                kind: FieldKind::CharPtr
            }
        );
        assert_eq!(
            (fields[0].offset, fields[0].size, fields[0].signed),
            (8, 4, true)
        );
        assert_eq!(fields[1].kind, FieldKind::Int);
    }

    #[test]
    fn strings_in_the_record() {
        let fields = parse(
            "\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;
\tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;
\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;
\tfield:unsigned long args[6];\toffset:16;\tsize:48;\tsigned:0;
\tfield:__data_loc u32[] ids;\toffset:64;\tsize:4;\tsigned:0;
\tfield:struct foo bar;\toffset:68;\tsize:12;\tsigned:0;
\tfield:char *name;\toffset:80;\tsize:8;\tsigned:0;
\tfield:broken;\toffset:x;",
        );
        let kinds: Vec<(&str, FieldKind)> =
            fields.iter().map(|f| (f.name.as_str(), f.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("filename", FieldKind::DataLoc),
                ("prev_comm", FieldKind::CharArray),
                ("pid", FieldKind::Int),
                ("args", FieldKind::Other),
                ("ids", FieldKind::Other),
                ("bar", FieldKind::Other),
                ("name", FieldKind::CharPtr),
            ]
        );
    }
}
