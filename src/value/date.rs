//! [`Date`]: a point in time with millisecond precision, like a JavaScript `Date`, in the
//! tagged form TypeScript cRPC clients send, `{"__crpc": 1, "t": "$date", "v": <ms>}`.
//!
//! A [`Date`] *is* that tagged object in serde terms, so a date round-trips through every
//! path (the remote caller, the HTTP API, in-process calls, the database) and no
//! configuration can switch it off. Custom tags are the wire layer's
//! ([`Transformer`](crate::wire::Transformer)).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::value::ValueError;

/// The marker field of a tagged value.
pub const TAG_MARKER: &str = "__crpc";
/// The tag of a date.
pub const DATE_TAG: &str = "$date";

/// JavaScript's limit on dates: 8.64e15 ms either side of the epoch.
const MAX_DATE_MILLIS: i64 = 8_640_000_000_000_000;

/// A point in time with millisecond precision, like a JavaScript `Date`.
///
/// On the wire and in serde it is cRPC's tagged date,
/// `{"__crpc": 1, "t": "$date", "v": 1700000000000}`, so TypeScript cRPC clients read it as
/// a `Date` and send it back the same way. It also deserializes from a number of
/// milliseconds and from an RFC 3339 string (`"2024-05-01T12:00:00.000Z"`), the forms plain
/// JSON clients use.
///
/// ```
/// use convoke::Date;
///
/// let date = Date::from_millis(1_700_000_000_000);
/// assert_eq!(date.to_string(), "2023-11-14T22:13:20.000Z");
/// let json = serde_json::to_value(date).unwrap();
/// assert_eq!(json, serde_json::json!({ "__crpc": 1.0, "t": "$date", "v": 1700000000000.0 }));
/// assert_eq!(serde_json::from_value::<Date>(json).unwrap(), date);
/// assert_eq!("2023-11-14T22:13:20Z".parse::<Date>().unwrap(), date);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    millis: i64,
}

impl Date {
    /// The date `millis` milliseconds after the Unix epoch (negative: before it), clamped
    /// to JavaScript's range of ±8.64e15 ms.
    pub fn from_millis(millis: i64) -> Date {
        Date {
            millis: millis.clamp(-MAX_DATE_MILLIS, MAX_DATE_MILLIS),
        }
    }

    /// Milliseconds since the Unix epoch, as JavaScript's `date.getTime()`.
    pub fn millis(self) -> i64 {
        self.millis
    }

    /// Now, to the millisecond.
    pub fn now() -> Date {
        Date::from(SystemTime::now())
    }

    pub(crate) fn from_f64(ms: f64) -> Result<Date, String> {
        if !ms.is_finite() || ms.abs() > MAX_DATE_MILLIS as f64 {
            return Err(format!(
                "{ms} is not a valid date (milliseconds since the epoch)"
            ));
        }
        Ok(Date {
            millis: ms.trunc() as i64,
        })
    }

    /// Parses an RFC 3339 date-time: `2024-05-01T12:00:00Z`, with optional fractional
    /// seconds and a `Z` or `±hh:mm` offset; a bare date (`2024-05-01`) is midnight UTC.
    pub fn parse_rfc3339(text: &str) -> Result<Date, ValueError> {
        parse_rfc3339(text)
            .ok_or_else(|| ValueError::custom(format!("'{text}' is not an RFC 3339 date")))
    }
}

impl From<SystemTime> for Date {
    fn from(time: SystemTime) -> Date {
        let millis = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
            Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
        };
        Date::from_millis(millis)
    }
}

impl From<Date> for SystemTime {
    fn from(date: Date) -> SystemTime {
        let magnitude = Duration::from_millis(date.millis.unsigned_abs());
        if date.millis >= 0 {
            UNIX_EPOCH + magnitude
        } else {
            UNIX_EPOCH - magnitude
        }
    }
}

impl std::str::FromStr for Date {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Date, ValueError> {
        Date::parse_rfc3339(s)
    }
}

impl fmt::Display for Date {
    /// RFC 3339 in UTC with milliseconds, as JavaScript's `toISOString()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.millis.div_euclid(86_400_000);
        let ms_of_day = self.millis.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        let (h, m, s, ms) = (
            ms_of_day / 3_600_000,
            ms_of_day / 60_000 % 60,
            ms_of_day / 1000 % 60,
            ms_of_day % 1000,
        );
        if (0..=9999).contains(&year) {
            write!(
                f,
                "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z"
            )
        } else {
            write!(
                f,
                "{year:+07}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z"
            )
        }
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        // Numbers, not integers: on the wire JavaScript reads them as `number`s (an
        // integer would arrive as a `bigint` and fail `__crpc === 1`).
        map.serialize_entry(TAG_MARKER, &1.0f64)?;
        map.serialize_entry("t", DATE_TAG)?;
        map.serialize_entry("v", &(self.millis as f64))?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
        deserializer.deserialize_any(DateVisitor)
    }
}

struct DateVisitor;

impl<'de> Visitor<'de> for DateVisitor {
    type Value = Date;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a date: {\"__crpc\": 1, \"t\": \"$date\", \"v\": <ms>}, milliseconds since the epoch, \
             or an RFC 3339 string",
        )
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Date, E> {
        Date::from_f64(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Date, E> {
        Date::from_f64(v as f64).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Date, E> {
        Date::from_f64(v as f64).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Date, E> {
        parse_rfc3339(v).ok_or_else(|| E::custom(format!("'{v}' is not an RFC 3339 date")))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Date, A::Error> {
        let (mut marker, mut tag, mut payload) = (None, None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                TAG_MARKER => marker = Some(map.next_value::<f64>()?),
                "t" => tag = Some(map.next_value::<String>()?),
                "v" => payload = Some(map.next_value::<DatePayload>()?),
                other => {
                    return Err(de::Error::custom(format!(
                        "unexpected field '{other}' in a tagged date"
                    )));
                }
            }
        }
        if marker != Some(1.0) || tag.as_deref() != Some(DATE_TAG) {
            return Err(de::Error::custom(
                "expected a tagged date {\"__crpc\": 1, \"t\": \"$date\", \"v\": <ms>}",
            ));
        }
        match payload {
            Some(DatePayload(date)) => Ok(date),
            None => Err(de::Error::missing_field("v")),
        }
    }
}

/// The `v` of a tagged date: milliseconds (or, leniently, an RFC 3339 string).
struct DatePayload(Date);

impl<'de> Deserialize<'de> for DatePayload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PayloadVisitor;
        impl<'de> Visitor<'de> for PayloadVisitor {
            type Value = DatePayload;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("milliseconds since the epoch")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<DatePayload, E> {
                DateVisitor.visit_f64(v).map(DatePayload)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DatePayload, E> {
                DateVisitor.visit_i64(v).map(DatePayload)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DatePayload, E> {
                DateVisitor.visit_u64(v).map(DatePayload)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DatePayload, E> {
                DateVisitor.visit_str(v).map(DatePayload)
            }
        }
        deserializer.deserialize_any(PayloadVisitor)
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) to days since 1970-01-01.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn parse_rfc3339(text: &str) -> Option<Date> {
    let bytes = text.trim().as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = bytes.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    if bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let month = u32::try_from(month).ok().filter(|m| (1..=12).contains(m))?;
    let day = u32::try_from(day).ok().filter(|d| (1..=31).contains(d))?;
    let days = days_from_civil(year, month, day);
    if civil_from_days(days) != (year, month, day) {
        return None; // e.g. February 30th
    }
    let mut millis = days * 86_400_000;
    if bytes.len() == 10 {
        return Some(Date::from_millis(millis));
    }
    if !matches!(bytes.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    if bytes.get(13) != Some(&b':') || bytes.get(16) != Some(&b':') {
        return None;
    }
    let (h, m, s) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    millis += (h * 3600 + m * 60 + s.min(59)) * 1000;
    let mut rest = 19;
    if bytes.get(rest) == Some(&b'.') {
        let start = rest + 1;
        let mut end = start;
        while bytes.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == start {
            return None;
        }
        let fraction = bytes.get(start..end.min(start + 3))?;
        let mut ms = 0;
        for (i, digit) in fraction.iter().enumerate() {
            ms += i64::from(digit - b'0') * [100, 10, 1][i];
        }
        millis += ms;
        rest = end;
    }
    match bytes.get(rest..)? {
        b"Z" | b"z" => {}
        [sign @ (b'+' | b'-'), ..] if bytes.len() == rest + 6 && bytes[rest + 3] == b':' => {
            let (oh, om) = (number(rest + 1..rest + 3)?, number(rest + 4..rest + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let offset = (oh * 60 + om) * 60_000;
            millis += if *sign == b'+' { -offset } else { offset };
        }
        _ => return None,
    }
    Some(Date::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{self, Value};

    #[test]
    fn dates_print_and_parse_like_javascript() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        ];
        for (ms, text) in cases {
            assert_eq!(Date::from_millis(ms).to_string(), text);
            assert_eq!(text.parse::<Date>().unwrap().millis(), ms);
        }
        assert_eq!(
            "2023-11-14T23:13:20.5+01:00"
                .parse::<Date>()
                .unwrap()
                .millis(),
            1_700_000_000_500
        );
        assert_eq!(
            "2024-05-01".parse::<Date>().unwrap().to_string(),
            "2024-05-01T00:00:00.000Z"
        );
        for bad in [
            "",
            "2024-02-30",
            "2024-13-01",
            "yesterday",
            "2024-05-01T25:00:00Z",
            "2024-05-01T10:00:00",
        ] {
            assert!(bad.parse::<Date>().is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_deserialize_from_every_form() {
        let date = Date::from_millis(1_700_000_000_000);
        let tagged = value::to_value(&date).unwrap();
        assert_eq!(tagged.get("t").and_then(Value::as_str), Some(DATE_TAG));
        assert_eq!(value::from_value::<Date>(tagged).unwrap(), date);
        assert_eq!(
            value::from_value::<Date>(Value::Float64(1.7e12)).unwrap(),
            date
        );
        assert_eq!(
            value::from_value::<Date>(Value::Int64(1_700_000_000_000)).unwrap(),
            date
        );
        assert_eq!(
            value::from_value::<Date>(Value::String("2023-11-14T22:13:20Z".into())).unwrap(),
            date
        );
        let json = serde_json::json!({ "__crpc": 1, "t": "$date", "v": 1_700_000_000_000i64 });
        assert_eq!(serde_json::from_value::<Date>(json).unwrap(), date);
        let wrong = serde_json::json!({ "__crpc": 1, "t": "$map", "v": 1 });
        assert!(serde_json::from_value::<Date>(wrong).is_err());
        assert!(value::from_value::<Date>(Value::Float64(f64::NAN)).is_err());
    }
}
