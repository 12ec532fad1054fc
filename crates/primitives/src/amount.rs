//! UMB amounts: 12 decimals, exact parsing and formatting.

use crate::Balance;

/// Number of decimals of UMB.
pub const DECIMALS: u32 = 12;
/// One UMB in the smallest unit.
pub const UNITS: Balance = 1_000_000_000_000;

/// Error parsing an amount of UMB.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// The text is not a decimal number such as `1.5`.
    #[error("invalid amount `{0}`: expected a decimal number of UMB such as 1.5")]
    Invalid(String),
    /// More than 12 digits after the decimal point.
    #[error("invalid amount `{0}`: UMB has at most 12 decimals")]
    TooPrecise(String),
    /// The amount does not fit in 128 bits.
    #[error("invalid amount `{0}`: too large")]
    Overflow(String),
}

/// Parses a decimal UMB amount (`"1.5"`, `"0.000000000001"`, `"42"`) into the smallest unit,
/// exactly (no floating point).
pub fn parse_amount(text: &str) -> Result<Balance, AmountError> {
    let t = text.trim();
    let (int, frac) = match t.split_once('.') {
        Some((i, f)) => (i, f),
        None => (t, ""),
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return Err(AmountError::Invalid(text.to_string()));
    }
    if frac.len() > DECIMALS as usize {
        return Err(AmountError::TooPrecise(text.to_string()));
    }
    let overflow = || AmountError::Overflow(text.to_string());
    let int_part: Balance = if int.is_empty() { 0 } else { int.parse().map_err(|_| overflow())? };
    let mut frac_part: Balance =
        if frac.is_empty() { 0 } else { frac.parse().map_err(|_| overflow())? };
    frac_part *= 10u128.pow(DECIMALS - frac.len() as u32);
    int_part.checked_mul(UNITS).and_then(|v| v.checked_add(frac_part)).ok_or_else(overflow)
}

/// Formats an amount in the smallest unit as UMB without trailing zeros, e.g. `1.5 UMB`.
pub fn format_amount(value: Balance) -> String {
    let int = value / UNITS;
    let frac = value % UNITS;
    if frac == 0 {
        format!("{int} UMB")
    } else {
        let f = format!("{frac:012}");
        format!("{int}.{} UMB", f.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(parse_amount("1.5").unwrap(), 1_500_000_000_000);
        assert_eq!(parse_amount("0.000000000001").unwrap(), 1);
        assert_eq!(parse_amount("42").unwrap(), 42 * UNITS);
        assert_eq!(parse_amount(".5").unwrap(), UNITS / 2);
    }

    #[test]
    fn rejects_bad_amounts() {
        assert!(matches!(parse_amount("abc"), Err(AmountError::Invalid(_))));
        assert!(matches!(parse_amount("-1"), Err(AmountError::Invalid(_))));
        assert!(matches!(parse_amount(""), Err(AmountError::Invalid(_))));
        assert!(matches!(parse_amount("1.0000000000001"), Err(AmountError::TooPrecise(_))));
        assert!(matches!(parse_amount("1e3"), Err(AmountError::Invalid(_))));
        assert!(matches!(
            parse_amount("999999999999999999999999999999999999999"),
            Err(AmountError::Overflow(_))
        ));
    }

    #[test]
    fn formats_without_trailing_zeros() {
        assert_eq!(format_amount(1_500_000_000_000), "1.5 UMB");
        assert_eq!(format_amount(UNITS), "1 UMB");
        assert_eq!(format_amount(1), "0.000000000001 UMB");
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(v in 0u128..(u128::MAX / UNITS)) {
            let s = format_amount(v);
            prop_assert_eq!(parse_amount(s.trim_end_matches(" UMB")).unwrap(), v);
        }
    }
}
