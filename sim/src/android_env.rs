//! The handset's userland.
//!
//! `enter` sets up the process's private Android world: a mount namespace with a root where
//! `/system/bin` holds mksh (as `sh`) and toybox applets plus `getprop`, `am` and `content`,
//! the storage folder at `/sdcard`, `/storage/emulated/0` and `/storage/self/primary`, and
//! `/data/local/tmp`; then it chroots the whole simulator process into it. After `enter`,
//! device paths are real paths in this process, so the sync service opens them as they are.
//!
//! Run by a user other than root, the process first enters an unprivileged user namespace in
//! which it is root (mapped to the caller's own uid and gid outside), so no privilege on the
//! host is needed where the system allows such namespaces.
//!
//! The root is a tmpfs in a private mount namespace: nothing of it is visible on the host and
//! it all vanishes when the process exits. With a capacity the storage is a tmpfs of that size
//! seeded with a copy of the storage folder, so changes made then are NOT written back to the
//! host folder.
//!
//! `am` and `content` append media-scan requests to the scan log, one tab-separated line each
//! (format in `scripts`): `am<TAB>MEDIA_SCANNER_SCAN_FILE<TAB>URI` and
//! `content<TAB>scan_volume<TAB>ARG`.
//!
//! Host paths are unreachable after `enter`: open any host file the simulator still needs
//! (stats, logs) before calling it.

mod deny;
mod scripts;
mod seed;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use nix::mount::{mount, MsFlags};

use crate::profile::Profile;

pub use scripts::SCAN_LOG_PATH;

/// What the environment is built from.
#[derive(Debug, Clone)]
pub struct EnvOptions {
    pub storage: PathBuf,
    pub profile: Profile,
    /// Storage size in bytes: `df`/`stat -f` report it and writes past it fail with ENOSPC.
    pub capacity: Option<u64>,
    /// Globs of device paths that answer EACCES (sync and shell alike).
    pub deny: Vec<String>,
    /// Where `am` and `content` append the media-scan requests they receive.
    pub scan_log: Option<PathBuf>,
}

impl EnvOptions {
    /// The globs of the `deny=GLOB` entries among `--fault` values (others are ignored).
    pub fn deny_from_faults(faults: &[String]) -> Vec<String> {
        faults
            .iter()
            .filter_map(|f| f.strip_prefix("deny="))
            .map(str::to_string)
            .collect()
    }
}

/// The entered environment.
#[derive(Debug)]
pub struct AndroidEnv {
    options: EnvOptions,
    deny: deny::DenyList,
}

/// Folders of the handset's root that stand in for a real device's storage views.
const STORAGE_VIEWS: &[&str] = &["/storage/self/primary", "/sdcard"];
/// The storage itself; the views above are recursive binds of it.
const STORAGE_ROOT: &str = "/storage/emulated/0";

impl AndroidEnv {
    /// Enters the handset's world: private mount namespace, fresh tmpfs root, chroot.
    ///
    /// As root the mount namespace is made directly. As any other user the process first
    /// enters a new user namespace where it is root (uid and gid 0 inside map to the
    /// caller's own ids outside, so files it creates on the storage belong to the caller),
    /// which allows the same mounts and chroot without privileges on the host.
    ///
    /// Must run before the process starts any thread: the namespaces, root directory and
    /// capabilities change only for the calling thread, and threads started afterwards
    /// inherit them. With deny globs, the handset's root loses CAP_DAC_OVERRIDE,
    /// CAP_DAC_READ_SEARCH and CAP_FOWNER for the rest of the process's life (also inside a
    /// user namespace, where those capabilities are what lets it bypass permission bits).
    ///
    /// # Errors
    /// Threads already running, namespaces or mounts refused by the kernel (for a user
    /// other than root: unprivileged user namespaces disabled), mksh or toybox missing on the
    /// host, the storage folder missing, or its content larger than the capacity.
    pub fn enter(options: EnvOptions) -> anyhow::Result<AndroidEnv> {
        let deny = deny::DenyList::new(&options.deny)?;
        preflight()?;
        let host = HostParts::gather(&options)?;

        let in_user_namespace = !nix::unistd::geteuid().is_root();
        enter_namespaces()?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .context("making / recursively private in the new mount namespace")?;

        let root_dir = tempfile::Builder::new()
            .prefix("phonevault-sim-root.")
            .tempdir()
            .context("creating a temporary folder for the handset's root")?;
        // The folder is removed by hand once the root is entered: after the chroot the
        // TempDir's own path no longer points at it.
        let root = root_dir.keep();
        let parent = fs::File::open(root.parent().unwrap_or(Path::new("/")))
            .context("opening the temporary folder's parent")?;
        let built = build_root(&root, &options, &host, &deny);
        let entered = built.and_then(|()| switch_root(&root));
        if entered.is_err() {
            let _ = nix::mount::umount2(&root, nix::mount::MntFlags::MNT_DETACH);
        }
        if let Some(name) = root.file_name() {
            // Once the tmpfs has moved onto `/` (or was detached) the folder is an empty one
            // that nothing covers any more.
            let _ = nix::unistd::unlinkat(&parent, name, nix::unistd::UnlinkatFlags::RemoveDir);
        }
        if in_user_namespace {
            // Ubuntu's AppArmor lets the user namespace be made but takes its capabilities
            // away, so the first mount fails instead of unshare.
            entered.context(
                "building the handset's root inside an unprivileged user namespace failed; \
                 where user namespaces are allowed but lose their capabilities (Ubuntu 23.10+: \
                 kernel.apparmor_restrict_unprivileged_userns=1), set that to 0 as root, or \
                 run phonevault-sim as root",
            )?;
        } else {
            entered?;
        }
        if !deny.is_empty() {
            deny::drop_dac_capabilities()?;
        }
        Ok(AndroidEnv { options, deny })
    }

    /// A command that runs `command` with the handset's shell, as adbd's shell service does:
    /// `sh -c COMMAND` (an empty command gives an interactive shell reading stdin), cwd `/`,
    /// and adbd's environment.
    pub fn shell_command(&self, command: &[u8]) -> Command {
        let mut cmd = Command::new("/system/bin/sh");
        if !command.is_empty() {
            cmd.arg("-c").arg(OsStr::from_bytes(command));
        }
        cmd.env_clear().current_dir("/").envs(shell_environment());
        cmd
    }

    /// Whether a device path (`/sdcard/...`, `/storage/emulated/0/...`) is denied by a
    /// `--fault deny=GLOB`, itself or through one of its folders.
    pub fn is_denied(&self, device_path: &str) -> bool {
        self.deny.is_denied(device_path)
    }

    /// The options the environment was built from.
    pub fn options(&self) -> &EnvOptions {
        &self.options
    }
}

/// Enters the environment, runs one shell command with stdio passed through, and returns
/// the exit status to leave with (128 + signal when the command was killed).
///
/// # Errors
/// Entering the environment failed, or the shell could not be started.
pub fn run_one(options: EnvOptions, command: &str) -> anyhow::Result<i32> {
    let env = AndroidEnv::enter(options)?;
    let status = env
        .shell_command(command.as_bytes())
        .status()
        .context("starting /system/bin/sh in the handset")?;
    Ok(exit_code(status))
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// adbd's shell environment (plus the host's `TZ`, so local-time names match the host).
fn shell_environment() -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("PATH", "/system/bin:/system/xbin"),
        ("HOME", "/"),
        ("TMPDIR", "/data/local/tmp"),
        ("EXTERNAL_STORAGE", "/sdcard"),
        ("ANDROID_DATA", "/data"),
        ("ANDROID_ROOT", "/system"),
        ("ANDROID_STORAGE", "/storage"),
        ("SHELL", "/system/bin/sh"),
        ("USER", "shell"),
        ("LOGNAME", "shell"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
    .collect();
    if let Ok(tz) = std::env::var("TZ") {
        env.push(("TZ".into(), tz));
    }
    env
}

fn preflight() -> anyhow::Result<()> {
    let status = fs::read_to_string("/proc/self/status")
        .context("reading /proc/self/status: the simulated handset needs /proc mounted")?;
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(1);
    if threads > 1 {
        bail!(
            "AndroidEnv::enter must be called before the process starts any thread \
             ({threads} threads running): the namespace and chroot only apply to the calling \
             thread"
        );
    }
    Ok(())
}

/// Makes the private mount namespace: directly as root, else inside a new user namespace
/// where this process is root.
fn enter_namespaces() -> anyhow::Result<()> {
    use nix::sched::{unshare, CloneFlags};
    if nix::unistd::geteuid().is_root() {
        return unshare(CloneFlags::CLONE_NEWNS).context(
            "unshare(CLONE_NEWNS) failed: the simulated handset needs a new mount namespace, \
             which takes root with CAP_SYS_ADMIN (in a container: --privileged or \
             --cap-add SYS_ADMIN with no seccomp/AppArmor block on unshare and mount)",
        );
    }
    let uid = nix::unistd::geteuid();
    let gid = nix::unistd::getegid();
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS).map_err(|errno| {
        anyhow::anyhow!(
            "unshare(CLONE_NEWUSER | CLONE_NEWNS) failed ({errno}): not running as root, the \
             simulated handset needs an unprivileged user namespace, which this system \
             forbids{}. Enable them (as root: `sysctl kernel.unprivileged_userns_clone=1`, \
             `sysctl user.max_user_namespaces=15000`, or on Ubuntu \
             `sysctl kernel.apparmor_restrict_unprivileged_userns=0`), or run phonevault-sim \
             as root",
            userns_blocker(errno)
                .map(|b| format!(" ({b})"))
                .unwrap_or_default()
        )
    })?;
    // Only the caller's own ids can be mapped without privileges, and the gid map needs
    // setgroups disabled first (user_namespaces(7)).
    let write = |file: &str, text: String| {
        fs::write(format!("/proc/self/{file}"), &text).with_context(|| {
            format!("writing {text:?} to /proc/self/{file} for the user namespace")
        })
    };
    write("setgroups", "deny".to_string())?;
    write("uid_map", format!("0 {uid} 1\n"))?;
    write("gid_map", format!("0 {gid} 1\n"))?;
    Ok(())
}

/// Which system setting forbids unprivileged user namespaces, when one visibly does.
fn userns_blocker(errno: nix::errno::Errno) -> Option<String> {
    let read = |path: &str| fs::read_to_string(path).ok().map(|s| s.trim().to_string());
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return Some("kernel.unprivileged_userns_clone is 0".into());
    }
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return Some("user.max_user_namespaces is 0".into());
    }
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return Some("kernel.apparmor_restrict_unprivileged_userns is 1".into());
    }
    // The kernel answers ENOSPC when a user.max_user_namespaces limit, here or in an
    // enclosing namespace, is reached.
    (errno == nix::errno::Errno::ENOSPC)
        .then(|| "the user.max_user_namespaces limit is reached".to_string())
}

/// What is taken from the host before leaving it.
struct HostParts {
    mksh: PathBuf,
    toybox: PathBuf,
    applets: Vec<String>,
    storage: PathBuf,
}

impl HostParts {
    fn gather(options: &EnvOptions) -> anyhow::Result<HostParts> {
        let mksh = host_program("mksh", "mksh")?;
        let toybox = host_program("toybox", "toybox")?;
        let listing = Command::new(&toybox)
            .output()
            .with_context(|| format!("running {} to list its applets", toybox.display()))?;
        let applets = String::from_utf8_lossy(&listing.stdout)
            .split_whitespace()
            .filter(|a| !a.contains('/') && *a != "." && *a != "..")
            .map(str::to_string)
            .collect::<Vec<_>>();
        if applets.is_empty() {
            bail!("{} listed no applets", toybox.display());
        }
        let storage = fs::canonicalize(&options.storage).with_context(|| {
            format!(
                "the storage folder {} does not exist",
                options.storage.display()
            )
        })?;
        if !storage.is_dir() {
            bail!("the storage {} is not a folder", storage.display());
        }
        Ok(HostParts {
            mksh,
            toybox,
            applets,
            storage,
        })
    }
}

fn host_program(name: &str, package: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/bin"].iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .with_context(|| {
            format!("{name} is not installed on the host: install the Debian package `{package}`")
        })
}

fn build_root(
    root: &Path,
    options: &EnvOptions,
    host: &HostParts,
    deny: &deny::DenyList,
) -> anyhow::Result<()> {
    mount(
        Some("phonevault-sim"),
        root,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("mode=0755"),
    )
    .with_context(|| format!("mounting a tmpfs on {}", root.display()))?;

    let at = |device: &str| root.join(device.trim_start_matches('/'));

    install_system(&at("/system"), &options.profile, host)?;
    install_host_libraries(root)?;
    install_dev(&at("/dev"))?;
    mkdir(&at("/proc"), 0o555)?;
    mount_proc(&at("/proc"))?;

    for dir in [
        "/data/local/tmp",
        "/data/misc/phonevault-sim",
        "/etc",
        "/mnt",
    ] {
        mkdir(&at(dir), 0o771)?;
    }
    fs::set_permissions(at("/data/local/tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::write(
        at("/etc/passwd"),
        "root:x:0:0:root:/:/system/bin/sh\nshell:x:2000:2000:shell:/:/system/bin/sh\n",
    )?;
    fs::write(
        at("/etc/group"),
        "root:x:0:\nshell:x:2000:\neverybody:x:9997:\n",
    )?;

    if let Some(log) = &options.scan_log {
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("creating the scan log {}", log.display()))?;
        let inside = at(SCAN_LOG_PATH);
        fs::write(&inside, b"")?;
        bind(log, &inside, false)
            .with_context(|| format!("bind-mounting the scan log {}", log.display()))?;
    }

    let storage = at(STORAGE_ROOT);
    mkdir(&storage, 0o771)?;
    if let Some(capacity) = options.capacity {
        mount(
            Some("phonevault-sim-storage"),
            &storage,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(format!("size={capacity},mode=0771").as_str()),
        )
        .with_context(|| format!("mounting a {capacity}-byte tmpfs for the storage"))?;
        seed::copy_tree(&host.storage, &storage).with_context(|| {
            format!(
                "copying {} into the {capacity}-byte storage",
                host.storage.display()
            )
        })?;
    } else {
        bind(&host.storage, &storage, false).with_context(|| {
            format!(
                "bind-mounting the storage folder {}",
                host.storage.display()
            )
        })?;
    }
    deny.cover_matches(&storage, &at("/system/.denied"))?;
    for view in STORAGE_VIEWS {
        let target = at(view);
        mkdir(&target, 0o771)?;
        bind(&storage, &target, false)
            .with_context(|| format!("bind-mounting the storage at {view}"))?;
    }
    Ok(())
}

fn install_system(system: &Path, profile: &Profile, host: &HostParts) -> anyhow::Result<()> {
    let bin = system.join("bin");
    mkdir(&bin, 0o755)?;
    mkdir(&system.join("xbin"), 0o755)?;
    copy_program(&host.mksh, &bin.join("sh"))?;
    copy_program(&host.toybox, &bin.join("toybox"))?;
    for applet in &host.applets {
        symlink("toybox", bin.join(applet))
            .with_context(|| format!("linking the toybox applet {applet}"))?;
    }
    let mut scripts = vec![
        ("getprop", scripts::getprop(profile)),
        ("am", scripts::am()),
        ("content", scripts::content()),
    ];
    if !profile.find_printf {
        scripts.push(("find", scripts::find_without_printf()));
    }
    for (name, text) in scripts {
        let path = bin.join(name);
        // An applet of the same name is replaced by the script.
        let _ = fs::remove_file(&path);
        fs::write(&path, text).with_context(|| format!("writing /system/bin/{name}"))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
    }
    // A mode-000 folder and file, bound over denied paths.
    let denied = system.join(".denied");
    mkdir(&denied, 0o755)?;
    mkdir(&denied.join("dir"), 0o000)?;
    fs::write(denied.join("file"), b"")?;
    fs::set_permissions(denied.join("file"), fs::Permissions::from_mode(0o000))?;
    Ok(())
}

/// Makes the host's dynamic loader and shared libraries reachable (read-only), and nothing
/// else of `/usr` but the time zone data.
fn install_host_libraries(root: &Path) -> anyhow::Result<()> {
    for dir in ["usr/lib", "usr/lib64", "usr/lib32", "usr/share/zoneinfo"] {
        let host = Path::new("/").join(dir);
        if host.is_dir() {
            let target = root.join(dir);
            fs::create_dir_all(&target)?;
            bind(&host, &target, true).with_context(|| format!("bind-mounting /{dir}"))?;
        }
    }
    for dir in ["lib", "lib64", "lib32"] {
        let host = Path::new("/").join(dir);
        let target = root.join(dir);
        match fs::read_link(&host) {
            // Merged /usr: recreate the same link.
            Ok(link) => symlink(&link, &target)?,
            Err(_) if host.is_dir() => {
                mkdir(&target, 0o755)?;
                bind(&host, &target, true).with_context(|| format!("bind-mounting /{dir}"))?;
            }
            Err(_) => {}
        }
    }
    Ok(())
}

/// A small `/dev`: the character devices shells use, the pty multiplexer and fd links.
fn install_dev(dev: &Path) -> anyhow::Result<()> {
    mkdir(dev, 0o755)?;
    for name in ["null", "zero", "full", "random", "urandom", "tty", "ptmx"] {
        let host = Path::new("/dev").join(name);
        if host.exists() {
            let target = dev.join(name);
            fs::write(&target, b"")?;
            bind(&host, &target, false).with_context(|| format!("bind-mounting /dev/{name}"))?;
        }
    }
    if Path::new("/dev/pts").is_dir() {
        mkdir(&dev.join("pts"), 0o755)?;
        bind(Path::new("/dev/pts"), &dev.join("pts"), false).context("bind-mounting /dev/pts")?;
    }
    symlink("/proc/self/fd", dev.join("fd"))?;
    for (i, name) in ["stdin", "stdout", "stderr"].iter().enumerate() {
        symlink(format!("/proc/self/fd/{i}"), dev.join(name))?;
    }
    Ok(())
}

fn mount_proc(target: &Path) -> anyhow::Result<()> {
    let fresh = mount(
        Some("proc"),
        target,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    );
    if fresh.is_err() {
        // Some containers refuse new proc mounts but allow binding the existing one.
        bind(Path::new("/proc"), target, false).context("mounting /proc")?;
    }
    Ok(())
}

/// Moves the built root onto `/` and chroots into it, as switch_root does.
fn switch_root(root: &Path) -> anyhow::Result<()> {
    nix::unistd::chdir(root).with_context(|| format!("entering {}", root.display()))?;
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .context("moving the handset's root onto /")?;
    nix::unistd::chroot(".").context("chroot into the handset's root")?;
    nix::unistd::chdir("/").context("entering / of the handset")?;
    Ok(())
}

fn bind(source: &Path, target: &Path, read_only: bool) -> anyhow::Result<()> {
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )?;
    if read_only {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        // Binds inherit locked nosuid/nodev from their source in some containers; a read-only
        // remount must then repeat them.
        mount(None::<&str>, target, None::<&str>, flags, None::<&str>).or_else(|_| {
            mount(
                None::<&str>,
                target,
                None::<&str>,
                flags | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                None::<&str>,
            )
        })?;
    }
    Ok(())
}

fn mkdir(path: &Path, mode: u32) -> anyhow::Result<()> {
    fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    Ok(())
}

fn copy_program(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o755))?;
    Ok(())
}
