//! RFC 3339 formatting of `meta.v1.Time` and `MicroTime` values, in UTC, the way Kubernetes'
//! JSON encoder writes them.

use crate::ProtobufError;

/// 0000-01-01T00:00:00Z in Unix seconds.
const MIN_SECONDS: i64 = -62_167_219_200;
/// 9999-12-31T23:59:59Z in Unix seconds.
const MAX_SECONDS: i64 = 253_402_300_799;

/// Formats `seconds` (plus `nanos`, truncated toward zero to whole microseconds and then
/// normalised like Go's `time.Unix`) as `2006-01-02T15:04:05Z`, or with six fractional digits
/// when `micro` is set.
pub(crate) fn rfc3339(seconds: i64, nanos: i32, micro: bool) -> Result<String, ProtobufError> {
    let nanos = nanos - nanos % 1000;
    let seconds = seconds
        .checked_add(i64::from(nanos).div_euclid(1_000_000_000))
        .filter(|s| (MIN_SECONDS..=MAX_SECONDS).contains(s))
        .ok_or(ProtobufError::TimestampOutOfRange { seconds })?;
    let nanos = i64::from(nanos).rem_euclid(1_000_000_000);
    let days = seconds.div_euclid(86_400);
    let secs_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (secs_of_day / 3600, secs_of_day / 60 % 60, secs_of_day % 60);
    let mut out = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}");
    if micro {
        out.push_str(&format!(".{:06}", nanos / 1000));
    }
    out.push('Z');
    Ok(out)
}

/// Converts days since 1970-01-01 into a proleptic Gregorian (year, month, day), counting in
/// 400-year eras that start on March 1st so that leap days fall at the end of a year.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0, 0, false).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(1_136_214_245, 0, false).unwrap(),
            "2006-01-02T15:04:05Z"
        );
        assert_eq!(
            rfc3339(951_782_400, 0, false).unwrap(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            rfc3339(1_709_251_199, 0, false).unwrap(),
            "2024-02-29T23:59:59Z"
        );
        assert_eq!(rfc3339(-1, 0, false).unwrap(), "1969-12-31T23:59:59Z");
        assert_eq!(
            rfc3339(MIN_SECONDS, 0, false).unwrap(),
            "0000-01-01T00:00:00Z"
        );
        assert_eq!(
            rfc3339(MAX_SECONDS, 0, false).unwrap(),
            "9999-12-31T23:59:59Z"
        );
    }

    #[test]
    fn time_drops_fraction_and_micro_time_keeps_six_digits() {
        assert_eq!(
            rfc3339(1_136_214_245, 999_999_999, false).unwrap(),
            "2006-01-02T15:04:05Z"
        );
        assert_eq!(
            rfc3339(1_136_214_245, 123_456_789, true).unwrap(),
            "2006-01-02T15:04:05.123456Z"
        );
        assert_eq!(rfc3339(0, 0, true).unwrap(), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn normalises_out_of_range_nanos() {
        assert_eq!(
            rfc3339(0, 1_500_000_000, true).unwrap(),
            "1970-01-01T00:00:01.500000Z"
        );
        assert_eq!(rfc3339(0, -1, true).unwrap(), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339(0, -1500, true).unwrap(),
            "1969-12-31T23:59:59.999999Z"
        );
    }

    #[test]
    fn rejects_years_beyond_four_digits() {
        assert!(rfc3339(MAX_SECONDS + 1, 0, false).is_err());
        assert!(rfc3339(MIN_SECONDS - 1, 0, false).is_err());
        assert!(rfc3339(i64::MAX, i32::MAX, false).is_err());
        assert!(rfc3339(i64::MIN, i32::MIN, false).is_err());
    }
}
