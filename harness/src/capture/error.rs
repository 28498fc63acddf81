use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("capture on {at}")]
    Lab {
        at: String,
        #[source]
        source: crate::netlab::LabError,
    },
    #[error("capture on {at}: tcpdump did not start ({why}): {stderr}")]
    NotListening { at: String, why: String, stderr: String },
    #[error("cannot run {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} on {path} exited {status}: {stderr}")]
    Tool { program: &'static str, path: PathBuf, status: std::process::ExitStatus, stderr: String },
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl CaptureError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> CaptureError + '_ {
        move |source| CaptureError::Io { path: path.to_path_buf(), source }
    }
}
