//! DUR words: `250ms`, `1.5s`, `2s`, `1m`, and how durations are shown.

use std::time::Duration;

/// The longest DUR sockrepl takes: a year.
const LONGEST_NANOS: u128 = 366 * 86_400 * 1_000_000_000;

/// Parses a DUR word, exactly (no floating point: `8571654688ms` is that
/// many milliseconds). Plain numbers are refused: `5` could mean seconds
/// or milliseconds, and a script should say which.
pub fn parse_duration(word: &str) -> Result<Duration, String> {
    let split = word
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| {
            format!("bad duration '{word}': give a unit, as in 250ms, 1.5s, 2s or 1m")
        })?;
    let (number, unit) = word.split_at(split);
    let unit_nanos: u128 = match unit {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return Err(format!("bad duration '{word}': the unit is ms, s, m or h")),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |text: &str| text.chars().all(|c| c.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return Err(format!(
            "bad duration '{word}': expected a number before the unit"
        ));
    }
    let too_long = || format!("bad duration '{word}': too long (at most a year)");
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_long())?
    };
    // Digits past the nanosecond cannot change the result.
    let fraction = &fraction[..fraction.len().min(18)];
    let scale = 10u128.pow(fraction.len() as u32);
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| too_long())?
    };
    let nanos = whole
        .checked_mul(unit_nanos)
        .and_then(|n| n.checked_add(fraction * unit_nanos / scale))
        .filter(|&n| n <= LONGEST_NANOS)
        .ok_or_else(too_long)?;
    Ok(Duration::from_nanos(nanos as u64))
}

/// Parses `DUR` or `none` (block forever).
pub fn parse_timeout(word: &str) -> Result<Option<Duration>, String> {
    if word == "none" {
        Ok(None)
    } else {
        parse_duration(word).map(Some)
    }
}

/// Shows a duration the way a script would write it (to the millisecond).
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis.is_multiple_of(60_000) && millis > 0 {
        format!("{}m", millis / 60_000)
    } else if millis.is_multiple_of(1000) {
        format!("{}s", millis / 1000)
    } else if millis >= 1000 {
        let decimals = format!("{:03}", millis % 1000);
        format!("{}.{}s", millis / 1000, decimals.trim_end_matches('0'))
    } else {
        format!("{millis}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("1e999s").is_err());
        assert!(parse_duration("1.2.3s").is_err());
        assert!(parse_duration(".s").is_err());
        assert_eq!(parse_duration(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(
            parse_duration("8571654688ms"),
            Ok(Duration::from_millis(8571654688))
        );
        assert!(parse_duration("367d").is_err());
        assert!(parse_duration("9999999999999999999999999h").is_err());
        assert!(parse_duration("340282366920938463463374607431768.999ms").is_err());
    }

    #[test]
    fn formats_round_trip() {
        for word in ["250ms", "1.5s", "2s", "1m", "0s", "8571654.688s", "1.05s"] {
            assert_eq!(format_duration(parse_duration(word).unwrap()), word);
        }
    }
}
