//! A minimal QMP client: greeting, capabilities, commands; asynchronous events are skipped.
use std::path::Path;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

/// What went wrong talking to QEMU's monitor.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    #[error("{path}")]
    Connect {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("QMP socket")]
    Io(#[from] std::io::Error),
    #[error("QMP socket closed")]
    Closed,
    #[error("bad QMP message {line:?}")]
    Json {
        line: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("unexpected greeting {0}")]
    Greeting(Value),
    #[error("{command}: {error}")]
    Command { command: String, error: Value },
}

pub(crate) struct Qmp {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Qmp {
    pub async fn connect(path: &Path) -> Result<Qmp, QmpError> {
        let stream =
            UnixStream::connect(path).await.map_err(|source| QmpError::Connect { path: path.into(), source })?;
        let (r, w) = stream.into_split();
        let mut q = Qmp { reader: BufReader::new(r), writer: w };
        let greeting = q.read_message().await?;
        if greeting.get("QMP").is_none() {
            return Err(QmpError::Greeting(greeting));
        }
        q.execute("qmp_capabilities", None).await?;
        Ok(q)
    }

    async fn read_message(&mut self) -> Result<Value, QmpError> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line).await? == 0 {
                return Err(QmpError::Closed);
            }
            let v: Value =
                serde_json::from_str(line.trim()).map_err(|source| QmpError::Json { line: line.clone(), source })?;
            if v.get("event").is_none() {
                return Ok(v);
            }
        }
    }

    /// Run a command and return its `return` value.
    pub async fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, QmpError> {
        let mut msg = json!({ "execute": command });
        if let Some(a) = arguments {
            msg["arguments"] = a;
        }
        let mut text = msg.to_string();
        text.push('\n');
        self.writer.write_all(text.as_bytes()).await?;
        let reply = self.read_message().await?;
        match (reply.get("return"), reply.get("error")) {
            (Some(r), _) => Ok(r.clone()),
            (_, Some(e)) => Err(QmpError::Command { command: command.into(), error: e.clone() }),
            _ => Err(QmpError::Command { command: command.into(), error: reply }),
        }
    }

    /// `query-status`'s `status` field, e.g. `running` or `prelaunch`.
    pub async fn status(&mut self) -> Result<String, QmpError> {
        let r = self.execute("query-status", None).await?;
        Ok(r.get("status").and_then(Value::as_str).unwrap_or("unknown").to_string())
    }
}
