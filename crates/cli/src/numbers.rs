//! Parsing the numbers options take, with errors that say what is wrong
//! (a negative number, a fraction, one too large) rather than clap's
//! "unexpected argument '-1'".

use std::fmt::Display;
use std::str::FromStr;

/// A whole number of type `T`, 0 or more.
pub fn unsigned<T>(text: &str) -> Result<T, String>
where
    T: FromStr + Display + Bounded,
{
    let digits = text.trim();
    if let Ok(n) = digits.parse::<T>() {
        return Ok(n);
    }
    let body = digits.strip_prefix('-').unwrap_or(digits);
    let is_number = !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit());
    Err(if digits.starts_with('-') && is_number {
        format!(
            "'{text}' is negative: give a whole number from 0 to {}",
            T::MAX
        )
    } else if is_number {
        format!("'{text}' is too large: the most is {}", T::MAX)
    } else {
        format!("'{text}' is not a whole number")
    })
}

/// The largest value of a number type, for messages.
pub trait Bounded {
    const MAX: Self;
}

impl Bounded for u32 {
    const MAX: u32 = u32::MAX;
}

impl Bounded for u64 {
    const MAX: u64 = u64::MAX;
}

impl Bounded for usize {
    const MAX: usize = usize::MAX;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_what_is_wrong() {
        assert_eq!(unsigned::<u32>("42"), Ok(42));
        assert!(unsigned::<u32>("-1").unwrap_err().contains("is negative"));
        assert!(unsigned::<u32>("4294967296")
            .unwrap_err()
            .contains("too large: the most is 4294967295"));
        assert!(unsigned::<u64>("1.5")
            .unwrap_err()
            .contains("not a whole number"));
        assert!(unsigned::<u64>("")
            .unwrap_err()
            .contains("not a whole number"));
        assert!(unsigned::<usize>("ten")
            .unwrap_err()
            .contains("not a whole number"));
    }

    #[test]
    fn only_digits_make_a_number() {
        assert_eq!(unsigned::<u64>(" 7 "), Ok(7));
        assert_eq!(
            unsigned::<u32>("1.5").unwrap_err(),
            "'1.5' is not a whole number"
        );
        assert_eq!(
            unsigned::<u32>("-").unwrap_err(),
            "'-' is not a whole number"
        );
        assert_eq!(
            unsigned::<u32>("-x1").unwrap_err(),
            "'-x1' is not a whole number"
        );
        assert_eq!(unsigned::<u32>("").unwrap_err(), "'' is not a whole number");
        assert_eq!(
            unsigned::<u32>("-5").unwrap_err(),
            "'-5' is negative: give a whole number from 0 to 4294967295"
        );
        assert_eq!(
            unsigned::<u32>("99999999999").unwrap_err(),
            "'99999999999' is too large: the most is 4294967295"
        );
    }
}
