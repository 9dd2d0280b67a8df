//! Numbers as carriers write them on inbound calls (TEL-10, ACD-5): the
//! number called (a DID) and the caller's, in whatever form the carrier
//! sends (`137`, `0211500137`, `62211500137`, `+62 21 1500-137`, the
//! number of a `tel:` URI), brought to one E.164 form (`+62…`) so that
//! one `[[did]]` answers them all and the block list and priorities see
//! one number.
//!
//! Unlike [`crate::normalise`], which keeps service numbers as their
//! digits for the ACD's classes, short and local numbers get the box's
//! area code here: a carrier in Jakarta delivers the service number
//! `1500137` as `1500137`, `0211500137` or `+62211500137`, and these are
//! one number.

/// The longest E.164 number: 15 digits after the `+` (ITU-T E.164 §6).
const E164_MAX_DIGITS: usize = 15;

/// Numbers of at most this many digits without a trunk prefix are local
/// to the box's area (service numbers, 7–8 digit fixed lines); longer
/// ones are national numbers sent without their `0`.
const LOCAL_MAX_DIGITS: usize = 8;

/// `number` in E.164 (`+62…`) for a box whose area code is `home_area`
/// (`21` for Jakarta), or `None` when it is no number: empty, withheld
/// (`anonymous`), letters, or too long. A `tel:` prefix and its
/// parameters (`;phone-context=…`) are dropped; visual separators
/// (space, `-`, `.`, `(`, `)`) are ignored.
pub fn inbound_e164(number: &str, home_area: u16) -> Option<String> {
    let trimmed = number.trim();
    let body = match trimmed.get(..4) {
        Some(scheme) if scheme.eq_ignore_ascii_case("tel:") => &trimmed[4..],
        _ => trimmed,
    };
    let body = body.split(';').next().unwrap_or_default().trim();
    let (plus, rest) = match body.strip_prefix('+') {
        Some(r) => (true, r),
        None => (false, body),
    };
    if !rest
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
    {
        return None;
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    let e164 = if plus {
        format!("+{digits}")
    } else if let Some(abroad) = digits.strip_prefix("00") {
        format!("+{abroad}")
    } else if let Some(national) = digits.strip_prefix('0') {
        format!("+62{national}")
    } else if let Some(national) = digits.strip_prefix("62").filter(|n| {
        // The country code before a national number, or before the
        // box's own area code (`6221137`, a carrier's form of 137);
        // else a local number that begins with 62.
        n.len() >= LOCAL_MAX_DIGITS || n.starts_with(&home_area.to_string())
    }) {
        format!("+62{national}")
    } else if digits.len() <= LOCAL_MAX_DIGITS {
        format!("+62{home_area}{digits}")
    } else {
        format!("+62{digits}")
    };
    let count = e164.len() - 1;
    // A bare `+`, `0` or `00`, or no digits at all, is no number.
    let national_len = e164.strip_prefix("+62").map_or(count, str::len);
    (national_len > 0 && digits.len() > 1 && count <= E164_MAX_DIGITS).then_some(e164)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_service_number_is_one_number() {
        for n in [
            "1500137",
            "0211500137",
            "62211500137",
            "+62211500137",
            "+62 21 1500-137",
            "(021) 1500.137",
            "tel:+62-21-1500137",
            "TEL:0211500137;phone-context=+62",
            "0062211500137",
        ] {
            assert_eq!(inbound_e164(n, 21).as_deref(), Some("+62211500137"), "{n}");
        }
        for n in ["137", "021137", "6221137", "+6221137", "tel:+62-21-137"] {
            assert_eq!(inbound_e164(n, 21).as_deref(), Some("+6221137"), "{n}");
        }
        // A local number that begins with 62 stays local.
        assert_eq!(inbound_e164("6212345", 21).as_deref(), Some("+62216212345"));
        assert_eq!(
            inbound_e164("1500137", 22).as_deref(),
            Some("+62221500137"),
            "the area comes from the box"
        );
    }

    #[test]
    fn toll_free_mobile_and_foreign_numbers() {
        for n in [
            "08001500137",
            "0-800-1-500-137",
            "628001500137",
            "+628001500137",
        ] {
            assert_eq!(inbound_e164(n, 21).as_deref(), Some("+628001500137"), "{n}");
        }
        for n in [
            "081234567890",
            "6281234567890",
            "+62 812-3456-7890",
            "81234567890",
        ] {
            assert_eq!(
                inbound_e164(n, 21).as_deref(),
                Some("+6281234567890"),
                "{n}"
            );
        }
        assert_eq!(
            inbound_e164("35221234", 21).as_deref(),
            Some("+622135221234")
        );
        assert_eq!(
            inbound_e164("+65 6123 4567", 21).as_deref(),
            Some("+6561234567")
        );
        assert_eq!(
            inbound_e164("00165551234", 21).as_deref(),
            Some("+165551234")
        );
    }

    #[test]
    fn what_is_no_number_stays_none() {
        for n in [
            "",
            " ",
            "anonymous",
            "Unavailable",
            "+",
            "0",
            "00",
            "+62",
            "1",
            "12a4",
            "box",
            "tel:",
            "+1234567890123456",
        ] {
            assert_eq!(inbound_e164(n, 21), None, "{n:?}");
        }
    }
}
