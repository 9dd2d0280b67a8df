//! The client side, for every program that talks to pbxd (the CLI, webd
//! and the SNMP agent through dering-health, powerd): one connection says
//! hello first, so a client refuses a pbxd that speaks another protocol
//! version before it asks anything.

use std::path::Path;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use crate::{
    ControlError, Event, PbxStatus, Reply, Request, Response, Snapshot, Stamped, Stopped, PROTOCOL,
    SOCKET_NAME,
};

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
    Refused(#[from] ControlError),
    #[error("pbxd closed the connection before its reply")]
    Truncated,
    #[error("pbxd sent a line this client cannot read: {0}")]
    Json(#[from] serde_json::Error),
    #[error("pbxd speaks control protocol {pbxd}, this client {PROTOCOL}")]
    Incompatible { pbxd: u32 },
    #[error("pbxd answered {got} where {expected} was due")]
    Unexpected {
        expected: &'static str,
        got: &'static str,
    },
    #[error("event stream gap: expected event {expected}, got {got}")]
    Gap { expected: u64, got: u64 },
}

/// The control socket inside `data_dir`.
pub fn socket_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join(SOCKET_NAME)
}

/// One connection to pbxd, past the version check.
#[derive(Debug)]
pub struct Client {
    lines: Lines<BufReader<OwnedReadHalf>>,
    wr: OwnedWriteHalf,
    /// pbxd's version (its package version, not the protocol's).
    pub pbxd: String,
}

impl Client {
    /// Connects to the pbxd of `data_dir` and checks it speaks
    /// [`PROTOCOL`].
    pub async fn connect(data_dir: &Path) -> Result<Client, ClientError> {
        let path = socket_path(data_dir);
        let stream = UnixStream::connect(&path)
            .await
            .map_err(|source| ClientError::Connect {
                path: path.display().to_string(),
                source,
            })?;
        let (rd, wr) = stream.into_split();
        let mut c = Client {
            lines: BufReader::new(rd).lines(),
            wr,
            pbxd: String::new(),
        };
        c.send(&Request::Hello { protocol: PROTOCOL }).await?;
        let reply = c.reply().await?;
        if reply.v != PROTOCOL {
            return Err(ClientError::Incompatible { pbxd: reply.v });
        }
        match reply.into_result()? {
            Response::Hello { protocol, pbxd } if protocol == PROTOCOL => {
                c.pbxd = pbxd;
                Ok(c)
            }
            Response::Hello { protocol, .. } => Err(ClientError::Incompatible { pbxd: protocol }),
            other => Err(ClientError::Unexpected {
                expected: "hello",
                got: other.kind(),
            }),
        }
    }

    async fn send(&mut self, req: &Request) -> Result<(), ClientError> {
        let mut line = serde_json::to_string(req)?;
        line.push('\n');
        self.wr.write_all(line.as_bytes()).await?;
        Ok(())
    }

    async fn reply(&mut self) -> Result<Reply, ClientError> {
        let line = self
            .lines
            .next_line()
            .await?
            .ok_or(ClientError::Truncated)?;
        Ok(serde_json::from_str(&line)?)
    }

    /// Sends one request and returns pbxd's response.
    pub async fn request(&mut self, req: &Request) -> Result<Response, ClientError> {
        self.send(req).await?;
        Ok(self.reply().await?.into_result()?)
    }

    /// Sends an action whose response is [`Response::Done`].
    pub async fn act(&mut self, req: &Request) -> Result<(), ClientError> {
        match self.request(req).await? {
            Response::Done => Ok(()),
            other => Err(unexpected("done", &other)),
        }
    }

    pub async fn status(&mut self) -> Result<PbxStatus, ClientError> {
        match self.request(&Request::Status).await? {
            Response::Status { status } => Ok(status),
            other => Err(unexpected("status", &other)),
        }
    }

    pub async fn snapshot(&mut self) -> Result<Snapshot, ClientError> {
        match self.request(&Request::Snapshot).await? {
            Response::Snapshot { snapshot } => Ok(snapshot),
            other => Err(unexpected("snapshot", &other)),
        }
    }

    /// Turns this connection into the event stream, from event `from_seq`
    /// (a snapshot's `seq + 1`) or from the next one.
    pub async fn subscribe(mut self, from_seq: Option<u64>) -> Result<Subscription, ClientError> {
        match self.request(&Request::Subscribe { from_seq }).await? {
            Response::Subscribed { from_seq } => Ok(Subscription {
                lines: self.lines,
                _wr: self.wr,
                next_seq: from_seq,
            }),
            other => Err(unexpected("subscribed", &other)),
        }
    }
}

fn unexpected(expected: &'static str, got: &Response) -> ClientError {
    ClientError::Unexpected {
        expected,
        got: got.kind(),
    }
}

/// Connects, sends one request and returns the response.
pub async fn request(data_dir: &Path, req: &Request) -> Result<Response, ClientError> {
    Client::connect(data_dir).await?.request(req).await
}

/// pbxd's status.
pub async fn status(data_dir: &Path) -> Result<PbxStatus, ClientError> {
    Client::connect(data_dir).await?.status().await
}

/// Publishes `event` to every subscriber (powerd's power events).
pub async fn publish(data_dir: &Path, event: Event) -> Result<(), ClientError> {
    Client::connect(data_dir)
        .await?
        .act(&Request::Publish { event })
        .await
}

/// Orders pbxd to hang up, checkpoint and exit; returns once it has.
pub async fn shutdown(data_dir: &Path, cause: &str) -> Result<Stopped, ClientError> {
    let req = Request::Shutdown {
        cause: cause.into(),
    };
    match request(data_dir, &req).await? {
        Response::Stopped { stopped } => Ok(stopped),
        other => Err(unexpected("stopped", &other)),
    }
}

/// The event stream, from the next event on.
pub async fn subscribe(data_dir: &Path) -> Result<Subscription, ClientError> {
    Client::connect(data_dir).await?.subscribe(None).await
}

/// The event stream: [`Stamped`] events with no gap.
#[derive(Debug)]
pub struct Subscription {
    lines: Lines<BufReader<OwnedReadHalf>>,
    /// Kept so pbxd does not see the connection half-closed.
    _wr: OwnedWriteHalf,
    next_seq: u64,
}

/// A line of the stream: an event, or the reply that ends it.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum StreamLine {
    Event(Stamped),
    End(Reply),
}

impl Subscription {
    /// The sequence number of the event [`Subscription::next`] returns
    /// next.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The next event; `None` when pbxd closed the stream (it stopped).
    /// A subscriber pbxd cut off gets [`ControlError::TooSlow`]; a
    /// missing event is [`ClientError::Gap`], never skipped silently.
    pub async fn next(&mut self) -> Result<Option<Stamped>, ClientError> {
        let Some(line) = self.lines.next_line().await? else {
            return Ok(None);
        };
        match serde_json::from_str::<StreamLine>(&line) {
            Ok(StreamLine::Event(e)) => {
                if e.seq != self.next_seq {
                    return Err(ClientError::Gap {
                        expected: self.next_seq,
                        got: e.seq,
                    });
                }
                self.next_seq += 1;
                Ok(Some(e))
            }
            Ok(StreamLine::End(r)) => match r.into_result() {
                Err(e) => Err(e.into()),
                Ok(other) => Err(unexpected("an event", &other)),
            },
            // Say what is wrong with it as an event.
            Err(_) => Err(serde_json::from_str::<Stamped>(&line)
                .err()
                .map_or(ClientError::Truncated, ClientError::Json)),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The client against a scripted pbxd on a real Unix socket.

    use super::*;
    use crate::{Outcome, Stamped};
    use tokio::net::UnixListener;

    /// A data directory whose `pbxd.sock` answers each request line with
    /// the next of `replies` (and then writes the rest unasked).
    async fn fake_pbxd(name: &str, replies: Vec<String>) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("dering-control-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let listener = UnixListener::bind(socket_path(&dir)).unwrap();
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let (rd, mut wr) = s.into_split();
            let mut lines = BufReader::new(rd).lines();
            let mut replies = replies.into_iter();
            // Hello, then the request.
            for _ in 0..2 {
                if lines.next_line().await.unwrap().is_none() {
                    return;
                }
                let Some(r) = replies.next() else { return };
                wr.write_all(format!("{r}\n").as_bytes()).await.unwrap();
            }
            for r in replies {
                wr.write_all(format!("{r}\n").as_bytes()).await.unwrap();
            }
            // Keep the connection open until the client is done.
            let _ = lines.next_line().await;
        });
        dir
    }

    fn ok(v: u32, r: Response) -> String {
        serde_json::to_string(&Reply {
            v,
            outcome: Outcome::Ok(r),
        })
        .unwrap()
    }

    fn hello(v: u32) -> String {
        ok(
            v,
            Response::Hello {
                protocol: v,
                pbxd: "9.9.9".into(),
            },
        )
    }

    fn event(seq: u64) -> String {
        serde_json::to_string(&Stamped {
            seq,
            event: crate::Event::Intake { open: true },
        })
        .unwrap()
    }

    #[tokio::test]
    async fn a_pbxd_of_another_protocol_version_is_refused() {
        let dir = fake_pbxd("version", vec![hello(PROTOCOL + 1)]).await;
        let r = Client::connect(&dir).await;
        assert!(
            matches!(r, Err(ClientError::Incompatible { pbxd }) if pbxd == PROTOCOL + 1),
            "{r:?}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_typed_error_reaches_the_caller() {
        let no_call = Reply::new(Err(ControlError::NoSuchCall { uuid: "u9".into() }));
        let dir = fake_pbxd("error", vec![hello(PROTOCOL), no_call.line()]).await;
        let mut c = Client::connect(&dir).await.unwrap();
        assert_eq!(c.pbxd, "9.9.9");
        let r = c.act(&Request::Hangup { uuid: "u9".into() }).await;
        assert!(
            matches!(&r, Err(ClientError::Refused(ControlError::NoSuchCall { uuid })) if uuid == "u9"),
            "{r:?}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_gap_in_the_stream_is_an_error_not_a_skip() {
        let subscribed = ok(PROTOCOL, Response::Subscribed { from_seq: 5 });
        let dir = fake_pbxd("gap", vec![hello(PROTOCOL), subscribed, event(5), event(7)]).await;
        let mut s = Client::connect(&dir)
            .await
            .unwrap()
            .subscribe(Some(5))
            .await
            .unwrap();
        assert_eq!(s.next().await.unwrap().map(|e| e.seq), Some(5));
        let r = s.next().await;
        assert!(
            matches!(
                r,
                Err(ClientError::Gap {
                    expected: 6,
                    got: 7
                })
            ),
            "{r:?}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_subscriber_cut_off_is_told_why() {
        let subscribed = ok(PROTOCOL, Response::Subscribed { from_seq: 1 });
        let too_slow = Reply::new(Err(ControlError::TooSlow)).line();
        let dir = fake_pbxd(
            "slow",
            vec![hello(PROTOCOL), subscribed, event(1), too_slow],
        )
        .await;
        let mut s = subscribe(&dir).await.unwrap();
        assert_eq!(s.next().await.unwrap().map(|e| e.seq), Some(1));
        let r = s.next().await;
        assert!(
            matches!(r, Err(ClientError::Refused(ControlError::TooSlow))),
            "{r:?}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
