//! The upsd connection: one TCP session kept open and reopened after any
//! error, read with `LIST VAR` once a poll. The protocol itself is
//! [`dering_power::nut`]; this is only the socket.

use std::time::Duration;

use dering_config::Power;
use dering_power::nut::{Answer, Command, Exchange, MAX_LINE};
use dering_power::Reading;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long upsd may take to connect or to answer one request.
const TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum UpsError {
    #[error("upsd {addr}: {detail}")]
    Unreachable { addr: String, detail: String },
}

pub struct Ups {
    addr: String,
    name: String,
    username: Option<String>,
    password: Option<String>,
    conn: Option<BufReader<TcpStream>>,
}

impl Ups {
    pub fn new(p: &Power) -> Ups {
        Ups {
            addr: p.upsd.clone(),
            name: p.ups.clone(),
            username: p
                .username
                .clone()
                .or_else(|| std::env::var("DERING_UPS_USER").ok()),
            password: p
                .password
                .clone()
                .or_else(|| std::env::var("DERING_UPS_PASSWORD").ok()),
            conn: None,
        }
    }

    fn err(&self, detail: impl ToString) -> UpsError {
        UpsError::Unreachable {
            addr: self.addr.clone(),
            detail: detail.to_string(),
        }
    }

    /// Reads every variable of the UPS. A connection that fails in any way
    /// is dropped and reopened at the next read.
    pub async fn read(&mut self) -> Result<Reading, UpsError> {
        let r = self.try_read().await;
        if r.is_err() {
            self.conn = None;
        }
        let vars = r.map_err(|e| self.err(e))?;
        let r = Reading::from_vars(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if r.status.is_empty() {
            return Err(self.err(format!("UPS {} reports no ups.status", self.name)));
        }
        Ok(r)
    }

    async fn try_read(&mut self) -> Result<Vec<(String, String)>, String> {
        if self.conn.is_none() {
            let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(&self.addr))
                .await
                .map_err(|_| "connect timed out".to_string())?
                .map_err(|e| e.to_string())?;
            let _ = stream.set_nodelay(true);
            self.conn = Some(BufReader::new(stream));
            // With credentials, log in as a secondary monitor: upsd counts
            // us, and a refusal says the credentials are wrong.
            if let Some(user) = self.username.clone() {
                self.ask(Command::Username(user)).await?;
                let password = self.password.clone().unwrap_or_default();
                self.ask(Command::Password(password)).await?;
                self.ask(Command::Login(self.name.clone())).await?;
            }
        }
        match self.ask(Command::ListVar(self.name.clone())).await? {
            Answer::Vars(v) => Ok(v),
            Answer::Ok => Err("LIST VAR answered with OK".into()),
        }
    }

    async fn ask(&mut self, command: Command) -> Result<Answer, String> {
        let Some(conn) = self.conn.as_mut() else {
            return Err("not connected".into());
        };
        let mut x = Exchange::new(command);
        let exchange = async {
            conn.get_mut()
                .write_all(x.command().line().as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            let mut line = String::new();
            loop {
                line.clear();
                let n = (&mut *conn)
                    .take(MAX_LINE as u64 + 1)
                    .read_line(&mut line)
                    .await
                    .map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("upsd closed the connection".to_string());
                }
                if let Some(answer) = x.feed(&line).map_err(|e| e.to_string())? {
                    return Ok(answer);
                }
            }
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| "upsd did not answer in time".to_string())?
    }
}
