//! Indonesian telephone numbers (ACD-5, ACD-6): callers' numbers are
//! normalised to E.164 (`+62…`) and classified, so priority rules and the
//! blocklist can say "mobile" or "Jakarta" instead of listing prefixes in
//! every written form (`0812…`, `62812…`, `+62 812-…`).
//!
//! The plan followed: mobile numbers are `08xx` nationally (`+628xx`);
//! fixed lines are an area code of 1–3 digits after the trunk prefix `0`
//! (`021` Jakarta, `022` Bandung, `031` Surabaya, `0361` Denpasar, …);
//! short numbers (`1xx`, `1500xxx`, `0800…` toll-free, `112`) are
//! services.

use serde::Serialize;

/// What kind of number a caller has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberClass {
    Mobile,
    /// A fixed line; `area` is its area code without the trunk 0
    /// (`21` for Jakarta).
    Fixed {
        area: u16,
    },
    /// Service, emergency, toll-free and premium numbers.
    Special,
    /// A number outside Indonesia.
    International,
    /// No number, or one withheld.
    Anonymous,
    /// An internal extension of the box.
    Internal,
}

/// Area codes (after the trunk 0) of two digits: Jakarta, Bandung,
/// Semarang, Surabaya, Medan. Every other area has three (0361 Denpasar,
/// 0411 Makassar, 0711 Palembang, …).
const TWO_DIGIT_AREAS: &[u16] = &[21, 22, 24, 31, 61];

/// The E.164 form (`+62…`) of a number written the Indonesian ways, or the
/// digits as they are for short and internal numbers; `None` for a
/// withheld or empty number.
pub fn normalise(number: &str) -> Option<String> {
    let trimmed = number.trim();
    if trimmed.is_empty()
        || trimmed.eq_ignore_ascii_case("anonymous")
        || trimmed.eq_ignore_ascii_case("unknown")
    {
        return None;
    }
    let plus = trimmed.starts_with('+');
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    Some(if plus {
        format!("+{digits}")
    } else if let Some(rest) = digits.strip_prefix("00") {
        // International prefix.
        format!("+{rest}")
    } else if let Some(rest) = digits.strip_prefix("62").filter(|r| r.len() >= 8) {
        format!("+62{rest}")
    } else if let Some(rest) = digits.strip_prefix('0').filter(|r| !r.starts_with("800")) {
        if rest.len() >= 7 {
            format!("+62{rest}")
        } else {
            digits
        }
    } else {
        digits
    })
}

/// Classifies `number` (any written form); `internal_len` is the length of
/// the box's extensions (4 in the demo).
pub fn classify(number: &str, internal_len: usize) -> NumberClass {
    let Some(n) = normalise(number) else {
        return NumberClass::Anonymous;
    };
    let Some(national) = n.strip_prefix("+62") else {
        if n.starts_with('+') {
            return NumberClass::International;
        }
        if n.len() == internal_len {
            return NumberClass::Internal;
        }
        return NumberClass::Special;
    };
    if national.starts_with('8') {
        // 08xx mobile; 0800 and 0809 are toll-free and premium.
        if national.starts_with("800") || national.starts_with("809") {
            return NumberClass::Special;
        }
        return NumberClass::Mobile;
    }
    NumberClass::Fixed {
        area: area_code(national).unwrap_or(0),
    }
}

/// The area code of a fixed number written after its trunk 0 (or `+62`).
pub(crate) fn area_code(national: &str) -> Option<u16> {
    let two: u16 = national.get(..2)?.parse().ok()?;
    if TWO_DIGIT_AREAS.contains(&two) {
        return Some(two);
    }
    national.get(..3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_forms_normalise_to_e164() {
        for n in [
            "081234567890",
            "+6281234567890",
            "6281234567890",
            "+62 812-3456-7890",
            "0062 812 3456 7890",
        ] {
            assert_eq!(normalise(n).as_deref(), Some("+6281234567890"), "{n}");
        }
        assert_eq!(
            normalise("(021) 3522-1234").as_deref(),
            Some("+622135221234")
        );
        assert_eq!(normalise("137").as_deref(), Some("137"));
        assert_eq!(normalise("08001500137").as_deref(), Some("08001500137"));
        assert_eq!(normalise("anonymous"), None);
        assert_eq!(normalise(" "), None);
    }

    #[test]
    fn classes() {
        assert_eq!(classify("081234567890", 4), NumberClass::Mobile);
        assert_eq!(classify("+62 857 1111 2222", 4), NumberClass::Mobile);
        assert_eq!(
            classify("021-3522-1234", 4),
            NumberClass::Fixed { area: 21 }
        );
        assert_eq!(classify("022 250 1234", 4), NumberClass::Fixed { area: 22 });
        assert_eq!(
            classify("0361 222 333", 4),
            NumberClass::Fixed { area: 361 }
        );
        assert_eq!(classify("08001500137", 4), NumberClass::Special);
        assert_eq!(classify("137", 4), NumberClass::Special);
        assert_eq!(classify("112", 4), NumberClass::Special);
        assert_eq!(classify("1500137", 4), NumberClass::Special);
        assert_eq!(classify("+65 6123 4567", 4), NumberClass::International);
        assert_eq!(classify("", 4), NumberClass::Anonymous);
        assert_eq!(classify("Anonymous", 4), NumberClass::Anonymous);
        assert_eq!(classify("2001", 4), NumberClass::Internal);
        assert_eq!(classify("1003", 4), NumberClass::Internal);
    }
}
