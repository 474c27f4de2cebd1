//! Durations as users write them: `30s`, `15m`, `2h`, `1d`, `1w`, and combinations written
//! largest unit first (`1h30m`, `1d12h`). A bare number is refused: `30` could mean seconds or
//! minutes, and guessing wrong silently shifts a freshness SLA by a factor of sixty.

use std::fmt;
use std::time::Duration;

/// Units from largest to smallest, with their length in seconds.
const UNITS: [(char, u64); 5] = [
    ('w', 7 * 86_400),
    ('d', 86_400),
    ('h', 3_600),
    ('m', 60),
    ('s', 1),
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DurationError {
    Empty,
    MissingUnit,
    UnknownUnit(char),
    Space,
    MissingNumber(char),
    Fraction,
    UnitOrder,
    TooLong,
    Zero,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Empty => f.write_str("it is empty"),
            DurationError::MissingUnit => {
                f.write_str("add a unit: s, m, h, d or w (e.g. 30s, 15m, 2h, 1d)")
            }
            DurationError::UnknownUnit(unit) => {
                write!(f, "unknown unit '{unit}' (use s, m, h, d or w)")
            }
            DurationError::Space => f.write_str("remove the spaces (e.g. 2h, 1h30m)"),
            DurationError::MissingNumber(unit) => write!(f, "expected a number before '{unit}'"),
            DurationError::Fraction => f.write_str("use whole numbers (e.g. 90m, not 1.5h)"),
            DurationError::UnitOrder => {
                f.write_str("write each unit once, largest first (e.g. 1h30m)")
            }
            DurationError::TooLong => f.write_str("it is too long"),
            DurationError::Zero => f.write_str("it must be longer than zero"),
        }
    }
}

pub(crate) fn parse(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut seconds: u64 = 0;
    // Index into UNITS of the last unit seen: each next unit must come later in the list.
    let mut last_unit: Option<usize> = None;
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let mut number: Option<u64> = None;
        while let Some(digit) = chars.peek().and_then(|c| c.to_digit(10)) {
            let value = number.unwrap_or(0);
            number = Some(
                value
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u64::from(digit)))
                    .ok_or(DurationError::TooLong)?,
            );
            chars.next();
        }
        let Some(unit) = chars.next() else {
            return Err(DurationError::MissingUnit);
        };
        if unit == '.' || unit == ',' {
            return Err(DurationError::Fraction);
        }
        if unit.is_whitespace() {
            return Err(DurationError::Space);
        }
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(DurationError::UnknownUnit(unit));
        };
        let Some(number) = number else {
            return Err(DurationError::MissingNumber(unit));
        };
        if last_unit.is_some_and(|last| index <= last) {
            return Err(DurationError::UnitOrder);
        }
        last_unit = Some(index);
        seconds = number
            .checked_mul(UNITS[index].1)
            .and_then(|part| seconds.checked_add(part))
            .ok_or(DurationError::TooLong)?;
    }
    if seconds == 0 {
        return Err(DurationError::Zero);
    }
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> Result<u64, DurationError> {
        parse(text).map(|duration| duration.as_secs())
    }

    #[test]
    fn single_units() {
        assert_eq!(secs("30s"), Ok(30));
        assert_eq!(secs("15m"), Ok(900));
        assert_eq!(secs("2h"), Ok(7_200));
        assert_eq!(secs("1d"), Ok(86_400));
        assert_eq!(secs("1w"), Ok(604_800));
    }

    #[test]
    fn combinations_largest_first() {
        assert_eq!(secs("1h30m"), Ok(5_400));
        assert_eq!(secs("1w2d3h4m5s"), Ok(604_800 + 172_800 + 10_800 + 240 + 5));
        assert_eq!(secs("90m"), Ok(5_400));
    }

    #[test]
    fn a_bare_number_asks_for_a_unit() {
        assert_eq!(secs("30"), Err(DurationError::MissingUnit));
        assert_eq!(secs("1h30"), Err(DurationError::MissingUnit));
        assert_eq!(
            DurationError::MissingUnit.to_string(),
            "add a unit: s, m, h, d or w (e.g. 30s, 15m, 2h, 1d)"
        );
    }

    #[test]
    fn malformed_durations() {
        assert_eq!(secs(""), Err(DurationError::Empty));
        assert_eq!(secs("5x"), Err(DurationError::UnknownUnit('x')));
        assert_eq!(secs("5 m"), Err(DurationError::Space));
        assert_eq!(secs("2 hours"), Err(DurationError::Space));
        assert_eq!(secs("h"), Err(DurationError::MissingNumber('h')));
        assert_eq!(secs("1.5h"), Err(DurationError::Fraction));
        assert_eq!(secs("30m1h"), Err(DurationError::UnitOrder));
        assert_eq!(secs("1h1h"), Err(DurationError::UnitOrder));
        assert_eq!(secs("0s"), Err(DurationError::Zero));
        assert_eq!(secs("-5m"), Err(DurationError::UnknownUnit('-')));
        assert_eq!(secs("99999999999999999999s"), Err(DurationError::TooLong));
        assert_eq!(secs("9999999999999999w"), Err(DurationError::TooLong));
    }
}
