//! Names and types: turns parsed expressions into typed ones against what
//! the probe offers (its arguments, fields, return value), so that every
//! expression the grammar allows compiles to a program the verifier
//! takes, and any other is a one-line error naming its part.

use super::expr::{BinOp, CType, Expr, UnOp};
use super::fields::{Field, FieldKind};
use super::format::{Conv, Format};

/// An integer's width and sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Int {
    pub bytes: u8,
    pub signed: bool,
}

impl Int {
    pub const U64: Int = Int {
        bytes: 8,
        signed: false,
    };
    pub const U32: Int = Int {
        bytes: 4,
        signed: false,
    };
    pub const S64: Int = Int {
        bytes: 8,
        signed: true,
    };
    /// C's `int`.
    pub const S32: Int = Int {
        bytes: 4,
        signed: true,
    };

    /// C's integer promotions: a type narrower than `int` becomes `int`
    /// (which holds every value of theirs).
    pub fn promoted(self) -> Int {
        if self.bytes < 4 {
            Int::S32
        } else {
            self
        }
    }

    /// C's usual arithmetic conversions (LP64): the type two operands
    /// are brought to. Of two signs, the unsigned type wins unless the
    /// signed one is wider (and so holds all its values).
    pub fn common(a: Int, b: Int) -> Int {
        let (a, b) = (a.promoted(), b.promoted());
        if a.signed == b.signed {
            return if a.bytes >= b.bytes { a } else { b };
        }
        let (signed, unsigned) = if a.signed { (a, b) } else { (b, a) };
        if unsigned.bytes >= signed.bytes {
            unsigned
        } else {
            signed
        }
    }
}

/// Which memory a pointer points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mem {
    Kernel,
    User,
    /// Decided at run time by the address (the kernel's half of the
    /// address space or the user's): for kernel probes, whose pointers
    /// may be either (a syscall's `const char *filename` is a user one).
    ByAddress,
}

/// What the current task is, as helpers tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Task {
    /// `$pid`: the thread id (BCC's naming).
    Tid,
    /// `$tgid`: the process id.
    Tgid,
    Uid,
    Gid,
    Cpu,
}

/// A typed integer expression: what the code generator compiles.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TExpr {
    Const(u64),
    /// Argument `n` (0-based) of a function, raw tracepoint or USDT probe,
    /// from the probe's context.
    Arg {
        n: u8,
        ty: Int,
    },
    /// The return value (return probes).
    Ret {
        ty: Int,
    },
    /// A saved register of the probe's `struct pt_regs` (BCC's
    /// `ctx->REG`), at this offset.
    Reg(u16),
    /// A tracepoint field in the record.
    Field {
        offset: u16,
        ty: Int,
    },
    Task(Task),
    /// What `addr` points to.
    Load {
        addr: Box<TExpr>,
        ty: Int,
        mem: Mem,
    },
    Unary(UnOp, Box<TExpr>),
    Binary {
        op: BinOp,
        left: Box<TExpr>,
        right: Box<TExpr>,
        /// Signed comparison, division and right shift.
        signed: bool,
    },
    /// Truncated to `ty`'s width and extended back by its sign.
    Convert {
        e: Box<TExpr>,
        ty: Int,
    },
    /// `c ? yes : no`.
    Cond {
        c: Box<TExpr>,
        yes: Box<TExpr>,
        no: Box<TExpr>,
    },
    /// 1 if the string equals `lit`, else 0; with `bytes` (BCC's `-B`)
    /// 1 if the memory starts with exactly the bytes of `lit`, read as
    /// they are (NULs included), not as a string.
    StrEq {
        s: Str,
        lit: Vec<u8>,
        bytes: bool,
    },
}

impl TExpr {
    /// Whether it reads the probe's saved registers (`ctx->REG`), which
    /// only kprobes and uprobes have.
    pub fn reads_registers(&self) -> bool {
        self.any(&|e| matches!(e, TExpr::Reg(_)), &|_| false)
    }

    /// Whether it reads the tracepoint's record (`args->FIELD`), which
    /// only a tracepoint's own (perf) program is handed.
    pub fn reads_record(&self) -> bool {
        self.any(&|e| matches!(e, TExpr::Field { .. }), &Str::in_record)
    }

    /// Whether `node` holds for this expression or any part of it, or
    /// `string` for a string it compares.
    fn any(&self, node: &dyn Fn(&TExpr) -> bool, string: &dyn Fn(&Str) -> bool) -> bool {
        node(self)
            || match self {
                TExpr::Const(_)
                | TExpr::Arg { .. }
                | TExpr::Ret { .. }
                | TExpr::Reg(_)
                | TExpr::Field { .. }
                | TExpr::Task(_) => false,
                TExpr::Load { addr: e, .. } | TExpr::Unary(_, e) | TExpr::Convert { e, .. } => {
                    e.any(node, string)
                }
                TExpr::Binary { left, right, .. } => {
                    left.any(node, string) || right.any(node, string)
                }
                TExpr::Cond { c, yes, no } => {
                    c.any(node, string) || yes.any(node, string) || no.any(node, string)
                }
                TExpr::StrEq { s, .. } => s.any(node, string),
            }
    }
}

impl Str {
    fn any(&self, node: &dyn Fn(&TExpr) -> bool, string: &dyn Fn(&Str) -> bool) -> bool {
        string(self) || matches!(self, Str::At(e, _) if e.any(node, string))
    }

    fn in_record(&self) -> bool {
        matches!(self, Str::InRecord { .. } | Str::DataLoc { .. })
    }
}

impl Value {
    /// See [`TExpr::reads_registers`].
    pub fn reads_registers(&self) -> bool {
        self.any(&|e| matches!(e, TExpr::Reg(_)), &|_| false)
    }

    /// See [`TExpr::reads_record`].
    pub fn reads_record(&self) -> bool {
        self.any(&|e| matches!(e, TExpr::Field { .. }), &Str::in_record)
    }

    fn any(&self, node: &dyn Fn(&TExpr) -> bool, string: &dyn Fn(&Str) -> bool) -> bool {
        match self {
            Value::Num(e) => e.any(node, string),
            Value::Str(s) => s.any(node, string),
        }
    }
}

/// Where a string is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Str {
    /// NUL-terminated, at the address `e` computes.
    At(Box<TExpr>, Mem),
    /// `$comm`: the task's command.
    Comm,
    /// A `char name[len]` field in the tracepoint's record.
    InRecord { offset: u16, len: u16 },
    /// A `__data_loc char[]` field: the record says where.
    DataLoc { offset: u16 },
}

/// A value of the format: a number or a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Num(TExpr),
    Str(Str),
}

/// BCC's `-B` byte list, `{0x6c, 0, 'a', -1}`: each item a C integer or
/// character constant of one byte. None for a literal that is no list
/// (it compares as a string).
fn byte_list(lit: &[u8]) -> Option<Result<Vec<u8>, String>> {
    let text = std::str::from_utf8(lit).ok()?.trim();
    let inner = text.strip_prefix('{')?.strip_suffix('}')?;
    let byte = |item: &str| -> Result<u8, String> {
        let item = item.trim();
        let bad = || {
            format!(
                "'{item}' in the byte list of STRCMP is not a byte: give C constants from -128 \
                 to 255, as in STRCMP(\"{{0x6c, 0, 0, 0}}\", arg4)"
            )
        };
        let (negative, digits) = match item.strip_prefix('-') {
            Some(rest) => (true, rest.trim_start()),
            None => (false, item),
        };
        let value: i64 =
            if let Some(c) = digits.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
                match c.as_bytes() {
                    [b] if *b != b'\\' => i64::from(*b),
                    _ => return Err(bad()),
                }
            } else if let Some(hex) = digits
                .strip_prefix("0x")
                .or_else(|| digits.strip_prefix("0X"))
            {
                i64::from_str_radix(hex, 16).map_err(|_| bad())?
            } else if digits.len() > 1 && digits.starts_with('0') {
                i64::from_str_radix(&digits[1..], 8).map_err(|_| bad())?
            } else {
                digits.parse().map_err(|_| bad())?
            };
        let value = if negative { -value } else { value };
        match value {
            0..=255 => Ok(value as u8),
            -128..=-1 => Ok(value as i8 as u8),
            _ => Err(bad()),
        }
    };
    if inner.trim().is_empty() {
        return Some(Err(
            "STRCMP's byte list is empty: give at least one byte, as in STRCMP(\"{0x6c}\", arg4)"
                .into(),
        ));
    }
    Some(inner.split(',').map(byte).collect())
}

/// What a probe's expressions may name.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    pub site: Site<'a>,
    /// A return probe: `retval` is there.
    pub ret: bool,
    /// Arguments named by a signature or the kernel's BTF.
    pub params: &'a [Param],
    /// BCC's `-B`: STRCMP's literal may be a list of bytes,
    /// `STRCMP("{0x6c, 0, 0, 0}", arg4)`.
    pub byte_lists: bool,
}

#[derive(Debug, Clone)]
pub enum Site<'a> {
    /// A kernel function; `syscall`: a syscall's entry point, whose
    /// arguments are in the registers its one argument points to.
    KernelFunction {
        syscall: bool,
    },
    UserFunction,
    Tracepoint(&'a [Field]),
    RawTracepoint,
    /// A USDT probe with arguments of these types.
    Usdt(&'a [Int]),
}

/// An argument with a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    /// 0-based.
    pub index: u8,
    pub ty: ParamType,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamType {
    Int(Int),
    /// `char *`: a string.
    CharPtr,
    /// Another pointer: a number.
    Ptr,
    /// A type a signature names that trace does not know by itself (a
    /// kernel typedef such as `ktime_t`, `enum pid_type`): at a kernel
    /// function the kernel's BTF says what it is; elsewhere it is refused.
    Named(String),
}

/// The most arguments a function probe reads (the registers of the
/// calling convention).
pub const MAX_ARGS: u8 = 6;

/// What an expression is before it is used: a number of a C type, a
/// pointer (a number that `%s` and `str()` read a string at, and `*`
/// reads a `to` at) or a string.
///
/// Numbers are kept in 64-bit registers as their type's value extended
/// by its sign, so that 64-bit comparisons, divisions and right shifts
/// give the type's answer; what can leave a narrower type's range (a sum,
/// a product, a left shift, a negation) is truncated back to it.
#[derive(Debug, Clone)]
enum Typed {
    Int(TExpr, Int),
    Ptr {
        e: TExpr,
        mem: Mem,
        to: Int,
    },
    Str(Str),
    /// A string literal.
    Lit(Vec<u8>),
}

/// The typed predicate, or an error naming the part of it at fault.
pub fn predicate(text: &str, scope: &Scope<'_>) -> Result<TExpr, String> {
    let e = super::expr::parse(text).map_err(|e| e.message)?;
    let c = Checker { scope };
    let typed = c.check(&e)?;
    c.number(typed, text)
}

/// The typed values for `format`'s conversions, one per argument.
pub fn values(format: &Format, args: &[String], scope: &Scope<'_>) -> Result<Vec<Value>, String> {
    let convs: Vec<&Conv> = format.convs().collect();
    if convs.len() != args.len() {
        return Err(format!(
            "the format has {} conversion(s) but {} argument(s) follow it: give one argument \
             per %",
            convs.len(),
            args.len()
        ));
    }
    let c = Checker { scope };
    convs
        .iter()
        .zip(args)
        .map(|(conv, text)| {
            let e = super::expr::parse(text).map_err(|e| e.message)?;
            let typed = c.check(&e)?;
            if conv.kind.wants_string() {
                c.string(typed, text).map(Value::Str)
            } else if let Typed::Str(_) | Typed::Lit(_) = typed {
                Err(format!(
                    "'{text}' is a string: print it with %s, not a number conversion"
                ))
            } else {
                c.number(typed, text).map(Value::Num)
            }
        })
        .collect()
}

struct Checker<'a, 'b> {
    scope: &'b Scope<'a>,
}

impl Checker<'_, '_> {
    /// Strings are read from the memory the probe's pointers are in.
    fn default_mem(&self) -> Mem {
        match self.scope.site {
            Site::UserFunction | Site::Usdt(_) => Mem::User,
            _ => Mem::ByAddress,
        }
    }

    fn number(&self, typed: Typed, text: &str) -> Result<TExpr, String> {
        match typed {
            Typed::Int(e, _) | Typed::Ptr { e, .. } => Ok(e),
            Typed::Str(_) | Typed::Lit(_) => Err(format!(
                "'{}' is a string where a number is needed: compare strings with == or != \
                 against a literal, or STRCMP(\"lit\", e)",
                super::probe_text::snippet(text)
            )),
        }
    }

    fn string(&self, typed: Typed, text: &str) -> Result<Str, String> {
        match typed {
            Typed::Str(s) => Ok(s),
            Typed::Ptr { e, mem, .. } => Ok(Str::At(Box::new(e), mem)),
            Typed::Int(e, _) => Ok(Str::At(Box::new(e), self.default_mem())),
            Typed::Lit(_) => Err(format!(
                "'{}' is a literal: put it in the format itself",
                super::probe_text::snippet(text)
            )),
        }
    }

    fn check(&self, e: &Expr) -> Result<Typed, String> {
        match e {
            Expr::Num(n) => Ok(Typed::Int(TExpr::Const(*n), decimal_type(*n))),
            Expr::TypedNum(n, ty) => Ok(Typed::Int(TExpr::Const(*n), *ty)),
            Expr::Str(s) => Ok(Typed::Lit(s.as_bytes().to_vec())),
            Expr::Name(name) => self.name(name),
            Expr::Member(base, field) => self.member(base, field),
            Expr::User(inner) => match self.check(inner)? {
                Typed::Int(e, _) => Ok(Typed::Ptr {
                    e,
                    mem: Mem::User,
                    to: Int::U64,
                }),
                Typed::Ptr { e, to, .. } => Ok(Typed::Ptr {
                    e,
                    mem: Mem::User,
                    to,
                }),
                _ => Err("@user goes after a pointer, e.g. arg2@user".into()),
            },
            Expr::Cast(ty, inner) => self.cast(*ty, inner),
            Expr::Unary(op, inner) => self.unary(*op, inner),
            Expr::Binary(op, l, r) => self.binary(*op, l, r),
            Expr::Cond(c, yes, no) => self.conditional(c, yes, no),
            Expr::Call(name, args) => self.call(name, args),
        }
    }

    /// A number's C type; a pointer is an `unsigned long`.
    fn type_of(&self, typed: &Typed) -> Int {
        match typed {
            Typed::Int(_, ty) => *ty,
            _ => Int::U64,
        }
    }

    /// `typed` as a number of type `to`, converted as C converts.
    fn converted(&self, typed: Typed, to: Int, text: &Expr) -> Result<TExpr, String> {
        let from = self.type_of(&typed).promoted();
        let e = self.number(typed, &describe(text))?;
        Ok(if from != to && to.bytes < 8 {
            TExpr::Convert {
                e: Box::new(e),
                ty: to,
            }
        } else {
            // A value extended by its sign to 64 bits already reads as
            // C converts it to a 64-bit type.
            e
        })
    }

    fn cast(&self, ty: CType, inner: &Expr) -> Result<Typed, String> {
        let typed = self.check(inner)?;
        let mem = match &typed {
            Typed::Ptr { mem, .. } => *mem,
            _ => self.default_mem(),
        };
        let e = self.number(typed, &describe(inner))?;
        Ok(match ty {
            CType::CharPtr => Typed::Ptr { e, mem, to: CHAR },
            CType::Ptr(to) => Typed::Ptr { e, mem, to },
            CType::Int { bytes, signed } => {
                let ty = Int { bytes, signed };
                Typed::Int(TExpr::Convert { e: Box::new(e), ty }, ty)
            }
            CType::Bool => Typed::Int(
                TExpr::Binary {
                    op: BinOp::Ne,
                    left: Box::new(e),
                    right: Box::new(TExpr::Const(0)),
                    signed: false,
                },
                BOOL,
            ),
        })
    }

    fn unary(&self, op: UnOp, inner: &Expr) -> Result<Typed, String> {
        let typed = self.check(inner)?;
        let ty = self.type_of(&typed).promoted();
        match op {
            UnOp::Deref => {
                let (mem, to) = match &typed {
                    Typed::Ptr { mem, to, .. } => (*mem, *to),
                    // Not a pointer in C; rtools reads 8 bytes there.
                    _ => (self.default_mem(), Int::U64),
                };
                let addr = self.number(typed, &describe(inner))?;
                let load = TExpr::Load {
                    addr: Box::new(addr),
                    ty: to,
                    mem,
                };
                Ok(Typed::Int(load, to))
            }
            UnOp::Not => {
                let e = self.number(typed, &describe(inner))?;
                Ok(Typed::Int(TExpr::Unary(op, Box::new(e)), Int::S32))
            }
            UnOp::Neg | UnOp::BitNot => {
                let e = self.converted(typed, ty, inner)?;
                Ok(Typed::Int(within(TExpr::Unary(op, Box::new(e)), ty), ty))
            }
        }
    }

    fn binary(&self, op: BinOp, l: &Expr, r: &Expr) -> Result<Typed, String> {
        let (lt, rt) = (self.check(l)?, self.check(r)?);
        if matches!(op, BinOp::Eq | BinOp::Ne) {
            let strings = match (&lt, &rt) {
                (Typed::Lit(lit), other) | (other, Typed::Lit(lit)) => {
                    Some((lit.clone(), other.clone()))
                }
                _ => None,
            };
            if let Some((lit, other)) = strings {
                let other_text = if matches!(lt, Typed::Lit(_)) { r } else { l };
                let s = self.string(other, &describe(other_text))?;
                let eq = TExpr::StrEq {
                    s,
                    lit,
                    bytes: false,
                };
                let e = if op == BinOp::Eq {
                    eq
                } else {
                    TExpr::Unary(UnOp::Not, Box::new(eq))
                };
                return Ok(Typed::Int(e, Int::S32));
            }
        }
        let (lty, rty) = (self.type_of(&lt), self.type_of(&rt));
        let binary = |left, right, signed| TExpr::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
            signed,
        };
        match op {
            // Each side is a truth value of its own type.
            BinOp::And | BinOp::Or => {
                let left = self.number(lt, &describe(l))?;
                let right = self.number(rt, &describe(r))?;
                Ok(Typed::Int(binary(left, right, false), Int::S32))
            }
            // The left side's promoted type; the count is its own.
            BinOp::Shl | BinOp::Shr => {
                let ty = lty.promoted();
                if let Expr::Num(n) | Expr::TypedNum(n, _) = r {
                    if *n >= 8 * ty.bytes as u64 {
                        return Err(format!(
                            "a shift by {n} is past the {} bits of the left side's type: C \
                             leaves it undefined (shift by 0 to {})",
                            8 * ty.bytes,
                            8 * ty.bytes - 1
                        ));
                    }
                }
                let left = self.converted(lt, ty, l)?;
                let right = self.number(rt, &describe(r))?;
                let e = binary(left, right, ty.signed);
                Ok(Typed::Int(
                    if op == BinOp::Shl { within(e, ty) } else { e },
                    ty,
                ))
            }
            _ => {
                let ty = Int::common(lty, rty);
                let left = self.converted(lt, ty, l)?;
                let right = self.converted(rt, ty, r)?;
                let e = binary(left, right, ty.signed);
                if op.is_comparison() {
                    Ok(Typed::Int(e, Int::S32))
                } else {
                    Ok(Typed::Int(within(e, ty), ty))
                }
            }
        }
    }

    fn conditional(&self, c: &Expr, yes: &Expr, no: &Expr) -> Result<Typed, String> {
        let ct = self.check(c)?;
        let (yt, nt) = (self.check(yes)?, self.check(no)?);
        let ty = Int::common(self.type_of(&yt), self.type_of(&nt));
        let e = TExpr::Cond {
            c: Box::new(self.number(ct, &describe(c))?),
            yes: Box::new(self.converted(yt, ty, yes)?),
            no: Box::new(self.converted(nt, ty, no)?),
        };
        Ok(Typed::Int(e, ty))
    }

    fn call(&self, name: &str, args: &[Expr]) -> Result<Typed, String> {
        match (name, args) {
            ("STRCMP", [lit, other]) => {
                let Typed::Lit(lit) = self.check(lit)? else {
                    return Err(
                        "STRCMP's first argument is a string literal: STRCMP(\"bash\", $comm)"
                            .into(),
                    );
                };
                let s = self.string(self.check(other)?, &describe(other))?;
                let list = self.scope.byte_lists.then(|| byte_list(&lit)).flatten();
                let e = match list {
                    Some(list) => TExpr::StrEq {
                        s,
                        lit: list?,
                        bytes: true,
                    },
                    None => TExpr::StrEq {
                        s,
                        lit,
                        bytes: false,
                    },
                };
                Ok(Typed::Int(e, Int::S32))
            }
            ("str", [inner]) => Ok(Typed::Str(
                self.string(self.check(inner)?, &describe(inner))?,
            )),
            ("STRCMP" | "str", _) => Err(format!(
                "{name}() takes {}: {name}({})",
                if name == "str" {
                    "one argument"
                } else {
                    "two arguments"
                },
                if name == "str" {
                    "arg1"
                } else {
                    "\"lit\", arg1"
                }
            )),
            _ => Err(format!(
                "unknown function '{name}()': trace knows STRCMP(\"lit\", e) and str(e)"
            )),
        }
    }

    fn name(&self, name: &str) -> Result<Typed, String> {
        // As BCC spells them: $pid and $tgid from the 64-bit pid_tgid,
        // $uid, $gid and $cpu unsigned ints.
        let task = |t| {
            let ty = match t {
                Task::Tid | Task::Tgid => Int::U64,
                Task::Uid | Task::Gid | Task::Cpu => Int::U32,
            };
            Ok(Typed::Int(TExpr::Task(t), ty))
        };
        match name {
            "$pid" => return task(Task::Tid),
            "$tgid" => return task(Task::Tgid),
            "$uid" => return task(Task::Uid),
            "$gid" => return task(Task::Gid),
            "$cpu" => return task(Task::Cpu),
            "$comm" => return Ok(Typed::Str(Str::Comm)),
            "retval" if self.scope.ret => {
                return Ok(Typed::Int(TExpr::Ret { ty: Int::U64 }, Int::U64))
            }
            "retval" => {
                return Err(
                    "retval is there only at a return probe: use r:LIB:FUNC or r::FUNC".into(),
                )
            }
            "args" if matches!(self.scope.site, Site::Tracepoint(_)) => {
                return Err("args names the record: read a field, args->NAME".into())
            }
            _ => {}
        }
        if let Some(p) = self.scope.params.iter().find(|p| p.name == name) {
            return self.param(p);
        }
        if let Some(n) = name
            .strip_prefix("arg")
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|&n| n >= 1)
        {
            return self.arg(n);
        }
        Err(format!(
            "unknown name '{name}': use arg1..arg{MAX_ARGS}, retval, $pid, $tgid, $uid, $gid, \
             $cpu, $comm{}",
            match self.scope.site {
                Site::Tracepoint(_) => ", or args->FIELD (the tracepoint's format file lists them)",
                Site::KernelFunction { .. } => ", or the function's parameter names (from BTF)",
                _ => "",
            }
        ))
    }

    fn param(&self, p: &Param) -> Result<Typed, String> {
        let e = self.arg_expr(p.index, Int::U64);
        Ok(match &p.ty {
            &ParamType::Int(ty) => Typed::Int(TExpr::Convert { e: Box::new(e), ty }, ty),
            ParamType::CharPtr => Typed::Ptr {
                e,
                mem: self.default_mem(),
                to: CHAR,
            },
            ParamType::Ptr => Typed::Int(e, Int::U64),
            ParamType::Named(ty) => {
                return Err(format!(
                    "parameter '{}': type '{ty}' is not one trace knows (integers, char * and \
                     pointers; at a kernel function, the types its BTF names){}",
                    p.name,
                    match self.scope.site {
                        Site::KernelFunction { .. } => ": this kernel's BTF has no such type",
                        _ => "",
                    }
                ))
            }
        })
    }

    /// `argN` (1-based, as BCC numbers them).
    fn arg(&self, n: u8) -> Result<Typed, String> {
        match self.scope.site {
            Site::Tracepoint(_) => Err(format!(
                "arg{n}: tracepoints have fields, not arguments: use args->FIELD"
            )),
            Site::Usdt(types) => match types.get(n as usize - 1) {
                Some(&ty) => Ok(Typed::Int(TExpr::Arg { n: n - 1, ty }, ty)),
                None => Err(format!(
                    "arg{n}: this USDT probe has {} argument(s)",
                    types.len()
                )),
            },
            _ if n > MAX_ARGS => Err(format!(
                "arg{n}: functions' arguments are arg1 to arg{MAX_ARGS}"
            )),
            _ => Ok(Typed::Int(self.arg_expr(n - 1, Int::U64), Int::U64)),
        }
    }

    /// Argument `n` (0-based) as the probe's context holds it: a syscall's
    /// are in the registers its entry point's one argument points to.
    fn arg_expr(&self, n: u8, ty: Int) -> TExpr {
        match self.scope.site {
            Site::KernelFunction { syscall: true } => TExpr::Load {
                addr: Box::new(TExpr::Binary {
                    op: BinOp::Add,
                    left: Box::new(TExpr::Arg { n: 0, ty: Int::U64 }),
                    right: Box::new(TExpr::Const(crate::arch::ARG_REGS[n as usize] as u64)),
                    signed: false,
                }),
                ty,
                mem: Mem::Kernel,
            },
            _ => TExpr::Arg { n, ty },
        }
    }

    fn member(&self, base: &Expr, field: &str) -> Result<Typed, String> {
        let regs = matches!(
            self.scope.site,
            Site::KernelFunction { .. } | Site::UserFunction | Site::Usdt(_)
        );
        if let (Expr::Name(b), true) = (base, regs) {
            if b == "ctx" {
                let offset = crate::arch::pt_regs_field(field).ok_or_else(|| {
                    format!(
                        "ctx->{field}: no such register: ctx names the probe's saved registers \
                         ({})",
                        crate::arch::PT_REGS_FIELDS
                    )
                })?;
                return Ok(Typed::Int(TExpr::Reg(offset), Int::U64));
            }
        }
        let (Expr::Name(b), Site::Tracepoint(fields)) = (base, &self.scope.site) else {
            return Err(format!(
                "'{}->{field}': fields are read from a tracepoint's args (args->NAME); \
                 struct members are not known here",
                describe(base)
            ));
        };
        if b != "args" {
            return Err(format!(
                "'{b}->{field}': a tracepoint's fields are args->NAME"
            ));
        }
        let Some(f) = fields.iter().find(|f| f.name == field) else {
            let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
            return Err(format!(
                "no field '{field}' in this tracepoint: it has {}",
                names.join(", ")
            ));
        };
        let int = Int {
            bytes: f.size as u8,
            signed: f.signed,
        };
        match f.kind {
            FieldKind::Int => Ok(Typed::Int(
                TExpr::Field {
                    offset: f.offset,
                    ty: int,
                },
                int,
            )),
            FieldKind::CharPtr => Ok(Typed::Ptr {
                e: TExpr::Field {
                    offset: f.offset,
                    ty: Int::U64,
                },
                mem: self.default_mem(),
                to: CHAR,
            }),
            FieldKind::CharArray => Ok(Typed::Str(Str::InRecord {
                offset: f.offset,
                len: f.size,
            })),
            FieldKind::DataLoc => Ok(Typed::Str(Str::DataLoc { offset: f.offset })),
            FieldKind::Other => Err(format!(
                "args->{field} is not a number or a string (an array or struct): trace reads \
                 neither"
            )),
        }
    }
}

/// C's `char`, whose sign the architecture's ABI decides.
const CHAR: Int = Int {
    bytes: 1,
    signed: crate::arch::CHAR_SIGNED,
};

/// `bool`: promoted to int like an unsigned char.
const BOOL: Int = Int {
    bytes: 1,
    signed: false,
};

/// The C type of an unsuffixed decimal literal: the first of int and
/// long that holds it (gcc takes a larger one as unsigned long).
fn decimal_type(n: u64) -> Int {
    if n <= i32::MAX as u64 {
        Int::S32
    } else if n <= i64::MAX as u64 {
        Int::S64
    } else {
        Int::U64
    }
}

/// `e` of type `ty`, brought back into `ty`'s range where it is narrower
/// than the 64-bit registers it is computed in (C's wrap of unsigned
/// int arithmetic; int overflow wraps as gcc's -fwrapv does).
fn within(e: TExpr, ty: Int) -> TExpr {
    if ty.bytes < 8 {
        TExpr::Convert { e: Box::new(e), ty }
    } else {
        e
    }
}

/// An expression as text, for messages.
fn describe(e: &Expr) -> String {
    match e {
        Expr::Str(s) => format!("\"{s}\""),
        Expr::Name(n) => n.clone(),
        Expr::Member(b, f) => format!("{}->{f}", describe(b)),
        Expr::Call(name, _) => format!("{name}(...)"),
        _ => "the expression".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{fields, format};
    use super::*;

    fn scope(site: Site<'_>) -> Scope<'_> {
        Scope {
            site,
            ret: false,
            params: &[],
            byte_lists: false,
        }
    }

    fn user() -> Scope<'static> {
        scope(Site::UserFunction)
    }

    #[test]
    fn predicates_type_their_names() {
        let e = predicate("arg1 % 7 == 0", &user()).unwrap();
        assert_eq!(
            e,
            TExpr::Binary {
                op: BinOp::Eq,
                left: Box::new(TExpr::Binary {
                    op: BinOp::Mod,
                    left: Box::new(TExpr::Arg { n: 0, ty: Int::U64 }),
                    right: Box::new(TExpr::Const(7)),
                    signed: false,
                }),
                right: Box::new(TExpr::Const(0)),
                signed: false,
            }
        );
        // Signed only when both sides are.
        let TExpr::Binary { signed, .. } = predicate("(int)arg1 < -1", &user()).unwrap() else {
            panic!()
        };
        assert!(signed);
        assert_eq!(predicate("$pid", &user()).unwrap(), TExpr::Task(Task::Tid));
    }

    /// Which expressions read the saved registers: compile.rs leaves
    /// fentry out for them.
    #[test]
    fn register_reads_are_found_anywhere_in_an_expression() {
        let reads = |text: &str| predicate(text, &user()).unwrap().reads_registers();
        for text in [
            "ctx->dx",
            "-ctx->dx",
            "(int)ctx->ax",
            "1 + ctx->si",
            "ctx->si + 1",
            "arg1 ? ctx->di : 0",
            "arg1 ? 0 : ctx->di",
            "ctx->di ? 0 : 1",
            "*(int *)ctx->sp",
            "STRCMP(\"x\", ctx->di)",
        ] {
            assert!(reads(text), "{text}");
        }
        for text in [
            "arg1 + 2",
            "$pid",
            "arg2 == 0",
            "STRCMP(\"x\", arg1)",
            "str($comm) == \"a\"",
        ] {
            assert!(!reads(text), "{text}");
        }
        let values = |v: Value| v.reads_registers();
        assert!(values(Value::Num(TExpr::Reg(96))));
        assert!(values(Value::Str(Str::At(
            Box::new(TExpr::Reg(96)),
            Mem::User
        ))));
        assert!(!values(Value::Str(Str::Comm)));
        assert!(!values(Value::Num(TExpr::Const(1))));
    }

    /// Issue 25: `arg1 << 64` reached the verifier ("invalid shift 64")
    /// and the user as "Invalid argument".
    #[test]
    fn constant_shifts_past_the_types_width_are_refused() {
        for (text, bits) in [
            ("arg1 << 64", 64),
            ("arg1 >> 0xffffffffffffffff", 64),
            ("(int)arg1 << 32", 32),
            ("1 << 40", 32),
        ] {
            let err = predicate(text, &user()).unwrap_err();
            assert!(
                err.contains(&format!("past the {bits} bits")) && err.contains("undefined"),
                "{text}: {err}"
            );
        }
        assert!(predicate("arg1 << 63", &user()).is_ok());
        assert!(predicate("1L << 40", &user()).is_ok());
    }

    #[test]
    fn strings_compare_with_literals() {
        let eq = predicate(r#"$comm == "bash""#, &user()).unwrap();
        assert_eq!(
            eq,
            TExpr::StrEq {
                s: Str::Comm,
                lit: b"bash".to_vec(),
                bytes: false,
            }
        );
        let ne = predicate(r#""x" != str(arg2)"#, &user()).unwrap();
        assert_eq!(
            ne,
            TExpr::Unary(
                UnOp::Not,
                Box::new(TExpr::StrEq {
                    s: Str::At(Box::new(TExpr::Arg { n: 1, ty: Int::U64 }), Mem::User),
                    lit: b"x".to_vec(),
                    bytes: false,
                })
            )
        );
        let strcmp = predicate(
            r#"STRCMP("a", arg1@user)"#,
            &scope(Site::KernelFunction { syscall: false }),
        )
        .unwrap();
        assert_eq!(
            strcmp,
            TExpr::StrEq {
                s: Str::At(Box::new(TExpr::Arg { n: 0, ty: Int::U64 }), Mem::User),
                lit: b"a".to_vec(),
                bytes: false,
            }
        );
    }

    /// BCC's `-B`: STRCMP's literal is a C list of bytes; without -B the
    /// same text is a string.
    #[test]
    fn byte_lists_of_strcmp_under_dash_b() {
        let k = Scope {
            byte_lists: true,
            ..scope(Site::KernelFunction { syscall: false })
        };
        let list = predicate(
            r#"STRCMP("{0x6C,0x00, 0, 010, 'a', -1, 255, -128, 0XfF}", arg4)"#,
            &k,
        );
        assert_eq!(
            list.unwrap(),
            TExpr::StrEq {
                s: Str::At(Box::new(TExpr::Arg { n: 3, ty: Int::U64 }), Mem::ByAddress),
                lit: vec![0x6c, 0, 0, 8, b'a', 0xff, 0xff, 0x80, 0xff],
                bytes: true,
            }
        );
        // A literal that is no list stays a string.
        let TExpr::StrEq { bytes, .. } = predicate(r#"STRCMP("ab", arg4)"#, &k).unwrap() else {
            panic!()
        };
        assert!(!bytes);
        let plain = scope(Site::KernelFunction { syscall: false });
        let TExpr::StrEq { lit, bytes, .. } =
            predicate(r#"STRCMP("{0x6C}", arg4)"#, &plain).unwrap()
        else {
            panic!()
        };
        assert_eq!((lit, bytes), (b"{0x6C}".to_vec(), false));
        for (bad, needle) in [
            ("{256}", "'256' in the byte list of STRCMP is not a byte"),
            ("{-129}", "'-129' in the byte list"),
            ("{0x6c,,1}", "'' in the byte list"),
            ("{x}", "'x' in the byte list"),
            ("{'\\\\'}", "''\\'' in the byte list"),
            ("{''}", "'''' in the byte list"),
            ("{'ab'}", "''ab'' in the byte list"),
            ("{09}", "'09' in the byte list"),
            ("{}", "STRCMP's byte list is empty"),
        ] {
            let e = predicate(&format!("STRCMP(\"{bad}\", arg4)"), &k).unwrap_err();
            assert!(e.starts_with(needle), "{bad}: {e}");
        }
    }

    /// Issue 25: a tracepoint probe that reads none of its record
    /// attaches as a raw tracepoint (a link that detaches at once), so
    /// every way of reading the record must be found.
    #[test]
    fn record_reads_are_found_anywhere_in_a_probe() {
        let f = fields::parse(
            "\tfield:int nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:const char * name;\toffset:16;\tsize:8;\tsigned:0;
\tfield:__data_loc char[] path;\toffset:24;\tsize:4;\tsigned:0;
\tfield:char comm[16];\toffset:28;\tsize:16;\tsigned:0;",
        );
        let s = scope(Site::Tracepoint(&f));
        let reads = |text: &str| predicate(text, &s).unwrap().reads_record();
        for text in [
            "args->nr",
            "-args->nr == 1",
            "$pid ? 0 : args->nr",
            "*(char *)args->name",
            "STRCMP(\"x\", args->name)",
            "STRCMP(\"x\", args->path)",
            "args->comm == \"x\"",
        ] {
            assert!(reads(text), "{text}");
        }
        for text in ["$pid == 1", "str($comm) == \"a\"", "$uid + 1"] {
            assert!(!reads(text), "{text}");
        }
        let fmt = format::parse("%s %s %d %s").unwrap();
        let value = |arg: &str, at: usize| {
            let mut args = vec![
                "$comm".to_string(),
                "$comm".into(),
                "1".into(),
                "$comm".into(),
            ];
            args[at] = arg.into();
            values(&fmt, &args, &s).unwrap()[at].reads_record()
        };
        assert!(value("args->path", 0));
        assert!(value("args->comm", 1));
        assert!(value("args->nr", 2));
        assert!(value("args->name", 3));
        assert!(!value("$comm", 0));
        assert!(!value("$pid", 2));
    }

    #[test]
    fn tracepoint_fields() {
        let f = fields::parse(
            "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
\tfield:__data_loc char[] path;\toffset:32;\tsize:4;\tsigned:0;
\tfield:char comm[16];\toffset:36;\tsize:16;\tsigned:0;
\tfield:unsigned long args[6];\toffset:56;\tsize:48;\tsigned:0;",
        );
        let s = scope(Site::Tracepoint(&f));
        assert_eq!(
            predicate("args->__syscall_nr > 3", &s).unwrap(),
            TExpr::Binary {
                op: BinOp::Gt,
                left: Box::new(TExpr::Field {
                    offset: 8,
                    ty: Int {
                        bytes: 4,
                        signed: true
                    }
                }),
                right: Box::new(TExpr::Const(3)),
                signed: true,
            }
        );
        let fmt = format::parse("%s %s %s %d").unwrap();
        let args: Vec<String> = [
            "args->filename",
            "args->path",
            "args->comm",
            "args->__syscall_nr",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let v = values(&fmt, &args, &s).unwrap();
        assert_eq!(
            v[0],
            Value::Str(Str::At(
                Box::new(TExpr::Field {
                    offset: 24,
                    ty: Int::U64
                }),
                Mem::ByAddress
            ))
        );
        assert_eq!(v[1], Value::Str(Str::DataLoc { offset: 32 }));
        assert_eq!(
            v[2],
            Value::Str(Str::InRecord {
                offset: 36,
                len: 16
            })
        );
        let err = |t: &str| predicate(t, &s).unwrap_err();
        assert!(
            err("args->nope").contains("no field 'nope'"),
            "{}",
            err("args->nope")
        );
        assert!(err("args->nope").contains("__syscall_nr, filename"));
        assert!(err("args->args").contains("not a number or a string"));
        assert!(err("arg1").contains("tracepoints have fields"));
        assert!(err("args").contains("args->NAME"));
        assert!(err("foo->bar").contains("args->NAME"));
    }

    #[test]
    fn usdt_arguments_have_their_specs_types() {
        let types = [
            Int {
                bytes: 4,
                signed: true,
            },
            Int::U64,
        ];
        let s = scope(Site::Usdt(&types));
        assert_eq!(
            predicate("arg1", &s).unwrap(),
            TExpr::Arg {
                n: 0,
                ty: Int {
                    bytes: 4,
                    signed: true
                }
            }
        );
        assert!(predicate("arg3", &s)
            .unwrap_err()
            .contains("has 2 argument(s)"));
    }

    #[test]
    fn parameters_by_name_and_syscall_arguments() {
        let params = [
            Param {
                name: "fd".into(),
                index: 0,
                ty: ParamType::Int(Int {
                    bytes: 4,
                    signed: true,
                }),
            },
            Param {
                name: "filename".into(),
                index: 1,
                ty: ParamType::CharPtr,
            },
        ];
        let s = Scope {
            site: Site::KernelFunction { syscall: false },
            ret: true,
            params: &params,
            byte_lists: false,
        };
        let fmt = format::parse("%d %s %x").unwrap();
        let args: Vec<String> = ["fd", "filename", "retval"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let v = values(&fmt, &args, &s).unwrap();
        assert_eq!(
            v[0],
            Value::Num(TExpr::Convert {
                e: Box::new(TExpr::Arg { n: 0, ty: Int::U64 }),
                ty: Int {
                    bytes: 4,
                    signed: true
                }
            })
        );
        assert_eq!(
            v[1],
            Value::Str(Str::At(
                Box::new(TExpr::Arg { n: 1, ty: Int::U64 }),
                Mem::ByAddress
            ))
        );
        assert_eq!(v[2], Value::Num(TExpr::Ret { ty: Int::U64 }));
        // A syscall's entry point: arguments through the registers it got.
        let sys = scope(Site::KernelFunction { syscall: true });
        let TExpr::Load { addr, mem, .. } = predicate("arg2", &sys).unwrap() else {
            panic!()
        };
        assert_eq!(mem, Mem::Kernel);
        assert_eq!(
            *addr,
            TExpr::Binary {
                op: BinOp::Add,
                left: Box::new(TExpr::Arg { n: 0, ty: Int::U64 }),
                right: Box::new(TExpr::Const(crate::arch::ARG_REGS[1] as u64)),
                signed: false
            }
        );
    }

    #[test]
    fn messages_name_the_part_at_fault() {
        let s = user();
        let err = |t: &str| predicate(t, &s).unwrap_err();
        assert!(
            err("$comm + 1").starts_with("'$comm' is a string"),
            "{}",
            err("$comm + 1")
        );
        assert!(
            err(r#""a" * 2"#).starts_with(r#"'"a"' is a string"#),
            "{}",
            err(r#""a" * 2"#)
        );
        assert!(err("str(arg1) - 1").starts_with("'str(...)' is a string"));
        assert!(err("(u8)$comm").starts_with("'$comm' is a string"));
        assert!(err("-(str(arg1))").starts_with("'str(...)' is a string"));
        assert!(err("($comm == \"x\") + $comm").starts_with("'$comm' is a string"));
        let f = fields::parse("\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;");
        let tp = scope(Site::Tracepoint(&f));
        let e = predicate("args->comm * 2", &tp).unwrap_err();
        assert!(e.starts_with("'args->comm' is a string"), "{e}");
        // `args` means the record at a tracepoint only.
        assert!(
            err("args").starts_with("unknown name 'args'"),
            "{}",
            err("args")
        );
        assert!(predicate("arg6", &s).is_ok());
    }

    #[test]
    fn user_pointers_stay_user_through_casts_and_loads() {
        let k = scope(Site::KernelFunction { syscall: false });
        let fmt = format::parse("%s").unwrap();
        // @user after a typed pointer keeps what it points to.
        let v = values(&fmt, &["((char *)arg2)@user".into()], &k).unwrap();
        assert_eq!(
            v[0],
            Value::Str(Str::At(
                Box::new(TExpr::Arg { n: 1, ty: Int::U64 }),
                Mem::User
            ))
        );
        let v = values(&fmt, &["(char *)arg2@user".into()], &k).unwrap();
        assert_eq!(
            v[0],
            Value::Str(Str::At(
                Box::new(TExpr::Arg { n: 1, ty: Int::U64 }),
                Mem::User
            ))
        );
        let TExpr::Load { mem, .. } = predicate("*arg2@user", &k).unwrap() else {
            panic!()
        };
        assert_eq!(mem, Mem::User);
        let TExpr::Load { mem, .. } = predicate("*arg2", &k).unwrap() else {
            panic!()
        };
        assert_eq!(mem, Mem::ByAddress);
    }

    #[test]
    fn signedness_follows_c() {
        let s = user();
        let signed_of = |t: &str| match predicate(t, &s).unwrap() {
            TExpr::Binary { signed, .. } => signed,
            other => panic!("{other:?}"),
        };
        // 0/1 of a comparison and of ! is an int: signed.
        assert!(signed_of("((arg1 > 5) - 2) < 0"));
        assert!(signed_of("(!arg1 - 1) < 0"));
        assert!(!signed_of("(~arg1 - 1) < 0"));
        // A shift takes its left side's sign, whatever the amount's.
        assert!(signed_of("((s64)arg2 >> (u8)arg1) < 0"));
        assert!(!signed_of("(arg2 >> 1) < 0"));
        // Both sides signed, or unsigned.
        assert!(signed_of("(s64)arg1 + -1 < 0"));
        assert!(!signed_of("(s64)arg1 + arg2 < 0"));
        assert!(signed_of("(int)arg1 < 9223372036854775807"));
        assert!(!signed_of("(int)arg1 < 18446744073709551615"));
    }

    #[test]
    fn mistakes_are_named() {
        let s = user();
        let err = |t: &str| predicate(t, &s).unwrap_err();
        assert!(err("retval").contains("only at a return probe"));
        assert!(err("bogus > 1").contains("unknown name 'bogus'"));
        assert!(err("arg7").contains("arg1 to arg6"));
        assert!(err("arg0").contains("unknown name 'arg0'"));
        assert!(err("$comm + 1").contains("is a string where a number is needed"));
        assert!(err(r#""a" + 1"#).contains("is a string"));
        assert!(err("nope(1)").contains("unknown function 'nope()'"));
        assert!(err("STRCMP(arg1, arg2)").contains("first argument is a string literal"));
        assert!(err("str(arg1, arg2)").contains("takes one argument"));
        assert!(err("STRCMP(\"a\")").contains("takes two arguments"));
        assert!(err(r#"("a")@user"#).contains("@user goes after a pointer"));
        let fmt = format::parse("%d").unwrap();
        let e = values(&fmt, &[], &s).unwrap_err();
        assert!(e.contains("1 conversion(s) but 0 argument(s)"), "{e}");
        let e = values(&fmt, &["$comm".into()], &s).unwrap_err();
        assert!(e.contains("print it with %s"), "{e}");
        let fmt = format::parse("%s").unwrap();
        let e = values(&fmt, &[r#""x""#.into()], &s).unwrap_err();
        assert!(e.contains("put it in the format"), "{e}");
    }
}
