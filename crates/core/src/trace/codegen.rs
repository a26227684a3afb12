//! BPF code for one probe: check the predicate and the filters in the
//! kernel, then reserve a record in the ring buffer, fill it with the
//! header, the format's values and the stacks, and submit it; a full
//! buffer counts one lost event. Expressions evaluate into r0, keeping
//! intermediate values in stack slots, so helper calls anywhere in them
//! are safe.
//!
//! Registers: r6 the context, r7 the record, r8 the current pid_tgid.

use super::check::{Int, Mem, Str, TExpr, Task, Value};
use super::event::{header, Layout, Slot, STACK_FRAMES};
use super::expr::{BinOp, UnOp};
use super::insn::*;
use crate::arch;

/// The helpers trace calls, by their numbers in the kernel's `enum
/// bpf_func_id` (rtools-bpf checks them against libbpf's).
pub mod helper {
    pub const MAP_LOOKUP_ELEM: i32 = 1;
    pub const KTIME_GET_NS: i32 = 5;
    pub const GET_SMP_PROCESSOR_ID: i32 = 8;
    pub const GET_CURRENT_PID_TGID: i32 = 14;
    pub const GET_CURRENT_UID_GID: i32 = 15;
    pub const GET_CURRENT_COMM: i32 = 16;
    pub const CURRENT_TASK_UNDER_CGROUP: i32 = 37;
    pub const GET_STACK: i32 = 67;
    pub const PROBE_READ_USER: i32 = 112;
    pub const PROBE_READ_KERNEL: i32 = 113;
    pub const PROBE_READ_USER_STR: i32 = 114;
    pub const PROBE_READ_KERNEL_STR: i32 = 115;
    pub const RINGBUF_RESERVE: i32 = 131;
    pub const RINGBUF_SUBMIT: i32 = 132;
    pub const RINGBUF_QUERY: i32 = 134;
    pub const GET_ATTACH_COOKIE: i32 = 174;
    pub const TAIL_CALL: i32 = 12;
}

/// bpf_get_stack's flag for the user stack.
const BPF_F_USER_STACK: i32 = 1 << 8;
/// bpf_ringbuf_submit's flags, and bpf_ringbuf_query's question.
const BPF_RB_NO_WAKEUP: i32 = 1;
const BPF_RB_FORCE_WAKEUP: i32 = 2;
const BPF_RB_AVAIL_DATA: i32 = 0;

/// How a program reads its context: where arguments, the return value
/// and a tracepoint's fields are.
#[derive(Debug, Clone, Copy)]
pub enum Context<'a> {
    /// `struct pt_regs` (kprobes, uprobes): arguments in registers.
    Regs,
    /// fentry/fexit: one u64 per argument, then the return value.
    Trampoline { nargs: u8 },
    /// A tracepoint's record.
    Record,
    /// `struct bpf_raw_tracepoint_args`: one u64 per argument.
    RawArgs,
    /// A USDT site: where each argument is.
    Usdt(&'a [UsdtArg]),
    /// A `syscalls:sys_enter_*` (or, with `exit`, `sys_exit_*`) tracepoint
    /// reached from the raw_syscalls one (its `struct
    /// bpf_raw_tracepoint_args`: the registers, and the syscall number or
    /// return value), its record's fields read from where the kernel fills
    /// them from.
    RawSyscall { exit: bool },
}

/// A syscall tracepoint's record: `__syscall_nr` at 8, then the arguments
/// (enter) or the return value (exit), 8 bytes each from 16.
const SYSCALL_NR_FIELD: u16 = 8;
const SYSCALL_FIRST_FIELD: u16 = 16;

/// Where a USDT argument is, as its note says (`-4@%edi`, `8@-16(%rbp)`,
/// `4@$5`), with the type the note gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsdtArg {
    pub loc: UsdtLoc,
    pub ty: Int,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsdtLoc {
    Const(i64),
    /// A register: its `struct pt_regs` offset.
    Reg(u16),
    /// Memory at a register plus an offset.
    Mem {
        base: u16,
        offset: i32,
    },
}

/// In-kernel filters besides the predicate.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filters {
    /// `-p` where the attach does not filter (kernel probes, tracepoints).
    pub tgid: Option<u32>,
    /// `-L`: this thread only.
    pub tid: Option<u32>,
    /// `--uid`.
    pub uid: Option<u32>,
    /// trace's own process, left out unless `-S`.
    pub not_tgid: Option<u32>,
    /// `--cgroup`: the fd of a cgroup array holding the cgroup at 0.
    pub cgroup_map: Option<i32>,
}

/// Header fields a record need not carry (zero when left out): each costs
/// a helper call per event.
#[derive(Debug, Clone, Copy)]
pub struct Collect {
    pub uid: bool,
    pub cpu: bool,
    pub time: bool,
}

impl Collect {
    pub const ALL: Collect = Collect {
        uid: true,
        cpu: true,
        time: true,
    };
}

/// What one probe's program does, besides its context.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    /// Which probe of the command line: the record's first field.
    pub probe: u32,
    /// One target: its slot is 0, no cookie to read.
    pub single_slot: bool,
    pub predicate: Option<&'a TExpr>,
    pub values: &'a [Value],
    pub layout: &'a Layout,
    pub filters: Filters,
    /// The ring buffer's fd.
    pub events_map: i32,
    /// The header fields to fill.
    pub collect: Collect,
    /// Bytes waiting in the ring buffer past which a record wakes the
    /// reader; below, records wait for its next look (it looks every
    /// [`POLL_MS`] ms), so a flood costs no wakeup per record.
    pub wake_at: u32,
    /// A per-CPU array of one u64: events that found the buffer full.
    pub lost_map: i32,
}

/// How often, in ms, the reader looks at the ring buffer without being
/// woken.
pub const POLL_MS: u64 = 10;

/// Stack bytes: [-8] a map key, then one slot a nesting level, then the
/// buffer strings are compared in.
const KEY_SLOT: i16 = -8;
const TEMPS: i16 = -16;
/// The longest literal a string is compared with.
pub const MAX_LITERAL: usize = 126;
/// The compare buffer: a literal, one byte more of the string, its NUL.
const STR_BUF_SIZE: usize = MAX_LITERAL + 2;
const STR_BUF: i16 = -(8 * (super::expr::MAX_DEPTH as i16 + 2) + STR_BUF_SIZE as i16);

/// The program for `plan` in `ctx`, or what in it this context can't
/// provide.
pub fn program(plan: &Plan<'_>, ctx: Context<'_>) -> Result<Vec<Insn>, String> {
    // Stores into the record take 16-bit offsets.
    if plan.layout.size > i16::MAX as usize {
        return Err(format!(
            "a record of this probe takes {} bytes, past the {} a BPF program can address: \
             lower -Z (each %s takes that many bytes) or print fewer strings",
            plan.layout.size,
            i16::MAX
        ));
    }
    let mut g = Gen { a: Asm::new(), ctx };
    let a_exit = g.a.label();
    g.a.mov(R6, R1);
    let cheap = plan.predicate.is_some_and(|p| !calls_helpers(p));
    if let (true, Some(p)) = (cheap, plan.predicate) {
        g.branch_unless(p, 0, a_exit)?;
    }
    g.filters(&plan.filters, a_exit);
    if let (false, Some(p)) = (cheap, plan.predicate) {
        g.branch_unless(p, 0, a_exit)?;
    }
    // A record, or one more lost event.
    let a_lost = g.a.label();
    g.a.ld_map_fd(R1, plan.events_map);
    g.a.mov_imm(R2, plan.layout.size as i32);
    g.a.mov_imm(R3, 0);
    g.a.call(helper::RINGBUF_RESERVE);
    g.a.jump_if_imm(Cond::Eq, R0, 0, a_lost);
    g.a.mov(R7, R0);
    g.header(plan);
    for (value, &(offset, slot)) in plan.values.iter().zip(&plan.layout.values) {
        g.value(value, offset as i16, slot)?;
    }
    for (at, flags, len_at) in [
        (plan.layout.kernel_stack, 0, header::KERNEL_STACK),
        (plan.layout.user_stack, BPF_F_USER_STACK, header::USER_STACK),
    ] {
        if let Some(at) = at {
            g.a.mov(R1, R6);
            g.a.mov(R2, R7);
            g.a.alu_imm(Alu::Add, R2, at as i32);
            g.a.mov_imm(R3, (STACK_FRAMES * 8) as i32);
            g.a.mov_imm(R4, flags);
            g.a.call(helper::GET_STACK);
            g.a.store(Size::W, R7, len_at as i16, R0);
        }
    }
    // Wake the reader only once enough waits: a wakeup per record would
    // cost the traced task more than the record itself.
    let quiet = g.a.label();
    g.a.ld_map_fd(R1, plan.events_map);
    g.a.mov_imm(R2, BPF_RB_AVAIL_DATA);
    g.a.call(helper::RINGBUF_QUERY);
    g.a.mov_imm(R2, BPF_RB_NO_WAKEUP);
    g.a.jump_if_imm(
        Cond::Lt,
        R0,
        plan.wake_at.min(i32::MAX as u32) as i32,
        quiet,
    );
    g.a.mov_imm(R2, BPF_RB_FORCE_WAKEUP);
    g.a.bind(quiet);
    g.a.mov(R1, R7);
    g.a.call(helper::RINGBUF_SUBMIT);
    g.a.jump(a_exit);
    g.a.bind(a_lost);
    g.a.store_imm(Size::W, R10, KEY_SLOT, 0);
    g.a.ld_map_fd(R1, plan.lost_map);
    g.a.mov(R2, R10);
    g.a.alu_imm(Alu::Add, R2, KEY_SLOT as i32);
    g.a.call(helper::MAP_LOOKUP_ELEM);
    g.a.jump_if_imm(Cond::Eq, R0, 0, a_exit);
    g.a.mov_imm(R1, 1);
    g.a.atomic_add(Size::DW, R0, 0, R1);
    g.a.bind(a_exit);
    g.a.mov_imm(R0, 0);
    g.a.exit();
    g.a.finish()
}

/// The raw_syscalls program that hands each system call to the program of
/// its syscall tracepoint: a tail call into `prog_array` at the syscall's
/// number (enter) or `nr_max` + its number (exit); a syscall nobody traces
/// finds no program there and ends.
pub fn syscall_dispatcher(exit: bool, prog_array: i32, nr_max: u32) -> Vec<Insn> {
    let mut a = Asm::new();
    let out = a.label();
    a.mov(R6, R1);
    if exit {
        a.store_imm(Size::DW, R10, KEY_SLOT, 0);
        a.load(Size::DW, R3, R6, 0);
        a.alu_imm(Alu::Add, R3, arch::ORIG_AX as i32);
        a.mov(R1, R10);
        a.alu_imm(Alu::Add, R1, KEY_SLOT as i32);
        a.mov_imm(R2, 8);
        a.call(helper::PROBE_READ_KERNEL);
        // Registers that cannot be read name no syscall (the helper
        // zeroes the number: read's, 0, must not be taken for it).
        a.jump_if_imm(Cond::Ne, R0, 0, out);
        a.load(Size::DW, R3, R10, KEY_SLOT);
        a.alu_imm(Alu::Add, R3, nr_max as i32);
    } else {
        a.load(Size::DW, R3, R6, 8);
    }
    a.mov(R1, R6);
    a.ld_map_fd(R2, prog_array);
    a.call(helper::TAIL_CALL);
    a.bind(out);
    a.mov_imm(R0, 0);
    a.exit();
    a.finish().expect("a dispatcher's jumps are short")
}

/// Whether evaluating `e` calls a helper (cheap predicates are checked
/// before anything else).
fn calls_helpers(e: &TExpr) -> bool {
    match e {
        TExpr::Const(_)
        | TExpr::Arg { .. }
        | TExpr::Ret { .. }
        | TExpr::Field { .. }
        | TExpr::Reg(_) => false,
        TExpr::Task(_) | TExpr::Load { .. } | TExpr::StrEq { .. } => true,
        TExpr::Unary(_, e) | TExpr::Convert { e, .. } => calls_helpers(e),
        TExpr::Binary { left, right, .. } => calls_helpers(left) || calls_helpers(right),
        TExpr::Cond { c, yes, no } => calls_helpers(c) || calls_helpers(yes) || calls_helpers(no),
    }
}

/// The arithmetic instruction of `op`, None for comparisons.
fn alu_of(op: BinOp, signed: bool) -> Option<Alu> {
    Some(match op {
        BinOp::Add => Alu::Add,
        BinOp::Sub => Alu::Sub,
        BinOp::Mul => Alu::Mul,
        BinOp::Div => Alu::Div,
        BinOp::Mod => Alu::Mod,
        BinOp::Shl => Alu::Lsh,
        BinOp::Shr if signed => Alu::Arsh,
        BinOp::Shr => Alu::Rsh,
        BinOp::BitAnd => Alu::And,
        BinOp::BitOr => Alu::Or,
        BinOp::BitXor => Alu::Xor,
        _ => return None,
    })
}

/// The jump that holds when comparison `op` does.
fn condition(op: BinOp, signed: bool) -> Cond {
    match (op, signed) {
        (BinOp::Eq, _) => Cond::Eq,
        (BinOp::Ne, _) => Cond::Ne,
        (BinOp::Lt, true) => Cond::Slt,
        (BinOp::Lt, false) => Cond::Lt,
        (BinOp::Le, true) => Cond::Sle,
        (BinOp::Le, false) => Cond::Le,
        (BinOp::Gt, true) => Cond::Sgt,
        (BinOp::Gt, false) => Cond::Gt,
        (BinOp::Ge, true) => Cond::Sge,
        _ => Cond::Ge,
    }
}

/// The jump that holds when `c` does not.
fn negate(c: Cond) -> Cond {
    match c {
        Cond::Eq => Cond::Ne,
        Cond::Ne => Cond::Eq,
        Cond::Gt => Cond::Le,
        Cond::Le => Cond::Gt,
        Cond::Ge => Cond::Lt,
        Cond::Lt => Cond::Ge,
        Cond::Sgt => Cond::Sle,
        Cond::Sle => Cond::Sgt,
        Cond::Sge => Cond::Slt,
        Cond::Slt => Cond::Sge,
        Cond::Set => Cond::Set,
    }
}

/// A constant that fits an instruction's immediate (sign-extended).
fn small(e: &TExpr) -> Option<i32> {
    match e {
        TExpr::Const(n) => i32::try_from(*n as i64).ok(),
        _ => None,
    }
}

struct Gen<'a> {
    a: Asm,
    ctx: Context<'a>,
}

impl Gen<'_> {
    /// r8 = pid_tgid, then the filters: a failing one jumps to `out`.
    fn filters(&mut self, f: &Filters, out: Label) {
        self.a.call(helper::GET_CURRENT_PID_TGID);
        self.a.mov(R8, R0);
        if let Some(tgid) = f.tgid {
            self.a.mov(R1, R8);
            self.a.alu_imm(Alu::Rsh, R1, 32);
            self.jump_if_u32(Cond::Ne, R1, tgid, out);
        }
        if let Some(me) = f.not_tgid {
            self.a.mov(R1, R8);
            self.a.alu_imm(Alu::Rsh, R1, 32);
            self.jump_if_u32(Cond::Eq, R1, me, out);
        }
        if let Some(tid) = f.tid {
            self.a.mov(R1, R8);
            self.a.zext32(R1);
            self.jump_if_u32(Cond::Ne, R1, tid, out);
        }
        if let Some(uid) = f.uid {
            self.a.call(helper::GET_CURRENT_UID_GID);
            self.a.zext32(R0);
            self.jump_if_u32(Cond::Ne, R0, uid, out);
        }
        if let Some(fd) = f.cgroup_map {
            self.a.ld_map_fd(R1, fd);
            self.a.mov_imm(R2, 0);
            self.a.call(helper::CURRENT_TASK_UNDER_CGROUP);
            self.a.jump_if_imm(Cond::Ne, R0, 1, out);
        }
    }

    /// Jumps if `reg cond value`, `reg` holding a zero-extended u32 (an
    /// immediate is sign-extended: large ones go through r4).
    fn jump_if_u32(&mut self, cond: Cond, reg: Reg, value: u32, to: Label) {
        match i32::try_from(value) {
            Ok(imm) => self.a.jump_if_imm(cond, reg, imm, to),
            Err(_) => {
                self.a.ld_imm64(R4, value as u64);
                self.a.jump_if(cond, reg, R4, to);
            }
        }
    }

    fn header(&mut self, plan: &Plan<'_>) {
        let a = &mut self.a;
        a.store_imm(Size::W, R7, header::PROBE as i16, plan.probe as i32);
        if plan.single_slot {
            a.store_imm(Size::W, R7, header::SLOT as i16, 0);
        } else {
            a.mov(R1, R6);
            a.call(helper::GET_ATTACH_COOKIE);
            a.store(Size::W, R7, header::SLOT as i16, R0);
        }
        a.store(Size::W, R7, header::TID as i16, R8);
        a.mov(R1, R8);
        a.alu_imm(Alu::Rsh, R1, 32);
        a.store(Size::W, R7, header::TGID as i16, R1);
        let c = plan.collect;
        for (wanted, helper, field, size) in [
            (c.uid, helper::GET_CURRENT_UID_GID, header::UID, Size::W),
            (c.cpu, helper::GET_SMP_PROCESSOR_ID, header::CPU, Size::W),
            (c.time, helper::KTIME_GET_NS, header::TIME, Size::DW),
        ] {
            if wanted {
                a.call(helper);
                a.store(size, R7, field as i16, R0);
            } else {
                a.store_imm(size, R7, field as i16, 0);
            }
        }
        a.store_imm(Size::W, R7, header::KERNEL_STACK as i16, 0);
        a.store_imm(Size::W, R7, header::USER_STACK as i16, 0);
        a.mov(R1, R7);
        a.alu_imm(Alu::Add, R1, header::COMM as i32);
        a.mov_imm(R2, header::COMM_LEN as i32);
        a.call(helper::GET_CURRENT_COMM);
    }

    /// Fills one value of the record at `offset`.
    fn value(&mut self, v: &Value, offset: i16, slot: Slot) -> Result<(), String> {
        match (v, slot) {
            (Value::Num(e), _) => {
                self.eval(e, 0)?;
                self.a.store(Size::DW, R7, offset, R0);
            }
            (Value::Str(s), Slot::Str(size)) => {
                self.a.store_imm(Size::B, R7, offset, 0);
                self.string(s, R7, offset, size, 0)?;
            }
            (Value::Str(_), Slot::Num) => return Err("a string value in a number's slot".into()),
        }
        Ok(())
    }

    /// Reads string `s` into `size` bytes at `base + offset` (r7, the
    /// record, or r10, the stack), NUL-terminated; its address is
    /// computed with the stack slots from `depth` on (those below hold an
    /// enclosing expression's operands).
    fn string(
        &mut self,
        s: &Str,
        base: Reg,
        offset: i16,
        size: usize,
        depth: usize,
    ) -> Result<(), String> {
        let dst = |a: &mut Asm| {
            a.mov(R1, base);
            a.alu_imm(Alu::Add, R1, offset as i32);
        };
        match s {
            Str::At(addr, mem) => {
                self.eval(addr, depth)?;
                self.a.mov(R3, R0);
                dst(&mut self.a);
                self.a.mov_imm(R2, size as i32);
                self.read(*mem, true);
            }
            Str::Comm => {
                dst(&mut self.a);
                self.a.mov_imm(R2, size.min(header::COMM_LEN) as i32);
                self.a.call(helper::GET_CURRENT_COMM);
            }
            Str::InRecord { offset: at, len } => {
                if !matches!(self.ctx, Context::Record) {
                    return Err("a char array field outside a tracepoint's record".into());
                }
                let n = (*len as usize).min(size - 1);
                dst(&mut self.a);
                self.a.mov_imm(R2, n as i32);
                self.a.mov(R3, R6);
                self.a.alu_imm(Alu::Add, R3, *at as i32);
                self.a.call(helper::PROBE_READ_KERNEL);
                self.a.store_imm(Size::B, base, offset + n as i16, 0);
            }
            Str::DataLoc { offset: at } => {
                if !matches!(self.ctx, Context::Record) {
                    return Err("a __data_loc field outside a tracepoint".into());
                }
                self.a.load(Size::W, R3, R6, *at as i16);
                self.a.alu_imm(Alu::And, R3, 0xffff);
                self.a.alu(Alu::Add, R3, R6);
                dst(&mut self.a);
                self.a.mov_imm(R2, size as i32);
                self.a.call(helper::PROBE_READ_KERNEL_STR);
            }
        }
        Ok(())
    }

    /// Calls the read helper for `mem` (r1 destination, r2 size, r3
    /// source): `string` for the NUL-terminated ones. By address, a
    /// pointer above user space is the kernel's.
    fn read(&mut self, mem: Mem, string: bool) {
        let (user, kernel) = if string {
            (helper::PROBE_READ_USER_STR, helper::PROBE_READ_KERNEL_STR)
        } else {
            (helper::PROBE_READ_USER, helper::PROBE_READ_KERNEL)
        };
        match mem {
            Mem::User => self.a.call(user),
            Mem::Kernel => self.a.call(kernel),
            Mem::ByAddress => {
                let (k, done) = (self.a.label(), self.a.label());
                self.a.ld_imm64(R4, arch::USER_TOP);
                self.a.jump_if(Cond::Ge, R3, R4, k);
                self.a.call(user);
                self.a.jump(done);
                self.a.bind(k);
                self.a.call(kernel);
                self.a.bind(done);
            }
        }
    }

    fn temp(depth: usize) -> Result<i16, String> {
        if depth >= super::expr::MAX_DEPTH {
            return Err("the expression nests too deep to compile: split it".into());
        }
        Ok(TEMPS - 8 * depth as i16)
    }

    /// Evaluates `e` into r0 (r1-r5 clobbered; stack slots from `depth`
    /// on used).
    fn eval(&mut self, e: &TExpr, depth: usize) -> Result<(), String> {
        match e {
            TExpr::Const(n) => self.constant(*n),
            TExpr::Arg { n, ty } => {
                self.arg(*n)?;
                self.extend(*ty);
            }
            TExpr::Ret { ty } => {
                let off = match self.ctx {
                    Context::Regs => arch::RET_REG as i16,
                    Context::Trampoline { nargs } => 8 * nargs as i16,
                    _ => return Err("retval at a probe that has no return value".into()),
                };
                self.a.load(Size::DW, R0, R6, off);
                self.extend(*ty);
            }
            TExpr::Field { offset, ty } => {
                match self.ctx {
                    Context::Record => {
                        let size = Size::of(ty.bytes as u32).ok_or("a field of an odd size")?;
                        self.a.load(size, R0, R6, *offset as i16);
                    }
                    Context::RawSyscall { exit } => self.syscall_field(exit, *offset, depth)?,
                    _ => return Err("a tracepoint field outside a tracepoint".into()),
                }
                self.extend(*ty);
            }
            TExpr::Task(t) => self.task(*t),
            TExpr::Reg(offset) => match self.ctx {
                Context::Regs | Context::Usdt(_) => self.a.load(Size::DW, R0, R6, *offset as i16),
                _ => {
                    return Err(
                        "ctx->REG reads the registers a kprobe or uprobe saves; fentry saves \
                         none (use --backend kprobe)"
                            .into(),
                    )
                }
            },
            TExpr::Load { addr, ty, mem } => {
                let slot = Self::temp(depth)?;
                self.eval(addr, depth)?;
                self.a.mov(R3, R0);
                self.a.store_imm(Size::DW, R10, slot, 0);
                self.a.mov(R1, R10);
                self.a.alu_imm(Alu::Add, R1, slot as i32);
                self.a.mov_imm(R2, ty.bytes as i32);
                self.read(*mem, false);
                let size = Size::of(ty.bytes as u32).ok_or("a load of an odd size")?;
                self.a.load(size, R0, R10, slot);
                self.extend(*ty);
            }
            TExpr::Unary(op, inner) => {
                self.eval(inner, depth)?;
                match op {
                    UnOp::Neg => self.a.neg(R0),
                    UnOp::BitNot => self.a.alu_imm(Alu::Xor, R0, -1),
                    UnOp::Not => self.test(Cond::Eq, R0, None),
                    UnOp::Deref => return Err("a dereference the checker did not type".into()),
                }
            }
            TExpr::Binary {
                op: op @ (BinOp::And | BinOp::Or),
                left,
                right,
                ..
            } => {
                let done = self.a.label();
                self.eval(left, depth)?;
                self.test(Cond::Ne, R0, None);
                let short = if *op == BinOp::And { 0 } else { 1 };
                self.a.jump_if_imm(Cond::Eq, R0, short, done);
                self.eval(right, depth)?;
                self.test(Cond::Ne, R0, None);
                self.a.bind(done);
            }
            TExpr::Binary {
                op,
                left,
                right,
                signed,
            } if small(right).is_some_and(|c| {
                let division = matches!(op, BinOp::Div | BinOp::Mod);
                // BPF divides without sign: a signed division takes the
                // general path below.
                !division || (c != 0 && !*signed)
            }) =>
            {
                // A constant operand: no slot, an immediate.
                let imm = small(right).unwrap_or(0);
                self.eval(left, depth)?;
                match alu_of(*op, *signed) {
                    Some(alu) => self.a.alu_imm(alu, R0, imm),
                    None => {
                        let yes = self.a.label();
                        self.a.mov(R2, R0);
                        self.a.mov_imm(R0, 1);
                        self.a.jump_if_imm(condition(*op, *signed), R2, imm, yes);
                        self.a.mov_imm(R0, 0);
                        self.a.bind(yes);
                    }
                }
            }
            TExpr::Binary {
                op,
                left,
                right,
                signed,
            } => {
                // The left side may use this depth's slot: it is done
                // with it before its value goes there (a left-associated
                // chain, a + b + c + ..., takes two slots, not one a term).
                let slot = Self::temp(depth)?;
                self.eval(left, depth)?;
                self.a.store(Size::DW, R10, slot, R0);
                self.eval(right, depth + 1)?;
                self.a.load(Size::DW, R1, R10, slot);
                self.binary(*op, *signed);
            }
            TExpr::Convert { e, ty } => {
                self.eval(e, depth)?;
                self.extend(*ty);
            }
            TExpr::Cond { c, yes, no } => {
                let (otherwise, done) = (self.a.label(), self.a.label());
                self.branch_unless(c, depth, otherwise)?;
                self.eval(yes, depth)?;
                self.a.jump(done);
                self.a.bind(otherwise);
                self.eval(no, depth)?;
                self.a.bind(done);
            }
            TExpr::StrEq { s, lit, bytes } => self.str_eq(s, lit, *bytes, depth)?,
        }
        Ok(())
    }

    /// Jumps to `no` unless `e` holds: comparisons jump on their own
    /// result, with no 0/1 made (a predicate that rejects costs a load, a
    /// compare and a jump).
    fn branch_unless(&mut self, e: &TExpr, depth: usize, no: Label) -> Result<(), String> {
        match e {
            TExpr::Binary {
                op: BinOp::And,
                left,
                right,
                ..
            } => {
                self.branch_unless(left, depth, no)?;
                self.branch_unless(right, depth, no)
            }
            TExpr::Binary {
                op,
                left,
                right,
                signed,
            } if op.is_comparison() && !matches!(op, BinOp::Or) => {
                let fails = negate(condition(*op, *signed));
                match small(right) {
                    Some(imm) => {
                        self.eval(left, depth)?;
                        self.a.jump_if_imm(fails, R0, imm, no);
                    }
                    None => {
                        let slot = Self::temp(depth)?;
                        self.eval(left, depth)?;
                        self.a.store(Size::DW, R10, slot, R0);
                        self.eval(right, depth + 1)?;
                        self.a.load(Size::DW, R1, R10, slot);
                        self.a.jump_if(fails, R1, R0, no);
                    }
                }
                Ok(())
            }
            TExpr::Unary(UnOp::Not, inner) => {
                self.eval(inner, depth)?;
                self.a.jump_if_imm(Cond::Ne, R0, 0, no);
                Ok(())
            }
            _ => {
                self.eval(e, depth)?;
                self.a.jump_if_imm(Cond::Eq, R0, 0, no);
                Ok(())
            }
        }
    }

    /// r0 = the field at `offset` of a syscall tracepoint's record, from
    /// the raw_syscalls context: the number and return value are its
    /// arguments, the syscall's arguments and number the saved registers'
    /// (read from kernel memory into this depth's slot).
    fn syscall_field(&mut self, exit: bool, offset: u16, depth: usize) -> Result<(), String> {
        let arg = (offset.checked_sub(SYSCALL_FIRST_FIELD)).map(|o| o / 8);
        let from_regs = match (exit, offset) {
            (false, SYSCALL_NR_FIELD) | (true, SYSCALL_FIRST_FIELD) => {
                self.a.load(Size::DW, R0, R6, 8);
                return Ok(());
            }
            (true, SYSCALL_NR_FIELD) => arch::ORIG_AX,
            (false, _) if offset.is_multiple_of(8) => *arch::SYSCALL_ARG_REGS
                .get(arg.unwrap_or(u16::MAX) as usize)
                .ok_or("a field past a syscall's six arguments")?,
            _ => {
                return Err(format!(
                    "the field at offset {offset} of a syscall tracepoint is not one raw_syscalls \
                     has (common_* fields are not)"
                ))
            }
        };
        let slot = Self::temp(depth)?;
        self.a.store_imm(Size::DW, R10, slot, 0);
        self.a.load(Size::DW, R3, R6, 0);
        self.a.alu_imm(Alu::Add, R3, from_regs as i32);
        self.a.mov(R1, R10);
        self.a.alu_imm(Alu::Add, R1, slot as i32);
        self.a.mov_imm(R2, 8);
        self.a.call(helper::PROBE_READ_KERNEL);
        self.a.load(Size::DW, R0, R10, slot);
        Ok(())
    }

    fn constant(&mut self, n: u64) {
        match i32::try_from(n as i64) {
            Ok(small) => self.a.mov_imm(R0, small),
            Err(_) => self.a.ld_imm64(R0, n),
        }
    }

    /// r0 = argument `n` (0-based) from the context.
    fn arg(&mut self, n: u8) -> Result<(), String> {
        match self.ctx {
            Context::Regs => {
                let off = *arch::ARG_REGS
                    .get(n as usize)
                    .ok_or("an argument past the sixth")?;
                self.a.load(Size::DW, R0, R6, off as i16);
            }
            Context::Trampoline { nargs } => {
                if n >= nargs {
                    return Err(format!(
                        "arg{} is past the function's {nargs} argument(s)",
                        n + 1
                    ));
                }
                self.a.load(Size::DW, R0, R6, 8 * n as i16);
            }
            Context::RawArgs => self.a.load(Size::DW, R0, R6, 8 * n as i16),
            Context::Record | Context::RawSyscall { .. } => {
                return Err("an argument at a tracepoint".into())
            }
            Context::Usdt(args) => {
                let arg = args.get(n as usize).ok_or(format!(
                    "arg{}: this USDT site has {} argument(s)",
                    n + 1,
                    args.len()
                ))?;
                match arg.loc {
                    UsdtLoc::Const(v) => self.constant(v as u64),
                    UsdtLoc::Reg(off) => self.a.load(Size::DW, R0, R6, off as i16),
                    UsdtLoc::Mem { base, offset } => {
                        let slot = KEY_SLOT;
                        self.a.load(Size::DW, R3, R6, base as i16);
                        self.a.alu_imm(Alu::Add, R3, offset);
                        self.a.store_imm(Size::DW, R10, slot, 0);
                        self.a.mov(R1, R10);
                        self.a.alu_imm(Alu::Add, R1, slot as i32);
                        self.a.mov_imm(R2, arg.ty.bytes.clamp(1, 8) as i32);
                        self.a.call(helper::PROBE_READ_USER);
                        self.a.load(Size::DW, R0, R10, slot);
                    }
                }
            }
        }
        Ok(())
    }

    fn task(&mut self, t: Task) {
        let (helper, high) = match t {
            Task::Tid => (helper::GET_CURRENT_PID_TGID, false),
            Task::Tgid => (helper::GET_CURRENT_PID_TGID, true),
            Task::Uid => (helper::GET_CURRENT_UID_GID, false),
            Task::Gid => (helper::GET_CURRENT_UID_GID, true),
            Task::Cpu => {
                self.a.call(helper::GET_SMP_PROCESSOR_ID);
                return;
            }
        };
        self.a.call(helper);
        if high {
            self.a.alu_imm(Alu::Rsh, R0, 32);
        } else {
            self.a.zext32(R0);
        }
    }

    /// r0 truncated to `ty` and extended back by its sign.
    fn extend(&mut self, ty: Int) {
        let bits = 64 - 8 * ty.bytes.clamp(1, 8) as i32;
        if bits == 0 {
            return;
        }
        if ty.signed {
            self.a.alu_imm(Alu::Lsh, R0, bits);
            self.a.alu_imm(Alu::Arsh, R0, bits);
        } else if ty.bytes == 4 {
            self.a.zext32(R0);
        } else {
            self.a
                .alu_imm(Alu::And, R0, (1i32 << (8 * ty.bytes as i32)) - 1);
        }
    }

    /// r0 = 1 if `reg cond other` (other: r0 when None, against 0),
    /// else 0.
    fn test(&mut self, cond: Cond, reg: Reg, other: Option<Reg>) {
        let yes = self.a.label();
        self.a.mov(R2, reg);
        self.a.mov_imm(R0, 1);
        match other {
            Some(o) => self.a.jump_if(cond, R2, o, yes),
            None => self.a.jump_if_imm(cond, R2, 0, yes),
        }
        self.a.mov_imm(R0, 0);
        self.a.bind(yes);
    }

    /// r0 = r1 op r0.
    fn binary(&mut self, op: BinOp, signed: bool) {
        if signed && matches!(op, BinOp::Div | BinOp::Mod) {
            self.signed_division(op);
            return;
        }
        if let Some(alu) = alu_of(op, signed) {
            self.a.alu(alu, R1, R0);
            self.a.mov(R0, R1);
            return;
        }
        self.a.mov(R3, R0);
        self.test(condition(op, signed), R1, Some(R3));
    }

    /// r0 = r1 / r0 or r1 % r0 as C divides signed numbers: toward zero,
    /// the remainder taking the dividend's sign. BPF's own division is
    /// unsigned (its signed one needs kernel 6.6): divide the magnitudes,
    /// then give the result its sign. By zero, BPF's rules hold: the
    /// quotient is 0 and the remainder the dividend.
    fn signed_division(&mut self, op: BinOp) {
        let a = &mut self.a;
        // r4: the result's sign (the quotient's: the signs' xor; the
        // remainder's: the dividend's).
        a.mov(R4, R1);
        if op == BinOp::Div {
            a.alu(Alu::Xor, R4, R0);
        }
        for reg in [R1, R0] {
            let positive = a.label();
            a.jump_if_imm(Cond::Sge, reg, 0, positive);
            a.neg(reg);
            a.bind(positive);
        }
        a.alu(if op == BinOp::Div { Alu::Div } else { Alu::Mod }, R1, R0);
        a.mov(R0, R1);
        let done = a.label();
        a.jump_if_imm(Cond::Sge, R4, 0, done);
        a.neg(R0);
        a.bind(done);
    }

    /// r0 = 1 if string `s` equals `lit`: read into the stack buffer, then
    /// compared byte by byte, NUL included.
    fn str_eq(&mut self, s: &Str, lit: &[u8], bytes: bool, depth: usize) -> Result<(), String> {
        if lit.len() > MAX_LITERAL {
            return Err(format!(
                "string literals compared in the kernel are at most {MAX_LITERAL} bytes"
            ));
        }
        let zero = STR_BUF;
        // The literal and its NUL are compared with the string read one
        // byte further (or as far as its array goes) into a zeroed
        // buffer: a longer string never reads as equal. A byte list is
        // compared with as many bytes of memory, read as they are.
        let compared = if bytes { lit.len() } else { lit.len() + 1 };
        for i in (0..=compared).step_by(8) {
            self.a.store_imm(Size::DW, R10, zero + i as i16, 0);
        }
        let differ = self.a.label();
        let done = self.a.label();
        match s {
            Str::At(addr, mem) if bytes => {
                self.eval(addr, depth)?;
                self.a.mov(R3, R0);
                self.a.mov(R1, R10);
                self.a.alu_imm(Alu::Add, R1, zero as i32);
                self.a.mov_imm(R2, compared as i32);
                self.read(*mem, false);
                // Unreadable memory equals no list, even one of zeros.
                self.a.jump_if_imm(Cond::Ne, R0, 0, differ);
            }
            // (A char array of the record is read raw and ended with a NUL.)
            _ => self.string(s, R10, zero, compared + 1, depth)?,
        }
        let expected = lit.iter().copied().chain((!bytes).then_some(0));
        for (i, byte) in expected.enumerate() {
            self.a.load(Size::B, R0, R10, zero + i as i16);
            self.a.jump_if_imm(Cond::Ne, R0, byte as i32, differ);
        }
        self.a.mov_imm(R0, 1);
        self.a.jump(done);
        self.a.bind(differ);
        self.a.mov_imm(R0, 0);
        self.a.bind(done);
        Ok(())
    }
}

#[cfg(test)]
mod layout_tests {
    use super::*;

    #[test]
    fn the_string_buffer_lies_below_every_temp_within_the_stack() {
        let deepest_temp = Gen::temp(super::super::expr::MAX_DEPTH - 1).unwrap();
        assert!(Gen::temp(super::super::expr::MAX_DEPTH).is_err());
        assert!(KEY_SLOT > TEMPS);
        // A literal, one byte more of the string, and its NUL.
        assert_eq!(STR_BUF_SIZE, MAX_LITERAL + 2);
        // Right below the deepest temp and a spare slot, inside the
        // 512 bytes of BPF stack.
        assert_eq!(STR_BUF + STR_BUF_SIZE as i16, deepest_temp - 8);
        assert!(STR_BUF >= -512, "{STR_BUF}");
    }
}

#[cfg(test)]
mod tests {
    use super::super::check::{self, Scope, Site};
    use super::super::event::Slot;
    use super::super::format;
    use super::*;

    fn plan<'a>(predicate: Option<&'a TExpr>, values: &'a [Value], layout: &'a Layout) -> Plan<'a> {
        Plan {
            probe: 3,
            single_slot: true,
            predicate,
            values,
            layout,
            filters: Filters::default(),
            events_map: 7,
            lost_map: 8,
            collect: Collect::ALL,
            wake_at: 4096,
        }
    }

    /// The helpers a program calls, in order.
    /// What a user function's probe may name, with no signature.
    fn user_function() -> Scope<'static> {
        Scope {
            site: Site::UserFunction,
            ret: false,
            params: &[],
            byte_lists: false,
        }
    }

    fn calls(insns: &[Insn]) -> Vec<i32> {
        insns
            .iter()
            .filter(|i| i.code == 0x85)
            .map(|i| i.imm)
            .collect()
    }

    #[test]
    fn a_cheap_predicate_comes_first_and_rejects_without_helpers() {
        let scope = user_function();
        let p = check::predicate("arg1 == 12345", &scope).unwrap();
        let layout = Layout::new(&[], false, false);
        let insns = program(&plan(Some(&p), &[], &layout), Context::Regs).unwrap();
        // Three instructions reject: the context saved, arg1 from rdi, a
        // compare that jumps to the exit; no helper before.
        let text: Vec<String> = insns[..3].iter().map(Insn::to_string).collect();
        assert_eq!(text[..2], ["r6 = r1", "r0 = *(u64 *)(r6 +112)"]);
        assert!(text[2].starts_with("if r0 != 12345 goto"), "{text:?}");
        let exit = insns.len() - 2;
        assert_eq!(2 + insns[2].off as usize + 1, exit);
        assert_eq!(
            calls(&insns),
            [
                helper::GET_CURRENT_PID_TGID,
                helper::RINGBUF_RESERVE,
                helper::GET_CURRENT_UID_GID,
                helper::GET_SMP_PROCESSOR_ID,
                helper::KTIME_GET_NS,
                helper::GET_CURRENT_COMM,
                helper::RINGBUF_QUERY,
                helper::RINGBUF_SUBMIT,
                helper::MAP_LOOKUP_ELEM,
            ]
        );
        // The reserve asks for the record's size.
        assert!(insns
            .iter()
            .any(|i| i.code == 0xb7 && i.dst() == R2 && i.imm == layout.size as i32));
        // The program ends with r0 = 0; exit.
        let end = &insns[insns.len() - 2..];
        assert_eq!((end[0].code, end[0].imm, end[1].code), (0xb7, 0, 0x95));
    }

    /// A predicate that calls a helper anywhere (here in one arm of a
    /// conditional) waits for the filters: they are cheaper.
    #[test]
    fn a_predicate_with_helpers_comes_after_the_filters() {
        let scope = user_function();
        let layout = Layout::new(&[], false, false);
        for text in [
            "arg1 ? $uid == 0 : 0",
            "arg1 ? 0 : $uid == 0",
            "arg1 + $uid",
        ] {
            let p = check::predicate(text, &scope).unwrap();
            let insns = program(&plan(Some(&p), &[], &layout), Context::Regs).unwrap();
            assert_eq!(
                calls(&insns)[..2],
                [helper::GET_CURRENT_PID_TGID, helper::GET_CURRENT_UID_GID],
                "{text}"
            );
        }
    }

    /// Of a syscall's record, raw_syscalls has the number and the six
    /// 8-byte arguments: a field elsewhere is an error, not a wrong read.
    #[test]
    fn syscall_records_read_through_raw_syscalls_have_aligned_arguments_only() {
        let layout = Layout::new(&[Slot::Num], false, false);
        let field = |offset| {
            vec![Value::Num(TExpr::Field {
                offset,
                ty: Int::S32,
            })]
        };
        let ctx = Context::RawSyscall { exit: false };
        assert!(program(&plan(None, &field(24), &layout), ctx).is_ok());
        let e = program(&plan(None, &field(20), &layout), ctx).unwrap_err();
        assert!(e.contains("is not one raw_syscalls has"), "{e}");
        let e = program(&plan(None, &field(72), &layout), ctx).unwrap_err();
        assert!(e.contains("past a syscall's six arguments"), "{e}");
    }

    #[test]
    fn constants_are_immediates_and_negations_jump_directly() {
        let scope = user_function();
        let layout = Layout::new(&[], false, false);
        let p = check::predicate("arg1 % 7 == 0", &scope).unwrap();
        let insns = program(&plan(Some(&p), &[], &layout), Context::Regs).unwrap();
        let text: Vec<String> = insns[..4].iter().map(Insn::to_string).collect();
        assert_eq!(text[1..3], ["r0 = *(u64 *)(r6 +112)", "r0 %= 7"]);
        assert!(text[3].starts_with("if r0 != 0 goto"), "{text:?}");
        let p = check::predicate("!arg1", &scope).unwrap();
        let insns = program(&plan(Some(&p), &[], &layout), Context::Regs).unwrap();
        assert!(
            insns[2].to_string().starts_with("if r0 != 0 goto"),
            "{}",
            insns[2]
        );
        // A division by a constant 0 is compiled from a register (the
        // verifier refuses an immediate 0 divisor).
        let p = check::predicate("arg1 / 0", &scope).unwrap();
        let insns = program(&plan(Some(&p), &[], &layout), Context::Regs).unwrap();
        assert!(
            insns.iter().any(|i| i.to_string() == "r1 /= r0"),
            "{insns:?}"
        );
    }

    #[test]
    fn values_go_to_their_slots() {
        let scope = Scope {
            ret: true,
            ..user_function()
        };
        let fmt = format::parse("%d %s").unwrap();
        let values = check::values(&fmt, &["retval".into(), "arg2".into()], &scope).unwrap();
        let layout = Layout::new(&[Slot::Num, Slot::Str(80)], true, true);
        let insns = program(&plan(None, &values, &layout), Context::Regs).unwrap();
        // retval from rax, stored at the first value's offset.
        assert!(insns
            .iter()
            .any(|i| i.code == 0x79 && i.off == arch::RET_REG as i16));
        assert!(insns
            .iter()
            .any(|i| i.code == 0x7b && i.dst() == R7 && i.off == 56));
        let c = calls(&insns);
        assert!(c.contains(&helper::PROBE_READ_USER_STR));
        assert_eq!(c.iter().filter(|&&h| h == helper::GET_STACK).count(), 2);
        // In a trampoline, retval follows the arguments.
        let insns = program(
            &plan(None, &values, &layout),
            Context::Trampoline { nargs: 3 },
        )
        .unwrap();
        assert!(insns
            .iter()
            .any(|i| i.code == 0x79 && i.off == 24 && i.src() == R6));
        // ... and an argument past them is an error, not a refused program.
        let e = program(
            &plan(None, &values, &layout),
            Context::Trampoline { nargs: 1 },
        )
        .unwrap_err();
        assert!(e.contains("past the function's 1 argument"), "{e}");
    }

    #[test]
    fn filters_and_cookies() {
        let layout = Layout::new(&[], false, false);
        let mut p = plan(None, &[], &layout);
        p.single_slot = false;
        p.filters = Filters {
            tgid: Some(10),
            tid: Some(11),
            uid: Some(12),
            not_tgid: Some(13),
            cgroup_map: Some(4),
        };
        let insns = program(&p, Context::Record).unwrap();
        let c = calls(&insns);
        assert!(
            c.starts_with(&[
                helper::GET_CURRENT_PID_TGID,
                helper::GET_CURRENT_UID_GID,
                helper::CURRENT_TASK_UNDER_CGROUP,
                helper::RINGBUF_RESERVE,
                helper::GET_ATTACH_COOKIE
            ]),
            "{c:?}"
        );
        for imm in [10, 11, 12, 13] {
            assert!(
                insns.iter().any(|i| i.imm == imm && i.code & 0x07 == 0x05),
                "{imm}"
            );
        }
    }

    #[test]
    fn strings_compare_byte_by_byte() {
        let scope = user_function();
        let p = check::predicate(r#"$comm == "sh""#, &scope).unwrap();
        let layout = Layout::new(&[], false, false);
        let insns = program(&plan(Some(&p), &[], &layout), Context::Regs).unwrap();
        let comms = |insns: &[Insn]| {
            calls(insns)
                .iter()
                .filter(|&&h| h == helper::GET_CURRENT_COMM)
                .count()
        };
        // The predicate's and the header's.
        assert_eq!(comms(&insns), 2);
        // 's', 'h', NUL compared.
        for byte in [b's' as i32, b'h' as i32, 0] {
            assert!(
                insns.iter().any(|i| i.code == 0x55 && i.imm == byte),
                "{byte}"
            );
        }
        // The longest literal compiles; one byte more does not.
        let longest = format!("str(arg1) == \"{}\"", "x".repeat(MAX_LITERAL));
        let p = check::predicate(&longest, &scope).unwrap();
        assert!(program(&plan(Some(&p), &[], &layout), Context::Regs).is_ok());
        let huge = format!("str(arg1) == \"{}\"", "x".repeat(MAX_LITERAL + 1));
        let p = check::predicate(&huge, &scope).unwrap();
        assert!(program(&plan(Some(&p), &[], &layout), Context::Regs)
            .unwrap_err()
            .contains("at most"));
    }

    #[test]
    fn usdt_arguments_come_from_their_locations() {
        let args = [
            UsdtArg {
                loc: UsdtLoc::Reg(112),
                ty: Int {
                    bytes: 4,
                    signed: true,
                },
            },
            UsdtArg {
                loc: UsdtLoc::Mem {
                    base: 32,
                    offset: -20,
                },
                ty: Int::U64,
            },
            UsdtArg {
                loc: UsdtLoc::Const(5),
                ty: Int::U64,
            },
        ];
        let types: Vec<Int> = args.iter().map(|a| a.ty).collect();
        let scope = Scope {
            site: Site::Usdt(&types),
            ret: false,
            params: &[],
            byte_lists: false,
        };
        let fmt = format::parse("%d %d %d").unwrap();
        let values =
            check::values(&fmt, &["arg1".into(), "arg2".into(), "arg3".into()], &scope).unwrap();
        let layout = Layout::new(&[Slot::Num; 3], false, false);
        let insns = program(&plan(None, &values, &layout), Context::Usdt(&args)).unwrap();
        assert!(insns.iter().any(|i| i.code == 0x79 && i.off == 112));
        assert!(insns.iter().any(|i| i.code == 0x79 && i.off == 32));
        assert!(insns.iter().any(|i| i.code == 0x07 && i.imm == -20));
        assert!(calls(&insns).contains(&helper::PROBE_READ_USER));
        // Sign extension of the 4-byte argument: lsh 32, arsh 32.
        assert!(insns
            .windows(2)
            .any(|w| w[0].code == 0x67 && w[0].imm == 32 && w[1].code == 0xc7));
    }
}
