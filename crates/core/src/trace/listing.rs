//! The generated instructions as people read them (trace -v), roughly as
//! the kernel's verifier log writes them.

use std::fmt;

use super::insn::{Insn, ALU32, ALU64, ATOMIC, JMP, LD, LDX, ST, STX, X};

/// ALU operators by their code's high nibble (`NEG` is unary).
const ALU: [&str; 13] = [
    "+=", "-=", "*=", "/=", "|=", "&=", "<<=", ">>=", "neg", "%=", "^=", "=", "s>>=",
];

/// Jump conditions by their code's high nibble (0 is `goto`, 8 `call`,
/// 9 `exit`).
const JUMPS: [&str; 14] = [
    "", "==", ">", ">=", "&", "!=", "s>", "s>=", "", "", "<", "<=", "s<", "s<=",
];

/// Load and store sizes by their code's size bits.
fn size(code: u8) -> &'static str {
    ["u32", "u16", "u8", "u64"][(code as usize >> 3) & 3]
}

impl fmt::Display for Insn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (dst, src, off, imm) = (self.dst().0, self.src().0, self.off, self.imm);
        let op = (self.code >> 4) as usize;
        let x = self.code & X != 0;
        let size = size(self.code);
        match self.code & 0x07 {
            // The second half of a 64-bit load.
            _ if self.code == 0 => write!(f, "(high half: {:#x})", imm as u32),
            class @ (ALU64 | ALU32) => {
                let r = if class == ALU64 { "r" } else { "w" };
                let rhs = if x {
                    format!("{r}{src}")
                } else {
                    imm.to_string()
                };
                match ALU.get(op) {
                    Some(&"neg") => write!(f, "{r}{dst} = -{r}{dst}"),
                    Some(o) => write!(f, "{r}{dst} {o} {rhs}"),
                    None => write!(f, "alu {:#04x}", self.code),
                }
            }
            LDX => write!(f, "r{dst} = *({size} *)(r{src} {off:+})"),
            STX if self.code & 0xe0 == ATOMIC => {
                write!(f, "lock *({size} *)(r{dst} {off:+}) += r{src}")
            }
            STX => write!(f, "*({size} *)(r{dst} {off:+}) = r{src}"),
            ST => write!(f, "*({size} *)(r{dst} {off:+}) = {imm}"),
            LD if src == 1 => write!(f, "r{dst} = map fd {imm} ll"),
            LD => write!(f, "r{dst} = {:#x} (low half) ll", imm as u32),
            JMP => match op {
                0 => write!(f, "goto {off:+}"),
                8 => write!(f, "call {imm}"),
                9 => write!(f, "exit"),
                _ => {
                    let rhs = if x {
                        format!("r{src}")
                    } else {
                        imm.to_string()
                    };
                    let cond = JUMPS.get(op).copied().unwrap_or("?");
                    write!(f, "if r{dst} {cond} {rhs} goto {off:+}")
                }
            },
            _ => write!(f, "code {:#04x}", self.code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::insn::*;

    #[test]
    fn every_instruction_the_compiler_emits_reads_back() {
        let mut a = Asm::new();
        let l = a.label();
        a.mov(R6, R1);
        a.mov_imm(R2, -7);
        for op in [
            Alu::Add,
            Alu::Sub,
            Alu::Mul,
            Alu::Div,
            Alu::Or,
            Alu::And,
            Alu::Lsh,
            Alu::Rsh,
            Alu::Mod,
            Alu::Xor,
            Alu::Arsh,
        ] {
            a.alu(op, R1, R2);
        }
        a.alu_imm(Alu::Add, R1, 3);
        a.neg(R3);
        a.zext32(R4);
        for size in [Size::B, Size::H, Size::W, Size::DW] {
            a.load(size, R0, R6, 112);
        }
        a.store(Size::W, R7, 8, R1);
        a.store_imm(Size::B, R10, -8, 0);
        a.atomic_add(Size::DW, R0, 0, R1);
        a.ld_map_fd(R1, 5);
        a.ld_imm64(R3, 0x1_0000_0002);
        for cond in [
            Cond::Eq,
            Cond::Gt,
            Cond::Ge,
            Cond::Set,
            Cond::Ne,
            Cond::Sgt,
            Cond::Sge,
            Cond::Lt,
            Cond::Le,
            Cond::Slt,
            Cond::Sle,
        ] {
            a.jump_if_imm(cond, R0, 4, l);
        }
        a.jump_if(Cond::Lt, R1, R2, l);
        a.jump(l);
        a.call(14);
        a.bind(l);
        a.exit();
        let text: Vec<String> = a.finish().unwrap().iter().map(Insn::to_string).collect();
        let expected = [
            "r6 = r1",
            "r2 = -7",
            "r1 += r2",
            "r1 -= r2",
            "r1 *= r2",
            "r1 /= r2",
            "r1 |= r2",
            "r1 &= r2",
            "r1 <<= r2",
            "r1 >>= r2",
            "r1 %= r2",
            "r1 ^= r2",
            "r1 s>>= r2",
            "r1 += 3",
            "r3 = -r3",
            "w4 = w4",
            "r0 = *(u8 *)(r6 +112)",
            "r0 = *(u16 *)(r6 +112)",
            "r0 = *(u32 *)(r6 +112)",
            "r0 = *(u64 *)(r6 +112)",
            "*(u32 *)(r7 +8) = r1",
            "*(u8 *)(r10 -8) = 0",
            "lock *(u64 *)(r0 +0) += r1",
            "r1 = map fd 5 ll",
            "(high half: 0x0)",
            "r3 = 0x2 (low half) ll",
            "(high half: 0x1)",
            "if r0 == 4 goto +13",
            "if r0 > 4 goto +12",
            "if r0 >= 4 goto +11",
            "if r0 & 4 goto +10",
            "if r0 != 4 goto +9",
            "if r0 s> 4 goto +8",
            "if r0 s>= 4 goto +7",
            "if r0 < 4 goto +6",
            "if r0 <= 4 goto +5",
            "if r0 s< 4 goto +4",
            "if r0 s<= 4 goto +3",
            "if r1 < r2 goto +2",
            "goto +1",
            "call 14",
            "exit",
        ];
        assert_eq!(text, expected);
        // What no generated program holds still prints.
        let odd = Insn {
            code: 0x06,
            regs: 0,
            off: 0,
            imm: 0,
        };
        assert_eq!(odd.to_string(), "code 0x06");
        let alu = Insn {
            code: 0xd7,
            regs: 0,
            off: 0,
            imm: 0,
        };
        assert_eq!(alu.to_string(), "alu 0xd7");
    }
}
