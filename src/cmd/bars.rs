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
    items_done: Mutex<(u64, u64)>,
}

impl Bars {
    /// `quiet` draws nothing but still prints warnings.
    pub fn new(quiet: bool) -> Bars {
        Bars {
            bar: Mutex::new(None),
            quiet,
            items_done: Mutex::new((0, 0)),
        }
    }

    fn with_bar(&self, f: impl FnOnce(&ProgressBar)) {
        if let Some(bar) = self.bar.lock().expect("bar lock").as_ref() {
            f(bar);
        }
    }

    fn item_message(&self, delta: u64) -> String {
        let mut done = self.items_done.lock().expect("items lock");
        done.0 += delta;
        if done.1 > 0 {
            format!("{}/{} items", done.0, done.1)
        } else {
            format!("{} items", done.0)
        }
    }
}

impl Progress for Bars {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Phase { name, items, bytes } => {
                *self.items_done.lock().expect("items lock") = (0, items);
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
                bar.set_prefix(name);
                bar.set_message(self.item_message(0));
                if let Some(old) = self.bar.lock().expect("bar lock").replace(bar) {
                    old.finish_and_clear();
                }
            }
            Event::Bytes(n) => self.with_bar(|bar| bar.inc(n)),
            Event::ItemDone { .. } => {
                let message = self.item_message(1);
                self.with_bar(|bar| bar.set_message(message));
            }
            Event::Warning { path, message } => {
                let line = match path {
                    Some(path) => format!("warning: {}: {}", for_terminal(path), message),
                    None => format!("warning: {message}"),
                };
                let guard = self.bar.lock().expect("bar lock");
                match guard.as_ref() {
                    Some(bar) if !self.quiet => bar.suspend(|| eprintln!("{line}")),
                    _ => eprintln!("{line}"),
                }
            }
            Event::PhaseDone => {
                if let Some(bar) = self.bar.lock().expect("bar lock").take() {
                    bar.finish_and_clear();
                }
            }
            // ItemStarted and later additions need no drawing.
            _ => {}
        }
    }
}
