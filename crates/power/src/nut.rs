//! The client side of NUT's network protocol (upsd, TCP port 3493), as
//! much of it as a monitoring client needs, sans-IO: the shell writes the
//! lines [`Command::line`] gives and feeds every line upsd sends to
//! [`Exchange::feed`] until it yields an answer.
//!
//! Written here rather than taken from `nut-client` (see
//! docs/decisions/0005-own-nut-client.md): that crate panics when upsd
//! closes the connection and drops buffered lines between reads.
//!
//! The grammar (NUT's `docs/net-protocol.txt`): one request per line; an
//! answer is `OK ...`, `ERR <CODE> [...]`, or for lists
//! `BEGIN LIST VAR <ups>`, `VAR <ups> <name> "<value>"` lines and
//! `END LIST VAR <ups>`. Words are separated by spaces; a word in double
//! quotes may hold spaces, `\"` and `\\`.

use std::fmt;

/// Longest line accepted from upsd: a value is at most a few hundred
/// bytes, so anything longer is not upsd talking.
pub const MAX_LINE: usize = 4096;

/// What upsd did wrong, or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NutError {
    /// `ERR <code>`: e.g. `UNKNOWN-UPS`, `ACCESS-DENIED`, `DATA-STALE`,
    /// `DRIVER-NOT-CONNECTED`.
    Refused(String),
    /// A line that is not what the protocol allows here.
    Protocol(String),
}

impl fmt::Display for NutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NutError::Refused(code) => write!(f, "upsd refused: {code}"),
            NutError::Protocol(what) => write!(f, "not NUT protocol: {what}"),
        }
    }
}

impl std::error::Error for NutError {}

/// A request to upsd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Username(String),
    Password(String),
    /// Counts this client among the UPS's (upsd's `NUMLOGINS`), so the
    /// primary upsmon waits for us before it cuts the UPS's output.
    Login(String),
    ListVar(String),
    Logout,
}

impl Command {
    /// The request line, newline included.
    pub fn line(&self) -> String {
        match self {
            Command::Username(u) => format!("USERNAME {}\n", quote(u)),
            Command::Password(p) => format!("PASSWORD {}\n", quote(p)),
            Command::Login(ups) => format!("LOGIN {}\n", quote(ups)),
            Command::ListVar(ups) => format!("LIST VAR {}\n", quote(ups)),
            Command::Logout => "LOGOUT\n".into(),
        }
    }
}

/// A word as upsd parses it: quoted when it holds anything but plain
/// characters.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\');
    if plain {
        return word.to_string();
    }
    let mut s = String::with_capacity(word.len() + 2);
    s.push('"');
    for c in word.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// Splits a line into words, honouring double quotes and backslash
/// escapes.
pub fn split_words(line: &str) -> Result<Vec<String>, NutError> {
    let mut words = Vec::new();
    let mut chars = line.trim_end_matches(['\r', '\n']).chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return Ok(words);
        };
        let mut word = String::new();
        if first == '"' {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => word.push(c),
                        None => return Err(NutError::Protocol(format!("dangling \\ in {line:?}"))),
                    },
                    Some(c) => word.push(c),
                    None => return Err(NutError::Protocol(format!("unclosed quote in {line:?}"))),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' || c == '\t' {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Ok,
    Vars(Vec<(String, String)>),
}

/// One request/answer exchange: feed it upsd's lines until it yields.
#[derive(Debug)]
pub struct Exchange {
    command: Command,
    vars: Option<Vec<(String, String)>>,
}

impl Exchange {
    pub fn new(command: Command) -> Exchange {
        Exchange {
            command,
            vars: None,
        }
    }

    pub fn command(&self) -> &Command {
        &self.command
    }

    /// Takes one line from upsd: `Ok(None)` while more lines are due.
    pub fn feed(&mut self, line: &str) -> Result<Option<Answer>, NutError> {
        if line.len() > MAX_LINE {
            return Err(NutError::Protocol(format!(
                "a line of {} bytes",
                line.len()
            )));
        }
        let words = split_words(line)?;
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        if let ["ERR", code, ..] = w.as_slice() {
            return Err(NutError::Refused((*code).to_string()));
        }
        match (&self.command, &mut self.vars) {
            (Command::ListVar(ups), None) => match w.as_slice() {
                ["BEGIN", "LIST", "VAR", u] if u == ups => {
                    self.vars = Some(Vec::new());
                    Ok(None)
                }
                _ => Err(NutError::Protocol(format!(
                    "expected BEGIN LIST VAR {ups}, got {line:?}"
                ))),
            },
            (Command::ListVar(ups), Some(vars)) => match w.as_slice() {
                ["VAR", u, name, value] if u == ups => {
                    vars.push(((*name).to_string(), (*value).to_string()));
                    Ok(None)
                }
                ["END", "LIST", "VAR", u] if u == ups => {
                    Ok(Some(Answer::Vars(std::mem::take(vars))))
                }
                _ => Err(NutError::Protocol(format!(
                    "unexpected {line:?} in LIST VAR {ups}"
                ))),
            },
            (_, _) => match w.first() {
                Some(&"OK") => Ok(Some(Answer::Ok)),
                _ => Err(NutError::Protocol(format!("expected OK, got {line:?}"))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cmd: Command, lines: &[&str]) -> Result<Option<Answer>, NutError> {
        let mut x = Exchange::new(cmd);
        let mut last = Ok(None);
        for l in lines {
            last = x.feed(l);
            if !matches!(last, Ok(None)) {
                break;
            }
        }
        last
    }

    #[test]
    fn list_var_as_upsd_sends_it() {
        // The shape of net-protocol.txt's example.
        let a = run(
            Command::ListVar("su700".into()),
            &[
                "BEGIN LIST VAR su700\n",
                "VAR su700 ups.mfr \"APC\"\n",
                "VAR su700 ups.status \"OB LB\"\n",
                "VAR su700 ups.model \"Smart-UPS \\\"700\\\" \\\\ rack\"\n",
                "END LIST VAR su700\n",
            ],
        );
        assert_eq!(
            a,
            Ok(Some(Answer::Vars(vec![
                ("ups.mfr".into(), "APC".into()),
                ("ups.status".into(), "OB LB".into()),
                ("ups.model".into(), "Smart-UPS \"700\" \\ rack".into()),
            ])))
        );
    }

    #[test]
    fn errors_are_refusals_with_their_code() {
        assert_eq!(
            run(Command::ListVar("x".into()), &["ERR UNKNOWN-UPS\n"]),
            Err(NutError::Refused("UNKNOWN-UPS".into()))
        );
        assert_eq!(
            run(
                Command::ListVar("x".into()),
                &["BEGIN LIST VAR x\n", "ERR DATA-STALE\n"]
            ),
            Err(NutError::Refused("DATA-STALE".into()))
        );
        assert_eq!(
            run(Command::Password("p".into()), &["ERR ACCESS-DENIED\n"]),
            Err(NutError::Refused("ACCESS-DENIED".into()))
        );
    }

    #[test]
    fn other_ups_or_garbage_is_a_protocol_error() {
        for lines in [
            &["BEGIN LIST VAR other\n"][..],
            &["BEGIN LIST VAR x\n", "VAR other ups.status \"OL\"\n"],
            &["BEGIN LIST VAR x\n", "VAR x ups.status \"OL\n"],
            &["HTTP/1.1 400 Bad Request\r\n"],
            &[""],
        ] {
            let r = run(Command::ListVar("x".into()), lines);
            assert!(matches!(r, Err(NutError::Protocol(_))), "{lines:?}: {r:?}");
        }
        let long = "x".repeat(MAX_LINE + 1);
        assert!(matches!(
            run(Command::Logout, &[&long]),
            Err(NutError::Protocol(_))
        ));
    }

    #[test]
    fn simple_commands_want_ok() {
        assert_eq!(
            run(Command::Username("monuser".into()), &["OK\n"]),
            Ok(Some(Answer::Ok))
        );
        assert_eq!(
            run(Command::Logout, &["OK Goodbye\n"]),
            Ok(Some(Answer::Ok))
        );
    }

    #[test]
    fn words_are_quoted_when_needed() {
        assert_eq!(Command::ListVar("sim".into()).line(), "LIST VAR sim\n");
        assert_eq!(
            Command::Password("a b\"c\\".into()).line(),
            "PASSWORD \"a b\\\"c\\\\\"\n"
        );
        assert_eq!(Command::Password(String::new()).line(), "PASSWORD \"\"\n");
        // What we quote, upsd's grammar reads back the same.
        let w = split_words(&Command::Password("a b\"c\\".into()).line()).unwrap();
        assert_eq!(w, ["PASSWORD", "a b\"c\\"]);
    }
}
