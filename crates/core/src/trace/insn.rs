//! BPF instructions and a small assembler with labels: what the trace
//! compiler emits instead of C (no compiler at run time). Encodings are
//! the kernel's (include/uapi/linux/bpf.h, Documentation/bpf/standardization).

/// One 8-byte BPF instruction, laid out as the kernel's `struct bpf_insn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Insn {
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    pub fn new(code: u8, dst: Reg, src: Reg, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            regs: (dst.0 & 0xf) | (src.0 << 4),
            off,
            imm,
        }
    }

    pub fn dst(&self) -> Reg {
        Reg(self.regs & 0xf)
    }

    pub fn src(&self) -> Reg {
        Reg(self.regs >> 4)
    }

    /// The instruction as the kernel reads it.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = self.regs;
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

/// A BPF register, r0 to r10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reg(pub u8);

/// Return value and scratch.
pub const R0: Reg = Reg(0);
/// Arguments of helper calls; r1 holds the context at entry.
pub const R1: Reg = Reg(1);
pub const R2: Reg = Reg(2);
pub const R3: Reg = Reg(3);
pub const R4: Reg = Reg(4);
pub const R5: Reg = Reg(5);
/// Kept across helper calls.
pub const R6: Reg = Reg(6);
pub const R7: Reg = Reg(7);
pub const R8: Reg = Reg(8);
pub const R9: Reg = Reg(9);
/// The frame pointer (read-only): the stack is below it.
pub const R10: Reg = Reg(10);

// Instruction classes.
pub(super) const LD: u8 = 0x00;
pub(super) const LDX: u8 = 0x01;
pub(super) const STX: u8 = 0x03;
pub(super) const ST: u8 = 0x02;
pub(super) const JMP: u8 = 0x05;
pub(super) const ALU32: u8 = 0x04;
pub(super) const ALU64: u8 = 0x07;
// Sources.
const K: u8 = 0x00;
pub(super) const X: u8 = 0x08;
// Memory modes.
const IMM: u8 = 0x00;
const MEM: u8 = 0x60;
pub(super) const ATOMIC: u8 = 0xc0;

/// The size of a load or store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Size {
    B = 0x10,
    H = 0x08,
    W = 0x00,
    DW = 0x18,
}

impl Size {
    /// The size of `bytes` (1, 2, 4 or 8) bytes.
    pub fn of(bytes: u32) -> Option<Size> {
        match bytes {
            1 => Some(Size::B),
            2 => Some(Size::H),
            4 => Some(Size::W),
            8 => Some(Size::DW),
            _ => None,
        }
    }

    pub fn bytes(self) -> u32 {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }
}

/// 64-bit arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alu {
    Add = 0x00,
    Sub = 0x10,
    Mul = 0x20,
    Div = 0x30,
    Or = 0x40,
    And = 0x50,
    Lsh = 0x60,
    Rsh = 0x70,
    Neg = 0x80,
    Mod = 0x90,
    Xor = 0xa0,
    Mov = 0xb0,
    Arsh = 0xc0,
}

/// Conditional jumps (64-bit compares).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cond {
    Eq = 0x10,
    Gt = 0x20,
    Ge = 0x30,
    Set = 0x40,
    Ne = 0x50,
    Sgt = 0x60,
    Sge = 0x70,
    Lt = 0xa0,
    Le = 0xb0,
    Slt = 0xc0,
    Sle = 0xd0,
}

/// An opcode from its class, source or mode, and operation or size
/// (fields that share no bit).
const fn opcode(class: u8, source: u8, op: u8) -> u8 {
    class | source | op
}

/// A place in the program that jumps go to, bound once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label(usize);

/// Builds a program: emits instructions, resolves jumps to labels.
#[derive(Debug, Default)]
pub struct Asm {
    insns: Vec<Insn>,
    /// Each label's instruction index, once bound.
    labels: Vec<Option<usize>>,
    /// Jumps waiting for their label: (instruction index, label).
    fixups: Vec<(usize, Label)>,
}

impl Asm {
    pub fn new() -> Asm {
        Asm::default()
    }

    fn emit(&mut self, insn: Insn) {
        self.insns.push(insn);
    }

    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// The next instruction is where `label` jumps to.
    pub fn bind(&mut self, label: Label) {
        self.labels[label.0] = Some(self.insns.len());
    }

    /// `dst = imm` (sign-extended 32-bit immediate).
    pub fn mov_imm(&mut self, dst: Reg, imm: i32) {
        self.emit(Insn::new(opcode(ALU64, K, Alu::Mov as u8), dst, R0, 0, imm));
    }

    /// `dst = src`.
    pub fn mov(&mut self, dst: Reg, src: Reg) {
        self.emit(Insn::new(opcode(ALU64, X, Alu::Mov as u8), dst, src, 0, 0));
    }

    /// `dst = value`, any 64-bit constant (two instructions).
    pub fn ld_imm64(&mut self, dst: Reg, value: u64) {
        self.ld_imm64_src(dst, R0, value);
    }

    /// `dst = the map whose fd is fd` (BPF_PSEUDO_MAP_FD): the kernel
    /// swaps in the map when the program loads.
    pub fn ld_map_fd(&mut self, dst: Reg, fd: i32) {
        self.ld_imm64_src(dst, Reg(1), fd as u32 as u64);
    }

    fn ld_imm64_src(&mut self, dst: Reg, src: Reg, value: u64) {
        self.emit(Insn::new(
            opcode(LD, IMM, Size::DW as u8),
            dst,
            src,
            0,
            value as u32 as i32,
        ));
        self.emit(Insn::new(0, R0, R0, 0, (value >> 32) as u32 as i32));
    }

    /// `dst op= imm`.
    pub fn alu_imm(&mut self, op: Alu, dst: Reg, imm: i32) {
        self.emit(Insn::new(opcode(ALU64, K, op as u8), dst, R0, 0, imm));
    }

    /// `dst op= src`.
    pub fn alu(&mut self, op: Alu, dst: Reg, src: Reg) {
        self.emit(Insn::new(opcode(ALU64, X, op as u8), dst, src, 0, 0));
    }

    /// `dst = (u32)dst`: clears the upper half (a 32-bit move).
    pub fn zext32(&mut self, dst: Reg) {
        self.emit(Insn::new(opcode(ALU32, X, Alu::Mov as u8), dst, dst, 0, 0));
    }

    /// `dst = -dst`.
    pub fn neg(&mut self, dst: Reg) {
        self.emit(Insn::new(opcode(ALU64, K, Alu::Neg as u8), dst, R0, 0, 0));
    }

    /// `dst = *(size *)(src + off)`, zero-extended.
    pub fn load(&mut self, size: Size, dst: Reg, src: Reg, off: i16) {
        self.emit(Insn::new(opcode(LDX, MEM, size as u8), dst, src, off, 0));
    }

    /// `*(size *)(dst + off) = src`.
    pub fn store(&mut self, size: Size, dst: Reg, off: i16, src: Reg) {
        self.emit(Insn::new(opcode(STX, MEM, size as u8), dst, src, off, 0));
    }

    /// `*(size *)(dst + off) = imm`.
    pub fn store_imm(&mut self, size: Size, dst: Reg, off: i16, imm: i32) {
        self.emit(Insn::new(opcode(ST, MEM, size as u8), dst, R0, off, imm));
    }

    /// `*(size *)(dst + off) += src`, atomically (BPF_ATOMIC | BPF_ADD).
    pub fn atomic_add(&mut self, size: Size, dst: Reg, off: i16, src: Reg) {
        self.emit(Insn::new(opcode(STX, ATOMIC, size as u8), dst, src, off, 0));
    }

    /// Calls helper `id`: arguments in r1-r5, result in r0; r1-r5 are
    /// clobbered.
    pub fn call(&mut self, id: i32) {
        self.emit(Insn::new(opcode(JMP, K, 0x80), R0, R0, 0, id));
    }

    pub fn exit(&mut self) {
        self.emit(Insn::new(opcode(JMP, K, 0x90), R0, R0, 0, 0));
    }

    pub fn jump(&mut self, to: Label) {
        self.fixups.push((self.insns.len(), to));
        self.emit(Insn::new(JMP, R0, R0, 0, 0));
    }

    /// Jumps to `to` if `dst cond imm`.
    pub fn jump_if_imm(&mut self, cond: Cond, dst: Reg, imm: i32, to: Label) {
        self.fixups.push((self.insns.len(), to));
        self.emit(Insn::new(opcode(JMP, K, cond as u8), dst, R0, 0, imm));
    }

    /// Jumps to `to` if `dst cond src`.
    pub fn jump_if(&mut self, cond: Cond, dst: Reg, src: Reg, to: Label) {
        self.fixups.push((self.insns.len(), to));
        self.emit(Insn::new(opcode(JMP, X, cond as u8), dst, src, 0, 0));
    }

    /// The program, with every jump resolved; an error where a jump
    /// spans more than BPF's 32,767 instructions (a long enough
    /// expression does). Panics on an unbound label: a bug of the
    /// compiler, not of the input.
    pub fn finish(mut self) -> Result<Vec<Insn>, String> {
        for (at, label) in std::mem::take(&mut self.fixups) {
            let target = self.labels[label.0].expect("every jump's label is bound");
            let off = target as i64 - at as i64 - 1;
            self.insns[at].off = i16::try_from(off).map_err(|_| {
                format!(
                    "the program is too long: a jump in it spans {} instructions, and BPF's \
                     reach {}; use fewer or shorter expressions, or split the probe",
                    off.unsigned_abs(),
                    i16::MAX
                )
            })?;
        }
        Ok(self.insns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 25: 350 format arguments of 20-term sums, or 140 STRCMPs
    /// joined by &&, panicked ("jumps within 32767 instructions").
    #[test]
    fn a_jump_past_bpfs_reach_is_an_error_not_a_panic() {
        let mut a = Asm::new();
        let end = a.label();
        a.jump(end);
        for _ in 0..40_000 {
            a.mov_imm(R0, 0);
        }
        a.bind(end);
        a.exit();
        let err = a.finish().unwrap_err();
        assert!(err.contains("too long") && err.contains("32767"), "{err}");
    }

    #[test]
    fn encodings_are_the_kernels() {
        let mut a = Asm::new();
        a.mov_imm(R0, 0);
        a.exit();
        let insns = a.finish().unwrap();
        // BPF_MOV64_IMM(BPF_REG_0, 0), BPF_EXIT_INSN()
        assert_eq!(insns[0].to_bytes(), [0xb7, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(insns[1].to_bytes(), [0x95, 0, 0, 0, 0, 0, 0, 0]);
        let mut a = Asm::new();
        a.load(Size::DW, R2, R1, 112);
        a.store(Size::W, R10, -8, R3);
        a.alu(Alu::Add, R1, R2);
        a.call(6);
        a.ld_map_fd(R1, 5);
        a.ld_imm64(R3, 0x1234_5678_9abc_def0);
        a.zext32(R4);
        a.atomic_add(Size::DW, R0, 0, R1);
        let insns = a.finish().unwrap();
        // ldxdw r2, [r1+112]
        assert_eq!(insns[0].to_bytes(), [0x79, 0x12, 112, 0, 0, 0, 0, 0]);
        // stxw [r10-8], r3
        assert_eq!(insns[1].to_bytes(), [0x63, 0x3a, 0xf8, 0xff, 0, 0, 0, 0]);
        // add r1, r2
        assert_eq!(insns[2].to_bytes(), [0x0f, 0x21, 0, 0, 0, 0, 0, 0]);
        // call 6
        assert_eq!(insns[3].to_bytes(), [0x85, 0, 0, 0, 6, 0, 0, 0]);
        // ld_imm64 r1, map fd 5 (src 1 = BPF_PSEUDO_MAP_FD)
        assert_eq!(insns[4].to_bytes(), [0x18, 0x11, 0, 0, 5, 0, 0, 0]);
        assert_eq!(insns[5].to_bytes(), [0; 8]);
        assert_eq!(insns[6].imm as u32, 0x9abc_def0);
        assert_eq!(insns[7].imm as u32, 0x1234_5678);
        assert_eq!((insns[4].dst(), insns[4].src()), (R1, Reg(1)));
        // w4 = w4
        assert_eq!(insns[8].to_bytes(), [0xbc, 0x44, 0, 0, 0, 0, 0, 0]);
        // lock *(u64 *)(r0 + 0) += r1
        assert_eq!(insns[9].to_bytes(), [0xdb, 0x10, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn jumps_land_on_their_labels() {
        let mut a = Asm::new();
        let out = a.label();
        let back = a.label();
        a.bind(back);
        a.jump_if_imm(Cond::Eq, R1, 0, out); // 0
        a.mov_imm(R0, 1); // 1
        a.jump_if(Cond::Gt, R1, R2, back); // 2
        a.jump(out); // 3
        a.bind(out);
        a.exit(); // 4
        let insns = a.finish().unwrap();
        assert_eq!(insns.len(), 5);
        assert_eq!(insns[0].off, 3);
        assert_eq!(insns[0].code, 0x15);
        assert_eq!(insns[2].off, -3);
        assert_eq!(insns[2].code, 0x2d);
        assert_eq!(insns[3].off, 0);
        assert_eq!(insns[3].code, 0x05);
    }

    #[test]
    fn sizes_round_trip() {
        for bytes in [1, 2, 4, 8] {
            assert_eq!(Size::of(bytes).unwrap().bytes(), bytes);
        }
        assert_eq!(Size::of(3), None);
    }
}
