//! kubectl's `HumanDuration`: the short ages (`25s`, `5m3s`, `3h`, `2d4h`) of the AGE column.

use std::time::Duration;

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// kubectl's HumanDuration ("25s", "5m3s", "3h", "2d4h", "<unknown>"...) as the apiserver prints AGE.
///
/// About two or three significant figures: seconds below 2 minutes, minutes and seconds below
/// 10 minutes, minutes below 3 hours, hours and minutes below 8 hours, hours below 2 days,
/// days and hours below 8 days, days below 2 years, then years and days up to 8 years and
/// years beyond. (`<unknown>` is what the AGE column shows for a missing timestamp; it is
/// decided before a duration exists, see the row printers.)
pub fn human_duration(d: Duration) -> String {
    // Go's time.Duration is an int64 of nanoseconds; longer spans saturate, as time.Since does.
    let nanos = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    human_duration_nanos(nanos)
}

/// [`human_duration`] of a signed span in nanoseconds (negative when the moment lies ahead).
///
/// Up to a second and a bit in the future counts as now (`0s`), tolerating clock skew;
/// further ahead is `<invalid>`.
pub(crate) fn human_duration_nanos(nanos: i64) -> String {
    // Integer division truncates toward zero, like Go's int(d.Seconds()).
    let seconds = nanos / NANOS_PER_SECOND;
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    if seconds < 0 {
        return "0s".to_owned();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return match seconds % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{days}d"),
            h => format!("{days}d{h}h"),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        return match days % 365 {
            0 => format!("{years}y"),
            dy => format!("{years}y{dy}d"),
        };
    }
    format!("{years}y")
}

/// The age of `then` at `now`, as the AGE column prints it.
pub(crate) fn since(then: jiff::Timestamp, now: jiff::Timestamp) -> String {
    let nanos = now.as_nanosecond() - then.as_nanosecond();
    let nanos = i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX });
    human_duration_nanos(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> String {
        human_duration(Duration::from_secs(s))
    }

    const MIN: u64 = 60;
    const HOUR: u64 = 60 * MIN;
    const DAY: u64 = 24 * HOUR;
    const YEAR: u64 = 365 * DAY;

    #[test]
    fn seconds_below_two_minutes() {
        assert_eq!(secs(0), "0s");
        assert_eq!(secs(25), "25s");
        assert_eq!(secs(119), "119s");
        assert_eq!(human_duration(Duration::from_millis(119_999)), "119s");
    }

    #[test]
    fn minutes_and_seconds_below_ten_minutes() {
        assert_eq!(secs(120), "2m");
        assert_eq!(secs(5 * MIN + 3), "5m3s");
        assert_eq!(secs(10 * MIN - 1), "9m59s");
        assert_eq!(secs(10 * MIN), "10m");
        assert_eq!(secs(10 * MIN + 59), "10m");
    }

    #[test]
    fn minutes_below_three_hours_then_hours_and_minutes() {
        assert_eq!(secs(3 * HOUR - 1), "179m");
        assert_eq!(secs(3 * HOUR), "3h");
        assert_eq!(secs(3 * HOUR + 25 * MIN), "3h25m");
        assert_eq!(secs(8 * HOUR - 1), "7h59m");
        assert_eq!(secs(8 * HOUR), "8h");
        assert_eq!(secs(8 * HOUR + 59 * MIN), "8h");
        assert_eq!(secs(48 * HOUR - 1), "47h");
    }

    #[test]
    fn days() {
        assert_eq!(secs(48 * HOUR), "2d");
        assert_eq!(secs(2 * DAY + 4 * HOUR), "2d4h");
        assert_eq!(secs(8 * DAY - 1), "7d23h");
        assert_eq!(secs(8 * DAY), "8d");
        assert_eq!(secs(8 * DAY + 23 * HOUR), "8d");
        assert_eq!(secs(2 * YEAR - 1), "729d");
    }

    #[test]
    fn years() {
        assert_eq!(secs(2 * YEAR), "2y");
        assert_eq!(secs(2 * YEAR + 40 * DAY), "2y40d");
        assert_eq!(secs(8 * YEAR - 1), "7y364d");
        assert_eq!(secs(8 * YEAR + 200 * DAY), "8y");
        // Beyond Go's time.Duration range the span saturates at about 292 years.
        assert_eq!(human_duration(Duration::from_secs(1000 * YEAR)), "292y");
    }

    #[test]
    fn small_negative_spans_are_now_and_larger_ones_invalid() {
        assert_eq!(human_duration_nanos(-1_999_999_999), "0s");
        assert_eq!(human_duration_nanos(-2_000_000_000), "<invalid>");
    }

    #[test]
    fn since_subtracts() {
        let then: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let now: jiff::Timestamp = "2025-01-01T00:05:03.9Z".parse().unwrap();
        assert_eq!(since(then, now), "5m3s");
        assert_eq!(since(now, then), "<invalid>");
    }
}
