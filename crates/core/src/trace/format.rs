//! trace's format strings: C's printf conversions (`%d %i %u %x %X %o %c
//! %s %p`, with flags, width, precision and `h`/`hh`/`l`/`ll`/`z`) and
//! BCC's `%K`/`%U` (kernel and user symbols), parsed once and rendered in
//! user space for each event (the kernel only collects the values).

/// A parsed format: literal text and conversions, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Format {
    pub pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Conv(Conv),
}

/// One `%...` conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv {
    pub left: bool,
    pub zero: bool,
    pub plus: bool,
    pub space: bool,
    pub alt: bool,
    pub width: Option<usize>,
    pub precision: Option<usize>,
    /// Bytes of the integer printed: 1 (hh), 2 (h), 4 (none), 8 (l, ll, z).
    pub bytes: u8,
    pub kind: ConvKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvKind {
    Signed,
    Unsigned,
    Hex { upper: bool },
    Octal,
    Char,
    Str,
    Pointer,
    KernelSym,
    UserSym,
}

impl ConvKind {
    /// What the kernel must collect for it: a string's bytes, or a number.
    pub fn wants_string(self) -> bool {
        self == ConvKind::Str
    }
}

/// The widest field a conversion may ask for.
const MAX_WIDTH: usize = 1024;

/// Parses `text`; an error names the bad conversion.
pub fn parse(text: &str) -> Result<Format, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            literal.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            literal.push('%');
            continue;
        }
        let mut spec = String::from("%");
        let mut conv = Conv {
            left: false,
            zero: false,
            plus: false,
            space: false,
            alt: false,
            width: None,
            precision: None,
            bytes: 4,
            kind: ConvKind::Signed,
        };
        while let Some(&f) = chars.peek() {
            match f {
                '-' => conv.left = true,
                '0' => conv.zero = true,
                '+' => conv.plus = true,
                ' ' => conv.space = true,
                '#' => conv.alt = true,
                _ => break,
            }
            spec.push(f);
            chars.next();
        }
        conv.width = digits(&mut chars, &mut spec);
        if chars.peek() == Some(&'.') {
            spec.push('.');
            chars.next();
            conv.precision = Some(digits(&mut chars, &mut spec).unwrap_or(0));
        }
        let bad = |spec: &str| {
            format!(
                "unknown conversion '{spec}' in the format: use %d %i %u %x %X %o %c %s %p %K \
                 %U, with h, l or ll, or %% for a %"
            )
        };
        if conv.width.is_some_and(|w| w > MAX_WIDTH)
            || conv.precision.is_some_and(|p| p > MAX_WIDTH)
        {
            return Err(format!(
                "'{spec}' in the format is wider than {MAX_WIDTH} characters"
            ));
        }
        let mut length = String::new();
        while let Some(&l) = chars.peek() {
            if !matches!(l, 'h' | 'l' | 'z' | 'j' | 't') || length.len() == 2 {
                break;
            }
            length.push(l);
            spec.push(l);
            chars.next();
        }
        conv.bytes = match length.as_str() {
            "" => 4,
            "hh" => 1,
            "h" => 2,
            "l" | "ll" | "z" | "j" | "t" => 8,
            _ => return Err(bad(&spec)),
        };
        let Some(k) = chars.next() else {
            return Err(bad(&spec));
        };
        spec.push(k);
        conv.kind = match k {
            'd' | 'i' => ConvKind::Signed,
            'u' => ConvKind::Unsigned,
            'x' => ConvKind::Hex { upper: false },
            'X' => ConvKind::Hex { upper: true },
            'o' => ConvKind::Octal,
            'c' => ConvKind::Char,
            's' => ConvKind::Str,
            'p' => ConvKind::Pointer,
            'K' => ConvKind::KernelSym,
            'U' => ConvKind::UserSym,
            _ => return Err(bad(&spec)),
        };
        if !length.is_empty() && !conv.kind.is_integer() {
            return Err(bad(&spec));
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut literal)));
        }
        pieces.push(Piece::Conv(conv));
    }
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(Format { pieces })
}

impl ConvKind {
    fn is_integer(self) -> bool {
        matches!(
            self,
            ConvKind::Signed | ConvKind::Unsigned | ConvKind::Hex { .. } | ConvKind::Octal
        )
    }
}

fn digits(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    spec: &mut String,
) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        spec.push(chars.next().unwrap_or('0'));
        n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
    }
    n
}

impl Format {
    pub fn convs(&self) -> impl Iterator<Item = &Conv> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Conv(c) => Some(c),
            Piece::Text(_) => None,
        })
    }
}

/// A collected value, as a conversion renders it: a number, or text (a
/// string read in the kernel, its bytes as they were, or a symbol already
/// looked up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Num(u64),
    Text(std::borrow::Cow<'a, [u8]>),
}

impl Value<'_> {
    /// Text of its own.
    pub fn text(s: impl Into<Vec<u8>>) -> Value<'static> {
        Value::Text(std::borrow::Cow::Owned(s.into()))
    }
}

impl Format {
    /// The message: each conversion applied to its value, in order. It
    /// is bytes, as printf's: `%s` and `%c` write what they were given.
    pub fn render(&self, values: &[Value<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        self.render_into(values, &mut out);
        out
    }

    /// [`Format::render`] appended to `out`.
    pub fn render_into(&self, values: &[Value<'_>], out: &mut Vec<u8>) {
        let mut values = values.iter();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.extend_from_slice(t.as_bytes()),
                Piece::Conv(c) => c.render(values.next().unwrap_or(&Value::Num(0)), out),
            }
        }
    }
}

impl Conv {
    /// `value` truncated to the conversion's size, as printf reads it.
    fn sized(&self, v: u64) -> u64 {
        match self.bytes {
            1 => v as u8 as u64,
            2 => v as u16 as u64,
            4 => v as u32 as u64,
            _ => v,
        }
    }

    fn signed(&self, v: u64) -> i64 {
        match self.bytes {
            1 => v as u8 as i8 as i64,
            2 => v as u16 as i16 as i64,
            4 => v as u32 as i32 as i64,
            _ => v as i64,
        }
    }

    /// Neither width, precision nor flags: what most formats hold.
    fn plain(&self) -> bool {
        self.width.is_none()
            && self.precision.is_none()
            && !(self.plus || self.space || self.alt || self.left || self.zero)
    }

    fn render(&self, value: &Value<'_>, out: &mut Vec<u8>) {
        use std::io::Write as _;
        // The common cases written straight out, no text made first.
        if self.plain() {
            match (self.kind, value) {
                (_, Value::Text(t)) => return out.extend_from_slice(t),
                (ConvKind::Signed, Value::Num(n)) => {
                    let _ = write!(out, "{}", self.signed(*n));
                    return;
                }
                (ConvKind::Unsigned, Value::Num(n)) => {
                    let _ = write!(out, "{}", self.sized(*n));
                    return;
                }
                _ => {}
            }
        }
        let n = match value {
            Value::Num(n) => *n,
            // glibc's precision and width count bytes.
            Value::Text(t) => {
                let text = match self.precision {
                    Some(p) => &t[..p.min(t.len())],
                    None => t,
                };
                return self.pad(b"", text, false, out);
            }
        };
        match self.kind {
            ConvKind::Char => self.pad(b"", &[n as u8], false, out),
            // glibc prints a null pointer as "(nil)", a string.
            ConvKind::Pointer if n == 0 => self.pad(b"", b"(nil)", false, out),
            // Symbols and strings arrive as text; a number here is an
            // address that found no name.
            ConvKind::Str | ConvKind::KernelSym | ConvKind::UserSym => {
                self.pad(b"", format!("0x{n:x}").as_bytes(), false, out)
            }
            _ => self.number(n, out),
        }
    }

    /// An integer or pointer as glibc's printf writes it: the sign (or
    /// the `+`/space flag's), the `0x` of `#` or `%p`, then the digits,
    /// at least `precision` of them (none for 0 at precision 0, save
    /// octal's `#` zero), padded to the width by spaces or, with `0` and
    /// no precision, by zeros after the sign and prefix.
    fn number(&self, n: u64, out: &mut Vec<u8>) {
        let signed_flags = |negative: bool| {
            if negative {
                "-"
            } else if self.plus {
                "+"
            } else if self.space {
                " "
            } else {
                ""
            }
        };
        let (sign, prefix, digits, zero) = match self.kind {
            ConvKind::Signed => {
                let v = self.signed(n);
                (
                    signed_flags(v < 0),
                    "",
                    v.unsigned_abs().to_string(),
                    v == 0,
                )
            }
            ConvKind::Unsigned => {
                let v = self.sized(n);
                ("", "", v.to_string(), v == 0)
            }
            ConvKind::Hex { upper } => {
                let v = self.sized(n);
                let (digits, prefix) = if upper {
                    (format!("{v:X}"), "0X")
                } else {
                    (format!("{v:x}"), "0x")
                };
                let prefix = if self.alt && v != 0 { prefix } else { "" };
                ("", prefix, digits, v == 0)
            }
            ConvKind::Octal => {
                let v = self.sized(n);
                ("", "", format!("{v:o}"), v == 0)
            }
            // A non-null pointer: %#lx with the sign flags.
            _ => (signed_flags(false), "0x", format!("{n:x}"), false),
        };
        let mut digits = if zero && self.precision == Some(0) {
            String::new()
        } else {
            digits
        };
        if let Some(p) = self.precision {
            if digits.len() < p {
                digits.insert_str(0, &"0".repeat(p - digits.len()));
            }
        }
        if self.kind == ConvKind::Octal && self.alt && !digits.starts_with('0') {
            digits.insert(0, '0');
        }
        let head = format!("{sign}{prefix}");
        self.pad(
            head.as_bytes(),
            digits.as_bytes(),
            self.precision.is_none(),
            out,
        );
    }

    /// `head` (sign and prefix) and `body` padded to the width: on the
    /// right with `-`; with zeros between them where `zeros` allows and
    /// the `0` flag asks; else with spaces on the left.
    fn pad(&self, head: &[u8], body: &[u8], zeros: bool, out: &mut Vec<u8>) {
        let width = self.width.unwrap_or(0);
        let fill = width.saturating_sub(head.len() + body.len());
        if self.left {
            out.extend_from_slice(head);
            out.extend_from_slice(body);
            out.extend(std::iter::repeat_n(b' ', fill));
        } else if self.zero && zeros {
            out.extend_from_slice(head);
            out.extend(std::iter::repeat_n(b'0', fill));
            out.extend_from_slice(body);
        } else {
            out.extend(std::iter::repeat_n(b' ', fill));
            out.extend_from_slice(head);
            out.extend_from_slice(body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(fmt: &str, values: &[Value<'_>]) -> String {
        String::from_utf8(parse(fmt).unwrap().render(values)).unwrap()
    }

    fn n(v: u64) -> Value<'static> {
        Value::Num(v)
    }

    #[test]
    fn conversions_print_as_c_does() {
        assert_eq!(render("i=%d s=%s", &[n(7), Value::text("x")]), "i=7 s=x");
        assert_eq!(render("%d", &[n(u64::MAX)]), "-1");
        assert_eq!(render("%u", &[n(u64::MAX)]), "4294967295");
        assert_eq!(render("%lu", &[n(u64::MAX)]), "18446744073709551615");
        assert_eq!(render("%ld", &[n(-5i64 as u64)]), "-5");
        assert_eq!(render("%hd", &[n(0x1_ffff)]), "-1");
        assert_eq!(render("%hhu", &[n(0x1ff)]), "255");
        assert_eq!(render("%hu", &[n(0x1_ffff)]), "65535");
        assert_eq!(render("%hhd", &[n(0x1ff)]), "-1");
        assert_eq!(render("%d", &[n(0x1_0000_0005)]), "5");
        assert_eq!(render("%hd", &[n(0x1_0005)]), "5");
        assert_eq!(render("%x %X", &[n(255), n(255)]), "ff FF");
        assert_eq!(render("%llx", &[n(0xdead_beef_0000)]), "deadbeef0000");
        assert_eq!(render("%x", &[n(0x1_0000_0001)]), "1");
        assert_eq!(
            render("%o %#o %#x %#X", &[n(8), n(8), n(255), n(255)]),
            "10 010 0xff 0XFF"
        );
        assert_eq!(render("%c%c", &[n(b'o' as u64), n(b'k' as u64)]), "ok");
        // Bytes as printf writes them: %c of 0xe9 is that byte, %s's bytes
        // are written as they were read, its width and precision in bytes.
        let bytes = |fmt: &str, values: &[Value<'_>]| parse(fmt).unwrap().render(values);
        assert_eq!(bytes("%c|%3c", &[n(0xe9), n(0x1ff)]), b"\xe9|  \xff");
        let latin = Value::text(b"a\xe9b".to_vec());
        assert_eq!(
            bytes("[%s][%.2s][%4s]", &[latin.clone(), latin.clone(), latin]),
            b"[a\xe9b][a\xe9][ a\xe9b]"
        );
        let accented = Value::text("\u{e9}t\u{e9}");
        assert_eq!(
            bytes("[%.3s][%6s]", &[accented.clone(), accented]),
            "[\u{e9}t][ \u{e9}t\u{e9}]".as_bytes()
        );
        assert_eq!(render("%p", &[n(0x1000)]), "0x1000");
        assert_eq!(render("%i", &[n(3)]), "3");
        assert_eq!(render("100%%", &[]), "100%");
    }

    #[test]
    fn widths_flags_and_precision() {
        assert_eq!(render("[%5d]", &[n(42)]), "[   42]");
        assert_eq!(render("[%-5d]", &[n(42)]), "[42   ]");
        assert_eq!(render("[%05d]", &[n(42)]), "[00042]");
        assert_eq!(render("[%05d]", &[n(-42i64 as u64)]), "[-0042]");
        assert_eq!(render("[%+d]", &[n(42)]), "[+42]");
        assert_eq!(render("[% d]", &[n(42)]), "[ 42]");
        // Zero has no sign, not even through the flags' path.
        assert_eq!(render("[%3d]", &[n(0)]), "[  0]");
        assert_eq!(render("[%+d]", &[n(0)]), "[+0]");
        assert_eq!(render("[%.3d]", &[n(7)]), "[007]");
        assert_eq!(render("[%.2d]", &[n(12345)]), "[12345]");
        assert_eq!(render("[%.3x]", &[n(0xabc)]), "[abc]");
        assert_eq!(render("[%08x]", &[n(0xbeef)]), "[0000beef]");
        assert_eq!(render("[%#08x]", &[n(0xbeef)]), "[0x00beef]");
        assert_eq!(render("[%-6s]", &[Value::text("ab")]), "[ab    ]");
        assert_eq!(render("[%6s]", &[Value::text("ab")]), "[    ab]");
        assert_eq!(render("[%.2s]", &[Value::text("abcd")]), "[ab]");
        assert_eq!(
            render("[%K]", &[Value::text("vfs_read+0x4")]),
            "[vfs_read+0x4]"
        );
        assert_eq!(render("[%K]", &[n(0xffff)]), "[0xffff]");
        // An address with no name is text: no sign, no digits added.
        assert_eq!(render("[%+.6K]", &[n(0xff)]), "[0xff]");
        assert_eq!(render("[% 8U]", &[n(0xff)]), "[    0xff]");
        // Missing values render as 0, never panic.
        assert_eq!(render("%d %s", &[]), "0 0x0");
    }

    #[test]
    fn what_the_kernel_collects() {
        let kinds: Vec<ConvKind> = parse("%K %U %p").unwrap().convs().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [ConvKind::KernelSym, ConvKind::UserSym, ConvKind::Pointer]
        );
        let f = parse("%s %d %K %c").unwrap();
        let wants: Vec<bool> = f.convs().map(|c| c.kind.wants_string()).collect();
        assert_eq!(wants, [true, false, false, false]);
        assert_eq!(f.convs().count(), 4);
    }

    #[test]
    fn bad_conversions_are_named() {
        let err = |f: &str| parse(f).unwrap_err();
        assert!(
            err("%q").contains("unknown conversion '%q'"),
            "{}",
            err("%q")
        );
        assert!(err("%").contains("unknown conversion '%'"));
        assert!(err("%lls").contains("unknown conversion '%lls'"));
        assert!(err("%lllx").contains("unknown conversion"));
        assert!(err("%99999d").contains("wider than"));
        assert!(err("%1025d").contains("wider than"));
        assert!(parse("%1024d").is_ok() && parse("%.1024d").is_ok());
        assert!(err("%.1025d").contains("wider than"));
        assert!(err("%.99999d").contains("wider than"));
    }
}
