//! Numbers between Q.931 and SIP: a Calling or Called Party Number with
//! its type of number becomes the user part of a SIP URI, and back.
//!
//! Towards pbxd numbers are written as SIP trunks write them (the
//! normalisation of `dering-telco`): international and national numbers
//! in E.164 with `+`, a national number's country code taken from the
//! span; short and unknown numbers (137, 1500xyz) as dialled, so the dial
//! plan's DIDs match. Towards the carrier a `+` number of the span's own
//! country goes as national, any other `+` number as international, and
//! everything else as dialled with type "unknown", which carriers route
//! by its prefix.

use dering_isdn::q931::{PartyNumber, TypeOfNumber};

/// The SIP user part for `n`, on a span whose country code is `cc`.
pub fn to_sip_user(n: &PartyNumber, cc: &str) -> String {
    let digits: String = n
        .digits
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '*' || *c == '#')
        .collect();
    match n.ton {
        TypeOfNumber::International => format!("+{digits}"),
        TypeOfNumber::National => format!("+{cc}{digits}"),
        _ => dering_telco::numbers::normalise(&digits).unwrap_or(digits),
    }
}

/// The party number for a SIP user part (`+6221…`, `137`), on a span
/// whose country code is `cc`; `None` when it has no digit.
pub fn from_sip_user(user: &str, cc: &str) -> Option<PartyNumber> {
    let digits: String = user.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    let n = if user.starts_with('+') {
        match digits.strip_prefix(cc) {
            Some(rest) if !rest.is_empty() => PartyNumber::e164(TypeOfNumber::National, rest),
            _ => PartyNumber::e164(TypeOfNumber::International, &digits),
        }
    } else {
        PartyNumber::e164(TypeOfNumber::Unknown, &digits)
    };
    Some(n)
}

/// The digits to dial on an analog line for a SIP user part, as a phone
/// on that line would: a `+` number of the line's country `cc` with the
/// trunk prefix 0, another `+` number with the international prefix 00
/// (Indonesia's 001/007/008 are carriers' own; 00 reaches the default),
/// anything else as given. `None` when there is nothing to dial.
pub fn dial_string(user: &str, cc: &str) -> Option<String> {
    let keep = |c: &char| c.is_ascii_digit() || *c == '*' || *c == '#';
    let digits: String = user.chars().filter(keep).collect();
    if digits.is_empty() {
        return None;
    }
    if !user.starts_with('+') {
        return Some(digits);
    }
    Some(match digits.strip_prefix(cc) {
        Some(rest) if !rest.is_empty() => format!("0{rest}"),
        _ => format!("00{digits}"),
    })
}

/// The user part of a SIP URI or name-addr (`"A" <sip:137@h>;tag=x`).
pub fn user_of(uri_or_nameaddr: &str) -> Option<&str> {
    let s = uri_or_nameaddr;
    let s = s.find('<').map_or(s, |i| &s[i + 1..]);
    let s = s
        .strip_prefix("sip:")
        .or_else(|| s.strip_prefix("sips:"))
        .or_else(|| s.strip_prefix("tel:"))?;
    let end = s.find(['@', ';', '>']).unwrap_or(s.len());
    let user = &s[..end];
    (!user.is_empty() && s[end..].starts_with('@')).then_some(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_of_number_becomes_e164_and_back() {
        let intl = PartyNumber::e164(TypeOfNumber::International, "6221555");
        let nat = PartyNumber::e164(TypeOfNumber::National, "215550123");
        let short = PartyNumber::e164(TypeOfNumber::Unknown, "137");
        let dialled = PartyNumber::e164(TypeOfNumber::Unknown, "0215550123");
        assert_eq!(to_sip_user(&intl, "62"), "+6221555");
        assert_eq!(to_sip_user(&nat, "62"), "+62215550123");
        assert_eq!(to_sip_user(&short, "62"), "137");
        assert_eq!(to_sip_user(&dialled, "62"), "+62215550123");
        assert_eq!(from_sip_user("+62215550123", "62"), Some(nat));
        assert_eq!(
            from_sip_user("+6512345678", "62"),
            Some(PartyNumber::e164(TypeOfNumber::International, "6512345678"))
        );
        assert_eq!(from_sip_user("137", "62"), Some(short));
        assert_eq!(from_sip_user("anonymous", "62"), None);
    }

    #[test]
    fn lines_dial_numbers_as_a_phone_on_the_line_would() {
        assert_eq!(
            dial_string("+62215550123", "62").as_deref(),
            Some("0215550123")
        );
        assert_eq!(
            dial_string("+6512345678", "62").as_deref(),
            Some("006512345678")
        );
        assert_eq!(
            dial_string("081234567890", "62").as_deref(),
            Some("081234567890")
        );
        assert_eq!(dial_string("137", "62").as_deref(), Some("137"));
        assert_eq!(dial_string("anonymous", "62"), None);
    }

    #[test]
    fn the_user_part_is_found_in_uris_and_name_addrs() {
        assert_eq!(user_of("sip:137@127.0.0.1:5060"), Some("137"));
        assert_eq!(user_of("\"A\" <sip:+6221@h>;tag=1"), Some("+6221"));
        assert_eq!(user_of("<sip:h:5060>"), None);
        assert_eq!(user_of("mailto:x"), None);
    }
}
