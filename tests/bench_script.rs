//! `scripts/bench.sh --quick` runs end to end and prints a well-formed table (issue 8).
//!
//! Targets are never asserted here: a row may say `not met`, or `n/a (command failed: ...)`
//! while a command is unfinished. What is checked is that every row B1..B9 is present with a
//! figure, a peer, a ratio, a target and a verdict, and that the Markdown file says which
//! machine it ran on. It uses the debug binaries the suite already built. B7 drives Chromium
//! (a small phone in `--quick`); without chromium and chromedriver its row says so as `n/a`.

use std::path::Path;
use std::process::Command;

/// The cells of one Markdown table line, `\|` kept as a literal bar.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|');
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '|' => cells.push(std::mem::take(&mut cell).trim().to_owned()),
            _ => cell.push(c),
        }
    }
    cells
}

/// The table's rows (header and rule left out).
fn table_rows(text: &str) -> Vec<Vec<String>> {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with('|'))
        .collect();
    assert!(lines.len() >= 2, "no Markdown table in the output:\n{text}");
    assert_eq!(
        cells(lines[0]),
        ["id", "what", "link", "figure", "peer", "ratio", "target", "met"],
        "unexpected table header"
    );
    lines[2..].iter().map(|l| cells(l)).collect()
}

fn check_table(text: &str, source: &str) {
    let rows = table_rows(text);
    for id in ["B1", "B2a", "B2b", "B3", "B4", "B5", "B6", "B7", "B8", "B9"] {
        let row = rows
            .iter()
            .find(|r| r.first().map(String::as_str) == Some(id))
            .unwrap_or_else(|| panic!("row {id} missing from {source}:\n{text}"));
        assert_eq!(
            row.len(),
            8,
            "row {id} in {source} has {} cells: {row:?}",
            row.len()
        );
        let [_, what, link, figure, peer, ratio, target, met] = &row[..] else {
            unreachable!()
        };
        for (name, cell) in [
            ("what", what),
            ("link", link),
            ("figure", figure),
            ("peer", peer),
            ("ratio", ratio),
            ("target", target),
        ] {
            assert!(
                !cell.is_empty(),
                "row {id} in {source} has an empty {name}: {row:?}"
            );
        }
        assert!(
            ["usb2", "usb3", "unlimited"].contains(&link.as_str()),
            "row {id}: link {link:?}"
        );
        assert!(
            ["met", "not met", "n/a"].contains(&met.as_str()),
            "row {id} in {source}: verdict {met:?} is not met / not met / n/a"
        );
        if figure.starts_with("n/a") {
            assert!(
                figure.starts_with("n/a (") && figure.ends_with(')') && figure.len() > 7,
                "row {id}: an n/a figure must say why: {figure:?}"
            );
            assert_eq!(met, "n/a", "row {id}: no figure but a verdict {met:?}");
        } else {
            assert!(
                figure.contains(" s") || figure.contains('B'),
                "row {id}: figure {figure:?} holds no time or size"
            );
        }
        if met != "n/a" {
            assert!(
                ratio != "n/a" || ["B3", "B5"].contains(&id),
                "row {id}: a verdict without a ratio: {row:?}"
            );
        }
    }
}

#[test]
fn quick_run_prints_every_row_and_writes_the_machine() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("BENCHMARKS.md");
    let mut bench = Command::new("bash");
    // Only the user's environment, not what cargo sets for a test (LD_LIBRARY_PATH, CARGO_*):
    // with those the script's release build differs from a plain one and rebuilds each time.
    bench.env_clear();
    for key in [
        "PATH",
        "HOME",
        "USER",
        "LANG",
        "LC_ALL",
        "TERM",
        "TMPDIR",
        "CARGO_HOME",
        "CARGO_TARGET_DIR",
        "RUSTUP_HOME",
        "RUSTUP_TOOLCHAIN",
        "ADB",
    ] {
        if let Some(value) = std::env::var_os(key) {
            bench.env(key, value);
        }
    }
    let output = bench
        .arg(root.join("scripts/bench.sh"))
        // The suite's own debug binaries: this test checks the table, not the figures.
        .arg("--debug-build")
        .arg("--quick")
        .arg("--out")
        .arg(&out)
        .current_dir(root)
        .output()
        .expect("bash must be installed to run scripts/bench.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "scripts/bench.sh --quick failed ({}):\n{stderr}\n{stdout}",
        output.status
    );
    check_table(&stdout, "standard output");

    let written = std::fs::read_to_string(&out)
        .unwrap_or_else(|e| panic!("bench.sh wrote no {}: {e}", out.display()));
    check_table(&written, "the written file");
    for fact in [
        "## Machine",
        "- CPU: ",
        "- cores: ",
        "- memory: ",
        "- kernel: Linux ",
    ] {
        assert!(
            written.contains(fact),
            "{fact:?} missing from the written file:\n{written}"
        );
    }
    assert!(
        written.contains("Written by `scripts/bench.sh --quick` on 20"),
        "the written file does not say when and how it was made:\n{written}"
    );
}

#[test]
fn cells_keep_escaped_bars() {
    assert_eq!(cells("| B1 | a \\| b | n/a |"), ["B1", "a | b", "n/a"]);
}
