//! Command-line types (clap derive only). `cmd/` turns them into the library's plain options.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Back up an Android phone's photos, videos and WhatsApp media over USB, and restore them.
#[derive(Debug, Parser)]
#[command(name = "phonevault", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Handset to use (see `phonevault devices`); needed when several are attached.
    #[arg(short, long, global = true, env = "ANDROID_SERIAL")]
    pub serial: Option<String>,
    /// The adb program used to start the adb server when none is running.
    #[arg(long, global = true, env = "ADB", value_name = "PATH")]
    pub adb: Option<PathBuf>,
    /// Show no progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print debug details (round trips to the phone, helper calls) to standard error.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the desktop client: a page in your browser to see the phone and back it up.
    Ui(UiArgs),
    /// List attached handsets: model, Android version, storage.
    Devices(DevicesArgs),
    /// List the Gallery and WhatsApp media on the phone.
    Ls(LsArgs),
    /// Build a contact sheet of previews from the EXIF thumbnails, before copying anything.
    Preview(PreviewArgs),
    /// Copy media from the phone into a backup archive.
    Backup(BackupArgs),
    /// Re-read every entry of an archive and check it against its manifest.
    Verify(ArchiveArgs),
    /// List the items in an archive.
    Show(ShowArgs),
    /// Write an archive's items to a folder, with their original dates.
    Extract(ExtractArgs),
    /// Put a backup back onto a phone.
    Restore(RestoreArgs),
    /// Set up automatic backups: which phones `watch` backs up, where, how often.
    #[command(subcommand)]
    Auto(AutoCommand),
    /// Back up each enabled phone whenever it is connected; runs until Ctrl-C or SIGTERM.
    Watch(WatchArgs),
    /// The automatic backups `watch` ran: when, which phone, items, bytes, result.
    History(HistoryArgs),
}

#[derive(Debug, Args)]
pub struct UiArgs {
    /// Do not open a browser; only print the address.
    #[arg(long)]
    pub no_open: bool,
    /// Port on 127.0.0.1 (default: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Stop after this many seconds with no page open and no backup running.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub idle_exit: u64,
    #[command(flatten)]
    pub config: ConfigFileArgs,
    #[command(flatten)]
    pub history: HistoryFileArgs,
}

#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Wait until a handset is plugged in.
    #[arg(long)]
    pub wait: bool,
}

/// Which items to take; shared by every command that takes items.
#[derive(Debug, Args, Default, Clone)]
pub struct SelectionArgs {
    /// Only items from these sources.
    #[arg(long, value_enum, value_delimiter = ',', help_heading = "Selection")]
    pub source: Vec<SourceArg>,
    /// Only albums whose name matches this glob (repeatable).
    #[arg(long, value_name = "GLOB", help_heading = "Selection")]
    pub album: Vec<String>,
    /// Only items of these kinds.
    #[arg(long, value_enum, value_delimiter = ',', help_heading = "Selection")]
    pub kind: Vec<KindArg>,
    /// Only items taken on or after this day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", help_heading = "Selection")]
    pub since: Option<String>,
    /// Only items taken on or before this day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", help_heading = "Selection")]
    pub until: Option<String>,
    /// Only paths matching this glob (repeatable).
    #[arg(long, value_name = "GLOB", help_heading = "Selection")]
    pub include: Vec<String>,
    /// Leave out paths matching this glob (repeatable).
    #[arg(long, value_name = "GLOB", help_heading = "Selection")]
    pub exclude: Vec<String>,
    /// Only these item ids (from `ls --json`).
    #[arg(long, value_name = "ID", num_args = 1.., help_heading = "Selection")]
    pub id: Vec<String>,
    /// Only items at least this large (bytes, or with K, M, G).
    #[arg(long, value_name = "SIZE", help_heading = "Selection")]
    pub min_size: Option<String>,
    /// Only items at most this large (bytes, or with K, M, G).
    #[arg(long, value_name = "SIZE", help_heading = "Selection")]
    pub max_size: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceArg {
    Gallery,
    Whatsapp,
    WhatsappBusiness,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Photo,
    Video,
    Audio,
    Document,
    Sticker,
    Database,
    Other,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// List albums with counts and sizes instead of items.
    #[arg(long)]
    pub albums: bool,
    /// Include hidden folders (dot-folders and folders with `.nomedia`).
    #[arg(long)]
    pub all: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Where to write the HTML contact sheet.
    #[arg(long, value_name = "FILE.html")]
    pub out: Option<PathBuf>,
    /// Open the contact sheet in the browser when done.
    #[arg(long)]
    pub open: bool,
    /// Print one JSON record per item.
    #[arg(long)]
    pub json: bool,
}

/// Where a password comes from (never the command line itself).
#[derive(Debug, Args, Default, Clone)]
pub struct PasswordArgs {
    /// Read the password from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Backup folder (default: one per handset under ~/phonevault).
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    /// Encrypt every entry with AES-256 (7-Zip opens it with the password).
    #[arg(long)]
    pub encrypt: bool,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Copy every selected item again, even those earlier backups in the folder hold.
    #[arg(long)]
    pub fresh_copy: bool,
    /// When another backup is writing into the folder, wait this long for it to finish
    /// before giving up.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub lock_wait: u64,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// The archive.
    pub archive: PathBuf,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub archive: ArchiveArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
}

#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// The archive.
    pub archive: PathBuf,
    /// Folder to write into.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// What to do when a different file already has an item's name: keep both (the item
    /// as `NAME (1).EXT`), skip the item, or overwrite the file. Identical files are left
    /// as they are.
    #[arg(long, value_enum, default_value_t)]
    pub on_conflict: OnConflict,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OnConflict {
    Skip,
    #[default]
    KeepBoth,
    Overwrite,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The archives to restore from.
    #[arg(required = true)]
    pub archives: Vec<PathBuf>,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Show the plan (paths, counts, space) and push nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// What to do when a different file already has the target name.
    #[arg(long, value_enum, default_value_t)]
    pub on_conflict: OnConflict,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

/// The automatic-backup config file.
#[derive(Debug, Args, Default, Clone)]
pub struct ConfigFileArgs {
    /// The config file (default: phonevault/config.toml in the user's config folder).
    #[arg(long, value_name = "FILE", env = "PHONEVAULT_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The history of automatic backups.
#[derive(Debug, Args, Default, Clone)]
pub struct HistoryFileArgs {
    /// The history file (default: phonevault/history.jsonl in the user's data folder).
    #[arg(long, value_name = "FILE", env = "PHONEVAULT_HISTORY")]
    pub history: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AutoCommand {
    /// Back this phone up automatically while `phonevault watch` runs (-s: the hardware
    /// serial, or an attached phone's adb serial; none: the only attached phone).
    Enable(AutoEnableArgs),
    /// Stop backing this phone up automatically (its setting is kept, switched off).
    Disable(AutoDisableArgs),
    /// The phones set up for automatic backups, with their last run.
    List(AutoListArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum AutoSourceArg {
    /// Gallery and WhatsApp.
    #[default]
    Everything,
    /// DCIM, Pictures, Movies, screenshots.
    Gallery,
    /// WhatsApp and WhatsApp Business media.
    Whatsapp,
}

#[derive(Debug, Args)]
pub struct AutoEnableArgs {
    /// Backup folder (default: ~/phonevault/<serial>).
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    /// What to back up.
    #[arg(long, value_enum, default_value_t)]
    pub source: AutoSourceArg,
    /// Only these albums (glob, repeatable) instead of a source.
    #[arg(long, value_name = "GLOB", conflicts_with = "source")]
    pub album: Vec<String>,
    /// Encrypt every archive with AES-256; needs --password-file.
    #[arg(long)]
    pub encrypt: bool,
    /// The file whose first line is the password (the config keeps only this path).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// While the phone stays connected, back up again this often (`30m`, `6h`, `1d`);
    /// `connect`: only when it is connected.
    #[arg(long, value_name = "INTERVAL", default_value = "connect")]
    pub every: String,
    #[command(flatten)]
    pub config: ConfigFileArgs,
}

#[derive(Debug, Args)]
pub struct AutoDisableArgs {
    #[command(flatten)]
    pub config: ConfigFileArgs,
}

#[derive(Debug, Args)]
pub struct AutoListArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigFileArgs,
    #[command(flatten)]
    pub history: HistoryFileArgs,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub config: ConfigFileArgs,
    #[command(flatten)]
    pub history: HistoryFileArgs,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print JSON (an array of runs, oldest first).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub history: HistoryFileArgs,
}
