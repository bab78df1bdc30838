//! A date of birth: strict `YYYY-MM-DD`, from 1900 to a `today` the caller supplies (pure,
//! so testable without a clock).

use chrono::NaiveDate;

use super::Invalid;

const FORMAT_MESSAGE: &str = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateOfBirth(NaiveDate);

impl DateOfBirth {
    pub fn parse(raw: &str, today: NaiveDate) -> Result<Option<DateOfBirth>, Invalid> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        // chrono alone would take `2001-2-3` or `+2001-02-03`.
        if !has_iso_shape(trimmed) {
            return Err(Invalid::one(FORMAT_MESSAGE));
        }
        let Ok(date) = NaiveDate::parse_from_str(trimmed, "%Y-%m-%d") else {
            return Err(Invalid::one(FORMAT_MESSAGE));
        };
        if date > today {
            return Err(Invalid::one("Date of birth cannot be in the future."));
        }
        if date < EARLIEST {
            return Err(Invalid::one("Date of birth cannot be before 1900-01-01."));
        }
        Ok(Some(DateOfBirth(date)))
    }

    pub fn date(&self) -> NaiveDate {
        self.0
    }
}

/// Evaluated at compile time, so a typo here fails the build, not a request.
const EARLIEST: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(date) => date,
    None => panic!("1900-01-01 is a valid date"),
};

fn has_iso_shape(s: &str) -> bool {
    s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 6, 15).unwrap()
    }

    fn parse(raw: &str) -> Result<Option<DateOfBirth>, Invalid> {
        DateOfBirth::parse(raw, today())
    }

    fn refused(message: &str) -> Result<Option<DateOfBirth>, Invalid> {
        Err(Invalid(vec![message.to_owned()]))
    }

    #[test]
    fn accepts_an_iso_date() {
        let dob = parse(" 1990-02-28 ").unwrap().unwrap();
        assert_eq!(dob.date(), NaiveDate::from_ymd_opt(1990, 2, 28).unwrap());
    }

    #[test]
    fn empty_string_clears_the_field() {
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("  "), Ok(None));
    }

    #[test]
    fn accepts_a_leap_day() {
        assert!(parse("2000-02-29").unwrap().is_some());
    }

    #[test]
    fn rejects_a_date_that_does_not_exist() {
        assert_eq!(parse("2001-02-29"), refused(FORMAT_MESSAGE));
        assert_eq!(parse("2001-13-01"), refused(FORMAT_MESSAGE));
        assert_eq!(parse("2001-04-31"), refused(FORMAT_MESSAGE));
    }

    #[test]
    fn rejects_other_shapes() {
        for raw in [
            "2001-2-03",
            "2001-02-3",
            "01-02-2001",
            "2001/02/03",
            "20010203",
            "+2001-02-03",
            "2001-02-03T00:00:00",
            "٢٠٠١-٠٢-٠٣",
            "2001-02-03x",
            "yesterday",
        ] {
            assert_eq!(parse(raw), refused(FORMAT_MESSAGE), "{raw}");
        }
    }

    #[test]
    fn accepts_today() {
        assert_eq!(parse("2024-06-15").unwrap().unwrap().date(), today());
    }

    #[test]
    fn rejects_tomorrow_as_in_the_future() {
        assert_eq!(
            parse("2024-06-16"),
            refused("Date of birth cannot be in the future.")
        );
    }

    #[test]
    fn accepts_1900_01_01() {
        assert!(parse("1900-01-01").unwrap().is_some());
    }

    #[test]
    fn rejects_dates_before_1900() {
        assert_eq!(
            parse("1899-12-31"),
            refused("Date of birth cannot be before 1900-01-01.")
        );
    }
}
