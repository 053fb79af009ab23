//! The `--json` format: every command's output reads back into the library's own type, carries
//! `format_version`, and holds every field `docs/json.md` documents for it.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{assert_success, HandsetSpec, Populate, TestEnv};
use phonevault::adb::DeviceSummary;
use phonevault::archive::{ExtractSummary, ItemRecord, VerifySummary};
use phonevault::backup::BackupSummary;
use phonevault::catalog::{AlbumListing, ItemListing};
use phonevault::config::AutoListing;
use phonevault::history::{RunRecord, RunResult};
use phonevault::json::{Versioned, FORMAT_VERSION};
use phonevault::preview::PreviewRecord;
use phonevault::restore::{PlanSummary, RestoreSummary};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// One documented field: its path (`items[].id`) and whether it may be left out.
#[derive(Debug)]
struct DocField {
    path: String,
    optional: bool,
}

/// The field tables of `docs/json.md`, by section heading (`phonevault ls --json`).
fn documented_fields() -> BTreeMap<String, Vec<DocField>> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json.md"))
        .expect("docs/json.md");
    let mut sections: BTreeMap<String, Vec<DocField>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            current = heading
                .strip_prefix('`')
                .and_then(|h| h.strip_suffix('`'))
                .map(str::to_owned);
            continue;
        }
        let (Some(section), Some(row)) = (&current, line.strip_prefix("| `")) else {
            continue;
        };
        let mut cells = row.split('|');
        let name = cells.next().unwrap_or("").trim().trim_end_matches('`');
        let kind = cells.next().unwrap_or("");
        sections.entry(section.clone()).or_default().push(DocField {
            path: name.to_owned(),
            optional: kind.contains("optional"),
        });
    }
    sections
}

/// The values at a documented path: `a.b` in an object, `a[].b` in every element of a list.
fn values_at<'v>(value: &'v Value, path: &str) -> Vec<Option<&'v Value>> {
    let mut found = vec![Some(value)];
    for step in path.split('.') {
        let (name, each) = match step.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (step, false),
        };
        let mut next = Vec::new();
        for v in found.into_iter().flatten() {
            let field = v.get(name);
            if each {
                next.extend(
                    field
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(Some),
                );
            } else {
                next.push(field);
            }
        }
        found = next;
    }
    found
}

/// Checks `output` (one document, or the first element of a list) against the doc's table
/// for `section`, and that every document or element has `format_version`.
fn check_documented(sections: &BTreeMap<String, Vec<DocField>>, section: &str, output: &Value) {
    let fields = sections
        .get(section)
        .unwrap_or_else(|| panic!("docs/json.md has no section `{section}`"));
    let documents: Vec<&Value> = match output {
        Value::Array(list) => list.iter().collect(),
        other => vec![other],
    };
    assert!(!documents.is_empty(), "{section}: printed an empty list");
    for document in &documents {
        assert_eq!(
            document["format_version"], FORMAT_VERSION,
            "{section}: {document}"
        );
    }
    for field in fields.iter().filter(|f| !f.optional) {
        let values = values_at(documents[0], &field.path);
        assert!(
            !values.is_empty(),
            "{section}: nothing to check `{}` against (an empty list?) in {output:#}",
            field.path
        );
        assert!(
            values.iter().all(Option::is_some),
            "{section}: documented field `{}` is missing from {output:#}",
            field.path
        );
    }
}

/// Reads a command's output into the library's type.
fn typed<T: DeserializeOwned>(what: &str, output: &Value) -> T {
    serde_json::from_value(output.clone())
        .unwrap_or_else(|e| panic!("{what}: does not read back into its type: {e}\n{output:#}"))
}

fn run_json(env: &TestEnv, args: &[&str]) -> Value {
    let out = env.phonevault(args);
    assert_success(&out, &args.join(" "));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: not JSON ({e}):\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn every_command_prints_its_documented_typed_json() {
    let sections = documented_fields();
    let env = TestEnv::new();
    let source = env.start_handset(HandsetSpec::android14().serial("JSONSRC01").populate(
        Populate {
            photos: 4,
            videos: 1,
            whatsapp: 4,
            ..Populate::default()
        },
    ));
    let target = env.start_handset(HandsetSpec::android14().serial("JSONDST01"));
    let src = source.serial();
    let dst = target.serial();
    let mut seen = Vec::new();
    let mut check = |section: &str, output: &Value| {
        check_documented(&sections, section, output);
        seen.push(section.to_owned());
    };

    let devices = run_json(&env, &["devices", "--json"]);
    check("phonevault devices --json", &devices);
    let devices: Vec<Versioned<DeviceSummary>> = typed("devices", &devices);
    assert!(devices.iter().any(|d| d.value.serial == src));

    let listing = run_json(&env, &["-s", &src, "ls", "--json"]);
    check("phonevault ls --json", &listing);
    let listing: Versioned<ItemListing> = typed("ls", &listing);
    assert!(listing.value.items.len() >= 9, "{listing:?}");

    let albums = run_json(&env, &["-s", &src, "ls", "--albums", "--json"]);
    check("phonevault ls --albums --json", &albums);
    let albums: Versioned<AlbumListing> = typed("ls --albums", &albums);
    assert_eq!(
        albums.value.albums.iter().map(|a| a.count).sum::<u64>(),
        listing.value.items.len() as u64
    );

    let previews = run_json(
        &env,
        &["-s", &src, "-q", "preview", "--kind", "photo", "--json"],
    );
    check("phonevault preview --json", &previews);
    let _: Vec<Versioned<PreviewRecord>> = typed("preview", &previews);

    let folder = env.new_dir("backups");
    let folder_arg = folder.to_str().unwrap();
    let backup = run_json(
        &env,
        &["-s", &src, "-q", "backup", "--to", folder_arg, "--json"],
    );
    check("phonevault backup --json", &backup);
    let backup: Versioned<BackupSummary> = typed("backup", &backup);
    assert_eq!(backup.value.items, listing.value.items.len());
    assert_eq!(backup.value.stopped_error, None);
    let archive = backup.value.archive.expect("an archive");
    let archive_arg = archive.to_str().unwrap();

    let verify = run_json(&env, &["-q", "verify", archive_arg, "--json"]);
    check("phonevault verify --json", &verify);
    let verify: Versioned<VerifySummary> = typed("verify", &verify);
    assert_eq!(verify.value.good, backup.value.items);

    let show = run_json(&env, &["show", archive_arg, "--json"]);
    check("phonevault show --json", &show);
    let show: Vec<Versioned<ItemRecord>> = typed("show", &show);
    assert_eq!(show.len(), backup.value.items);

    let out_dir = env.new_dir("extracted");
    let extract = run_json(
        &env,
        &[
            "-q",
            "extract",
            archive_arg,
            "--to",
            out_dir.to_str().unwrap(),
            "--json",
        ],
    );
    check("phonevault extract --json", &extract);
    let extract: Versioned<ExtractSummary> = typed("extract", &extract);
    assert_eq!(extract.value.written, backup.value.items);

    let plan = run_json(
        &env,
        &[
            "-s",
            &dst,
            "-q",
            "restore",
            archive_arg,
            "--dry-run",
            "--json",
        ],
    );
    check("phonevault restore --dry-run --json", &plan);
    let plan: Versioned<PlanSummary> = typed("restore --dry-run", &plan);
    assert_eq!(plan.value.items.len(), backup.value.items);

    let restore = run_json(&env, &["-s", &dst, "-q", "restore", archive_arg, "--json"]);
    check("phonevault restore --json", &restore);
    let restore: Versioned<RestoreSummary> = typed("restore", &restore);
    assert_eq!(restore.value.restored, backup.value.items);

    check_automatic_backups(&env, &src, &folder, &archive, &mut check);

    // Every documented section was checked.
    let documented: Vec<&String> = sections.keys().collect();
    seen.sort();
    let seen: Vec<&String> = seen.iter().collect();
    assert_eq!(documented, seen);
}

/// `auto list --json` and `history --json`: a setting, and a history with one run written by
/// the library.
fn check_automatic_backups(
    env: &TestEnv,
    src: &str,
    folder: &Path,
    archive: &Path,
    check: &mut dyn FnMut(&str, &Value),
) {
    let folder_arg = folder.to_str().unwrap();
    let archive_arg = archive.to_str().unwrap();
    let config = env.path().join("config.toml");
    let history = env.path().join("history.jsonl");
    let config_arg = config.to_str().unwrap();
    let history_arg = history.to_str().unwrap();
    let out = env.phonevault(&[
        "-s", src, "auto", "enable", "--to", folder_arg, "--config", config_arg,
    ]);
    assert_success(&out, "auto enable");
    // The setting is keyed by the phone's hardware serial (what the phone says it is).
    let key = phonevault::config::Config::load(&config)
        .expect("the config auto enable wrote")
        .phones
        .keys()
        .next()
        .expect("one phone set up")
        .clone();
    let now = chrono::Utc::now();
    phonevault::history::append(
        &history,
        &RunRecord {
            started: now,
            finished: now,
            serial: key,
            model: "Pixel".into(),
            adb_serial: src.to_owned(),
            result: RunResult::Complete,
            items: 3,
            bytes: 300,
            skipped: 0,
            missed: 0,
            folder: folder_arg.into(),
            archive: Some(archive_arg.into()),
            error: None,
        },
    )
    .expect("a history line");
    let auto = run_json(
        env,
        &[
            "auto",
            "list",
            "--config",
            config_arg,
            "--history",
            history_arg,
            "--json",
        ],
    );
    check("phonevault auto list --json", &auto);
    let auto: Versioned<AutoListing> = typed("auto list", &auto);
    assert_eq!(auto.value.phones.len(), 1);
    assert!(auto.value.phones[0].last_run.is_some());

    let runs = run_json(env, &["history", "--history", history_arg, "--json"]);
    check("phonevault history --json", &runs);
    let runs: Vec<Versioned<RunRecord>> = typed("history", &runs);
    assert_eq!(runs.len(), 1);
}

#[test]
fn errors_become_records_with_a_kind_per_variant() {
    let err = phonevault::Error::Remote {
        serial: "S1".into(),
        path: "/sdcard/DCIM/a.jpg".into(),
        message: "Permission denied".into(),
    };
    let record = err.record();
    assert_eq!(record.kind, "remote");
    assert_eq!(record.path.as_deref(), Some("/sdcard/DCIM/a.jpg"));
    assert!(record.message.contains("Permission denied"), "{record:?}");
    let json = serde_json::to_value(&record).unwrap();
    assert_eq!(json["kind"], "remote");
    let cancelled = serde_json::to_value(phonevault::Error::Cancelled.record()).unwrap();
    assert_eq!(
        cancelled,
        serde_json::json!({"kind": "cancelled", "message": "cancelled"})
    );
}
