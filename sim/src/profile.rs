//! Device profiles: what a simulated handset says it is and how its userland behaves.

/// A handset model and Android version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// `android-10` or `android-14`.
    pub name: &'static str,
    pub sdk: u32,
    pub release: &'static str,
    pub model: String,
    pub manufacturer: String,
    pub device: String,
    pub product: String,
    pub serial: String,
    /// WhatsApp lives in `/sdcard/WhatsApp` (true) or `/sdcard/Android/media/com.whatsapp/WhatsApp`.
    pub legacy_whatsapp: bool,
    /// Whether `find` supports `-printf` (toybox 0.8.0 on Android 10 does not).
    pub find_printf: bool,
    /// Features advertised in the CNXN banner.
    pub features: Vec<String>,
}

/// Features a modern handset advertises, all of which the simulator implements.
pub const DEFAULT_FEATURES: &[&str] = &["shell_v2", "cmd", "stat_v2", "ls_v2", "fixed_push_mkdir"];

impl Profile {
    /// Looks up a profile by name (`android-10`, `android-14`).
    pub fn named(name: &str) -> Option<Profile> {
        let features = DEFAULT_FEATURES.iter().map(|f| (*f).to_string()).collect();
        match name {
            "android-10" => Some(Profile {
                name: "android-10",
                sdk: 29,
                release: "10",
                model: "Pixel 3a".into(),
                manufacturer: "Google".into(),
                device: "sargo".into(),
                product: "sargo".into(),
                serial: "SIM10A0001".into(),
                legacy_whatsapp: true,
                find_printf: false,
                features,
            }),
            "android-14" => Some(Profile {
                name: "android-14",
                sdk: 34,
                release: "14",
                model: "Pixel 8".into(),
                manufacturer: "Google".into(),
                device: "shiba".into(),
                product: "shiba".into(),
                serial: "SIM14A0001".into(),
                legacy_whatsapp: false,
                find_printf: true,
                features,
            }),
            _ => None,
        }
    }

    /// Names of all profiles.
    pub const NAMES: &'static [&'static str] = &["android-10", "android-14"];

    /// The banner sent in the CNXN reply.
    pub fn banner(&self) -> String {
        format!(
            "device::ro.product.name={};ro.product.model={};ro.product.device={};features={}",
            self.product,
            self.model,
            self.device,
            self.features.join(",")
        )
    }

    /// The WhatsApp folder for a package on this handset, relative to `/sdcard`.
    pub fn whatsapp_root(&self, business: bool) -> String {
        match (self.legacy_whatsapp, business) {
            (true, false) => "WhatsApp".into(),
            (true, true) => "WhatsApp Business".into(),
            (false, false) => "Android/media/com.whatsapp/WhatsApp".into(),
            (false, true) => "Android/media/com.whatsapp.w4b/WhatsApp Business".into(),
        }
    }
}
