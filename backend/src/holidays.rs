//! Holiday calendars: a country's public holidays and/or listed dates.
//!
//! The detector judges a holiday like a Sunday (see `series`), so a holiday's low volume
//! neither alerts nor teaches the model that Mondays are quiet.
//!
//! Why our own table: the one Rust port of python-holidays (`holidays` 0.1.0) states no
//! licence, and `bdays` covers finance calendars only (CRATES.md). National public holidays
//! follow a handful of rules (fixed dates, nth weekday of a month, Easter offsets, weekend
//! substitutes), so the rules for the countries below fit in one small table. Regional
//! holidays (German states, …) and one-off days (jubilees, state funerals) are not in it:
//! list those as dates.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, NaiveDate, Weekday};

/// The countries with built-in rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Country {
    /// United States: federal holidays, with Saturday/Sunday dates observed Friday/Monday.
    Us,
    /// United Kingdom (England and Wales bank holidays), with weekend substitutes.
    Gb,
    /// Germany: the nine nationwide holidays.
    De,
    /// France: the eleven public holidays.
    Fr,
    /// The Netherlands: the public holidays; Liberation Day every fifth year.
    Nl,
}

impl Country {
    /// Every country with built-in rules, by code.
    pub const ALL: [(&'static str, Country); 5] = [
        ("US", Country::Us),
        ("GB", Country::Gb),
        ("DE", Country::De),
        ("FR", Country::Fr),
        ("NL", Country::Nl),
    ];

    /// The country for an ISO 3166 alpha-2 code (any case; `UK` is taken for `GB`).
    pub fn from_code(code: &str) -> Option<Country> {
        let code = code.trim().to_ascii_uppercase();
        let code = if code == "UK" { "GB" } else { code.as_str() };
        Country::ALL
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, country)| *country)
    }

    /// Whether `date` is a public holiday here (or the day a holiday is observed on).
    pub fn is_holiday(self, date: NaiveDate) -> bool {
        // A holiday observed in another year (US New Year's Day on a Saturday is observed
        // on the Friday before) is found by also looking at the neighbouring years.
        let year = date.year();
        (year - 1..=year + 1).any(|y| self.holidays(y).contains(&date))
    }

    /// The holidays of one year (observed dates included, possibly falling in another year).
    fn holidays(self, year: i32) -> Vec<NaiveDate> {
        let mut days = Vec::with_capacity(16);
        let mut push = |d: Option<NaiveDate>| days.extend(d);
        match self {
            Country::Us => {
                for (month, day) in [(1, 1), (7, 4), (11, 11), (12, 25)] {
                    us_observed(&mut push, ymd(year, month, day));
                }
                if year >= 2021 {
                    us_observed(&mut push, ymd(year, 6, 19));
                }
                push(nth_weekday(year, 1, Weekday::Mon, 3)); // Martin Luther King Jr. Day
                push(nth_weekday(year, 2, Weekday::Mon, 3)); // Washington's Birthday
                push(nth_weekday(year, 5, Weekday::Mon, -1)); // Memorial Day
                push(nth_weekday(year, 9, Weekday::Mon, 1)); // Labor Day
                push(nth_weekday(year, 10, Weekday::Mon, 2)); // Columbus Day
                push(nth_weekday(year, 11, Weekday::Thu, 4)); // Thanksgiving
            }
            Country::Gb => {
                push(substitute_monday(ymd(year, 1, 1)));
                push(easter(year, -2));
                push(easter(year, 1));
                push(nth_weekday(year, 5, Weekday::Mon, 1)); // Early May
                push(nth_weekday(year, 5, Weekday::Mon, -1)); // Spring
                push(nth_weekday(year, 8, Weekday::Mon, -1)); // Summer
                for d in gb_christmas(year) {
                    push(Some(d));
                }
            }
            Country::De => {
                for (month, day) in [(1, 1), (5, 1), (10, 3), (12, 25), (12, 26)] {
                    push(ymd(year, month, day));
                }
                for offset in [-2, 1, 39, 50] {
                    push(easter(year, offset));
                }
            }
            Country::Fr => {
                let fixed = [
                    (1, 1),
                    (5, 1),
                    (5, 8),
                    (7, 14),
                    (8, 15),
                    (11, 1),
                    (11, 11),
                    (12, 25),
                ];
                for (month, day) in fixed {
                    push(ymd(year, month, day));
                }
                for offset in [1, 39, 50] {
                    push(easter(year, offset));
                }
            }
            Country::Nl => {
                for (month, day) in [(1, 1), (12, 25), (12, 26)] {
                    push(ymd(year, month, day));
                }
                for offset in [0, 1, 39, 49, 50] {
                    push(easter(year, offset));
                }
                push(nl_kings_day(year));
                if year % 5 == 0 {
                    push(ymd(year, 5, 5)); // Liberation Day, a day off in lustrum years
                }
            }
        }
        days
    }
}

fn ymd(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day)
}

/// The `n`th `weekday` of a month; a negative `n` counts from the end (-1 = the last).
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: i8) -> Option<NaiveDate> {
    if n > 0 {
        NaiveDate::from_weekday_of_month_opt(year, month, weekday, n.unsigned_abs())
    } else {
        let last = if month == 12 {
            ymd(year, 12, 31)?
        } else {
            ymd(year, month + 1, 1)?.pred_opt()?
        };
        let back = (7 + last.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
        let back = u64::from(back) + 7 * u64::from(n.unsigned_abs() - 1);
        last.checked_sub_days(Days::new(back))
    }
}

/// Easter Sunday plus `offset` days (anonymous Gregorian algorithm).
fn easter(year: i32, offset: i64) -> Option<NaiveDate> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    let sunday = ymd(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)?;
    sunday.checked_add_signed(chrono::TimeDelta::try_days(offset)?)
}

/// A US federal holiday and, when it falls on a weekend, the weekday it is observed on.
fn us_observed(push: &mut impl FnMut(Option<NaiveDate>), date: Option<NaiveDate>) {
    let Some(date) = date else { return };
    push(Some(date));
    match date.weekday() {
        Weekday::Sat => push(date.pred_opt()),
        Weekday::Sun => push(date.succ_opt()),
        _ => {}
    }
}

/// A holiday on a weekend moves to the following Monday.
fn substitute_monday(date: Option<NaiveDate>) -> Option<NaiveDate> {
    let date = date?;
    match date.weekday() {
        Weekday::Sat => date.checked_add_days(Days::new(2)),
        Weekday::Sun => date.succ_opt(),
        _ => Some(date),
    }
}

/// Christmas and Boxing Day in England and Wales, moved off the weekend: the two days
/// become the first two weekdays from the 25th.
fn gb_christmas(year: i32) -> Vec<NaiveDate> {
    let Some(christmas) = ymd(year, 12, 25) else {
        return Vec::new();
    };
    christmas
        .iter_days()
        .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .take(2)
        .collect()
}

/// King's Day (27 April, the 26th when the 27th is a Sunday); Queen's Day (30 April, the
/// 29th when a Sunday) before 2014.
fn nl_kings_day(year: i32) -> Option<NaiveDate> {
    let day = if year >= 2014 { 27 } else { 30 };
    let date = ymd(year, 4, day)?;
    if date.weekday() == Weekday::Sun {
        date.pred_opt()
    } else {
        Some(date)
    }
}

/// Countries' public holidays plus listed dates: the `holidays:` calendar of a check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HolidayCalendar {
    countries: Vec<Country>,
    dates: BTreeSet<NaiveDate>,
}

/// A calendar entry that is neither a known country code nor a date.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HolidayError {
    #[error(
        "unknown holiday country `{0}`; known countries are US, GB, DE, FR and NL (list other days as YYYY-MM-DD dates)"
    )]
    UnknownCountry(String),
    #[error("`{0}` is neither a country code nor a date (YYYY-MM-DD)")]
    NotADate(String),
}

impl HolidayCalendar {
    /// The public holidays of one country, by ISO code (`US`, `GB`, `DE`, `FR`, `NL`).
    pub fn country(code: &str) -> Result<HolidayCalendar, HolidayError> {
        HolidayCalendar::default().with_country(code)
    }

    /// Adds a country's public holidays.
    pub fn with_country(mut self, code: &str) -> Result<HolidayCalendar, HolidayError> {
        let country =
            Country::from_code(code).ok_or_else(|| HolidayError::UnknownCountry(code.into()))?;
        if !self.countries.contains(&country) {
            self.countries.push(country);
        }
        Ok(self)
    }

    /// Adds listed dates (company shutdowns, regional or one-off holidays).
    pub fn with_dates(mut self, dates: impl IntoIterator<Item = NaiveDate>) -> HolidayCalendar {
        self.dates.extend(dates);
        self
    }

    /// Whether `date` (a local date) is a holiday in this calendar.
    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.dates.contains(&date) || self.countries.iter().any(|c| c.is_holiday(date))
    }
}

/// Parses a comma-separated list of country codes and `YYYY-MM-DD` dates, such as
/// `DE, 2026-12-24, 2026-12-31`.
impl FromStr for HolidayCalendar {
    type Err = HolidayError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut calendar = HolidayCalendar::default();
        for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            calendar = if entry.len() == 2 && entry.chars().all(|c| c.is_ascii_alphabetic()) {
                calendar.with_country(entry)?
            } else {
                let date = NaiveDate::parse_from_str(entry, "%Y-%m-%d")
                    .map_err(|_| HolidayError::NotADate(entry.into()))?;
                calendar.with_dates([date])
            };
        }
        Ok(calendar)
    }
}

impl fmt::Display for HolidayCalendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let codes = self.countries.iter().map(|c| {
            Country::ALL
                .iter()
                .find(|(_, k)| k == c)
                .map_or("?", |(code, _)| code)
                .to_string()
        });
        let dates = self.dates.iter().map(|d| d.to_string());
        let entries: Vec<String> = codes.chain(dates).collect();
        f.write_str(&entries.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
    }

    #[test]
    fn easter_dates() {
        assert_eq!(easter(2024, 0), Some(d("2024-03-31")));
        assert_eq!(easter(2025, 0), Some(d("2025-04-20")));
        assert_eq!(easter(2026, 0), Some(d("2026-04-05")));
        assert_eq!(easter(2019, 0), Some(d("2019-04-21")));
    }

    #[test]
    fn us_rules_and_observed_days() {
        let us = HolidayCalendar::country("us").expect("US");
        for day in [
            "2026-01-19", // Martin Luther King Jr. Day, 3rd Monday
            "2026-05-25", // Memorial Day, last Monday
            "2026-11-26", // Thanksgiving, 4th Thursday
            "2026-07-03", // Independence Day falls on a Saturday: observed on Friday
            "2023-01-02", // New Year's Day 2023 falls on a Sunday: observed on Monday
            "2021-12-31", // New Year's Day 2022 falls on a Saturday: observed the Friday before
        ] {
            assert!(us.is_holiday(d(day)), "{day}");
        }
        assert!(!us.is_holiday(d("2026-06-18")));
        assert!(
            !us.is_holiday(d("2019-06-19")),
            "Juneteenth is federal from 2021"
        );
    }

    #[test]
    fn gb_substitutes_christmas_on_a_weekend() {
        let gb = HolidayCalendar::country("UK").expect("GB");
        // 2021: Christmas on Saturday, Boxing Day on Sunday: Monday 27th and Tuesday 28th.
        assert!(gb.is_holiday(d("2021-12-27")));
        assert!(gb.is_holiday(d("2021-12-28")));
        assert!(gb.is_holiday(d("2026-04-03")), "Good Friday");
        assert!(gb.is_holiday(d("2026-08-31")), "Summer bank holiday");
        assert!(!gb.is_holiday(d("2026-07-14")));
    }

    #[test]
    fn de_fr_nl_rules() {
        let de = HolidayCalendar::country("DE").expect("DE");
        assert!(de.is_holiday(d("2026-05-14")), "Ascension = Easter + 39");
        assert!(de.is_holiday(d("2026-05-25")), "Whit Monday = Easter + 50");
        assert!(de.is_holiday(d("2026-10-03")));
        let fr = HolidayCalendar::country("FR").expect("FR");
        assert!(fr.is_holiday(d("2026-07-14")));
        assert!(!fr.is_holiday(d("2026-04-03")), "no Good Friday in France");
        let nl = HolidayCalendar::country("NL").expect("NL");
        assert!(
            nl.is_holiday(d("2025-04-26")),
            "King's Day moves to Saturday 26th"
        );
        assert!(
            nl.is_holiday(d("2025-05-05")),
            "Liberation Day in a lustrum year"
        );
        assert!(!nl.is_holiday(d("2026-05-05")));
    }

    #[test]
    fn parses_countries_and_dates() {
        let calendar: HolidayCalendar = "DE, 2026-12-24".parse().expect("calendar");
        assert!(calendar.is_holiday(d("2026-12-24")));
        assert!(calendar.is_holiday(d("2026-12-25")));
        assert_eq!(calendar.to_string(), "DE, 2026-12-24");
        assert_eq!(
            "XX".parse::<HolidayCalendar>(),
            Err(HolidayError::UnknownCountry("XX".into()))
        );
        assert_eq!(
            "2026-13-01".parse::<HolidayCalendar>(),
            Err(HolidayError::NotADate("2026-13-01".into()))
        );
    }
}
