//! SIP URIs (RFC 3261 §19.1) as our own parser reads them: rsip drops the
//! user of `sip:john.doe@example.com`, truncates `;gr=urn:...` and cannot hold
//! IPv6 hosts or a `;` in the user part.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    #[error("not a sip or sips URI")]
    UnknownScheme,
    #[error("empty host")]
    Host,
    #[error("bad port")]
    Port,
    #[error("whitespace or control characters in URI")]
    Chars,
}

/// A parsed `sip:` or `sips:` URI. `user` keeps its escapes; compare with
/// [`Uri::user_unescaped`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    pub secure: bool,
    pub user: Option<String>,
    pub password: Option<String>,
    /// Host without brackets for IPv6 (`::1`), lowercase.
    pub host: String,
    pub port: Option<u16>,
    pub params: Vec<(String, Option<String>)>,
    pub headers: Vec<String>,
}

/// Decodes `%XX` escapes; malformed escapes are kept literally.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hexval(b[i + 1]), hexval(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hexval(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

impl Uri {
    pub fn parse(s: &str) -> Result<Uri, UriError> {
        if s.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(UriError::Chars);
        }
        let (scheme, rest) = s.split_once(':').ok_or(UriError::UnknownScheme)?;
        let secure = if scheme.eq_ignore_ascii_case("sip") {
            false
        } else if scheme.eq_ignore_ascii_case("sips") {
            true
        } else {
            return Err(UriError::UnknownScheme);
        };
        // Neither parameters nor headers may hold an unescaped '@', so the
        // last one ends the userinfo even when the user has ';', '?' or ':'.
        let (userinfo, hostpart) = match rest.rfind('@') {
            Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            Some(ui) => match ui.split_once(':') {
                Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
                None => (Some(ui.to_string()), None),
            },
            None => (None, None),
        };
        let (hostpart, headers) = match hostpart.split_once('?') {
            Some((h, hdrs)) => (h, hdrs.split('&').map(str::to_string).collect()),
            None => (hostpart, Vec::new()),
        };
        let mut pieces = hostpart.split(';');
        let hostport = pieces.next().unwrap_or_default();
        let params = pieces
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.to_ascii_lowercase(), Some(v.to_string())),
                None => (p.to_ascii_lowercase(), None),
            })
            .collect();
        let (host, port) = split_hostport(hostport)?;
        Ok(Uri {
            secure,
            user,
            password,
            host,
            port,
            params,
            headers,
        })
    }

    pub fn user_unescaped(&self) -> Option<String> {
        self.user.as_deref().map(unescape)
    }

    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }

    /// The address-of-record key (RFC 3261 §10.3 step 5): scheme, unescaped
    /// user and lowercase host, without port and parameters.
    pub fn aor(&self) -> String {
        format!(
            "{}:{}@{}",
            if self.secure { "sips" } else { "sip" },
            self.user_unescaped().unwrap_or_default(),
            self.host
        )
    }

    /// Host with brackets when IPv6, for writing back into a URI or Via.
    pub fn host_for_uri(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

/// Splits `host[:port]`, accepting `[v6]:port`.
pub fn split_hostport(s: &str) -> Result<(String, Option<u16>), UriError> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or(UriError::Host)?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(UriError::Port),
        };
        (h, port)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err(UriError::Host);
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().map_err(|_| UriError::Port)?),
        None => None,
    };
    Ok((host.to_ascii_lowercase(), port))
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            f.write_str("@")?;
        }
        f.write_str(&self.host_for_uri())?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        for (k, v) in &self.params {
            match v {
                Some(v) => write!(f, ";{k}={v}")?,
                None => write!(f, ";{k}")?,
            }
        }
        if !self.headers.is_empty() {
            write!(f, "?{}", self.headers.join("&"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_user_of_dotted_names() {
        let u = Uri::parse("sip:john.doe@example.com").unwrap();
        assert_eq!(u.user.as_deref(), Some("john.doe"));
        assert_eq!(u.host, "example.com");
    }

    #[test]
    fn gruu_param_is_kept_whole() {
        let u = Uri::parse("sip:a@b;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6").unwrap();
        assert_eq!(
            u.param("gr"),
            Some(Some("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"))
        );
    }

    #[test]
    fn ipv6_and_semicolon_user() {
        let u = Uri::parse("sip:[2001:db8::10]:5070;transport=tcp").unwrap();
        assert_eq!(u.host, "2001:db8::10");
        assert_eq!(u.port, Some(5070));
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(
            u.user_unescaped().as_deref(),
            Some("user;par=u@example.net")
        );
        assert_eq!(u.to_string(), "sip:user;par=u%40example.net@example.com");
    }

    #[test]
    fn escapes_compare_equal() {
        let a = Uri::parse("sip:sips%3Auser%40example.com@example.net").unwrap();
        assert_eq!(a.aor(), "sip:sips:user@example.com@example.net");
        let b = Uri::parse("sip:%61lice@EXAMPLE.com").unwrap();
        assert_eq!(b.aor(), "sip:alice@example.com");
    }

    #[test]
    fn rejects_other_schemes_and_bad_ports() {
        assert_eq!(Uri::parse("soap.beep://x"), Err(UriError::UnknownScheme));
        assert_eq!(Uri::parse("sip:a@b:99999"), Err(UriError::Port));
        assert_eq!(Uri::parse("sip:a@"), Err(UriError::Host));
    }
}
