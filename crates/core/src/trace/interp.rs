//! A BPF interpreter for the unit tests: runs the code generator's
//! programs against a made-up context, stack, memory and helpers, so what
//! the programs do (which records they send, with which values) is tested
//! without root or a kernel. Every memory access must fall inside a region
//! the program may touch, as the verifier demands.

use super::codegen::helper;
use super::insn::Insn;

const CTX: u64 = 0x1000_0000;
const STACK: u64 = 0x2000_0000;
const STACK_SIZE: u64 = 512;
const RECORD: u64 = 0x3000_0000;
const LOST: u64 = 0x4000_0000;
/// Where a `ld_imm64` of a map fd points: a handle, never memory.
const MAP: u64 = 0x7000_0000_0000;

/// What the helpers answer, and the memory outside the program.
pub struct Machine {
    pub ctx: Vec<u8>,
    pub tgid: u32,
    pub tid: u32,
    pub uid: u32,
    pub gid: u32,
    pub cpu: u32,
    pub comm: &'static [u8],
    pub cookie: u64,
    pub under_cgroup: bool,
    /// The ring buffer is full: reserve fails.
    pub full: bool,
    /// What bpf_ringbuf_query answers.
    pub waiting: u64,
    pub events_map: i32,
    pub lost_map: i32,
    /// Readable memory outside the program: (address, bytes).
    pub memory: Vec<(u64, Vec<u8>)>,
}

impl Default for Machine {
    fn default() -> Machine {
        Machine {
            ctx: vec![0; 256],
            tgid: 100,
            tid: 101,
            uid: 1000,
            gid: 1001,
            cpu: 1,
            comm: b"bash",
            cookie: 0,
            under_cgroup: true,
            full: false,
            waiting: 0,
            events_map: 7,
            lost_map: 8,
            memory: Vec::new(),
        }
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Run {
    /// The records submitted.
    pub records: Vec<Vec<u8>>,
    /// Each submit's flags.
    pub submit_flags: Vec<u64>,
    pub lost: u64,
    /// Helpers called, in order.
    pub calls: Vec<i32>,
    /// The room each bpf_get_stack was given.
    pub stack_sizes: Vec<u64>,
    /// Each bpf_tail_call's (map, index); the call falls through (no
    /// program there in the test).
    pub tail_calls: Vec<(u64, u64)>,
}

impl Machine {
    /// Sets the u64 at `offset` of the context.
    pub fn set_ctx(&mut self, offset: usize, value: u64) {
        self.ctx[offset..offset + 8].copy_from_slice(&value.to_ne_bytes());
    }

    pub fn run(&self, insns: &[Insn]) -> Run {
        let mut vm = Vm {
            m: self,
            regs: [0; 11],
            stack: vec![0; STACK_SIZE as usize],
            record: None,
            lost: 0,
            run: Run::default(),
        };
        vm.regs[1] = CTX;
        vm.regs[10] = STACK + STACK_SIZE;
        vm.exec(insns);
        vm.run.lost = vm.lost;
        vm.run
    }
}

struct Vm<'a> {
    m: &'a Machine,
    regs: [u64; 11],
    stack: Vec<u8>,
    record: Option<Vec<u8>>,
    lost: u64,
    run: Run,
}

impl Vm<'_> {
    fn exec(&mut self, insns: &[Insn]) {
        let mut pc = 0usize;
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < 100_000, "the program loops");
            let i = insns[pc];
            let (dst, src) = (i.dst().0 as usize, i.src().0 as usize);
            let class = i.code & 0x07;
            let x = i.code & 0x08 != 0;
            match class {
                0x07 | 0x04 => {
                    let divides = matches!(i.code & 0xf0, 0x30 | 0x90);
                    assert!(
                        x || !divides || i.imm != 0,
                        "division by a constant 0: the verifier refuses it"
                    );
                    let b = if x {
                        self.regs[src]
                    } else {
                        i.imm as i64 as u64
                    };
                    let a = self.regs[dst];
                    let wide = class == 0x07;
                    let (a, b) = if wide {
                        (a, b)
                    } else {
                        (a as u32 as u64, b as u32 as u64)
                    };
                    let r = match i.code & 0xf0 {
                        0x00 => a.wrapping_add(b),
                        0x10 => a.wrapping_sub(b),
                        0x20 => a.wrapping_mul(b),
                        0x30 => a.checked_div(b).unwrap_or(0),
                        0x40 => a | b,
                        0x50 => a & b,
                        0x60 => a.wrapping_shl(b as u32),
                        0x70 => a.wrapping_shr(b as u32),
                        0x80 => (a as i64).wrapping_neg() as u64,
                        0x90 => a.checked_rem(b).unwrap_or(a),
                        0xa0 => a ^ b,
                        0xb0 => b,
                        0xc0 => ((a as i64).wrapping_shr(b as u32)) as u64,
                        op => panic!("ALU op {op:#x}"),
                    };
                    self.regs[dst] = if wide { r } else { r as u32 as u64 };
                }
                0x01 => {
                    let size = size(i.code);
                    let addr = self.regs[src].wrapping_add(i.off as i64 as u64);
                    self.regs[dst] = self.load(addr, size);
                }
                0x03 if i.code & 0xe0 == 0xc0 => {
                    let size = size(i.code);
                    let addr = self.regs[dst].wrapping_add(i.off as i64 as u64);
                    assert_eq!(i.imm, 0, "atomic add only");
                    let v = self.load(addr, size).wrapping_add(self.regs[src]);
                    self.store(addr, size, v);
                }
                0x03 | 0x02 => {
                    let size = size(i.code);
                    let addr = self.regs[dst].wrapping_add(i.off as i64 as u64);
                    let v = if class == 0x03 {
                        self.regs[src]
                    } else {
                        i.imm as i64 as u64
                    };
                    self.store(addr, size, v);
                }
                0x00 => {
                    let low = i.imm as u32 as u64;
                    let high = insns[pc + 1].imm as u32 as u64;
                    self.regs[dst] = if src == 1 {
                        MAP + low
                    } else {
                        low | high << 32
                    };
                    pc += 1;
                }
                0x05 => match i.code & 0xf0 {
                    0x80 => self.call(i.imm),
                    0x90 => return,
                    op => {
                        let a = self.regs[dst];
                        let b = if x {
                            self.regs[src]
                        } else {
                            i.imm as i64 as u64
                        };
                        let taken = match op {
                            0x00 => true,
                            0x10 => a == b,
                            0x20 => a > b,
                            0x30 => a >= b,
                            0x40 => a & b != 0,
                            0x50 => a != b,
                            0x60 => (a as i64) > (b as i64),
                            0x70 => (a as i64) >= (b as i64),
                            0xa0 => a < b,
                            0xb0 => a <= b,
                            0xc0 => (a as i64) < (b as i64),
                            0xd0 => (a as i64) <= (b as i64),
                            op => panic!("jump op {op:#x}"),
                        };
                        if taken {
                            pc = (pc as i64 + i.off as i64) as usize;
                        }
                    }
                },
                c => panic!("instruction class {c:#x}"),
            }
            pc += 1;
        }
    }

    /// The bytes at `addr`: the context, the stack, the record or the
    /// lost counter, never anything else.
    fn region(&mut self, addr: u64, len: u64) -> &mut [u8] {
        let within = |base: u64, size: u64| addr >= base && addr + len <= base + size;
        if within(CTX, self.m.ctx.len() as u64) {
            panic!("the context is read-only: write at {addr:#x}");
        }
        if within(STACK, STACK_SIZE) {
            let at = (addr - STACK) as usize;
            return &mut self.stack[at..at + len as usize];
        }
        if let Some(rec) = &mut self.record {
            if within(RECORD, rec.len() as u64) {
                let at = (addr - RECORD) as usize;
                return &mut rec[at..at + len as usize];
            }
        }
        panic!("access of {len} bytes at {addr:#x} outside what the program may touch");
    }

    fn load(&mut self, addr: u64, size: u64) -> u64 {
        let bytes: Vec<u8> = if addr >= CTX && addr + size <= CTX + self.m.ctx.len() as u64 {
            let at = (addr - CTX) as usize;
            self.m.ctx[at..at + size as usize].to_vec()
        } else if addr >= LOST && addr + size <= LOST + 8 {
            self.lost.to_ne_bytes()[..size as usize].to_vec()
        } else {
            self.region(addr, size).to_vec()
        };
        let mut v = [0u8; 8];
        v[..size as usize].copy_from_slice(&bytes);
        u64::from_ne_bytes(v)
    }

    fn store(&mut self, addr: u64, size: u64, v: u64) {
        if addr >= LOST && addr + size <= LOST + 8 {
            self.lost = v;
            return;
        }
        let bytes = v.to_ne_bytes();
        self.region(addr, size)
            .copy_from_slice(&bytes[..size as usize]);
    }

    /// Memory the read helpers read: the machine's, or the context
    /// (tracepoint records are read by address too).
    fn read_outside(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        if addr >= CTX && addr + len as u64 <= CTX + self.m.ctx.len() as u64 {
            let at = (addr - CTX) as usize;
            return Some(self.m.ctx[at..at + len].to_vec());
        }
        self.m.memory.iter().find_map(|(base, bytes)| {
            (addr >= *base && addr + len as u64 <= base + bytes.len() as u64).then(|| {
                let at = (addr - base) as usize;
                bytes[at..at + len].to_vec()
            })
        })
    }

    fn write_out(&mut self, dst: u64, bytes: &[u8]) {
        self.region(dst, bytes.len() as u64).copy_from_slice(bytes);
    }

    fn call(&mut self, id: i32) {
        self.run.calls.push(id);
        let [_, a1, a2, a3, a4, _] = [0, 1, 2, 3, 4, 5].map(|r| self.regs[r]);
        let m = self.m;
        let r0 = match id {
            helper::MAP_LOOKUP_ELEM => {
                assert_eq!(
                    a1,
                    MAP + m.lost_map as u64,
                    "only the lost map is looked up"
                );
                assert_eq!(self.load(a2, 4), 0);
                LOST
            }
            helper::KTIME_GET_NS => 5_000,
            helper::GET_SMP_PROCESSOR_ID => m.cpu as u64,
            helper::GET_CURRENT_PID_TGID => (m.tgid as u64) << 32 | m.tid as u64,
            helper::GET_CURRENT_UID_GID => (m.gid as u64) << 32 | m.uid as u64,
            helper::GET_CURRENT_COMM => {
                let mut comm = m.comm.to_vec();
                comm.resize(a2 as usize, 0);
                comm[a2 as usize - 1] = 0;
                self.write_out(a1, &comm);
                0
            }
            helper::CURRENT_TASK_UNDER_CGROUP => m.under_cgroup as u64,
            helper::GET_STACK => {
                assert_eq!(a1, CTX);
                let frames: Vec<u8> = [0x1111u64, 0x2222 + a4]
                    .iter()
                    .flat_map(|f| f.to_ne_bytes())
                    .collect();
                // The room given must be in the record.
                self.write_out(a2, &vec![0; a3 as usize]);
                self.write_out(a2, &frames);
                self.run.stack_sizes.push(a3);
                16
            }
            helper::PROBE_READ_USER | helper::PROBE_READ_KERNEL => {
                let user = id == helper::PROBE_READ_USER;
                match self
                    .read_outside(a3, a2 as usize)
                    .filter(|_| readable(a3, user))
                {
                    Some(bytes) => {
                        self.write_out(a1, &bytes);
                        0
                    }
                    None => {
                        self.write_out(a1, &vec![0; a2 as usize]);
                        -14i64 as u64
                    }
                }
            }
            helper::PROBE_READ_USER_STR | helper::PROBE_READ_KERNEL_STR => {
                let user = id == helper::PROBE_READ_USER_STR;
                let mut out = vec![0u8; a2 as usize];
                let mut n = 0;
                let mut ok = readable(a3, user);
                while ok && n + 1 < out.len() {
                    match self.read_outside(a3 + n as u64, 1) {
                        Some(b) if b[0] != 0 => out[n] = b[0],
                        Some(_) => break,
                        None => ok = false,
                    }
                    n += 1;
                }
                self.write_out(a1, &out);
                if ok {
                    n as u64 + 1
                } else {
                    -14i64 as u64
                }
            }
            helper::RINGBUF_RESERVE => {
                assert_eq!(a1, MAP + m.events_map as u64);
                assert!(self.record.is_none(), "one record at a time");
                if m.full {
                    0
                } else {
                    self.record = Some(vec![0xaa; a2 as usize]);
                    RECORD
                }
            }
            helper::RINGBUF_SUBMIT => {
                assert_eq!(a1, RECORD);
                self.run
                    .records
                    .push(self.record.take().expect("a reserved record"));
                self.run.submit_flags.push(a2);
                0
            }
            helper::RINGBUF_QUERY => {
                assert_eq!(a1, MAP + m.events_map as u64);
                m.waiting
            }
            helper::GET_ATTACH_COOKIE => {
                assert_eq!(a1, CTX);
                m.cookie
            }
            helper::TAIL_CALL => {
                assert_eq!(a1, CTX);
                self.run.tail_calls.push((a2 - MAP, a3));
                0
            }
            other => panic!("helper {other}"),
        };
        self.regs[0] = r0;
        // Helpers clobber r1-r5.
        for r in 1..=5 {
            self.regs[r] = 0xdead_0000 + r as u64;
        }
    }
}

/// The kernel's helpers read user memory below the user top only, and
/// kernel memory above it (the context is kernel memory).
fn readable(addr: u64, user: bool) -> bool {
    let kernel_side = addr >= crate::arch::USER_TOP || (CTX..CTX + 0x1000).contains(&addr);
    user != kernel_side
}

fn size(code: u8) -> u64 {
    match code & 0x18 {
        0x10 => 1,
        0x08 => 2,
        0x00 => 4,
        _ => 8,
    }
}
