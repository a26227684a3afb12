//! Packs the programs trace generates into an ELF object in memory, so
//! libbpf opens and loads them like any compiled program and the attach
//! code (attach/) serves trace as it serves the other tools. The object
//! holds code only: the programs name their maps by fd (created before,
//! see maps.rs), so nothing needs relocating and no BTF is needed.

use object::write::{Object, Symbol, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
};
use rtools_core::trace::insn::Insn;

/// One program: its symbol name, its section (which tells libbpf its type
/// and attach kind: "kprobe", "uprobe.multi", "tp", ...), its code.
pub struct Program {
    pub name: String,
    pub section: &'static str,
    pub insns: Vec<Insn>,
}

/// An ELF relocatable object of `programs`, GPL-licensed (the helpers
/// trace calls, bpf_probe_read_*, need a GPL-compatible license).
pub fn elf(programs: &[Program]) -> Vec<u8> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little);
    for prog in programs {
        let code: Vec<u8> = prog.insns.iter().flat_map(|i| i.to_bytes()).collect();
        let section = obj.add_section(
            Vec::new(),
            prog.section.as_bytes().to_vec(),
            SectionKind::Text,
        );
        let offset = obj.append_section_data(section, &code, 8);
        obj.add_symbol(Symbol {
            name: prog.name.as_bytes().to_vec(),
            value: offset,
            size: code.len() as u64,
            kind: SymbolKind::Text,
            scope: SymbolScope::Linkage,
            weak: false,
            section: SymbolSection::Section(section),
            flags: SymbolFlags::None,
        });
    }
    let license = obj.add_section(Vec::new(), b"license".to_vec(), SectionKind::Data);
    obj.append_section_data(license, b"GPL\0", 1);
    obj.write().expect("an ELF of code sections always writes")
}
