//! DUR words: `250ms`, `1.5s`, `2s`, `1m`, and how durations are shown.

use std::time::Duration;

/// Parses a DUR word. Plain numbers are refused: `5` could mean seconds or
/// milliseconds, and a script should say which.
pub fn parse_duration(word: &str) -> Result<Duration, String> {
    let split = word
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| {
            format!("bad duration '{word}': give a unit, as in 250ms, 1.5s, 2s or 1m")
        })?;
    let (number, unit) = word.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("bad duration '{word}': expected a number before the unit"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("bad duration '{word}': the unit is ms, s, m or h")),
    };
    if !seconds.is_finite() || seconds > 366.0 * 86400.0 {
        return Err(format!("bad duration '{word}': too long"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Parses `DUR` or `none` (block forever).
pub fn parse_timeout(word: &str) -> Result<Option<Duration>, String> {
    if word == "none" {
        Ok(None)
    } else {
        parse_duration(word).map(Some)
    }
}

/// Shows a duration the way a script would write it.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis.is_multiple_of(60_000) && millis > 0 {
        format!("{}m", millis / 60_000)
    } else if millis.is_multiple_of(1000) {
        format!("{}s", millis / 1000)
    } else if millis >= 1000 {
        format!("{}s", duration.as_secs_f64())
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
    }

    #[test]
    fn formats_round_trip() {
        for word in ["250ms", "1.5s", "2s", "1m", "0s"] {
            assert_eq!(format_duration(parse_duration(word).unwrap()), word);
        }
    }
}
