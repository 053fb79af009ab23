//! `phonevault-sim populate`: a deterministic sample phone (STUB in the skeleton).

use std::path::PathBuf;

/// Options of `populate`, as given on the command line.
#[derive(Debug, Clone)]
pub struct PopulateOptions {
    pub dir: PathBuf,
    pub profile: String,
    pub photos: u32,
    pub videos: u32,
    pub whatsapp: u32,
    pub huge: bool,
    pub seed: u64,
    pub truth: PathBuf,
}

/// Fills `options.dir` and writes the truth file.
pub fn run(options: &PopulateOptions) -> anyhow::Result<()> {
    let _ = options;
    anyhow::bail!("populate: not yet")
}
