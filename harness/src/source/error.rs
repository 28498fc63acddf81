use std::path::{Path, PathBuf};

/// Why a proxy could not be built from its source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}:{line}:{column}: {message}")]
    Parse { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{file} has sha256 {actual}, but {pin} pins {expected}; delete it to fetch it again, or fix the pin \
         (PyPI: https://pypi.org/project/ziglang/{version}/#files)"
    )]
    ToolchainHash { file: PathBuf, actual: String, expected: String, pin: PathBuf, version: String },
    #[error("{what} failed ({status}); the last lines of {log}:\n{tail}")]
    Step { what: String, status: String, log: PathBuf, tail: String },
    #[error("could not start `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{toolchain}: no target for Debian architecture {arch} (it has {known})")]
    NoTarget { toolchain: PathBuf, arch: String, known: String },
    #[error("{recipe}: install.from {from} was not built (looked in {dir})")]
    NotBuilt { recipe: PathBuf, from: String, dir: PathBuf },
    #[error("the Debian source {spec}: no .dsc in {dir} after `apt-get source`")]
    NoDsc { spec: String, dir: PathBuf },
    #[error("fetching {url} failed: {detail}")]
    Download { url: String, detail: String },
    #[error("{url} has sha256 {actual}, but its pin is {expected}: refusing it")]
    Checksum { url: String, expected: String, actual: String },
    #[error(transparent)]
    Apt(#[from] crate::image::ImageError),
    #[error(transparent)]
    Template(#[from] crate::template::TemplateError),
}

pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> SourceError + '_ {
    move |source| SourceError::Io { path: path.to_path_buf(), source }
}
