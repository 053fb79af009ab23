//! Dates carried by file names: what cameras and WhatsApp write into the name when they save.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

use super::{DateSource, Taken};

/// The date a file name carries, if it follows a known pattern:
/// WhatsApp `IMG-YYYYMMDD-WA0001.jpg` (also VID, AUD, PTT, DOC, STK; the day only, at
/// midnight), Pixel `PXL_YYYYMMDD_HHMMSSmmm` (UTC), `Screenshot_YYYYMMDD-HHMMSS` (local) and
/// Samsung `YYYYMMDD_HHMMSS` (local wall clock, no offset).
pub fn from_name(name: &str) -> Option<Taken> {
    let b = name.as_bytes();
    for prefix in ["IMG-", "VID-", "AUD-", "PTT-", "DOC-", "STK-"] {
        if let Some(rest) = strip_prefix_ignore_case(b, prefix) {
            if rest.len() >= 11 && rest[8] == b'-' && rest[9..11].eq_ignore_ascii_case(b"WA") {
                let day = date(&rest[..8])?;
                return Some(filename_date(day.and_time(NaiveTime::MIN), None));
            }
            return None;
        }
    }
    if let Some(rest) = b.strip_prefix(b"PXL_") {
        return date_time(rest, b'_').map(|dt| filename_date(dt, Some(0)));
    }
    if let Some(rest) = b.strip_prefix(b"Screenshot_") {
        return date_time(rest, b'-')
            .or_else(|| date_time(rest, b'_'))
            .map(|dt| filename_date(dt, None));
    }
    date_time(b, b'_').map(|dt| filename_date(dt, None))
}

fn filename_date(local: NaiveDateTime, offset_seconds: Option<i32>) -> Taken {
    Taken {
        local,
        offset_seconds,
        source: DateSource::Filename,
    }
}

fn strip_prefix_ignore_case<'a>(b: &'a [u8], prefix: &str) -> Option<&'a [u8]> {
    let p = prefix.as_bytes();
    (b.len() >= p.len() && b[..p.len()].eq_ignore_ascii_case(p)).then(|| &b[p.len()..])
}

/// `YYYYMMDD<sep>HHMMSS` at the start of `b`, followed by the end, a non-digit, or
/// milliseconds (Pixel).
fn date_time(b: &[u8], sep: u8) -> Option<NaiveDateTime> {
    if b.len() < 15 || b[8] != sep {
        return None;
    }
    let day = date(&b[..8])?;
    let t = &b[9..15];
    if !t.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let time = NaiveTime::from_hms_opt(num(&t[0..2]), num(&t[2..4]), num(&t[4..6]))?;
    Some(day.and_time(time))
}

fn date(b: &[u8]) -> Option<NaiveDate> {
    if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let year = i32::try_from(num(&b[0..4])).ok()?;
    // Eight digits that are not a plausible camera date are more likely a counter.
    if !(1990..=2100).contains(&year) {
        return None;
    }
    NaiveDate::from_ymd_opt(year, num(&b[4..6]), num(&b[6..8]))
}

fn num(b: &[u8]) -> u32 {
    b.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'))
}

#[cfg(test)]
mod tests {
    use super::from_name;
    use crate::catalog::DateSource;
    use chrono::NaiveDate;

    fn dt(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> chrono::NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, s)
            .unwrap()
    }

    #[test]
    fn whatsapp_names_give_the_day() {
        let t = from_name("IMG-20240312-WA0001.jpg").unwrap();
        assert_eq!(t.local, dt(2024, 3, 12, 0, 0, 0));
        assert_eq!(t.offset_seconds, None);
        assert_eq!(t.source, DateSource::Filename);
        for name in [
            "VID-20231231-WA0042.mp4",
            "PTT-20231231-WA0002.opus",
            "AUD-20231231-WA0000.m4a",
            "DOC-20231231-WA0003.pdf",
            "STK-20231231-WA0004.webp",
        ] {
            assert_eq!(
                from_name(name).unwrap().local,
                dt(2023, 12, 31, 0, 0, 0),
                "{name}"
            );
        }
    }

    #[test]
    fn pixel_names_are_utc() {
        let t = from_name("PXL_20240312_153012345.jpg").unwrap();
        assert_eq!(t.local, dt(2024, 3, 12, 15, 30, 12));
        assert_eq!(t.offset_seconds, Some(0));
        let t = from_name("PXL_20240312_153012345.MP.jpg").unwrap();
        assert_eq!(t.local, dt(2024, 3, 12, 15, 30, 12));
    }

    #[test]
    fn samsung_and_screenshot_names_are_local() {
        let t = from_name("20230704_221501.jpg").unwrap();
        assert_eq!(t.local, dt(2023, 7, 4, 22, 15, 1));
        assert_eq!(t.offset_seconds, None);
        let t = from_name("Screenshot_20220101-090807.png").unwrap();
        assert_eq!(t.local, dt(2022, 1, 1, 9, 8, 7));
        let t = from_name("Screenshot_20220101_090807_Chrome.png").unwrap();
        assert_eq!(t.local, dt(2022, 1, 1, 9, 8, 7));
    }

    #[test]
    fn other_names_carry_no_date() {
        for name in [
            "holiday.jpg",
            "IMG_1234.JPG",
            "IMG-2024031-WA0001.jpg",
            "20241399_101010.jpg",
            "20240312_256000.jpg",
            "12345678_123456.jpg",
            "PXL_2024.jpg",
            "",
        ] {
            assert_eq!(from_name(name), None, "{name}");
        }
    }
}
