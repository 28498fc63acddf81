use std::path::PathBuf;

/// Image-build errors, naming the recipe, package, file or command concerned.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot read recipe {path}")]
    RecipeRead { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}:{column}: {message}")]
    RecipeParse { path: PathBuf, line: usize, column: usize, message: String },
    #[error("recipe {path}: {message}")]
    RecipeInvalid { path: PathBuf, message: String },
    #[error("no recipe for image {name:?} in {dir} (available: {available})")]
    UnknownImage { name: String, dir: PathBuf, available: String },
    #[error("`{command}` failed ({status}): {stderr}")]
    Command { command: String, status: String, stderr: String },
    #[error("cannot run `{command}` (is it installed? ci/setup installs it)")]
    Spawn { command: String, source: std::io::Error },
    #[error("{path}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a usable ELF file: {detail}")]
    Elf { path: PathBuf, detail: String },
    #[error("shared library {name} needed by {by} was not found in the {arch} packages")]
    MissingLibrary { name: String, by: String, arch: String },
    #[error("{what} {name:?} is not in the unpacked {arch} packages (looked for {path})")]
    Missing { what: &'static str, name: String, arch: String, path: PathBuf },
    #[error("kernel module {name:?} is not in kernel {kver} (check the name with `modinfo`)")]
    MissingModule { name: String, kver: String },
    #[error(
        "{file} is missing from the OpenWrt mirror: get {upstream} (sha256 {sha256}) and put it there, \
         or point {env} at a mirror that has it"
    )]
    MirrorMissing { file: PathBuf, env: &'static str, upstream: String, sha256: String },
    #[error("{file}: sha256 is {actual}, the recipe pins {expected}: refusing it (the original is {upstream})")]
    PinMismatch { file: PathBuf, expected: String, actual: String, upstream: String },
    #[error("OpenWrt feed {index}: {detail}")]
    Feed { index: PathBuf, detail: String },
}

pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ImageError {
    let path = path.into();
    move |source| ImageError::Io { path, source }
}
