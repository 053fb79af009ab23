//! Who a handset is: what the adb layer asks the phone ([`crate::adb::Handset::identity`])
//! and what an archive records about the phone it came from. A module of its own so the
//! archive format does not depend on the adb layer.

use serde::Serialize;

/// Who a handset is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// `ro.serialno`, else the adb serial: stable across cables and ports, so it names backups.
    pub serial: String,
    pub model: String,
    pub manufacturer: String,
    pub android_version: String,
    /// 0 when the phone did not say.
    pub sdk: u32,
}
