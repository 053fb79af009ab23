//! Faults a handset can be told to show: the cable pulled or the phone frozen after a number
//! of payload bytes (both directions together), denied paths, and a command run on the
//! phone once a given file has been read that far (to change a file while it is read).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::stats::Stats;

#[derive(Debug, Default)]
pub struct Faults {
    pub disconnect_after: Option<u64>,
    pub stall_after: Option<u64>,
    /// Globs handed to the environment (`EnvOptions::deny`).
    pub deny: Vec<String>,
    /// `read-hook=BYTES:PATH:COMMAND` entries.
    pub read_hooks: Vec<ReadHook>,
    total: AtomicU64,
    stalled: AtomicBool,
}

/// Parses a byte count: plain, or with a K/M/G suffix (powers of 1024).
fn parse_bytes(s: &str) -> anyhow::Result<u64> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let n: u64 = digits
        .parse()
        .with_context(|| format!("bad byte count {s:?}"))?;
    let mult = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => bail!("bad unit in byte count {s:?}"),
    };
    Ok(n * mult)
}

impl Faults {
    /// Parses `--fault` values: `disconnect-after=BYTES`, `stall-after=BYTES`, `deny=GLOB`.
    pub fn parse(specs: &[String]) -> anyhow::Result<Faults> {
        let mut f = Faults::default();
        for spec in specs {
            let Some((key, value)) = spec.split_once('=') else {
                bail!("--fault {spec:?}: expected KIND=VALUE");
            };
            match key {
                "disconnect-after" => f.disconnect_after = Some(parse_bytes(value)?),
                "stall-after" => f.stall_after = Some(parse_bytes(value)?),
                "deny" => f.deny.push(value.to_string()),
                "read-hook" => f.read_hooks.push(ReadHook::parse(value)?),
                _ => bail!(
                    "--fault {spec:?}: unknown fault (disconnect-after, stall-after, deny, read-hook)"
                ),
            }
        }
        Ok(f)
    }

    /// Called before `n` payload bytes go to the host; may pull the cable or freeze.
    pub fn before_send(&self, n: u64, stats: &Stats) {
        self.check(n, stats);
    }

    /// Called after `n` payload bytes came from the host.
    pub fn after_receive(&self, n: u64, stats: &Stats) {
        self.check(n, stats);
    }

    fn check(&self, n: u64, stats: &Stats) {
        if self.stalled.load(Ordering::SeqCst) {
            freeze();
        }
        let total = self.total.fetch_add(n, Ordering::SeqCst) + n;
        if let Some(limit) = self.disconnect_after {
            if total > limit {
                stats.write_now();
                eprintln!(
                    "phonevault-sim: fault disconnect-after={limit}: cable pulled after {} payload bytes; exiting",
                    total - n
                );
                std::process::exit(0);
            }
        }
        if let Some(limit) = self.stall_after {
            if total > limit {
                self.stalled.store(true, Ordering::SeqCst);
                stats.write_now();
                eprintln!(
                    "phonevault-sim: fault stall-after={limit}: frozen after {} payload bytes (connections stay open)",
                    total - n
                );
                freeze();
            }
        }
    }
}

/// A shell command run once, synchronously, when a sync RECV of one file has read at least
/// `after` bytes of it: the rest of that transfer reads the file as the command left it, so
/// a test can make a file grow, shrink, be replaced or deleted at an exact point of a read.
/// Written `read-hook=BYTES:PATH:COMMAND` (PATH is the device path as the host asks for it,
/// holding no `:`; COMMAND runs with the phone's `sh -c`).
#[derive(Debug)]
pub struct ReadHook {
    after: u64,
    path: Vec<u8>,
    command: String,
    fired: AtomicBool,
}

impl ReadHook {
    fn parse(value: &str) -> anyhow::Result<ReadHook> {
        let mut parts = value.splitn(3, ':');
        let (Some(after), Some(path), Some(command)) = (parts.next(), parts.next(), parts.next())
        else {
            bail!("read-hook={value:?}: expected BYTES:PATH:COMMAND");
        };
        Ok(ReadHook {
            after: parse_bytes(after)?,
            path: path.as_bytes().to_vec(),
            command: command.to_string(),
            fired: AtomicBool::new(false),
        })
    }
}

impl Faults {
    /// Called by RECV after each chunk read from `path`, with the bytes read so far; runs the
    /// hooks due (each once) through `shell` and waits for them.
    pub fn after_file_read(
        &self,
        path: &[u8],
        read: u64,
        shell: impl Fn(&str) -> std::process::Command,
    ) {
        for hook in &self.read_hooks {
            if hook.path == path && read >= hook.after && !hook.fired.swap(true, Ordering::SeqCst) {
                let status = shell(&hook.command).status();
                eprintln!(
                    "phonevault-sim: fault read-hook after {read} bytes of {}: {:?} -> {status:?}",
                    String::from_utf8_lossy(path),
                    hook.command
                );
            }
        }
    }
}

/// The phone froze: this thread neither sends nor reads again.
fn freeze() -> ! {
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_bytes, Faults};

    #[test]
    fn parses_faults() {
        let f = Faults::parse(&[
            "disconnect-after=5M".into(),
            "stall-after=1000".into(),
            "deny=/sdcard/Secret/**".into(),
            "read-hook=1M:/sdcard/a.mp4:rm /sdcard/a.mp4".into(),
        ])
        .unwrap();
        assert_eq!(f.disconnect_after, Some(5 << 20));
        assert_eq!(f.stall_after, Some(1000));
        assert_eq!(f.deny, vec!["/sdcard/Secret/**".to_string()]);
        assert_eq!(f.read_hooks[0].after, 1 << 20);
        assert_eq!(f.read_hooks[0].path, b"/sdcard/a.mp4");
        assert_eq!(f.read_hooks[0].command, "rm /sdcard/a.mp4");
        assert!(Faults::parse(&["read-hook=1M:/sdcard/a.mp4".into()]).is_err());
        assert!(Faults::parse(&["explode=1".into()]).is_err());
        assert!(parse_bytes("12X").is_err());
    }
}
