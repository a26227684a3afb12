//! The expressions of trace's predicates and format arguments: C's
//! operators, casts, `args->field`, `name->member`, `STRCMP("lit", e)` and
//! `str(e)`, parsed into a tree. Names are not looked up here
//! ([`super::check`] does that against what the probe offers).

use std::fmt;

use super::check::Int;

/// A parsed expression. `text` spans are kept for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A decimal literal without a suffix (or a character): C types it by
    /// its value (int, else long).
    Num(u64),
    /// A hex or octal literal, or one with a suffix: its C type, decided
    /// here by C's rules (int, unsigned int, long, unsigned long: the
    /// first that holds it, of those its form allows).
    TypedNum(u64, Int),
    Str(String),
    /// `arg1`, `retval`, `$pid`, `args`, a parameter name.
    Name(String),
    /// `base->member` (or `base.member`).
    Member(Box<Expr>, String),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Cast(CType, Box<Expr>),
    /// `c ? a : b`.
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `STRCMP("lit", e)`, `str(e)`.
    Call(String, Vec<Expr>),
    /// `arg2@user`: read what it points to from user memory.
    User(Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnOp {
    Neg,
    Not,
    BitNot,
    /// `*e`: what e points to (8 bytes when e is not a typed pointer).
    Deref,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    Mul,
    Div,
    Mod,
    Add,
    Sub,
    Shl,
    Shr,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    BitAnd,
    BitXor,
    BitOr,
    And,
    Or,
}

impl BinOp {
    /// C's precedence: higher binds tighter.
    fn precedence(self) -> u8 {
        use BinOp::*;
        match self {
            Mul | Div | Mod => 10,
            Add | Sub => 9,
            Shl | Shr => 8,
            Lt | Le | Gt | Ge => 7,
            Eq | Ne => 6,
            BitAnd => 5,
            BitXor => 4,
            BitOr => 3,
            And => 2,
            Or => 1,
        }
    }

    fn from_token(t: &str) -> Option<BinOp> {
        use BinOp::*;
        Some(match t {
            "*" => Mul,
            "/" => Div,
            "%" => Mod,
            "+" => Add,
            "-" => Sub,
            "<<" => Shl,
            ">>" => Shr,
            "<" => Lt,
            "<=" => Le,
            ">" => Gt,
            ">=" => Ge,
            "==" => Eq,
            "!=" => Ne,
            "&" => BitAnd,
            "^" => BitXor,
            "|" => BitOr,
            "&&" => And,
            "||" => Or,
            _ => return None,
        })
    }

    /// Whether the result is 0 or 1.
    pub fn is_comparison(self) -> bool {
        use BinOp::*;
        matches!(self, Lt | Le | Gt | Ge | Eq | Ne | And | Or)
    }
}

/// A cast's type: an integer of some size and sign, `bool`, or a pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CType {
    Int {
        bytes: u8,
        signed: bool,
    },
    /// `bool`/`_Bool`: 0 or 1.
    Bool,
    /// `(char *)`: a pointer to a NUL-terminated string (and to chars).
    CharPtr,
    /// `(int *)`, `(u16 *)`, ...: a pointer to an integer of this type.
    Ptr(Int),
}

impl CType {
    /// The C and kernel spellings rtools reads as types.
    pub fn parse(words: &str) -> Option<CType> {
        let words: Vec<&str> = words.split_whitespace().collect();
        let joined = words.join(" ");
        if let Some(base) = joined.strip_suffix('*') {
            return match CType::parse(base)? {
                CType::Int { .. } if matches!(base.trim(), "char" | "const char") => {
                    Some(CType::CharPtr)
                }
                CType::Int { bytes, signed } => Some(CType::Ptr(Int { bytes, signed })),
                _ => None,
            };
        }
        let int = |bytes, signed| Some(CType::Int { bytes, signed });
        match joined.strip_prefix("const ").unwrap_or(&joined) {
            "bool" | "_Bool" => Some(CType::Bool),
            "u8" | "__u8" | "unsigned char" | "uint8_t" => int(1, false),
            "s8" | "__s8" | "char" | "signed char" | "int8_t" => int(1, true),
            "u16" | "__u16" | "unsigned short" | "uint16_t" => int(2, false),
            "s16" | "__s16" | "short" | "signed short" | "int16_t" => int(2, true),
            "u32" | "__u32" | "unsigned" | "unsigned int" | "uint32_t" | "uid_t" | "gid_t" => {
                int(4, false)
            }
            "s32" | "__s32" | "int" | "signed" | "signed int" | "int32_t" | "pid_t" => int(4, true),
            "u64" | "__u64" | "unsigned long" | "unsigned long long" | "uint64_t" | "size_t"
            | "uintptr_t" => int(8, false),
            "s64" | "__s64" | "long" | "long long" | "signed long" | "int64_t" | "ssize_t"
            | "loff_t" => int(8, true),
            _ => None,
        }
    }
}

/// A parse error: what went wrong, at which part of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// How deep expressions may nest: the compiled code keeps a stack slot
/// per level, and the BPF stack is 512 bytes.
pub const MAX_DEPTH: usize = 24;

/// Parses one expression.
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    let tokens = lex(text)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        text,
        depth: 0,
    };
    let e = p.expr(0)?;
    match p.peek() {
        None => Ok(e),
        Some(t) => Err(p.error_at(t, "unexpected")),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Num(u64),
    TypedNum(u64, Int),
    Str(String),
    Ident(String),
    Punct(&'static str),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// Byte offset in the text.
    at: usize,
}

const PUNCTS: &[&str] = &[
    "->", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "(", ")", ",", ".", "+", "-", "*", "/",
    "%", "&", "|", "^", "~", "!", "<", ">", "@", "?", ":",
];

fn lex(text: &str) -> Result<Vec<Token>, ParseError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i] as char;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let at = i;
        if c.is_ascii_digit() {
            let end = i + text[i..]
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(text.len() - i);
            let word = &text[i..end];
            let tok = number(word).ok_or_else(|| ParseError {
                message: format!(
                    "'{word}' is not a number: give decimal, 0x hex or 0 octal, with C's \
                     suffixes (U, L, UL, LL, ULL) if any"
                ),
            })?;
            out.push(Token { tok, at });
            i = end;
        } else if c.is_ascii_alphabetic() || c == '_' || c == '$' {
            let end = i
                + 1
                + text[i + 1..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(text.len() - i - 1);
            out.push(Token {
                tok: Tok::Ident(text[i..end].to_string()),
                at,
            });
            i = end;
        } else if c == '"' {
            let (s, rest) = super::probe_text::string_literal(&text[i..])
                .map_err(|message| ParseError { message })?;
            out.push(Token {
                tok: Tok::Str(s),
                at,
            });
            i = text.len() - rest.len();
        } else if c == '\'' {
            let (value, len) = char_literal(&text[i..]).ok_or_else(|| ParseError {
                message: format!(
                    "bad character literal at '{}': write one character, e.g. 'a' or '\\n'",
                    super::probe_text::snippet(&text[i..])
                ),
            })?;
            out.push(Token {
                tok: Tok::Num(value),
                at,
            });
            i += len;
        } else if let Some(p) = PUNCTS.iter().find(|p| text[i..].starts_with(**p)) {
            out.push(Token {
                tok: Tok::Punct(p),
                at,
            });
            i += p.len();
        } else {
            return Err(ParseError {
                message: format!(
                    "unexpected '{}' in '{}'",
                    &text[i..i + text[i..].chars().next().map_or(1, char::len_utf8)],
                    super::probe_text::snippet(text)
                ),
            });
        }
    }
    Ok(out)
}

/// Decimal, `0x` hex or `0` octal, with C's integer suffixes (`U`, `L`,
/// `LL`, in either case and order), typed as C types them on LP64: a
/// decimal literal is signed unless `U` says otherwise; hex and octal
/// ones take the unsigned type of a width when the signed one is too
/// small.
fn number(word: &str) -> Option<Tok> {
    let digits = word.trim_end_matches(['u', 'U', 'l', 'L']);
    let suffix = word[digits.len()..].to_ascii_lowercase();
    let (unsigned, long) = match suffix.as_str() {
        "" => (false, false),
        "u" => (true, false),
        "l" | "ll" => (false, true),
        "ul" | "lu" | "ull" | "llu" => (true, true),
        _ => return None,
    };
    let (value, decimal) =
        if let Some(hex) = digits.strip_prefix("0x").or(digits.strip_prefix("0X")) {
            (u64::from_str_radix(hex, 16).ok()?, false)
        } else if digits.len() > 1 && digits.starts_with('0') {
            (u64::from_str_radix(&digits[1..], 8).ok()?, false)
        } else {
            (digits.parse().ok()?, true)
        };
    if decimal && !unsigned && !long {
        return Some(Tok::Num(value));
    }
    let fits = |ty: Int| {
        let bits = 8 * ty.bytes as u32 - u32::from(ty.signed);
        bits == 64 || value < 1 << bits
    };
    let int = |bytes, signed| Int { bytes, signed };
    let candidates = [int(4, true), int(4, false), int(8, true), int(8, false)];
    let ty = candidates
        .into_iter()
        .filter(|t| !long || t.bytes == 8)
        .filter(|t| !unsigned || !t.signed)
        .filter(|t| !decimal || unsigned || t.signed || value > i64::MAX as u64)
        .find(|&t| fits(t))?;
    Some(Tok::TypedNum(value, ty))
}

/// `'a'`, `'\n'`: the value and the literal's length in bytes.
fn char_literal(text: &str) -> Option<(u64, usize)> {
    let b = text.as_bytes();
    match b {
        [b'\'', b'\\', e, b'\'', ..] => {
            let v = match e {
                b'n' => b'\n',
                b't' => b'\t',
                b'0' => 0,
                b'\\' => b'\\',
                b'\'' => b'\'',
                _ => return None,
            };
            Some((v as u64, 4))
        }
        // (A byte between two quotes is ASCII: UTF-8 continues no other.)
        [b'\'', c, b'\'', ..] => Some((*c as u64, 3)),
        _ => None,
    }
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    text: &'a str,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn is(&self, punct: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Punct(p), .. }) if *p == punct)
    }

    fn eat(&mut self, punct: &str) -> bool {
        let found = self.is(punct);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect(&mut self, punct: &str) -> Result<(), ParseError> {
        if self.eat(punct) {
            return Ok(());
        }
        Err(match self.peek().cloned() {
            Some(t) => self.error_at(&t, &format!("expected '{punct}' before")),
            None => self.error_end(&format!("expected '{punct}'")),
        })
    }

    fn error_at(&self, t: &Token, what: &str) -> ParseError {
        ParseError {
            message: format!(
                "{what} '{}' in '{}'",
                super::probe_text::snippet(&self.text[t.at..]),
                super::probe_text::snippet(self.text)
            ),
        }
    }

    fn error_end(&self, what: &str) -> ParseError {
        ParseError {
            message: format!(
                "{what} at the end of '{}'",
                super::probe_text::snippet(self.text)
            ),
        }
    }

    /// A whole expression: `c ? a : b` (right-associative, below `||`),
    /// or binary operators.
    fn expr(&mut self, min: u8) -> Result<Expr, ParseError> {
        let e = self.binary(min)?;
        if min > 0 || !self.eat("?") {
            return Ok(e);
        }
        self.depth += 1;
        let yes = self.expr(0)?;
        self.expect(":")?;
        let no = self.expr(0)?;
        self.depth -= 1;
        Ok(Expr::Cond(Box::new(e), Box::new(yes), Box::new(no)))
    }

    /// Binary operators at or above `min` precedence (precedence climbing).
    fn binary(&mut self, min: u8) -> Result<Expr, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError {
                message: format!(
                    "'{}' nests deeper than {MAX_DEPTH} levels: split it",
                    super::probe_text::snippet(self.text)
                ),
            });
        }
        let mut left = self.unary()?;
        while let Some(op) = self.peek_binop() {
            if op.precedence() < min {
                break;
            }
            self.pos += 1;
            let right = self.binary(op.precedence() + 1)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn peek_binop(&self) -> Option<BinOp> {
        match self.peek() {
            Some(Token {
                tok: Tok::Punct(p), ..
            }) => BinOp::from_token(p),
            _ => None,
        }
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let op = if self.eat("-") {
            Some(UnOp::Neg)
        } else if self.eat("!") {
            Some(UnOp::Not)
        } else if self.eat("~") {
            Some(UnOp::BitNot)
        } else if self.eat("*") {
            Some(UnOp::Deref)
        } else if self.eat("+") {
            return self.unary();
        } else {
            None
        };
        if let Some(op) = op {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(self.error_end("too deeply nested"));
            }
            let e = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Unary(op, Box::new(e)));
        }
        if self.is("(") {
            if let Some((ty, len)) = self.cast_ahead() {
                self.pos += len;
                let e = self.unary()?;
                return Ok(Expr::Cast(ty, Box::new(e)));
            }
        }
        self.postfix()
    }

    /// `( TYPE WORDS [*] )` ahead: the cast's type and its token count.
    fn cast_ahead(&self) -> Option<(CType, usize)> {
        let mut words = Vec::new();
        let mut i = self.pos + 1;
        loop {
            match &self.tokens.get(i)?.tok {
                Tok::Ident(w) => words.push(w.clone()),
                Tok::Punct("*") => words.push("*".into()),
                Tok::Punct(")") => break,
                _ => return None,
            }
            i += 1;
        }
        let ty = CType::parse(&words.join(" "))?;
        Some((ty, i + 1 - self.pos))
    }

    fn postfix(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.primary()?;
        loop {
            if self.eat("->") || self.eat(".") {
                match self.peek().cloned() {
                    Some(Token {
                        tok: Tok::Ident(name),
                        ..
                    }) => {
                        self.pos += 1;
                        e = Expr::Member(Box::new(e), name);
                    }
                    Some(t) => return Err(self.error_at(&t, "expected a field name before")),
                    None => return Err(self.error_end("expected a field name")),
                }
            } else if self.eat("@") {
                match self.peek().cloned() {
                    Some(Token {
                        tok: Tok::Ident(w), ..
                    }) if w == "user" => {
                        self.pos += 1;
                        e = Expr::User(Box::new(e));
                    }
                    Some(t) => return Err(self.error_at(&t, "expected 'user' after '@', not")),
                    None => return Err(self.error_end("expected 'user' after '@'")),
                }
            } else {
                return Ok(e);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.error_end("expected a value"));
        };
        self.pos += 1;
        match t.tok {
            Tok::Num(n) => Ok(Expr::Num(n)),
            Tok::TypedNum(n, ty) => Ok(Expr::TypedNum(n, ty)),
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::Ident(name) if self.is("(") => {
                self.pos += 1;
                let mut args = Vec::new();
                if !self.eat(")") {
                    loop {
                        args.push(self.expr(0)?);
                        if self.eat(")") {
                            break;
                        }
                        self.expect(",")?;
                    }
                }
                Ok(Expr::Call(name, args))
            }
            Tok::Ident(name) => Ok(Expr::Name(name)),
            Tok::Punct("(") => {
                let e = self.expr(0)?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Punct(_) => Err(self.error_at(&t, "expected a value before")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: u64) -> Box<Expr> {
        Box::new(Expr::Num(v))
    }

    fn name(s: &str) -> Box<Expr> {
        Box::new(Expr::Name(s.into()))
    }

    #[test]
    fn precedence_is_cs() {
        use BinOp::*;
        assert_eq!(
            parse("arg1 % 7 == 0").unwrap(),
            Expr::Binary(Eq, Box::new(Expr::Binary(Mod, name("arg1"), n(7))), n(0))
        );
        assert_eq!(
            parse("1 + 2 * 3").unwrap(),
            Expr::Binary(Add, n(1), Box::new(Expr::Binary(Mul, n(2), n(3))))
        );
        // Left-associative.
        assert_eq!(
            parse("8 - 2 - 1").unwrap(),
            Expr::Binary(Sub, Box::new(Expr::Binary(Sub, n(8), n(2))), n(1))
        );
        assert_eq!(
            parse("a && b || c").unwrap(),
            Expr::Binary(
                Or,
                Box::new(Expr::Binary(And, name("a"), name("b"))),
                name("c")
            )
        );
        assert_eq!(
            parse("x & 1 == 1").unwrap(),
            Expr::Binary(BitAnd, name("x"), Box::new(Expr::Binary(Eq, n(1), n(1))))
        );
        assert_eq!(
            parse("1 << 2 < 8").unwrap(),
            Expr::Binary(Lt, Box::new(Expr::Binary(Shl, n(1), n(2))), n(8))
        );
    }

    #[test]
    fn unary_casts_members_and_calls() {
        assert_eq!(
            parse("-!~x").unwrap(),
            Expr::Unary(
                UnOp::Neg,
                Box::new(Expr::Unary(
                    UnOp::Not,
                    Box::new(Expr::Unary(UnOp::BitNot, name("x")))
                ))
            )
        );
        assert_eq!(
            parse("(u8)arg1").unwrap(),
            Expr::Cast(
                CType::Int {
                    bytes: 1,
                    signed: false
                },
                name("arg1")
            )
        );
        assert_eq!(
            parse("(char *) arg2").unwrap(),
            Expr::Cast(CType::CharPtr, name("arg2"))
        );
        assert_eq!(
            parse("(unsigned long)(arg1 + 1)").unwrap(),
            Expr::Cast(
                CType::Int {
                    bytes: 8,
                    signed: false
                },
                Box::new(Expr::Binary(BinOp::Add, name("arg1"), n(1)))
            )
        );
        // Parentheses around a name are grouping, not a cast.
        assert_eq!(parse("(arg1)").unwrap(), Expr::Name("arg1".into()));
        assert_eq!(
            parse("args->filename").unwrap(),
            Expr::Member(name("args"), "filename".into())
        );
        assert_eq!(
            parse("ts->tv.nsec").unwrap(),
            Expr::Member(
                Box::new(Expr::Member(name("ts"), "tv".into())),
                "nsec".into()
            )
        );
        assert_eq!(
            parse(r#"STRCMP("bash", $comm)"#).unwrap(),
            Expr::Call(
                "STRCMP".into(),
                vec![Expr::Str("bash".into()), Expr::Name("$comm".into())]
            )
        );
        assert_eq!(parse("arg2@user").unwrap(), Expr::User(name("arg2")));
        assert_eq!(
            parse("*arg1").unwrap(),
            Expr::Unary(UnOp::Deref, name("arg1"))
        );
        assert_eq!(parse("f()").unwrap(), Expr::Call("f".into(), vec![]));
    }

    #[test]
    fn nesting_is_limited_exactly_and_flat_expressions_are_not() {
        let parens = |k: usize| format!("{}1{}", "(".repeat(k), ")".repeat(k));
        assert!(parse(&parens(MAX_DEPTH - 1)).is_ok());
        assert!(parse(&parens(MAX_DEPTH)).is_err());
        let minus = |k: usize| format!("{}1", "-".repeat(k));
        let deepest = (1..60)
            .take_while(|&k| parse(&minus(k)).is_ok())
            .last()
            .unwrap();
        assert_eq!(deepest, MAX_DEPTH - 1);
        // Long but flat: no nesting to limit.
        let flat = vec!["arg1"; 100].join(" + ");
        assert!(parse(&flat).is_ok());
        let chain = vec!["-1"; 60].join(" * ");
        assert!(parse(&chain).is_ok());
        let e = parse("(1").unwrap_err();
        assert_eq!(e.to_string(), e.message);
    }

    #[test]
    fn numbers_in_c_notations() {
        let typed = |v, bytes, signed| Expr::TypedNum(v, Int { bytes, signed });
        assert_eq!(parse("0x1F").unwrap(), typed(31, 4, true));
        assert_eq!(parse("010").unwrap(), typed(8, 4, true));
        assert_eq!(parse("0").unwrap(), Expr::Num(0));
        assert_eq!(parse("42UL").unwrap(), typed(42, 8, false));
        // C's literal types: hex above INT_MAX is unsigned int, above
        // UINT_MAX long; decimal stays signed; suffixes choose.
        assert_eq!(parse("0xffffffff").unwrap(), typed(0xffff_ffff, 4, false));
        assert_eq!(parse("0x100000000").unwrap(), typed(1 << 32, 8, true));
        assert_eq!(
            parse("0x8000000000000000").unwrap(),
            typed(1 << 63, 8, false)
        );
        assert_eq!(parse("1u").unwrap(), typed(1, 4, false));
        assert_eq!(parse("4294967296U").unwrap(), typed(1 << 32, 8, false));
        assert_eq!(parse("1L").unwrap(), typed(1, 8, true));
        // A decimal long past LONG_MAX is unsigned long (as gcc takes it).
        assert_eq!(
            parse("9223372036854775808L").unwrap(),
            typed(1 << 63, 8, false)
        );
        assert_eq!(
            parse("9223372036854775807L").unwrap(),
            typed(i64::MAX as u64, 8, true)
        );
        assert_eq!(parse("1llu").unwrap(), typed(1, 8, false));
        assert_eq!(parse("2147483648").unwrap(), Expr::Num(1 << 31));
        assert!(parse("1lul").is_err());
        assert!(parse("1uu").is_err());
        assert_eq!(parse("'a'").unwrap(), Expr::Num(97));
        assert_eq!(parse("'\\n'").unwrap(), Expr::Num(10));
        assert_eq!(parse("'\\t'").unwrap(), Expr::Num(9));
        assert_eq!(parse("'\\0'").unwrap(), Expr::Num(0));
        assert_eq!(parse("'\\\\'").unwrap(), Expr::Num(92));
        assert_eq!(parse("'\\''").unwrap(), Expr::Num(39));
        assert!(parse("'\\q'").is_err());
        assert_eq!(parse("18446744073709551615").unwrap(), Expr::Num(u64::MAX));
    }

    #[test]
    fn bad_expressions_say_where() {
        let err = |t: &str| parse(t).unwrap_err().message;
        assert!(
            err("arg1 >").contains("expected a value at the end"),
            "{}",
            err("arg1 >")
        );
        assert!(
            err("arg1 > > 2").contains("expected a value before '> 2'"),
            "{}",
            err("arg1 > > 2")
        );
        assert!(err("(arg1").contains("expected ')'"), "{}", err("(arg1"));
        assert!(
            err("arg1 2").contains("unexpected '2'"),
            "{}",
            err("arg1 2")
        );
        assert!(err("0x").contains("'0x' is not a number"));
        assert!(err("99999999999999999999").contains("is not a number"));
        assert!(err("arg1 # 2").contains("unexpected '#'"));
        assert!(err("a->").contains("expected a field name"));
        assert!(err("a->1").contains("expected a field name before"));
        assert!(err("arg1@kernel").contains("expected 'user'"));
        assert!(err("'ab'").contains("bad character literal"));
        assert!(err("f(1 2)").contains("expected ','"), "{}", err("f(1 2)"));
        let deep = format!("{}1{}", "(".repeat(40), ")".repeat(40));
        assert!(err(&deep).contains("nests deeper"), "{}", err(&deep));
        let unary = format!("{}1", "-".repeat(40));
        assert!(err(&unary).contains("too deeply nested"), "{}", err(&unary));
    }

    #[test]
    fn type_names() {
        assert_eq!(
            CType::parse("pid_t"),
            Some(CType::Int {
                bytes: 4,
                signed: true
            })
        );
        assert_eq!(
            CType::parse("unsigned  long"),
            Some(CType::Int {
                bytes: 8,
                signed: false
            })
        );
        assert_eq!(CType::parse("const char *"), Some(CType::CharPtr));
        assert_eq!(CType::parse("struct file *"), None);
        assert!(BinOp::Eq.is_comparison() && !BinOp::Add.is_comparison());
    }
}
