//! Times as driftlog reads and writes them: epoch milliseconds inside, ISO 8601 with
//! milliseconds (`2024-05-01T10:00:00.123Z`) in AWS-shaped output, and the forms users type.

use crate::{Error, Result};
use chrono::{DateTime, SecondsFormat, Utc};

/// Now, in epoch milliseconds.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// AWS Config's notification time format: `2024-05-01T10:00:00.123Z`.
pub fn iso_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 time into epoch milliseconds.
///
/// # Errors
/// [`Error::Time`] when `text` is not RFC 3339.
pub fn parse_rfc3339_ms(text: &str) -> Result<i64> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|_| Error::Time {
            value: text.to_string(),
        })
}

/// Parses the time forms a user may type, relative to `now_ms`: RFC 3339, `now`, epoch
/// seconds (`1714557600`, fractions allowed), or `-90s`, `-30m`, `-2h`, `-7d`, `-1w`.
///
/// # Errors
/// [`Error::Time`] naming the text when it has none of these forms.
pub fn parse_user_time(text: &str, now_ms: i64) -> Result<i64> {
    let t = text.trim();
    let bad = || Error::Time {
        value: text.to_string(),
    };
    if t.eq_ignore_ascii_case("now") {
        return Ok(now_ms);
    }
    if let Some(rel) = t.strip_prefix('-') {
        let split = rel.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (num, unit) = rel.split_at(split);
        let n: i64 = num.parse().map_err(|_| bad())?;
        let unit_ms = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            _ => return Err(bad()),
        };
        return Ok(now_ms - n.checked_mul(unit_ms).ok_or_else(bad)?);
    }
    if let Ok(secs) = t.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok((secs * 1000.0).round() as i64);
        }
        return Err(bad());
    }
    parse_rfc3339_ms(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_time_forms() {
        let now = 1_714_557_600_123;
        let cases: &[(&str, Option<i64>)] = &[
            ("now", Some(now)),
            ("-2h", Some(now - 7_200_000)),
            ("-30m", Some(now - 1_800_000)),
            ("-1d", Some(now - 86_400_000)),
            ("2024-05-01T10:00:00.123Z", Some(1_714_557_600_123)),
            ("2024-05-01T12:00:00+02:00", Some(1_714_557_600_000)),
            ("1714557600", Some(1_714_557_600_000)),
            ("yesterday", None),
            ("-2x", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_user_time(text, now).ok(), *want, "{text}");
        }
    }

    #[test]
    fn iso_has_millis_and_z() {
        assert_eq!(iso_ms(1_714_557_600_123), "2024-05-01T10:00:00.123Z");
    }
}
