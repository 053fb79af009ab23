//! `phonevault history`: the runs `phonevault watch` recorded.

use std::io::Write as _;

use phonevault::escape::for_terminal;
use phonevault::history::{self, history_path};
use phonevault::json::{to_text, versioned_list};

use crate::cli::HistoryArgs;
use crate::cmd::{human, Exit};

pub fn run(args: &HistoryArgs) -> phonevault::Result<Exit> {
    let path = history_path(args.history.history.as_deref())?;
    let history = history::read(&path)?;
    if history.unreadable_lines > 0 {
        let _ = writeln!(
            std::io::stderr().lock(),
            "phonevault: {} lines of {} are not run records and were skipped",
            history.unreadable_lines,
            path.display()
        );
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let _ = out.write_all(to_text(&versioned_list(&history.runs)).as_bytes());
        return Ok(Exit::Success);
    }
    if history.runs.is_empty() {
        let _ = writeln!(out, "No automatic backup has run yet ({}).", path.display());
        return Ok(Exit::Success);
    }
    for run in &history.runs {
        let model = if run.model.is_empty() {
            String::new()
        } else {
            format!(" ({})", for_terminal(&run.model))
        };
        let _ = writeln!(
            out,
            "{}  {}{}  {}  {} items, {}{}{}",
            run.started.format("%Y-%m-%d %H:%M:%S UTC"),
            for_terminal(&run.serial),
            model,
            run.result.word(),
            run.items,
            human::size(run.bytes),
            run.archive
                .as_deref()
                .map(|a| format!("  {}", for_terminal(a)))
                .unwrap_or_default(),
            run.error
                .as_deref()
                .map(|e| format!("  ({})", for_terminal(e)))
                .unwrap_or_default(),
        );
    }
    Ok(Exit::Success)
}
