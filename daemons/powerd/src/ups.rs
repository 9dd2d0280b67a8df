//! The upsd connection: one TCP session kept open and reopened after any
//! error, read with `LIST VAR` once a poll.

use std::time::Duration;

use dering_config::Power;
use dering_power::Reading;
use nut_client::tokio::Connection;

#[derive(Debug, thiserror::Error)]
pub enum UpsError {
    #[error("upsd {addr}: {detail}")]
    Unreachable { addr: String, detail: String },
}

pub struct Ups {
    addr: String,
    name: String,
    config: Option<nut_client::Config>,
    conn: Option<Connection>,
}

impl Ups {
    pub fn new(p: &Power) -> Ups {
        let username = p
            .username
            .clone()
            .or_else(|| std::env::var("DERING_UPS_USER").ok());
        let password = p
            .password
            .clone()
            .or_else(|| std::env::var("DERING_UPS_PASSWORD").ok());
        let config = dering_config::parse_host_port(p.upsd.get_ref()).and_then(|(h, port)| {
            let host = nut_client::Host::try_from((h, port)).ok()?;
            Some(
                nut_client::ConfigBuilder::new()
                    .with_host(host)
                    .with_auth(username.map(|u| nut_client::Auth::new(u, password)))
                    .with_timeout(Duration::from_secs(3))
                    .build(),
            )
        });
        Ups {
            addr: p.upsd.get_ref().clone(),
            name: p.ups.clone(),
            config,
            conn: None,
        }
    }

    fn err(&self, detail: impl ToString) -> UpsError {
        UpsError::Unreachable {
            addr: self.addr.clone(),
            detail: detail.to_string(),
        }
    }

    /// Reads every variable of the UPS. A connection that fails is dropped
    /// and reopened at the next read.
    pub async fn read(&mut self) -> Result<Reading, UpsError> {
        let Some(config) = &self.config else {
            return Err(self.err("cannot resolve the address"));
        };
        if self.conn.is_none() {
            let c = tokio::time::timeout(Duration::from_secs(3), Connection::new(config))
                .await
                .map_err(|_| self.err("connect timed out"))?
                .map_err(|e| self.err(e))?;
            self.conn = Some(c);
        }
        let name = self.name.clone();
        let Some(conn) = self.conn.as_mut() else {
            return Err(self.err("no connection"));
        };
        let vars = tokio::time::timeout(Duration::from_secs(3), conn.list_vars(&name)).await;
        match vars {
            Ok(Ok(vars)) => {
                let pairs: Vec<(String, String)> = vars
                    .iter()
                    .map(|v| (v.name().to_string(), v.value()))
                    .collect();
                let r = Reading::from_vars(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                if r.status.is_empty() {
                    return Err(self.err(format!("UPS {name} reports no ups.status")));
                }
                Ok(r)
            }
            Ok(Err(e)) => {
                self.conn = None;
                Err(self.err(e))
            }
            Err(_) => {
                self.conn = None;
                Err(self.err("read timed out"))
            }
        }
    }
}
