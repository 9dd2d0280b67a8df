//! The client side, for every program that talks to pbxd.

use std::path::Path;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::{End, Event, Request, SOCKET_NAME};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("connecting to {path} (is pbxd running?): {source}")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("control socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("pbxd: {0}")]
    Refused(String),
    #[error("pbxd closed the connection before the end of its reply")]
    Truncated,
    #[error("pbxd sent a line that is not JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The control socket inside `data_dir`.
pub fn socket_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join(SOCKET_NAME)
}

async fn send(data_dir: &Path, req: &Request) -> Result<BufReader<UnixStream>, ClientError> {
    let path = socket_path(data_dir);
    let mut stream = UnixStream::connect(&path)
        .await
        .map_err(|source| ClientError::Connect {
            path: path.display().to_string(),
            source,
        })?;
    stream
        .write_all(format!("{}\n", serde_json::to_string(req)?).as_bytes())
        .await?;
    Ok(BufReader::new(stream))
}

/// Sends one request and returns the reply lines (without the end line).
pub async fn request(data_dir: &Path, req: &Request) -> Result<Vec<String>, ClientError> {
    let mut lines = send(data_dir, req).await?.lines();
    let mut out = Vec::new();
    while let Some(line) = lines.next_line().await? {
        if let Ok(end) = serde_json::from_str::<End>(&line) {
            return match end.error {
                Some(e) => Err(ClientError::Refused(e)),
                None => Ok(out),
            };
        }
        out.push(line);
    }
    Err(ClientError::Truncated)
}

/// Sends one request whose reply is one typed object.
pub async fn request_one<T: serde::de::DeserializeOwned>(
    data_dir: &Path,
    req: &Request,
) -> Result<T, ClientError> {
    let lines = request(data_dir, req).await?;
    let first = lines.first().ok_or(ClientError::Truncated)?;
    Ok(serde_json::from_str(first)?)
}

/// The event stream.
#[derive(Debug)]
pub struct Subscription {
    lines: tokio::io::Lines<BufReader<UnixStream>>,
}

impl Subscription {
    /// The next event; `None` when pbxd closed the stream.
    pub async fn next(&mut self) -> Result<Option<Event>, ClientError> {
        match self.lines.next_line().await? {
            Some(l) => Ok(Some(serde_json::from_str(&l)?)),
            None => Ok(None),
        }
    }
}

pub async fn subscribe(data_dir: &Path) -> Result<Subscription, ClientError> {
    Ok(Subscription {
        lines: send(data_dir, &Request::Subscribe).await?.lines(),
    })
}
