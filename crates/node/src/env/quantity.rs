//! Just enough of Kubernetes' resource quantities for the downward API: parse a quantity
//! (`500m`, `1.5Gi`, `2e3`, `128974848`) and read it as whole units or thousandths, rounded
//! up the way `resource.Quantity.Value()` and `MilliValue()` round.

use super::EnvError;

/// Nanounits per unit: quantities are held as an exact count of billionths.
const NANO: i128 = 1_000_000_000;

/// A parsed quantity, held exactly in billionths of a unit (fractions below that round up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Quantity {
    nanos: i128,
}

impl Quantity {
    /// A quantity of `units` whole units.
    pub(crate) fn from_units(units: i128) -> Self {
        Quantity {
            nanos: units.saturating_mul(NANO),
        }
    }

    /// Parses the canonical or any accepted form of a Kubernetes quantity.
    pub(crate) fn parse(text: &str) -> Result<Self, EnvError> {
        let wrong = || EnvError::InvalidQuantity(text.to_string());
        let s = text.trim();
        let (negative, s) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let number_len = s
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let (number, suffix) = s.split_at(number_len);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(wrong());
        }
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let digits: String = format!("{whole}{fraction}");
        let mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| wrong())?
        };
        let fraction_digits = u32::try_from(fraction.len()).map_err(|_| wrong())?;
        // value = mantissa / 10^fraction_digits * 10^exp10 * 2^exp2, held in nanounits.
        let (exp10, exp2): (i32, u32) = match suffix {
            "" => (0, 0),
            "n" => (-9, 0),
            "u" => (-6, 0),
            "m" => (-3, 0),
            "k" => (3, 0),
            "M" => (6, 0),
            "G" => (9, 0),
            "T" => (12, 0),
            "P" => (15, 0),
            "E" => (18, 0),
            "Ki" => (0, 10),
            "Mi" => (0, 20),
            "Gi" => (0, 30),
            "Ti" => (0, 40),
            "Pi" => (0, 50),
            "Ei" => (0, 60),
            other => {
                let exponent = other
                    .strip_prefix('e')
                    .or_else(|| other.strip_prefix('E'))
                    .ok_or_else(wrong)?;
                (exponent.parse::<i32>().map_err(|_| wrong())?, 0)
            }
        };
        let scale = exp10 + 9 - i32::try_from(fraction_digits).map_err(|_| wrong())?;
        let mut nanos = mantissa
            .checked_mul(1i128.checked_shl(exp2).ok_or_else(wrong)?)
            .ok_or_else(wrong)?;
        if scale >= 0 {
            let factor = 10i128
                .checked_pow(u32::try_from(scale).map_err(|_| wrong())?)
                .ok_or_else(wrong)?;
            nanos = nanos.checked_mul(factor).ok_or_else(wrong)?;
        } else {
            let divisor = 10i128.checked_pow(scale.unsigned_abs()).ok_or_else(wrong)?;
            nanos = div_ceil(nanos, divisor);
        }
        Ok(Quantity {
            nanos: if negative { -nanos } else { nanos },
        })
    }

    /// Whether this is zero (Kubernetes treats a zero divisor as "unset", i.e. 1).
    pub(crate) fn is_zero(self) -> bool {
        self.nanos == 0
    }

    /// Whole units, rounded up (away from zero), like `Quantity.Value()`.
    pub(crate) fn value(self) -> i128 {
        div_ceil(self.nanos, NANO)
    }

    /// Thousandths, rounded up (away from zero), like `Quantity.MilliValue()`.
    pub(crate) fn milli_value(self) -> i128 {
        div_ceil(self.nanos, NANO / 1000)
    }
}

/// Division rounding away from zero.
fn div_ceil(numerator: i128, divisor: i128) -> i128 {
    if divisor == 0 {
        return 0;
    }
    let quotient = numerator / divisor;
    if numerator % divisor == 0 {
        quotient
    } else if (numerator < 0) == (divisor < 0) {
        quotient + 1
    } else {
        quotient - 1
    }
}

/// `ceil(a / b)` as the downward API computes it for resource values (never divides by zero).
pub(crate) fn ceil_ratio(numerator: i128, divisor: i128) -> i128 {
    if divisor == 0 {
        return 0;
    }
    div_ceil(numerator, divisor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }

    #[test]
    fn decimal_and_binary_suffixes() {
        assert_eq!(q("1").value(), 1);
        assert_eq!(q("500m").milli_value(), 500);
        assert_eq!(q("500m").value(), 1, "0.5 rounds up to 1");
        assert_eq!(q("1.5").milli_value(), 1500);
        assert_eq!(q("128Mi").value(), 128 * 1024 * 1024);
        assert_eq!(q("1Gi").value(), 1 << 30);
        assert_eq!(q("1G").value(), 1_000_000_000);
        assert_eq!(q("2k").value(), 2000);
        assert_eq!(q("1.5Gi").value(), 3 << 29);
        assert_eq!(q("1e3").value(), 1000);
        assert_eq!(q("1E-3").milli_value(), 1);
        assert_eq!(q("250u").milli_value(), 1, "a quarter milli rounds up");
        assert_eq!(q("+3").value(), 3);
        assert_eq!(q("-2").value(), -2);
        assert!(q("0").is_zero());
        assert_eq!(q("7Ei").value(), 7 << 60);
    }

    #[test]
    fn rejects_malformed_quantities() {
        for bad in ["", "abc", "1Zi", "1..2", ".", "1e", "m"] {
            let err = Quantity::parse(bad).unwrap_err();
            assert_eq!(
                err.to_string(),
                "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn ceil_ratio_rounds_up() {
        assert_eq!(ceil_ratio(1500, 1000), 2);
        assert_eq!(ceil_ratio(2000, 1000), 2);
        assert_eq!(ceil_ratio(5, 0), 0);
    }
}
