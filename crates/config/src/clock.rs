//! Time formats the gateway reads and writes: RFC 3339 timestamps (Ollama's `created_at`, keys'
//! `expires_at`, admin output), and Go-style durations (`6m0s`) for OpenAI's rate-limit headers.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch now (0 if the clock is before it): `created` fields, key
/// expiry.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Seconds in a minute.
const SECONDS_PER_MINUTE: i64 = 60;
/// Seconds in an hour.
const SECONDS_PER_HOUR: i64 = 3_600;
/// Seconds in a day.
const SECONDS_PER_DAY: i64 = 86_400;
/// Days in a 400-year Gregorian cycle.
const DAYS_PER_ERA: i64 = 146_097;
/// Days from 0000-03-01 (the proleptic calendar origin of [`days_from_civil`]) to 1970-01-01.
const UNIX_EPOCH_DAYS: i64 = 719_468;

/// Unix seconds of an RFC 3339 timestamp (`2025-07-07T20:32:53.844124Z`,
/// `2023-08-04T08:52:19.385406455-07:00`); fractions are cut. `None` when it does not parse, so
/// callers fall back to [`unix_now`].
pub fn unix_from_rfc3339(text: &str) -> Option<u64> {
    let number = |from: usize, to: usize| -> Option<i64> {
        let digits = text.get(from..to)?;
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())
            .flatten()
    };
    let bytes = text.as_bytes();
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, c)| bytes.get(at) != Some(&c))
        || !matches!(bytes.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    // 60 is a leap second.
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut zone = text.get(19..)?;
    if let Some(fraction) = zone.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        zone = fraction.get(digits..).filter(|_| digits > 0)?;
    }
    let offset = match zone.as_bytes() {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let zone_at = text.len() - zone.len();
            let seconds = number(zone_at + 1, zone_at + 3)? * SECONDS_PER_HOUR
                + number(zone_at + 4, zone_at + 6)? * SECONDS_PER_MINUTE;
            if *sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * SECONDS_PER_DAY
        + hour * SECONDS_PER_HOUR
        + minute * SECONDS_PER_MINUTE
        + second
        - offset;
    u64::try_from(seconds).ok()
}

/// Days since 1970-01-01 of a Gregorian date (Howard Hinnant's `days_from_civil`: years start
/// in March so the leap day comes last).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era - UNIX_EPOCH_DAYS
}

/// RFC 3339 (UTC, seconds) of Unix seconds, e.g. `2026-11-26T10:56:16Z`.
pub fn format_rfc3339(unix: u64) -> String {
    let secs = i64::try_from(unix).unwrap_or(i64::MAX);
    let (days, rest) = (
        secs.div_euclid(SECONDS_PER_DAY),
        secs.rem_euclid(SECONDS_PER_DAY),
    );
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / SECONDS_PER_HOUR,
        rest % SECONDS_PER_HOUR / SECONDS_PER_MINUTE,
        rest % SECONDS_PER_MINUTE
    )
}

/// Appends RFC 3339 (UTC, microseconds) of a time since the Unix epoch to `out`, e.g.
/// `2026-11-26T10:56:16.123456Z`: the precision of the other log lines' timestamps. Written
/// digit by digit because it is on every request's log line, where `format!` cost more than the
/// rest of the timestamp.
pub fn write_rfc3339_micros(out: &mut Vec<u8>, since_epoch: std::time::Duration) {
    let secs = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
    let (days, rest) = (
        secs.div_euclid(SECONDS_PER_DAY),
        secs.rem_euclid(SECONDS_PER_DAY),
    );
    let (year, month, day) = civil_from_days(days);
    push_digits(out, year, 4);
    out.push(b'-');
    push_digits(out, month, 2);
    out.push(b'-');
    push_digits(out, day, 2);
    out.push(b'T');
    push_digits(out, rest / SECONDS_PER_HOUR, 2);
    out.push(b':');
    push_digits(out, rest % SECONDS_PER_HOUR / SECONDS_PER_MINUTE, 2);
    out.push(b':');
    push_digits(out, rest % SECONDS_PER_MINUTE, 2);
    out.push(b'.');
    push_digits(out, i64::from(since_epoch.subsec_micros()), 6);
    out.push(b'Z');
}

/// Appends `value` in decimal, zero-padded to at least `width` digits (non-negative values:
/// every field of a timestamp after 1970).
fn push_digits(out: &mut Vec<u8>, value: i64, width: usize) {
    const MAX_DIGITS: usize = 20;
    let mut digits = [b'0'; MAX_DIGITS];
    let mut rest = value.unsigned_abs();
    let mut at = MAX_DIGITS;
    while rest > 0 && at > 0 {
        at -= 1;
        // A remainder of ten is below 10: the cast cannot truncate.
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    let start = at.min(MAX_DIGITS - width.min(MAX_DIGITS));
    out.extend_from_slice(&digits[start..]);
}

/// The Gregorian date of days since 1970-01-01 (the inverse of `days_from_civil`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + UNIX_EPOCH_DAYS;
    let era = days.div_euclid(DAYS_PER_ERA);
    let day_of_era = days - era * DAYS_PER_ERA;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A duration as Go prints it (`250ms`, `1s`, `6m0s`, `1h2m3s`), the format of OpenAI's
/// `x-ratelimit-reset-*` headers.
pub fn go_duration(d: std::time::Duration) -> String {
    let millis = d.as_millis();
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_timestamps() {
        let cases = [
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2025-07-07T20:32:53.844124Z", Some(1_751_920_373)),
            ("2023-08-04T08:52:19.385406455-07:00", Some(1_691_164_339)),
            ("2023-08-04T19:22:45.499127Z", Some(1_691_176_965)),
            ("2024-02-29T12:00:00+05:30", Some(1_709_188_200)),
            ("2000-03-01t00:00:00z", Some(951_868_800)),
            ("1969-12-31T23:59:59Z", None),
            ("2025-13-01T00:00:00Z", None),
            ("2025-07-07T20:32:53.Z", None),
            ("2025-07-07T20:32:53", None),
            ("2025-07-07 20:32:53+0100", None),
            ("not a time", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(unix_from_rfc3339(text), want, "{text}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for unix in [0, 951_868_800, 1_709_188_200, 1_795_691_776, 4_102_444_800] {
            assert_eq!(
                unix_from_rfc3339(&format_rfc3339(unix)),
                Some(unix),
                "{unix}"
            );
        }
        assert_eq!(format_rfc3339(1_795_691_776), "2026-11-26T11:16:16Z");
    }

    #[test]
    fn microsecond_timestamps_agree_with_the_seconds_format() {
        for (unix, micros, want) in [
            (0, 0, "1970-01-01T00:00:00.000000Z"),
            (1_795_691_776, 123_456, "2026-11-26T11:16:16.123456Z"),
            (951_782_400, 7, "2000-02-29T00:00:00.000007Z"),
            (253_402_300_799, 999_999, "9999-12-31T23:59:59.999999Z"),
        ] {
            let mut out = Vec::new();
            write_rfc3339_micros(&mut out, Duration::new(unix, micros * 1000));
            assert_eq!(String::from_utf8(out).unwrap(), want);
            assert_eq!(&want[..19], &format_rfc3339(unix)[..19]);
        }
    }

    #[test]
    fn go_durations() {
        use std::time::Duration;
        let cases = [
            (250, "250ms"),
            (1000, "1s"),
            (59_999, "59s"),
            (360_000, "6m0s"),
            (3_723_000, "1h2m3s"),
        ];
        for (ms, want) in cases {
            assert_eq!(go_duration(Duration::from_millis(ms)), want);
        }
    }
}
