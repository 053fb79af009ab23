//! Backups started from the page: each runs on its own thread, reports through a
//! [`JobSink`], and can be cancelled. One job per phone and per folder at a time; two phones
//! can be backed up side by side.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use phonevault::adb::Handset;
use phonevault::archive::Password;
use phonevault::backup::{self, BackupOptions};
use phonevault::catalog::select::Selection;
use phonevault::catalog::CatalogOptions;
use phonevault::preview::PreviewCache;
use phonevault::{Cancel, Error};
use serde::Deserialize;

use super::events::{BackupResult, ErrorView, JobShared, JobSink, JobState, JobView};

/// The body of `POST /api/phones/{serial}/backup`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRequest {
    /// Item ids from the media list; at least one (an empty list would mean "everything"
    /// to the library's selection, which a page must ask for by listing the ids).
    pub ids: Vec<String>,
    /// The backup folder; the phone's default folder when absent.
    pub folder: Option<String>,
    #[serde(default)]
    pub encrypt: bool,
    pub password: Option<String>,
    /// The password typed a second time (required with `encrypt`).
    pub password_confirm: Option<String>,
}

// Never print a password, even in a debug log.
impl std::fmt::Debug for BackupRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupRequest")
            .field("ids", &self.ids.len())
            .field("folder", &self.folder)
            .field("encrypt", &self.encrypt)
            .finish_non_exhaustive()
    }
}

/// Why a request was refused before any work began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub kind: &'static str,
    pub message: String,
}

fn refusal(kind: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        kind,
        message: message.into(),
    }
}

/// Checks a folder typed on the page: absolute, no `..`, not an existing file.
///
/// # Errors
/// A [`Refusal`] saying what is wrong.
pub fn check_folder(text: &str) -> Result<PathBuf, Refusal> {
    if text.is_empty() || text.contains('\0') {
        return Err(refusal("bad-folder", "choose a backup folder"));
    }
    let path = PathBuf::from(text);
    if !path.is_absolute() {
        return Err(refusal(
            "bad-folder",
            "the backup folder must be a full path (starting at the root of a disk)",
        ));
    }
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(refusal(
            "bad-folder",
            "the backup folder may not contain `..`",
        ));
    }
    if path.exists() && !path.is_dir() {
        return Err(refusal("bad-folder", "this path is a file, not a folder"));
    }
    Ok(path)
}

/// Bytes free for an unprivileged user on the disk that holds `folder` (or would hold it:
/// the nearest existing parent is asked). `None` where the system cannot say.
pub fn free_space(folder: &Path) -> Option<u64> {
    let existing = folder.ancestors().find(|p| p.exists())?;
    #[cfg(unix)]
    {
        let stats = nix::sys::statvfs::statvfs(existing).ok()?;
        // The field types differ between systems (u64 on Linux, u32 on some BSDs).
        #[allow(clippy::useless_conversion)]
        Some(u64::from(stats.blocks_available()).saturating_mul(u64::from(stats.fragment_size())))
    }
    #[cfg(not(unix))]
    {
        let _ = existing;
        None
    }
}

/// Checks the ids: 12 hex digits each, at least one.
///
/// # Errors
/// A [`Refusal`] when the list is empty or an id is malformed.
pub fn check_ids(ids: &[String]) -> Result<(), Refusal> {
    if ids.is_empty() {
        return Err(refusal("nothing-selected", "select at least one item"));
    }
    if let Some(bad) = ids.iter().find(|id| !is_item_id(id)) {
        return Err(refusal(
            "bad-id",
            format!(
                "not an item id: {:?}",
                bad.chars().take(40).collect::<String>()
            ),
        ));
    }
    Ok(())
}

/// Whether `id` has the form of a catalog item id.
pub fn is_item_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The password of a new archive, typed twice.
///
/// # Errors
/// A [`Refusal`] when it is missing or the two differ.
pub fn check_password(request: &BackupRequest) -> Result<Option<Password>, Refusal> {
    if !request.encrypt {
        return Ok(None);
    }
    let first = request.password.as_deref().unwrap_or_default();
    if first.is_empty() {
        return Err(refusal(
            "password-needed",
            "type a password to encrypt with",
        ));
    }
    if request.password_confirm.as_deref() != Some(first) {
        return Err(refusal(
            "password-mismatch",
            "the two passwords differ; type the same one twice",
        ));
    }
    Password::new(first)
        .map(Some)
        .map_err(|e| refusal("password-needed", e.to_string()))
}

/// A running or finished job.
#[derive(Debug)]
pub struct Job {
    pub shared: Arc<JobShared>,
    pub cancel: Cancel,
    pub serial: String,
    pub folder: PathBuf,
}

impl Job {
    pub fn is_running(&self) -> bool {
        self.shared.snapshot().state == JobState::Running
    }

    pub fn request_cancel(&self) {
        self.cancel.cancel();
        self.shared.update(|v| v.cancel_requested = true);
    }
}

/// Starts a backup of the items `ids` on its own thread.
///
/// # Errors
/// When the thread cannot be started.
pub fn start_backup(
    id: u64,
    handset: Handset,
    folder: &Path,
    ids: Vec<String>,
    password: Option<Password>,
    previews: Option<PreviewCache>,
) -> std::io::Result<Arc<Job>> {
    let serial = handset.serial().to_owned();
    let shared = JobShared::new(JobView::new(
        id,
        &serial,
        &folder.display().to_string(),
        password.is_some(),
    ));
    let job = Arc::new(Job {
        shared: Arc::clone(&shared),
        cancel: Cancel::new(),
        serial,
        folder: folder.to_path_buf(),
    });
    let cancel = job.cancel.clone();
    let folder = folder.to_path_buf();
    std::thread::Builder::new()
        .name(format!("backup-{id}"))
        .spawn(move || {
            let sink = JobSink::new(Arc::clone(&shared));
            let outcome = Selection {
                ids,
                ..Selection::default()
            }
            .compile()
            .and_then(|matcher| {
                backup::run(
                    &handset,
                    &BackupOptions {
                        folder,
                        matcher,
                        password,
                        catalog: CatalogOptions::default(),
                        cancel,
                        lock_wait: backup::DEFAULT_LOCK_WAIT,
                        fresh_copy: false,
                        previews,
                    },
                    &sink,
                )
            });
            shared.update(|view| {
                view.phase = None;
                view.current = None;
                match outcome {
                    Ok(report) => {
                        view.state = match &report.stopped {
                            Some(Error::Cancelled) => JobState::Cancelled,
                            _ if report.is_complete() => JobState::Done,
                            _ => JobState::Partial,
                        };
                        view.result = Some(BackupResult::from_report(&report));
                    }
                    Err(err) => {
                        view.state = if matches!(err, Error::Cancelled) {
                            JobState::Cancelled
                        } else {
                            JobState::Failed
                        };
                        view.error = Some(ErrorView::from_error(&err));
                    }
                }
            });
        })?;
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_must_be_absolute_without_parent_steps() {
        assert!(check_folder("/tmp/backups").is_ok());
        assert_eq!(check_folder("backups").unwrap_err().kind, "bad-folder");
        assert_eq!(check_folder("/tmp/../etc").unwrap_err().kind, "bad-folder");
        assert_eq!(check_folder("").unwrap_err().kind, "bad-folder");
        assert_eq!(check_folder("/etc/passwd").unwrap_err().kind, "bad-folder");
    }

    #[test]
    fn ids_are_checked() {
        assert!(check_ids(&["0123456789ab".into()]).is_ok());
        assert_eq!(check_ids(&[]).unwrap_err().kind, "nothing-selected");
        assert_eq!(check_ids(&["../../x".into()]).unwrap_err().kind, "bad-id");
    }

    #[test]
    fn passwords_must_match() {
        let request = |p: &str, c: &str| BackupRequest {
            ids: vec![],
            folder: None,
            encrypt: true,
            password: Some(p.into()),
            password_confirm: Some(c.into()),
        };
        assert!(check_password(&request("a", "a")).unwrap().is_some());
        assert_eq!(
            check_password(&request("a", "b")).unwrap_err().kind,
            "password-mismatch"
        );
        assert_eq!(
            check_password(&request("", "")).unwrap_err().kind,
            "password-needed"
        );
    }
}
