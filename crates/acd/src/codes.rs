//! The agent's dial strings (ACD-1, ACD-7), for phones' speed-dial keys:
//!
//! | dial | does |
//! |---|---|
//! | `*71<agent>*<pin>` | log in at this phone (`*71` alone: asked by voice) |
//! | `*72` | log out |
//! | `*73<code>` | not ready, with a reason code (`*73` alone: asked) |
//! | `*74` | ready |
//! | `*75` | end wrap-up now |

/// What an agent dialled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentCode {
    /// `None`s are asked for by voice prompts and keys.
    Login {
        agent: Option<String>,
        pin: Option<String>,
    },
    Logout,
    NotReady {
        code: Option<String>,
    },
    Ready,
    EndWrapup,
}

/// The agent code in a dialled number, if it is one.
pub fn parse(dialled: &str) -> Option<AgentCode> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = dialled.strip_prefix("*71") {
        if rest.is_empty() {
            return Some(AgentCode::Login {
                agent: None,
                pin: None,
            });
        }
        let (agent, pin) = match rest.split_once('*') {
            Some((a, p)) => (a, Some(p)),
            None => (rest, None),
        };
        if !digits(agent) || pin.is_some_and(|p| !digits(p)) {
            return None;
        }
        return Some(AgentCode::Login {
            agent: Some(agent.to_string()),
            pin: pin.map(str::to_string),
        });
    }
    if let Some(rest) = dialled.strip_prefix("*73") {
        return match rest {
            "" => Some(AgentCode::NotReady { code: None }),
            r if digits(r) => Some(AgentCode::NotReady {
                code: Some(r.to_string()),
            }),
            _ => None,
        };
    }
    match dialled {
        "*72" => Some(AgentCode::Logout),
        "*74" => Some(AgentCode::Ready),
        "*75" => Some(AgentCode::EndWrapup),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dial_strings() {
        assert_eq!(
            parse("*712001*1234"),
            Some(AgentCode::Login {
                agent: Some("2001".into()),
                pin: Some("1234".into())
            })
        );
        assert_eq!(
            parse("*712001"),
            Some(AgentCode::Login {
                agent: Some("2001".into()),
                pin: None
            })
        );
        assert_eq!(
            parse("*71"),
            Some(AgentCode::Login {
                agent: None,
                pin: None
            })
        );
        assert_eq!(parse("*72"), Some(AgentCode::Logout));
        assert_eq!(
            parse("*733"),
            Some(AgentCode::NotReady {
                code: Some("3".into())
            })
        );
        assert_eq!(parse("*73"), Some(AgentCode::NotReady { code: None }));
        assert_eq!(parse("*74"), Some(AgentCode::Ready));
        assert_eq!(parse("*75"), Some(AgentCode::EndWrapup));
        for n in [
            "*71x",
            "*712001*",
            "*712001*12a",
            "*73a",
            "*76",
            "*7",
            "1001",
            "*90",
        ] {
            assert_eq!(parse(n), None, "{n}");
        }
    }
}
