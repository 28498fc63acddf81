use std::path::Path;

use crate::exit::{CmdResult, Failure};

pub fn run(name: &str, images: &Path, cache: &Path) -> CmdResult {
    let _ = (images, cache);
    Err(Failure::BadInput(anyhow::anyhow!("image fetch {name}: not implemented yet")))
}
