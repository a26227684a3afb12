//! USDT probes from an ELF file's `.note.stapsdt` section: their names
//! (libbpf reads the rest itself when the counting tools attach), and for
//! trace, which reads the arguments itself, each site's addresses and
//! argument specs.

use std::collections::BTreeSet;

/// A USDT probe: provider and name. One probe may have many call sites.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UsdtProbe {
    pub provider: String,
    pub name: String,
}

const NT_STAPSDT: u32 = 3;

/// The ELF section that holds the notes.
pub const SECTION: &str = ".note.stapsdt";

/// The distinct USDT probes in the contents of a `.note.stapsdt` section,
/// sorted.
pub fn parse(notes: &[u8]) -> Result<Vec<UsdtProbe>, &'static str> {
    let mut probes = BTreeSet::new();
    read_notes(notes, &mut probes)?;
    Ok(probes.into_iter().collect())
}

fn read_notes(notes: &[u8], probes: &mut BTreeSet<UsdtProbe>) -> Result<(), &'static str> {
    for site in sites(notes)? {
        probes.insert(UsdtProbe {
            provider: site.provider,
            name: site.name,
        });
    }
    Ok(())
}

/// One place a USDT probe fires, as its note says: virtual addresses of
/// the instruction, of the `.stapsdt.base` section at link time (prelink
/// may move the file since), and of the semaphore (0: none); the
/// arguments' spec (`-4@%edi 8@-16(%rbp)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub provider: String,
    pub name: String,
    pub pc: u64,
    pub base: u64,
    pub semaphore: u64,
    pub args: String,
}

/// Every site in the contents of a `.note.stapsdt` section, in order.
pub fn sites(mut notes: &[u8]) -> Result<Vec<Site>, &'static str> {
    let mut out = Vec::new();
    while notes.len() >= 12 {
        let namesz = u32_at(notes, 0)? as usize;
        let descsz = u32_at(notes, 4)? as usize;
        let kind = u32_at(notes, 8)?;
        let desc_at = 12 + align4(namesz);
        let desc = notes
            .get(desc_at..desc_at + descsz)
            .ok_or("truncated USDT note")?;
        if kind == NT_STAPSDT && cstr(notes, 12) == Some("stapsdt") {
            let provider = cstr(desc, 24).ok_or("bad USDT provider")?;
            let name = cstr(desc, 24 + provider.len() + 1).ok_or("bad USDT name")?;
            let args = cstr(desc, 24 + provider.len() + name.len() + 2).unwrap_or("");
            out.push(Site {
                provider: provider.to_string(),
                name: name.to_string(),
                pc: u64_at(desc, 0)?,
                base: u64_at(desc, 8)?,
                semaphore: u64_at(desc, 16)?,
                args: args.to_string(),
            });
        }
        notes = notes.get(desc_at + align4(descsz)..).unwrap_or_default();
    }
    Ok(out)
}

/// The `N` bytes of a note at `at`.
fn bytes_at<const N: usize>(b: &[u8], at: usize) -> Result<[u8; N], &'static str> {
    b.get(at..at + N)
        .and_then(|b| b.try_into().ok())
        .ok_or("truncated USDT note")
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, &'static str> {
    bytes_at(b, at).map(u64::from_le_bytes)
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn cstr(bytes: &[u8], at: usize) -> Option<&str> {
    let rest = bytes.get(at..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    std::str::from_utf8(&rest[..end]).ok()
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, &'static str> {
    bytes_at(b, at).map(u32::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One stapsdt note for `provider:name`.
    fn note(provider: &str, name: &str) -> Vec<u8> {
        let mut desc = vec![0u8; 24];
        desc[..8].copy_from_slice(&0x1130u64.to_le_bytes());
        desc[8..16].copy_from_slice(&0x2004u64.to_le_bytes());
        desc[16..24].copy_from_slice(&0x4010u64.to_le_bytes());
        for s in [provider, name, "-4@%edi"] {
            desc.extend_from_slice(s.as_bytes());
            desc.push(0);
        }
        let mut n = Vec::new();
        n.extend_from_slice(&8u32.to_le_bytes());
        n.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        n.extend_from_slice(&NT_STAPSDT.to_le_bytes());
        n.extend_from_slice(b"stapsdt\0");
        n.extend_from_slice(&desc);
        n.resize(align4(n.len()), 0);
        n
    }

    #[test]
    fn reads_notes_and_dedups_probe_sites() {
        let mut notes = note("myapp", "tick");
        notes.extend(note("myapp", "tick"));
        notes.extend(note("libc", "setjmp"));
        let mut probes = BTreeSet::new();
        read_notes(&notes, &mut probes).unwrap();
        let got: Vec<_> = probes
            .into_iter()
            .map(|p| format!("{}:{}", p.provider, p.name))
            .collect();
        assert_eq!(got, ["libc:setjmp", "myapp:tick"]);
    }

    #[test]
    fn notes_of_other_kinds_or_owners_are_skipped() {
        // A GNU build-id note (type 3 too, owner "GNU"), and a stapsdt
        // owner with another type: neither is a probe.
        let mut other = note("gnu", "build_id");
        other[12..20].copy_from_slice(b"GNU\0\0\0\0\0");
        let mut wrong_type = note("x", "y");
        wrong_type[8] = 4;
        let mut notes = other;
        notes.extend(wrong_type);
        notes.extend(note("myapp", "tick"));
        assert_eq!(
            parse(&notes),
            Ok(vec![UsdtProbe {
                provider: "myapp".into(),
                name: "tick".into()
            }])
        );
    }

    #[test]
    fn sites_keep_addresses_and_arguments() {
        let mut notes = note("myapp", "tick");
        notes.extend(note("libc", "setjmp"));
        let sites = sites(&notes).unwrap();
        assert_eq!(
            sites[0],
            Site {
                provider: "myapp".into(),
                name: "tick".into(),
                pc: 0x1130,
                base: 0x2004,
                semaphore: 0x4010,
                args: "-4@%edi".into(),
            }
        );
        assert_eq!(sites[1].name, "setjmp");
        let mut cut = note("a", "b");
        cut.truncate(30);
        cut[4..8].copy_from_slice(&40u32.to_le_bytes());
        assert!(super::sites(&cut).is_err());
    }

    #[test]
    fn no_notes_no_probes() {
        assert_eq!(parse(&[]), Ok(vec![]));
    }
}
