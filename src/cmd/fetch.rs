use std::path::Path;

use harness::image::{fetch, ImageError};

use crate::exit::{CmdResult, Code, Failure};

pub fn run(name: &str, images: &Path, cache: &Path) -> CmdResult {
    let pins = images.join("openwrt.toml");
    let path = super::runtime()?.block_on(fetch(&pins, name, cache)).map_err(|e| match e {
        ImageError::Command { .. } | ImageError::Io { .. } => Failure::Infrastructure(e.into()),
        other => Failure::BadInput(other.into()),
    })?;
    outln!("{}", path.display());
    Ok(Code::Ok)
}
