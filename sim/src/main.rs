//! `phonevault-sim`: serve a simulated handset, or fill a folder with a sample phone.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use phonevault_sim::android_env::EnvOptions;
use phonevault_sim::populate::{self, PopulateOptions, SizeRange};
use phonevault_sim::serve::ServeOptions;

/// A simulated Android handset for phonevault's tests and benchmarks.
#[derive(Debug, Parser)]
#[command(name = "phonevault-sim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a handset whose storage is DIR; prints `listening on 127.0.0.1:PORT` when ready.
    Serve {
        /// The handset's internal storage (`/sdcard`).
        #[arg(long, value_name = "DIR")]
        storage: PathBuf,
        /// TCP port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Device profile: android-10 or android-14.
        #[arg(long, default_value = "android-14")]
        profile: String,
        /// Present an AUTH challenge that is never accepted (adb shows `unauthorized`).
        #[arg(long)]
        unauthorized: bool,
        #[arg(long)]
        serial: Option<String>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        manufacturer: Option<String>,
        /// Comma-separated features to advertise instead of the profile's (empty: v1 only).
        #[arg(long, value_name = "LIST")]
        features: Option<String>,
        /// Storage size in bytes; writes past it fail with ENOSPC.
        #[arg(long, value_name = "BYTES")]
        capacity: Option<u64>,
        /// Link profile: usb2, usb3 (with an Android 11+ phone's FUSE media storage), usb2-sdcardfs,
        /// usb3-sdcardfs (an Android 8-10 phone's sdcardfs), or unlimited.
        #[arg(long, default_value = "unlimited")]
        link: String,
        /// Faults: disconnect-after=BYTES, stall-after=BYTES, deny=GLOB,
        /// read-hook=BYTES:PATH:COMMAND (runs COMMAND once a pull of PATH read BYTES) (repeatable).
        #[arg(long, value_name = "FAULT")]
        fault: Vec<String>,
        /// JSON file kept current with bytes and requests served.
        #[arg(long, value_name = "FILE")]
        stats: Option<PathBuf>,
        /// File that `am` and `content` append media-scan requests to.
        #[arg(long, value_name = "FILE")]
        scan_log: Option<PathBuf>,
    },
    /// Fill DIR with a deterministic sample phone and write the truth file.
    Populate {
        dir: PathBuf,
        #[arg(long, default_value = "android-14")]
        profile: String,
        #[arg(long, default_value_t = 20)]
        photos: u32,
        #[arg(long, default_value_t = 3)]
        videos: u32,
        #[arg(long, default_value_t = 20)]
        whatsapp: u32,
        /// Add a sparse file over 4 GiB.
        #[arg(long)]
        huge: bool,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where to write the JSON truth file.
        #[arg(long, value_name = "FILE")]
        truth: PathBuf,
        /// Camera photo sizes in bytes, MIN-MAX with K/M/G suffixes (e.g. 2M-4M).
        #[arg(long, value_name = "MIN-MAX", default_value_t = populate::DEFAULT_PHOTO_SIZE)]
        photo_size: SizeRange,
        /// Gallery video sizes in bytes, MIN-MAX (e.g. 30M-60M).
        #[arg(long, value_name = "MIN-MAX", default_value_t = populate::DEFAULT_VIDEO_SIZE)]
        video_size: SizeRange,
        /// WhatsApp image sizes in bytes, MIN-MAX (e.g. 100K-300K); WhatsApp videos get 5x.
        #[arg(long, value_name = "MIN-MAX", default_value_t = populate::DEFAULT_WHATSAPP_SIZE)]
        whatsapp_size: SizeRange,
        /// Also fill the other WhatsApp layout (as a phone updated across Android 11 has).
        #[arg(long)]
        both_layouts: bool,
    },
    /// Run one command in the handset's userland (no ADB) and exit with its status.
    Shell {
        /// The handset's internal storage (`/sdcard`).
        #[arg(long, value_name = "DIR")]
        storage: PathBuf,
        /// Device profile: android-10 or android-14.
        #[arg(long, default_value = "android-14")]
        profile: String,
        /// Storage size in bytes (a tmpfs seeded with a copy: changes stay off the host).
        #[arg(long, value_name = "BYTES")]
        capacity: Option<u64>,
        /// deny=GLOB (repeatable): matching device paths answer EACCES.
        #[arg(long, value_name = "FAULT")]
        fault: Vec<String>,
        /// File that `am` and `content` append media-scan requests to.
        #[arg(long, value_name = "FILE")]
        scan_log: Option<PathBuf>,
        /// The command line, as `adb shell` would send it (words are joined with spaces).
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<String>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve {
            storage,
            port,
            profile,
            unauthorized,
            serial,
            model,
            manufacturer,
            features,
            capacity,
            link,
            fault,
            stats,
            scan_log,
        } => phonevault_sim::serve::run(&ServeOptions {
            storage,
            port,
            profile,
            unauthorized,
            serial,
            model,
            manufacturer,
            features,
            capacity,
            link,
            faults: fault,
            stats,
            scan_log,
        }),
        Command::Populate {
            dir,
            profile,
            photos,
            videos,
            whatsapp,
            huge,
            seed,
            truth,
            photo_size,
            video_size,
            whatsapp_size,
            both_layouts,
        } => populate::run(&PopulateOptions {
            dir,
            profile,
            photos,
            videos,
            whatsapp,
            huge,
            seed,
            truth,
            photo_size,
            video_size,
            whatsapp_size,
            both_layouts,
        }),
        Command::Shell {
            storage,
            profile,
            capacity,
            fault,
            scan_log,
            command,
        } => {
            let Some(profile) = phonevault_sim::profile::Profile::named(&profile) else {
                anyhow::bail!("unknown profile {profile:?} (known: android-10, android-14)");
            };
            if let Some(other) = fault.iter().find(|f| !f.starts_with("deny=")) {
                anyhow::bail!("shell takes only --fault deny=GLOB, not {other:?}");
            }
            let options = EnvOptions {
                storage,
                profile,
                capacity,
                deny: EnvOptions::deny_from_faults(&fault),
                scan_log,
            };
            let code = phonevault_sim::android_env::run_one(options, &command.join(" "))?;
            std::process::exit(code)
        }
    }
}
