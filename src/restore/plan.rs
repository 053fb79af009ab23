//! Restore planning: where each archived item goes on the target phone and what happens to
//! it there.
//!
//! The rules are pure functions over the archives' manifests and a listing of the target
//! ([`assign_targets`], [`paths_to_hash`], [`decide`]), so each is tested without a phone;
//! [`plan`] only gathers what they need from the handset (one listing, one hashing batch,
//! the free space).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::job::{self, TempFolder};
use super::RestoreOptions;
use crate::adb::Handset;
use crate::archive::{ArchiveReader, ItemRecord, Manifest};
use crate::backup::FailedItem;
use crate::catalog::{select::Matcher, Kind, Source};
use crate::helper::{self, hash_files};
use crate::phone_shell::shell_quote;
use crate::progress::{Event, Phase, Progress};
use crate::{Error, Result};

/// What to do when a different file already has an item's target name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnConflict {
    /// Leave the phone's file alone and do not restore the item.
    Skip,
    /// Restore the item under a free name: `IMG_1 (1).jpg` (never for chat databases).
    #[default]
    KeepBoth,
    /// Replace the phone's file.
    Overwrite,
}

/// What will happen to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Nothing has the target name yet: push it.
    Push,
    /// An identical file (same size and SHA-256) is already there.
    Identical,
    /// A different file has the name: push under another name (`target` holds it).
    KeepBoth,
    /// A different file has the name: replace it.
    Overwrite,
    /// A different file has the name and `--on-conflict skip` leaves it.
    SkipConflict,
    /// A chat database whose name holds a different file on the phone: not restored,
    /// because WhatsApp reads chat databases by their exact names and a renamed copy would
    /// be lost to it. Reported as not restored.
    ChatConflict,
    /// Another copy of the same phone file (from a later archive, or newer) is restored
    /// instead (`superseded_by`).
    Superseded,
}

impl Action {
    /// Whether this action pushes bytes.
    pub fn pushes(self) -> bool {
        matches!(self, Action::Push | Action::KeepBoth | Action::Overwrite)
    }
}

/// Why an item's target is where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// Where the target phone's Gallery or WhatsApp reads it.
    Live,
    /// A phone held both WhatsApp layouts with a file of this name in each: the newer copy
    /// takes the live folder, this one keeps its name in the other layout's folder, where
    /// the target phone's WhatsApp does not look.
    OtherLayout,
    /// Two archived files map to the same Gallery path (internal storage and an SD card):
    /// the newer takes the name, this one a numbered name beside it.
    BesideNewer,
}

/// One item of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedItem {
    /// Index of the archive (in the order given) that holds the item.
    pub archive: usize,
    #[serde(skip)]
    pub record: ItemRecord,
    /// The path the item had on the phone it was backed up from.
    pub from: String,
    /// Where it goes on this handset.
    pub target: String,
    pub source: Source,
    pub size: u64,
    pub action: Action,
    pub placement: Placement,
    /// For `superseded`: the phone path of the copy restored instead (the same file, from
    /// another archive or newer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
}

/// Counts and bytes of one source in a plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceTotals {
    /// Items selected.
    pub items: usize,
    pub bytes: u64,
    /// Of those, items that will be pushed, and their bytes.
    pub to_push: usize,
    pub push_bytes: u64,
}

/// What a restore will do on this handset.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub serial: String,
    pub sdk: u32,
    /// Every selected item with a safe name, each exactly once.
    pub items: Vec<PlannedItem>,
    /// Items refused before planning (unsafe names in the manifest).
    pub refused: Vec<FailedItem>,
    pub per_source: BTreeMap<Source, SourceTotals>,
    /// Bytes that will be pushed.
    pub needed: u64,
    /// Free bytes on the handset's storage.
    pub free: u64,
    /// Files in temporary folders left by dead restore jobs (removed by `execute`).
    pub leftovers: Vec<String>,
    /// Those temporary folders, empty ones included (removed by `execute`).
    pub stale_dirs: Vec<String>,
}

/// One item of a plan as data (a [`PlannedItem`] without its manifest record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedItemSummary {
    pub archive: usize,
    pub from: String,
    pub target: String,
    pub source: Source,
    pub size: u64,
    pub action: Action,
    pub placement: Placement,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
}

/// A plan as data: what `restore --dry-run --json` prints (fields in `docs/json.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub serial: String,
    pub sdk: u32,
    pub needed: u64,
    pub free: u64,
    /// Whether `needed` fits in `free`.
    pub fits: bool,
    pub per_source: BTreeMap<Source, SourceTotals>,
    pub items: Vec<PlannedItemSummary>,
    pub refused: Vec<FailedItem>,
    pub leftovers: Vec<String>,
    pub stale_dirs: Vec<String>,
}

impl Plan {
    /// The plan as data (what `restore --dry-run --json` prints).
    pub fn summary(&self) -> PlanSummary {
        PlanSummary {
            serial: self.serial.clone(),
            sdk: self.sdk,
            needed: self.needed,
            free: self.free,
            fits: self.fits(),
            per_source: self.per_source.clone(),
            items: self
                .items
                .iter()
                .map(|i| PlannedItemSummary {
                    archive: i.archive,
                    from: i.from.clone(),
                    target: i.target.clone(),
                    source: i.source,
                    size: i.size,
                    action: i.action,
                    placement: i.placement,
                    superseded_by: i.superseded_by.clone(),
                })
                .collect(),
            refused: self.refused.clone(),
            leftovers: self.leftovers.clone(),
            stale_dirs: self.stale_dirs.clone(),
        }
    }

    /// Whether the items to push fit in the free space.
    pub fn fits(&self) -> bool {
        self.needed <= self.free
    }

    /// Items with this action.
    pub fn count(&self, action: Action) -> usize {
        self.items.iter().filter(|i| i.action == action).count()
    }

    /// Items whose target name holds a different file.
    pub fn conflicts(&self) -> usize {
        self.count(Action::KeepBoth)
            + self.count(Action::Overwrite)
            + self.count(Action::SkipConflict)
            + self.count(Action::ChatConflict)
    }

    /// Whether chat databases are among the items to restore where WhatsApp reads them
    /// (WhatsApp must then be set up in a particular order to pick them up).
    pub fn has_chats(&self) -> bool {
        self.items.iter().any(|i| {
            i.record.item.kind == Kind::Database
                && i.action.pushes()
                && i.placement == Placement::Live
        })
    }

    /// `NoSpace` with both numbers when the plan does not fit.
    ///
    /// # Errors
    /// `NoSpace` when more bytes are needed than are free.
    pub fn check_space(&self) -> Result<()> {
        if self.fits() {
            Ok(())
        } else {
            Err(Error::NoSpace {
                place: format!("handset {} (/sdcard)", self.serial),
                needed: self.needed,
                free: self.free,
            })
        }
    }
}

/// The `WhatsApp` folder of each layout: (legacy, Android 11+).
fn whatsapp_roots(source: Source) -> Option<(&'static str, &'static str)> {
    match source {
        Source::Gallery => None,
        Source::Whatsapp => Some((
            "/sdcard/WhatsApp",
            "/sdcard/Android/media/com.whatsapp/WhatsApp",
        )),
        Source::WhatsappBusiness => Some((
            "/sdcard/WhatsApp Business",
            "/sdcard/Android/media/com.whatsapp.w4b/WhatsApp Business",
        )),
    }
}

/// Whether a phone of this SDK level keeps `WhatsApp` in the Android 11+ layout.
fn uses_media_layout(sdk: u32) -> bool {
    sdk >= 30
}

/// The path an item's `rel_path` maps to on a handset with this SDK level: the Gallery
/// under `/sdcard`, WhatsApp in the layout the target phone's app uses (Android 11+ keeps it
/// under `Android/media`), whichever layout the backup came from.
///
/// # Errors
/// `UnsafePath` when `rel_path` is not a plain relative path.
pub fn target_path(source: Source, rel_path: &str, sdk: u32) -> Result<String> {
    crate::catalog::check_rel_path(rel_path)?;
    let root = match whatsapp_roots(source) {
        None => "/sdcard",
        Some((_, media)) if uses_media_layout(sdk) => media,
        Some((legacy, _)) => legacy,
    };
    Ok(format!("{root}/{rel_path}"))
}

/// The same name in the `WhatsApp` layout the target phone's app does not use; `None` for
/// the Gallery.
fn other_layout_path(source: Source, rel_path: &str, sdk: u32) -> Option<String> {
    let (legacy, media) = whatsapp_roots(source)?;
    let root = if uses_media_layout(sdk) {
        legacy
    } else {
        media
    };
    Some(format!("{root}/{rel_path}"))
}

/// The folder part of a phone path.
pub(super) fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("/", |(dir, _)| dir)
}

/// `IMG_1.jpg` -> `IMG_1 (n).jpg`; a dot at the start of the name is not an extension.
pub fn numbered_name(path: &str, n: u32) -> String {
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => (&name[..dot], &name[dot..]),
        _ => (name, ""),
    };
    format!("{dir}/{stem} ({n}){ext}")
}

/// The fewest folders whose trees hold all `folders`.
fn covering_roots(folders: &BTreeSet<String>) -> Vec<String> {
    let mut roots: Vec<String> = Vec::new();
    for folder in folders {
        // Sorted order puts a folder before everything inside it.
        let inside = roots
            .iter()
            .any(|r| folder.starts_with(&format!("{r}/")) || folder == r);
        if !inside {
            roots.push(folder.clone());
        }
    }
    roots
}

/// A selected record and where it goes, before the target's files are looked at.
#[derive(Debug, Clone)]
pub struct Assigned {
    pub archive: usize,
    pub record: ItemRecord,
    pub target: String,
    pub placement: Placement,
    /// Set when another copy of the same phone file is restored instead.
    pub superseded_by: Option<String>,
}

/// Maps every selected record to a target path; records refused for unsafe names come back
/// apart. Each record appears exactly once.
///
/// When several records map to one target, the newest (by mtime; on a tie the copy from
/// the layout the backed-up phone's `WhatsApp` used, then the later archive) takes it. The
/// others: another copy of the same phone file is `superseded`; a file of the other
/// `WhatsApp` layout keeps its name in that layout's folder; a Gallery file takes a numbered
/// name beside the newer one.
pub fn assign_targets(
    manifests: &[&Manifest],
    matcher: &Matcher,
    sdk: u32,
) -> (Vec<Assigned>, Vec<FailedItem>) {
    let mut refused = Vec::new();
    // Candidates by live target, with whether each came from its phone's live layout.
    let mut by_target: BTreeMap<String, Vec<(usize, &ItemRecord, bool)>> = BTreeMap::new();
    for (index, manifest) in manifests.iter().enumerate() {
        for record in &manifest.items {
            if !matcher.matches(&record.item) {
                continue;
            }
            // The entry name is checked too: phonevault never writes one that climbs out or
            // holds a backslash, so such a record comes from someone else.
            let target = crate::archive::check_entry_name(&record.entry)
                .and_then(|()| target_path(record.item.source, &record.item.rel_path, sdk));
            match target {
                Ok(target) => {
                    let from_live_layout =
                        whatsapp_roots(record.item.source).is_none_or(|(legacy, media)| {
                            let live = if uses_media_layout(manifest.handset.sdk) {
                                media
                            } else {
                                legacy
                            };
                            record.item.root == live
                        });
                    by_target
                        .entry(target)
                        .or_default()
                        .push((index, record, from_live_layout));
                }
                Err(err) => refused.push(FailedItem {
                    path: record.item.path.clone(),
                    message: err.to_string(),
                }),
            }
        }
    }
    let mut assigned = Vec::new();
    let mut others: Vec<(usize, &ItemRecord, String, String)> = Vec::new();
    for (target, mut candidates) in by_target {
        // Best first: newer, then from the live layout, then from a later archive.
        candidates.sort_by_key(|c| std::cmp::Reverse((c.1.item.mtime, c.2, c.0)));
        let (archive, winner, _) = candidates[0];
        let mut placed_paths: BTreeSet<&str> = BTreeSet::from([winner.item.path.as_str()]);
        assigned.push(Assigned {
            archive,
            record: winner.clone(),
            target: target.clone(),
            placement: Placement::Live,
            superseded_by: None,
        });
        for &(archive, record, _) in &candidates[1..] {
            if placed_paths.insert(record.item.path.as_str()) {
                others.push((archive, record, target.clone(), winner.item.path.clone()));
            } else {
                // Another copy of this very phone file, newer or from a later archive, is
                // restored (the winner, or the copy that went to the other layout).
                assigned.push(Assigned {
                    archive,
                    record: record.clone(),
                    target: target.clone(),
                    placement: Placement::Live,
                    superseded_by: Some(record.item.path.clone()),
                });
            }
        }
    }
    // Distinct files displaced from a live target: the other layout's folder when free.
    let mut taken: BTreeSet<String> = assigned
        .iter()
        .filter(|a| a.superseded_by.is_none())
        .map(|a| a.target.clone())
        .collect();
    for (archive, record, live_target, winner) in others {
        let item = &record.item;
        let (target, placement, superseded_by) =
            match other_layout_path(item.source, &item.rel_path, sdk) {
                Some(other) if taken.insert(other.clone()) => (other, Placement::OtherLayout, None),
                Some(_) => (live_target, Placement::Live, Some(winner)),
                None => (live_target, Placement::BesideNewer, None),
            };
        assigned.push(Assigned {
            archive,
            record: record.clone(),
            target,
            placement,
            superseded_by,
        });
    }
    (assigned, refused)
}

/// Files on the phone whose SHA-256 is needed to tell identical files from conflicts:
/// same-size files at a target and, where numbered names may be used, at its numbered
/// variants.
pub(super) fn paths_to_hash(
    assigned: &[Assigned],
    existing: &HashMap<String, (u64, i64)>,
    on_conflict: OnConflict,
) -> BTreeSet<String> {
    let mut to_hash = BTreeSet::new();
    for a in assigned.iter().filter(|a| a.superseded_by.is_none()) {
        let size = a.record.item.size;
        if existing.get(&a.target).is_some_and(|(s, _)| *s == size) {
            to_hash.insert(a.target.clone());
        }
        let numbered = a.placement == Placement::BesideNewer
            || (existing.contains_key(&a.target)
                && on_conflict == OnConflict::KeepBoth
                && a.record.item.kind != Kind::Database);
        if numbered {
            let mut n = 1;
            loop {
                let variant = numbered_name(&a.target, n);
                match existing.get(&variant) {
                    Some((s, _)) => {
                        if *s == size {
                            to_hash.insert(variant);
                        }
                    }
                    None => break,
                }
                n += 1;
            }
        }
    }
    to_hash
}

/// What happens to each assigned item, given the target's files (path -> size, mtime) and
/// the SHA-256 of the files [`paths_to_hash`] named (lower-case hex; missing or empty when
/// unreadable).
pub(super) fn decide(
    assigned: Vec<Assigned>,
    existing: &HashMap<String, (u64, i64)>,
    hashes: &HashMap<String, String>,
    on_conflict: OnConflict,
) -> Vec<PlannedItem> {
    let same = |path: &str, record: &ItemRecord| {
        hashes
            .get(path)
            .is_some_and(|h| !h.is_empty() && h.eq_ignore_ascii_case(&record.sha256))
    };
    let mut taken: BTreeSet<String> = assigned
        .iter()
        .filter(|a| a.superseded_by.is_none())
        .map(|a| a.target.clone())
        .collect();
    let mut items = Vec::with_capacity(assigned.len());
    for a in assigned {
        let chat = a.record.item.kind == Kind::Database;
        let (action, target) = if a.superseded_by.is_some() {
            (Action::Superseded, a.target)
        } else if a.placement == Placement::BesideNewer {
            keep_both(&a.target, &a.record, existing, &mut taken, same)
        } else if !existing.contains_key(&a.target) {
            (Action::Push, a.target)
        } else if same(&a.target, &a.record) {
            (Action::Identical, a.target)
        } else {
            match on_conflict {
                OnConflict::Skip => (Action::SkipConflict, a.target),
                OnConflict::Overwrite => (Action::Overwrite, a.target),
                OnConflict::KeepBoth if chat => (Action::ChatConflict, a.target),
                OnConflict::KeepBoth => keep_both(&a.target, &a.record, existing, &mut taken, same),
            }
        };
        items.push(PlannedItem {
            archive: a.archive,
            from: a.record.item.path.clone(),
            source: a.record.item.source,
            size: a.record.item.size,
            record: a.record,
            target,
            action,
            placement: a.placement,
            superseded_by: a.superseded_by,
        });
    }
    items
}

/// Keep-both for one conflicting item: an identical numbered copy from an earlier restore
/// counts as already there; else the first free numbered name.
fn keep_both(
    target: &str,
    record: &ItemRecord,
    existing: &HashMap<String, (u64, i64)>,
    taken: &mut BTreeSet<String>,
    same: impl Fn(&str, &ItemRecord) -> bool,
) -> (Action, String) {
    let mut n = 1;
    loop {
        let variant = numbered_name(target, n);
        if existing.contains_key(&variant) {
            if same(&variant, record) {
                return (Action::Identical, variant);
            }
        } else if taken.insert(variant.clone()) {
            return (Action::KeepBoth, variant);
        }
        n += 1;
    }
}

/// Existing regular files under `roots`: path -> (size, mtime).
fn existing_files(handset: &Handset, roots: &[String]) -> Result<HashMap<String, (u64, i64)>> {
    if roots.is_empty() {
        return Ok(HashMap::new());
    }
    let run = helper::list(handset, roots)?;
    Ok(run
        .listing
        .files
        .into_iter()
        .map(|f| (f.path, (f.size, f.mtime)))
        .collect())
}

/// Restore temporary folders (any job's) directly inside `folders`, empty ones included.
fn temp_dirs_in(handset: &Handset, roots: &[String]) -> Result<Vec<String>> {
    if roots.is_empty() {
        return Ok(Vec::new());
    }
    let quoted: Vec<String> = roots.iter().map(|r| shell_quote(r)).collect();
    let pattern = shell_quote(&format!("{}*{}", job::TEMP_PREFIX, job::TEMP_SUFFIX));
    let out = handset.shell(&format!(
        "find {} -type d -name {pattern} -prune -print0 2>/dev/null",
        quoted.join(" ")
    ))?;
    Ok(out
        .stdout
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect())
}

/// Plans a restore of what `options` selects from `archives` onto `handset`.
///
/// # Errors
/// Transport errors; helper errors while listing or hashing what is on the phone; an
/// error reading the free space; `Cancelled` when `options.cancel` trips.
pub fn plan(
    handset: &Handset,
    archives: &[ArchiveReader],
    options: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<Plan> {
    let handset = &handset.with_cancel(&options.cancel);
    progress.event(Event::Phase {
        name: Phase::Planning,
        items: 0,
        bytes: 0,
    });
    let sdk = handset.identity().sdk;
    let manifests: Vec<&Manifest> = archives.iter().map(ArchiveReader::manifest).collect();
    let (assigned, mut refused) = assign_targets(&manifests, &options.matcher, sdk);
    // Entries no manifest lists are never restored; they are named, as verify names them.
    for archive in archives {
        refused.extend(archive.unlisted_entries().into_iter().map(|p| FailedItem {
            path: p.entry,
            message: p.detail,
        }));
    }
    let folders: BTreeSet<String> = assigned
        .iter()
        .map(|a| parent(&a.target).to_string())
        .collect();
    let roots = covering_roots(&folders);
    let existing = existing_files(handset, &roots)?;
    options.cancel.check()?;

    // Temporary folders of dead jobs in the target folders go; a live job's stay untouched.
    let mut stale_dirs: Vec<String> = Vec::new();
    for dir in temp_dirs_in(handset, &roots)? {
        let (folder, name) = dir.rsplit_once('/').unwrap_or(("", dir.as_str()));
        if folders.contains(folder) && matches!(job::classify(name), TempFolder::Dead { .. }) {
            stale_dirs.push(dir);
        }
    }
    stale_dirs.sort();
    let mut leftovers: Vec<String> = existing
        .keys()
        .filter(|p| stale_dirs.iter().any(|d| p.starts_with(&format!("{d}/"))))
        .cloned()
        .collect();
    leftovers.sort();

    let to_hash: Vec<String> = paths_to_hash(&assigned, &existing, options.on_conflict)
        .into_iter()
        .collect();
    let hashes: HashMap<String, String> = to_hash
        .iter()
        .cloned()
        .zip(hash_files(handset, &to_hash)?)
        .collect();
    options.cancel.check()?;
    let items = decide(assigned, &existing, &hashes, options.on_conflict);

    let mut per_source: BTreeMap<Source, SourceTotals> = BTreeMap::new();
    for item in &items {
        let totals = per_source.entry(item.source).or_default();
        totals.items += 1;
        totals.bytes += item.size;
        if item.action.pushes() {
            totals.to_push += 1;
            totals.push_bytes += item.size;
        }
    }
    let needed = per_source.values().map(|t| t.push_bytes).sum();
    let free = handset.storage()?.free;
    progress.event(Event::PhaseDone {
        name: Phase::Planning,
    });
    Ok(Plan {
        serial: handset.serial().to_string(),
        sdk,
        items,
        refused,
        per_source,
        needed,
        free,
        leftovers,
        stale_dirs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::HandsetRecord;
    use crate::catalog::select::Selection;
    use crate::catalog::MediaItem;

    const MEDIA: &str = "/sdcard/Android/media/com.whatsapp/WhatsApp";
    const LEGACY: &str = "/sdcard/WhatsApp";

    fn record(
        source: Source,
        root: &str,
        rel: &str,
        kind: Kind,
        mtime: i64,
        sha: &str,
    ) -> ItemRecord {
        ItemRecord {
            entry: format!("{}/{rel}", source.as_str()),
            sha256: sha.repeat(64 / sha.len()),
            item: MediaItem {
                id: format!("{root}/{rel}"),
                path: format!("{root}/{rel}"),
                root: root.to_string(),
                rel_path: rel.to_string(),
                source,
                album: String::new(),
                kind,
                size: 10,
                mtime,
                taken: None,
                sent: false,
                private: false,
            },
        }
    }

    fn manifest(sdk: u32, items: Vec<ItemRecord>) -> Manifest {
        Manifest {
            format: crate::archive::FORMAT_NAME.into(),
            format_version: crate::archive::FORMAT_VERSION,
            tool: "test".into(),
            created: chrono::DateTime::from_timestamp(0, 0).unwrap(),
            handset: HandsetRecord {
                serial: "S".into(),
                model: "M".into(),
                manufacturer: "m".into(),
                android_version: sdk.to_string(),
                sdk,
            },
            encrypted: false,
            previews: None,
            items,
        }
    }

    fn everything() -> Matcher {
        Selection::default().compile().unwrap()
    }

    fn db(root: &str, mtime: i64, sha: &str) -> ItemRecord {
        record(
            Source::Whatsapp,
            root,
            "Databases/msgstore.db.crypt14",
            Kind::Database,
            mtime,
            sha,
        )
    }

    /// (from, target, placement, superseded) of each assigned record, sorted.
    fn summary(assigned: &[Assigned]) -> Vec<(String, String, Placement, bool)> {
        let mut s: Vec<_> = assigned
            .iter()
            .map(|a| {
                (
                    a.record.item.path.clone(),
                    a.target.clone(),
                    a.placement,
                    a.superseded_by.is_some(),
                )
            })
            .collect();
        s.sort();
        s
    }

    #[test]
    fn both_layouts_on_a_tie_the_source_phones_live_layout_wins_and_the_other_keeps_its_name() {
        let m = manifest(34, vec![db(MEDIA, 100, "a"), db(LEGACY, 100, "b")]);
        for (target_sdk, live, other) in [(34, MEDIA, LEGACY), (29, LEGACY, MEDIA)] {
            let (assigned, refused) = assign_targets(&[&m], &everything(), target_sdk);
            assert!(refused.is_empty());
            let live_target = format!("{live}/Databases/msgstore.db.crypt14");
            let other_target = format!("{other}/Databases/msgstore.db.crypt14");
            let winner = assigned.iter().find(|a| a.target == live_target).unwrap();
            assert_eq!(winner.record.item.root, MEDIA, "sdk {target_sdk}");
            assert_eq!(winner.placement, Placement::Live);
            let kept = assigned.iter().find(|a| a.target == other_target).unwrap();
            assert_eq!(kept.record.item.root, LEGACY);
            assert_eq!(kept.placement, Placement::OtherLayout);
            assert_eq!(assigned.len(), 2);
        }
    }

    #[test]
    fn old_archives_holding_the_two_layouts_apart_restore_like_one() {
        // Before entry names kept the layouts apart, the second copy of a name failed and the
        // next backup stored it in an archive of its own.
        let first = manifest(34, vec![db(MEDIA, 100, "a")]);
        let second = manifest(34, vec![db(LEGACY, 100, "b"), db(MEDIA, 90, "c")]);
        let (assigned, _) = assign_targets(&[&first, &second], &everything(), 34);
        let target = |root: &str| format!("{root}/Databases/msgstore.db.crypt14");
        assert_eq!(
            summary(&assigned),
            vec![
                (target(MEDIA), target(MEDIA), Placement::Live, false),
                (target(MEDIA), target(MEDIA), Placement::Live, true),
                (
                    target(LEGACY),
                    target(LEGACY),
                    Placement::OtherLayout,
                    false
                ),
            ]
        );
        let live = assigned
            .iter()
            .find(|a| a.placement == Placement::Live && a.superseded_by.is_none())
            .unwrap();
        assert_eq!((live.archive, live.record.item.mtime), (0, 100));
    }

    #[test]
    fn both_layouts_the_newer_copy_wins_whatever_its_layout() {
        let m = manifest(34, vec![db(MEDIA, 100, "a"), db(LEGACY, 200, "b")]);
        let (assigned, _) = assign_targets(&[&m], &everything(), 34);
        let winner = assigned
            .iter()
            .find(|a| a.placement == Placement::Live)
            .unwrap();
        assert_eq!(winner.record.item.root, LEGACY);
        assert_eq!(
            winner.target,
            format!("{MEDIA}/Databases/msgstore.db.crypt14")
        );
    }

    #[test]
    fn the_same_file_in_two_archives_restores_the_newer_and_lists_the_other() {
        let old = manifest(34, vec![db(MEDIA, 100, "a")]);
        let new = manifest(34, vec![db(MEDIA, 200, "b")]);
        let (assigned, _) = assign_targets(&[&new, &old], &everything(), 34);
        let target = format!("{MEDIA}/Databases/msgstore.db.crypt14");
        let from = format!("{MEDIA}/Databases/msgstore.db.crypt14");
        assert_eq!(
            summary(&assigned),
            vec![
                (from.clone(), target.clone(), Placement::Live, false),
                (from.clone(), target.clone(), Placement::Live, true),
            ]
        );
        let live = assigned.iter().find(|a| a.superseded_by.is_none()).unwrap();
        assert_eq!(live.record.item.mtime, 200);
        let items = decide(
            assigned,
            &HashMap::new(),
            &HashMap::new(),
            OnConflict::KeepBoth,
        );
        assert_eq!(items.iter().filter(|i| i.action == Action::Push).count(), 1);
        assert_eq!(
            items
                .iter()
                .filter(|i| i.action == Action::Superseded)
                .count(),
            1
        );
    }

    #[test]
    fn two_gallery_files_of_one_name_get_numbered_names() {
        let rel = "DCIM/Camera/IMG_1.jpg";
        let m = manifest(
            34,
            vec![
                record(Source::Gallery, "/sdcard", rel, Kind::Photo, 100, "a"),
                record(
                    Source::Gallery,
                    "/storage/1234-5678",
                    rel,
                    Kind::Photo,
                    50,
                    "b",
                ),
            ],
        );
        let (assigned, _) = assign_targets(&[&m], &everything(), 34);
        let items = decide(assigned, &HashMap::new(), &HashMap::new(), OnConflict::Skip);
        let mut got: Vec<(&str, &str, Action)> = items
            .iter()
            .map(|i| (i.from.as_str(), i.target.as_str(), i.action))
            .collect();
        got.sort_unstable();
        assert_eq!(
            got,
            vec![
                (
                    "/sdcard/DCIM/Camera/IMG_1.jpg",
                    "/sdcard/DCIM/Camera/IMG_1.jpg",
                    Action::Push
                ),
                (
                    "/storage/1234-5678/DCIM/Camera/IMG_1.jpg",
                    "/sdcard/DCIM/Camera/IMG_1 (1).jpg",
                    Action::KeepBoth
                ),
            ]
        );
    }

    fn one(
        record: ItemRecord,
        existing: &[(&str, u64)],
        hashes: &[(&str, &str)],
        on: OnConflict,
    ) -> (Action, String) {
        let m = manifest(34, vec![record]);
        let (assigned, _) = assign_targets(&[&m], &everything(), 34);
        let existing: HashMap<String, (u64, i64)> = existing
            .iter()
            .map(|(p, s)| ((*p).to_string(), (*s, 0)))
            .collect();
        let hashes: HashMap<String, String> = hashes
            .iter()
            .map(|(p, h)| ((*p).to_string(), h.repeat(64 / h.len())))
            .collect();
        let wanted = paths_to_hash(&assigned, &existing, on);
        for path in hashes.keys() {
            assert!(wanted.contains(path), "{path} would not be hashed");
        }
        let items = decide(assigned, &existing, &hashes, on);
        assert_eq!(items.len(), 1);
        (items[0].action, items[0].target.clone())
    }

    #[test]
    fn rules_for_one_item_against_the_targets_files() {
        let photo = || {
            record(
                Source::Gallery,
                "/sdcard",
                "DCIM/a.jpg",
                Kind::Photo,
                1,
                "a",
            )
        };
        let at = "/sdcard/DCIM/a.jpg";
        let n1 = "/sdcard/DCIM/a (1).jpg";
        let n2 = "/sdcard/DCIM/a (2).jpg";
        // Free name: push.
        assert_eq!(
            one(photo(), &[], &[], OnConflict::KeepBoth),
            (Action::Push, at.into())
        );
        // Same size and hash: identical.
        assert_eq!(
            one(photo(), &[(at, 10)], &[(at, "a")], OnConflict::KeepBoth),
            (Action::Identical, at.into())
        );
        // Different file: each conflict rule.
        assert_eq!(
            one(photo(), &[(at, 10)], &[(at, "f")], OnConflict::KeepBoth),
            (Action::KeepBoth, n1.into())
        );
        assert_eq!(
            one(photo(), &[(at, 3)], &[], OnConflict::Skip),
            (Action::SkipConflict, at.into())
        );
        assert_eq!(
            one(photo(), &[(at, 3)], &[], OnConflict::Overwrite),
            (Action::Overwrite, at.into())
        );
        // Keep-both numbering: an identical numbered copy counts as there; else the next free.
        assert_eq!(
            one(
                photo(),
                &[(at, 3), (n1, 10)],
                &[(n1, "a")],
                OnConflict::KeepBoth
            ),
            (Action::Identical, n1.into())
        );
        assert_eq!(
            one(
                photo(),
                &[(at, 3), (n1, 10)],
                &[(n1, "f")],
                OnConflict::KeepBoth
            ),
            (Action::KeepBoth, n2.into())
        );
    }

    #[test]
    fn a_chat_database_is_never_renamed() {
        let at = "/sdcard/Android/media/com.whatsapp/WhatsApp/Databases/msgstore.db.crypt14";
        assert_eq!(
            one(db(MEDIA, 1, "a"), &[(at, 3)], &[], OnConflict::KeepBoth),
            (Action::ChatConflict, at.into())
        );
        assert_eq!(
            one(db(MEDIA, 1, "a"), &[(at, 3)], &[], OnConflict::Overwrite),
            (Action::Overwrite, at.into())
        );
        assert_eq!(
            one(
                db(MEDIA, 1, "a"),
                &[(at, 10)],
                &[(at, "a")],
                OnConflict::KeepBoth
            ),
            (Action::Identical, at.into())
        );
    }

    #[test]
    fn targets_follow_the_target_layout() {
        assert_eq!(
            target_path(Source::Gallery, "DCIM/Camera/a.jpg", 34).unwrap(),
            "/sdcard/DCIM/Camera/a.jpg"
        );
        assert_eq!(
            target_path(Source::Whatsapp, "Media/WhatsApp Images/x.jpg", 30).unwrap(),
            "/sdcard/Android/media/com.whatsapp/WhatsApp/Media/WhatsApp Images/x.jpg"
        );
        assert_eq!(
            target_path(Source::Whatsapp, "Databases/msgstore.db.crypt14", 29).unwrap(),
            "/sdcard/WhatsApp/Databases/msgstore.db.crypt14"
        );
        assert_eq!(
            target_path(Source::WhatsappBusiness, "Media/a.jpg", 34).unwrap(),
            "/sdcard/Android/media/com.whatsapp.w4b/WhatsApp Business/Media/a.jpg"
        );
        assert_eq!(
            target_path(Source::WhatsappBusiness, "Media/a.jpg", 28).unwrap(),
            "/sdcard/WhatsApp Business/Media/a.jpg"
        );
        for bad in ["../etc/x", "/abs", "a/../../b", "", "a//b", "a\0b"] {
            assert!(
                matches!(
                    target_path(Source::Gallery, bad, 34),
                    Err(Error::UnsafePath { .. })
                ),
                "{bad:?}"
            );
        }
    }

    /// Issue 16: a record whose phone name is plain but whose entry name climbs out or holds
    /// a backslash was not written by phonevault; it is refused, not pushed.
    #[test]
    fn records_with_unsafe_entry_names_are_refused() {
        let good = record(
            Source::Gallery,
            "/sdcard",
            "DCIM/a.jpg",
            Kind::Photo,
            1,
            "a",
        );
        let mut items = vec![good];
        for (k, entry) in [
            "..\\..\\b.jpg",
            "../b.jpg",
            "C:/b.jpg",
            "gallery/../../b.jpg",
        ]
        .iter()
        .enumerate()
        {
            let rel = format!("DCIM/b{k}.jpg");
            let mut bad = record(Source::Gallery, "/sdcard", &rel, Kind::Photo, 1, "b");
            bad.entry = (*entry).to_owned();
            items.push(bad);
        }
        let m = manifest(34, items);
        let (assigned, refused) = assign_targets(&[&m], &everything(), 34);
        assert_eq!(assigned.len(), 1, "{assigned:?}");
        assert_eq!(assigned[0].target, "/sdcard/DCIM/a.jpg");
        assert_eq!(refused.len(), 4, "{refused:?}");
        assert!(
            refused
                .iter()
                .all(|r| r.message.contains("refusing unsafe path")),
            "{refused:?}"
        );
    }

    #[test]
    fn numbered_names_keep_the_extension() {
        assert_eq!(numbered_name("/d/IMG_1.jpg", 1), "/d/IMG_1 (1).jpg");
        assert_eq!(numbered_name("/d/a.tar.gz", 2), "/d/a.tar (2).gz");
        assert_eq!(numbered_name("/d/noext", 1), "/d/noext (1)");
        assert_eq!(numbered_name("/d/.hidden", 1), "/d/.hidden (1)");
    }

    #[test]
    fn roots_cover_nested_folders_once() {
        let folders: BTreeSet<String> = ["/a/b", "/a/b/c", "/a/bc", "/d"]
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(covering_roots(&folders), vec!["/a/b", "/a/bc", "/d"]);
    }
}
