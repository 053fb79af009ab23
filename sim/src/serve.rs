//! `phonevault-sim serve` (STUB in the skeleton; the sim-adb work fills it in).

use std::path::PathBuf;

/// Options of `serve`, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    pub storage: PathBuf,
    pub port: u16,
    pub profile: String,
    pub unauthorized: bool,
    pub serial: Option<String>,
    pub model: Option<String>,
    pub manufacturer: Option<String>,
    pub features: Option<String>,
    pub capacity: Option<u64>,
    pub link: String,
    pub faults: Vec<String>,
    pub stats: Option<PathBuf>,
    pub scan_log: Option<PathBuf>,
}

/// Serves one handset until killed.
pub fn run(options: &ServeOptions) -> anyhow::Result<()> {
    let _ = options;
    anyhow::bail!("serve: not yet")
}
