//! What one attempt came to, and what it means for its row.

/// The outcome of sending one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// SIMPEL answered.
    Answered {
        status: u16,
        /// `Retry-After` in milliseconds, when given in seconds.
        retry_after_ms: Option<u64>,
        /// SIMPEL's id of the ticket, read from a creation's answer.
        upstream_id: Option<String>,
        /// The start of the body, for the row's error.
        body: String,
    },
    /// No answer: refused, reset, timed out. The write may or may not
    /// have happened upstream; the idempotency key makes the retry safe.
    Failed(String),
    /// The row could not be made into a request (a template error): a
    /// technician must fix the mapping, then retry the dead letter.
    Unsendable(String),
}

/// What an attempt means, before backoff is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered {
        upstream_id: Option<String>,
    },
    /// Worth trying again; `hint_ms` is SIMPEL's Retry-After.
    Transient {
        error: String,
        hint_ms: Option<u64>,
    },
    Permanent {
        error: String,
    },
}

impl Attempt {
    /// 2xx is delivered, and so is 409 (the ticket is already there: an
    /// earlier attempt's write whose answer was lost). 408, 429 and 5xx
    /// are transient, as is no answer; any other 4xx is permanent: the
    /// same request would fail the same way until someone fixes it.
    pub fn verdict(&self) -> Verdict {
        match self {
            Attempt::Answered {
                status,
                upstream_id,
                ..
            } if (200..300).contains(status) || *status == 409 => Verdict::Delivered {
                upstream_id: upstream_id.clone(),
            },
            Attempt::Answered {
                status,
                retry_after_ms,
                body,
                ..
            } => {
                let error = format!("HTTP {status}: {}", clip(body));
                if *status == 408 || *status == 429 || *status >= 500 || *status < 200 {
                    Verdict::Transient {
                        error,
                        hint_ms: *retry_after_ms,
                    }
                } else {
                    Verdict::Permanent { error }
                }
            }
            Attempt::Failed(e) => Verdict::Transient {
                error: e.clone(),
                hint_ms: None,
            },
            Attempt::Unsendable(e) => Verdict::Permanent { error: e.clone() },
        }
    }
}

fn clip(body: &str) -> &str {
    let mut end = body.len().min(200);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    &body[..end]
}

/// `Retry-After` in delta-seconds, in milliseconds (an HTTP-date is not
/// read: the backoff stands in for it), at most an hour.
pub fn retry_after_ms(value: &str) -> Option<u64> {
    let secs: u64 = value.trim().parse().ok()?;
    Some(secs.min(3600) * 1000)
}

/// The string or number at JSON pointer `pointer` of `body`.
pub fn id_at(body: &str, pointer: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    match v.pointer(pointer)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16) -> Attempt {
        Attempt::Answered {
            status,
            retry_after_ms: None,
            upstream_id: None,
            body: "x".into(),
        }
    }

    #[test]
    fn statuses_are_judged_as_the_issue_says() {
        for s in [200, 201, 204, 409] {
            assert!(
                matches!(answered(s).verdict(), Verdict::Delivered { .. }),
                "{s}"
            );
        }
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(answered(s).verdict(), Verdict::Transient { .. }),
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 422] {
            assert!(
                matches!(answered(s).verdict(), Verdict::Permanent { .. }),
                "{s}"
            );
        }
        assert!(matches!(
            Attempt::Failed("reset".into()).verdict(),
            Verdict::Transient { .. }
        ));
    }

    #[test]
    fn retry_after_and_ids_are_read() {
        assert_eq!(retry_after_ms(" 3 "), Some(3000));
        assert_eq!(retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(retry_after_ms("99999"), Some(3_600_000));
        assert_eq!(id_at(r#"{"id": 42}"#, "/id").as_deref(), Some("42"));
        assert_eq!(
            id_at(r#"{"data": {"id": "S-1"}}"#, "/data/id").as_deref(),
            Some("S-1")
        );
        assert_eq!(id_at("not json", "/id"), None);
    }
}
