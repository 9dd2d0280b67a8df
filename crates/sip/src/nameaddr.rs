//! `name-addr` / `addr-spec` with header parameters (From, To, Contact;
//! RFC 3261 §20.10, §25.1). Parameters after an addr-spec without angle
//! brackets belong to the header, not the URI (RFC 4475 §3.1.2.13).

use crate::msg::is_token;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameAddrError {
    #[error("unterminated quoted string")]
    Quote,
    #[error("display name is not tokens or a quoted string")]
    DisplayName,
    #[error("missing '>'")]
    Angle,
    #[error("whitespace inside the address")]
    Space,
    #[error("an addr-spec outside <> cannot carry headers or commas")]
    AddrSpec,
    #[error("empty address")]
    Empty,
    #[error("bad parameter")]
    Param,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    pub display: Option<String>,
    /// The URI as written (not parsed: any scheme is legal in these headers,
    /// RFC 4475 §3.3.4).
    pub uri: String,
    pub params: Vec<(String, Option<String>)>,
}

impl NameAddr {
    pub fn parse(s: &str) -> Result<NameAddr, NameAddrError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(NameAddrError::Empty);
        }
        let (display, rest) = if let Some(q) = s.strip_prefix('"') {
            let end = quoted_end(q).ok_or(NameAddrError::Quote)?;
            let display = unquote_inner(&q[..end]);
            let rest = q[end + 1..].trim_start();
            if !rest.starts_with('<') {
                return Err(NameAddrError::DisplayName);
            }
            (Some(display), rest)
        } else if let Some(lt) = s.find('<') {
            let d = s[..lt].trim();
            if !d.split_whitespace().all(is_token) {
                return Err(NameAddrError::DisplayName);
            }
            let display = if d.is_empty() {
                None
            } else {
                Some(d.to_string())
            };
            (display, &s[lt..])
        } else {
            (None, s)
        };
        let (uri, params_part) = if let Some(inner) = rest.strip_prefix('<') {
            let gt = inner.find('>').ok_or(NameAddrError::Angle)?;
            let uri = &inner[..gt];
            if uri.is_empty() || uri.chars().any(char::is_whitespace) {
                return Err(NameAddrError::Space);
            }
            (uri.to_string(), &inner[gt + 1..])
        } else {
            let (uri, params) = match rest.find(';') {
                Some(i) => (rest[..i].trim(), &rest[i..]),
                None => (rest, ""),
            };
            if uri.is_empty() || uri.chars().any(char::is_whitespace) {
                return Err(NameAddrError::Space);
            }
            if uri.contains(['?', ',']) {
                return Err(NameAddrError::AddrSpec);
            }
            (uri.to_string(), params)
        };
        let params = parse_params(params_part)?;
        Ok(NameAddr {
            display,
            uri,
            params,
        })
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    pub fn tag(&self) -> Option<&str> {
        self.param("tag")
    }
}

/// Parses `;name[=value]` parameters, values optionally quoted, LWS around
/// `;` and `=` allowed.
pub fn parse_params(s: &str) -> Result<Vec<(String, Option<String>)>, NameAddrError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let s = s.strip_prefix(';').ok_or(NameAddrError::Param)?;
    let mut out = Vec::new();
    for part in split_outside_quotes(s, ';') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        match part.split_once('=') {
            Some((k, v)) => {
                let k = k.trim();
                let v = v.trim();
                if !is_token(k) {
                    return Err(NameAddrError::Param);
                }
                let v = match v.strip_prefix('"') {
                    Some(q) => {
                        let end = quoted_end(q).ok_or(NameAddrError::Quote)?;
                        unquote_inner(&q[..end])
                    }
                    None => v.to_string(),
                };
                out.push((k.to_ascii_lowercase(), Some(v)));
            }
            None => {
                if !is_token(part) {
                    return Err(NameAddrError::Param);
                }
                out.push((part.to_ascii_lowercase(), None));
            }
        }
    }
    Ok(out)
}

/// Splits at `sep` outside double quotes (honouring backslash escapes).
pub fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_q = false;
    let mut esc = false;
    for (i, c) in s.char_indices() {
        if esc {
            esc = false;
            continue;
        }
        match c {
            '\\' if in_q => esc = true,
            '"' => in_q = !in_q,
            c if c == sep && !in_q => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// Index of the closing quote in `s` (which starts after the opening one).
pub(crate) fn quoted_end(s: &str) -> Option<usize> {
    let mut esc = false;
    for (i, c) in s.char_indices() {
        if esc {
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == '"' {
            return Some(i);
        }
    }
    None
}

pub(crate) fn unquote_inner(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut esc = false;
    for c in s.chars() {
        if esc {
            out.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_display_and_params() {
        let n = NameAddr::parse(r#""J Rosenberg \\\""  <sip:jdrosen@example.com> ; tag = 98asjd8"#)
            .unwrap();
        assert_eq!(n.display.as_deref(), Some(r#"J Rosenberg \""#));
        assert_eq!(n.uri, "sip:jdrosen@example.com");
        assert_eq!(n.tag(), Some("98asjd8"));
    }

    #[test]
    fn addr_spec_params_belong_to_header() {
        let n = NameAddr::parse("sip:user@example.com;expires=30;q=0.5").unwrap();
        assert_eq!(n.uri, "sip:user@example.com");
        assert_eq!(n.param("expires"), Some("30"));
        let n = NameAddr::parse("<sip:user@example.com;transport=tcp>;expires=30").unwrap();
        assert_eq!(n.uri, "sip:user@example.com;transport=tcp");
    }

    #[test]
    fn rejects_rfc4475_invalid_forms() {
        assert_eq!(
            NameAddr::parse(r#""Mr J. User <sip:j.user@example.com>"#),
            Err(NameAddrError::Quote)
        );
        assert_eq!(
            NameAddr::parse("Bell, Alexander <sip:a.g.bell@example.com>;tag=43"),
            Err(NameAddrError::DisplayName)
        );
        assert_eq!(
            NameAddr::parse(r#""Watson, Thomas" < sip:t.watson@example.org >"#),
            Err(NameAddrError::Space)
        );
        assert_eq!(
            NameAddr::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E"),
            Err(NameAddrError::AddrSpec)
        );
    }
}
