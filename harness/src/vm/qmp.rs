//! A minimal QMP client: greeting, capabilities, commands; asynchronous events are skipped.
use std::path::Path;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

pub(crate) struct Qmp {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Qmp {
    pub async fn connect(path: &Path) -> Result<Qmp, String> {
        let stream = UnixStream::connect(path).await.map_err(|e| format!("connect {}: {e}", path.display()))?;
        let (r, w) = stream.into_split();
        let mut q = Qmp { reader: BufReader::new(r), writer: w };
        let greeting = q.read_message().await?;
        if greeting.get("QMP").is_none() {
            return Err(format!("unexpected greeting {greeting}"));
        }
        q.execute("qmp_capabilities", None).await?;
        Ok(q)
    }

    async fn read_message(&mut self) -> Result<Value, String> {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.reader.read_line(&mut line).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("QMP socket closed".into());
            }
            let v: Value = serde_json::from_str(line.trim()).map_err(|e| format!("bad QMP message {line:?}: {e}"))?;
            if v.get("event").is_none() {
                return Ok(v);
            }
        }
    }

    /// Run a command and return its `return` value.
    pub async fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, String> {
        let mut msg = json!({ "execute": command });
        if let Some(a) = arguments {
            msg["arguments"] = a;
        }
        let mut text = msg.to_string();
        text.push('\n');
        self.writer.write_all(text.as_bytes()).await.map_err(|e| e.to_string())?;
        let reply = self.read_message().await?;
        match (reply.get("return"), reply.get("error")) {
            (Some(r), _) => Ok(r.clone()),
            (_, Some(e)) => Err(format!("{command}: {e}")),
            _ => Err(format!("{command}: unexpected reply {reply}")),
        }
    }

    /// `query-status`'s `status` field, e.g. `running` or `prelaunch`.
    pub async fn status(&mut self) -> Result<String, String> {
        let r = self.execute("query-status", None).await?;
        Ok(r.get("status").and_then(Value::as_str).unwrap_or("unknown").to_string())
    }
}
