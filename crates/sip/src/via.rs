//! The Via header (RFC 3261 §20.42) with LWS around `/` tolerated, and the
//! rport/received rules of RFC 3581.

use crate::nameaddr::{parse_params, NameAddrError};
use crate::uri::split_hostport;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    pub transport: String,
    pub host: String,
    pub port: Option<u16>,
    pub params: Vec<(String, Option<String>)>,
}

impl Via {
    pub fn parse(s: &str) -> Result<Via, NameAddrError> {
        let (proto, params) = match s.find(';') {
            Some(i) => (&s[..i], &s[i..]),
            None => (s, ""),
        };
        let mut parts = proto.splitn(3, '/');
        let (Some(name), Some(version), Some(last)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NameAddrError::Param);
        };
        if !name.trim().eq_ignore_ascii_case("SIP") || version.trim() != "2.0" {
            return Err(NameAddrError::Param);
        }
        let mut words = last.split_whitespace();
        let (Some(transport), Some(sent_by), None) = (words.next(), words.next(), words.next())
        else {
            return Err(NameAddrError::Param);
        };
        let (host, port) = split_hostport(sent_by).map_err(|_| NameAddrError::Param)?;
        Ok(Via {
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            params: parse_params(params)?,
        })
    }

    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_deref())
    }

    pub fn branch(&self) -> Option<&str> {
        self.param("branch").flatten()
    }

    /// Whether the branch carries the RFC 3261 magic cookie; without it the
    /// transaction is matched by RFC 2543 rules (§17.2.3).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with("z9hG4bK"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lws_everywhere() {
        let v = Via::parse("SIP  /   2.0 /UDP    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, "192.0.2.2");
        assert_eq!(v.branch(), Some("390skdjuw"));
        assert!(!v.has_rfc3261_branch());
        let v = Via::parse("SIP/2.0/TCP spindle.example.com ; branch  =   z9hG4bK9ikj8").unwrap();
        assert_eq!(v.branch(), Some("z9hG4bK9ikj8"));
        let v = Via::parse("SIP/2.0/UDP [2001:db8::9:1]:5070;rport").unwrap();
        assert_eq!((v.host.as_str(), v.port), ("2001:db8::9:1", Some(5070)));
        assert_eq!(v.param("rport"), Some(None));
    }
}
