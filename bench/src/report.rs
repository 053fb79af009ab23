//! The results table, the machine it ran on, and `BENCHMARKS.md`.

use std::fmt::Write as _;
use std::fs;
use std::process::Command;

/// Whether a row met its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Met,
    NotMet,
    /// Not measured (a command failed or the row was not asked for).
    NotAvailable,
}

impl Verdict {
    pub fn from_bool(met: bool) -> Verdict {
        if met {
            Verdict::Met
        } else {
            Verdict::NotMet
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::NotMet => "not met",
            Verdict::NotAvailable => "n/a",
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: &'static str,
    pub what: &'static str,
    pub link: String,
    pub figure: String,
    pub peer: String,
    pub ratio: String,
    pub target: String,
    pub met: Verdict,
    /// Raw figures of every run, for the notes under the table.
    pub notes: Vec<String>,
}

impl Row {
    pub fn new(id: &'static str, what: &'static str, link: &str, target: &str) -> Row {
        Row {
            id,
            what,
            link: link.to_owned(),
            figure: String::new(),
            peer: "-".to_owned(),
            ratio: "-".to_owned(),
            target: target.to_owned(),
            met: Verdict::NotAvailable,
            notes: Vec::new(),
        }
    }

    /// Marks our side as not measured, saying why.
    pub fn fail(&mut self, why: &str) {
        self.figure = format!("n/a ({why})");
        "n/a".clone_into(&mut self.ratio);
        self.met = Verdict::NotAvailable;
    }
}

/// Seconds for a table cell.
pub fn secs(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.2} s")
    } else {
        format!("{s:.1} s")
    }
}

/// Bytes in decimal units, as the targets are written (100 MB = 100,000,000 bytes).
pub fn bytes(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.2} GB", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} MB", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} kB", n / 1e3)
    } else {
        format!("{n} B")
    }
}

/// The middle value (the mean of the two middle ones for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        f64::midpoint(v[mid - 1], v[mid])
    })
}

/// Median of whole numbers (bytes, memory).
pub fn median_u64(values: &[u64]) -> Option<u64> {
    #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
    median(&values.iter().map(|&v| v as f64).collect::<Vec<_>>()).map(|m| m.round() as u64)
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The table in Markdown, one row per line.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str("| id | what | link | figure | peer | ratio | target | met |\n");
    out.push_str("|----|------|------|--------|------|-------|--------|-----|\n");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.id,
            cell(r.what),
            cell(&r.link),
            cell(&r.figure),
            cell(&r.peer),
            cell(&r.ratio),
            cell(&r.target),
            r.met.text()
        );
    }
    out
}

/// The machine, in one line per fact.
pub fn machine() -> Vec<(&'static str, String)> {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|r| r.trim_start_matches([' ', '\t', ':']))
        })
        .unwrap_or("unknown")
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or_else(
            || "unknown".to_owned(),
            |kib| format!("{:.1} GiB", kib as f64 / 1_048_576.0),
        );
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".to_owned(), |s| format!("Linux {}", s.trim()));
    let os = fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    vec![
        ("CPU", cpu),
        ("cores", cores.to_string()),
        ("memory", memory),
        ("kernel", kernel),
        ("system", os),
    ]
}

/// The first line `program --version`-like commands print, for the report.
pub fn tool_version(program: &std::path::Path, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median_u64(&[10, 30, 20]), Some(20));
    }

    #[test]
    fn units() {
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(4_310_000_000), "4.31 GB");
        assert_eq!(bytes(123_456_789), "123.5 MB");
        assert_eq!(secs(1.234), "1.23 s");
        assert_eq!(secs(110.04), "110.0 s");
    }

    #[test]
    fn pipes_in_cells_are_escaped() {
        let mut row = Row::new("B1", "full backup", "usb3", "<= 0.8");
        row.fail("command failed: a | b");
        let t = table(&[row]);
        assert!(t.contains("a \\| b"), "{t}");
        assert!(t.lines().nth(2).unwrap().ends_with("| n/a |"), "{t}");
    }
}
