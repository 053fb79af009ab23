//! Progress bars: the CLI's [`Progress`] sink, drawn with indicatif on standard error.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use phonevault::escape::for_terminal;
use phonevault::progress::{Event, Progress};

/// Draws one bar per phase: items and bytes with rate and ETA when the phase has a byte total,
/// a spinner otherwise. Warnings are printed above the bar as they come, so none is lost when
/// the bar finishes.
pub struct Bars {
    bar: Mutex<Option<ProgressBar>>,
    quiet: bool,
    /// Items ended (done or failed), items failed, items in the phase.
    items_done: Mutex<(u64, u64, u64)>,
}

impl Bars {
    /// `quiet` draws nothing but still prints warnings.
    pub fn new(quiet: bool) -> Bars {
        Bars {
            bar: Mutex::new(None),
            quiet,
            items_done: Mutex::new((0, 0, 0)),
        }
    }

    fn with_bar(&self, f: impl FnOnce(&ProgressBar)) {
        if let Some(bar) = self.bar.lock().expect("bar lock").as_ref() {
            f(bar);
        }
    }

    /// The bar's message after `ended` more items ended, `failed` of them failed.
    fn item_message(&self, ended: u64, failed: u64) -> String {
        let mut done = self.items_done.lock().expect("items lock");
        done.0 += ended;
        done.1 += failed;
        let (ended, failed, total) = *done;
        let counted = if total > 0 {
            format!("{ended}/{total} items")
        } else {
            format!("{ended} items")
        };
        if failed > 0 {
            format!("{counted} ({failed} failed)")
        } else {
            counted
        }
    }
}

impl Progress for Bars {
    fn event(&self, event: Event) {
        match event {
            Event::Phase { name, items, bytes } => {
                *self.items_done.lock().expect("items lock") = (0, 0, items);
                let bar = if self.quiet {
                    ProgressBar::hidden()
                } else if bytes > 0 {
                    let bar =
                        ProgressBar::with_draw_target(Some(bytes), ProgressDrawTarget::stderr());
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{prefix:>9} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
                        )
                        .expect("valid template")
                        .progress_chars("=> "),
                    );
                    bar
                } else {
                    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                    bar.set_style(
                        ProgressStyle::with_template("{prefix:>9} {spinner} {elapsed} {msg}")
                            .expect("valid template"),
                    );
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                };
                bar.set_prefix(name.as_str());
                bar.set_message(self.item_message(0, 0));
                if let Some(old) = self.bar.lock().expect("bar lock").replace(bar) {
                    old.finish_and_clear();
                }
            }
            Event::Bytes { bytes } => self.with_bar(|bar| bar.inc(bytes)),
            Event::ItemDone { .. } => {
                let message = self.item_message(1, 0);
                self.with_bar(|bar| bar.set_message(message));
            }
            // Why is in the command's report, printed at the end.
            Event::ItemFailed { .. } => {
                let message = self.item_message(1, 1);
                self.with_bar(|bar| bar.set_message(message));
            }
            Event::Warning { path, message } => {
                let line = match path {
                    Some(path) => format!(
                        "warning: {}: {}",
                        for_terminal(&path),
                        for_terminal(&message)
                    ),
                    None => format!("warning: {}", for_terminal(&message)),
                };
                let guard = self.bar.lock().expect("bar lock");
                match guard.as_ref() {
                    Some(bar) if !self.quiet => bar.suspend(|| eprintln!("{line}")),
                    _ => eprintln!("{line}"),
                }
            }
            Event::PhaseDone { .. } => {
                if let Some(bar) = self.bar.lock().expect("bar lock").take() {
                    bar.finish_and_clear();
                }
            }
            // ItemStarted and later additions need no drawing.
            _ => {}
        }
    }
}

impl Drop for Bars {
    /// A bar left over (an error ended the phase early) is cleared, not left half drawn.
    fn drop(&mut self) {
        if let Some(bar) = self.bar.get_mut().ok().and_then(Option::take) {
            bar.finish_and_clear();
        }
    }
}
