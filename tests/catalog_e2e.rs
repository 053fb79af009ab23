//! `phonevault ls` end to end: the real adb server, simulated handsets of both profiles
//! populated by the generator, and the generator's truth file as the answer.

mod common;

use std::collections::BTreeMap;
use std::process::Output;

use common::{HandsetSpec, Populate, TestEnv};
use serde_json::Value;

type Row = (String, String, String, u64);

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

fn ls_json(env: &TestEnv, serial: &str, extra: &[&str]) -> Value {
    let mut args = vec!["ls", "--json", "--serial", serial];
    args.extend_from_slice(extra);
    let text = ok(&env.phonevault(&args), "phonevault ls --json");
    serde_json::from_str(&text).expect("ls --json prints JSON")
}

fn included(truth: &Value) -> BTreeMap<String, Row> {
    truth
        .as_array()
        .expect("truth is an array")
        .iter()
        .filter(|r| r["include"] == Value::Bool(true))
        .map(|r| {
            (
                r["path"].as_str().unwrap().to_string(),
                (
                    r["source"].as_str().unwrap().to_string(),
                    r["album"].as_str().unwrap().to_string(),
                    r["kind"].as_str().unwrap().to_string(),
                    r["size"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

fn listed(ls: &Value) -> BTreeMap<String, Row> {
    ls["items"]
        .as_array()
        .expect("items array")
        .iter()
        .map(|i| {
            (
                i["path"].as_str().unwrap().to_string(),
                (
                    i["source"].as_str().unwrap().to_string(),
                    i["album"].as_str().unwrap().to_string(),
                    i["kind"].as_str().unwrap().to_string(),
                    i["size"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

fn assert_same(want: &BTreeMap<String, Row>, got: &BTreeMap<String, Row>) {
    let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(missing.is_empty(), "ls misses {missing:#?}");
    assert!(extra.is_empty(), "ls lists extra {extra:#?}");
    for (path, row) in want {
        assert_eq!(&got[path], row, "{path}");
    }
}

fn shell_calls(stats: &Value) -> u64 {
    ["shell", "exec"]
        .iter()
        .map(|s| stats["services"][*s].as_u64().unwrap_or(0))
        .sum()
}

fn check_profile(spec: HandsetSpec) {
    let env = TestEnv::new();
    let phone = env.start_handset(spec.populate(Populate {
        huge: true,
        ..Populate::default()
    }));
    let want = included(&phone.truth());
    assert!(want.len() > 50, "truth lists only {} items", want.len());
    assert!(
        want.values().any(|r| r.3 > u64::from(u32::MAX)),
        "populate --huge made no file over 4 GiB"
    );
    let ls = ls_json(&env, &phone.serial(), &[]);
    assert_same(&want, &listed(&ls));
    assert_eq!(ls["unreadable"], Value::Array(vec![]));
    for item in ls["items"].as_array().unwrap() {
        assert_eq!(item["id"].as_str().unwrap().len(), 12);
        assert!(item["mtime"].is_i64());
    }
    // Ids are stable from one listing to the next.
    let again = ls_json(&env, &phone.serial(), &[]);
    assert_eq!(ls["items"], again["items"]);
}

#[test]
fn android_14_listing_matches_the_truth() {
    check_profile(HandsetSpec::android14());
}

#[test]
fn android_10_listing_matches_the_truth() {
    check_profile(HandsetSpec::android10());
}

#[test]
fn awkward_names_are_listed_and_printed_escaped() {
    let env = TestEnv::new();
    let storage = env.new_dir("awkward");
    let names = [
        "DCIM/Camera/new\nline.jpg",
        "DCIM/Camera/\u{1b}[2Jescape.jpg",
        "Pictures/Отпуск 写真/café $HOME 'q'.jpg",
        "DCIM/Camera/-dash.jpg",
    ];
    for (i, rel) in names.iter().enumerate() {
        let path = storage.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, vec![b'x'; 10 + i]).unwrap();
    }
    let phone = env.start_handset(HandsetSpec::android14().storage(&storage));
    let ls = ls_json(&env, &phone.serial(), &[]);
    let got = listed(&ls);
    for (i, rel) in names.iter().enumerate() {
        let path = common::device_path(rel);
        let row = got
            .get(&path)
            .unwrap_or_else(|| panic!("{path:?} not listed: {got:#?}"));
        assert_eq!(row.3, 10 + i as u64);
    }
    assert_eq!(got[&common::device_path(names[2])].1, "Отпуск 写真");
    // The table keeps one line per item: no raw newline or escape code from a name.
    let table = ok(
        &env.phonevault(&["ls", "--serial", &phone.serial()]),
        "phonevault ls",
    );
    assert!(!table.contains('\u{1b}'), "{table}");
    assert_eq!(table.lines().count(), names.len() + 2, "{table}");
    assert!(table.contains("new\\nline.jpg"), "{table}");
}

#[test]
fn denied_folder_is_reported_and_the_rest_is_listed() {
    // A folder the generator makes; the fault denies it to sync and shell alike.
    const DENIED: &str = "Pictures/Trip to Kyoto";
    let env = TestEnv::new();
    let phone = env.start_handset(
        HandsetSpec::android14()
            .populate(Populate::default())
            .fault(&format!("deny=/sdcard/{DENIED}")),
    );
    let denied = common::device_path(DENIED);
    let inside = format!("{denied}/");
    let mut want = included(&phone.truth());
    let before = want.len();
    want.retain(|p, _| !p.starts_with(&inside));
    assert!(
        want.len() < before,
        "the generator put nothing in {DENIED}; the test needs files there"
    );
    let ls = ls_json(&env, &phone.serial(), &[]);
    assert_eq!(ls["unreadable"], serde_json::json!([denied]));
    assert_same(&want, &listed(&ls));
    let out = env.phonevault(&["ls", "--serial", &phone.serial()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot be read") && stderr.contains(DENIED),
        "{stderr}"
    );
}

#[test]
fn twenty_thousand_files_take_one_helper_call() {
    let env = TestEnv::new();
    let storage = env.new_dir("many");
    for folder in 0..20 {
        let dir = storage.join(format!("DCIM/Folder{folder:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        for n in 0..1000 {
            std::fs::write(dir.join(format!("IMG_{n:05}.jpg")), b"j").unwrap();
        }
    }
    let phone = env.start_handset(HandsetSpec::android14().storage(&storage));
    // The first listing may push the helper; count the calls of a second one.
    let first = ls_json(&env, &phone.serial(), &[]);
    assert_eq!(first["items"].as_array().unwrap().len(), 20_000);
    let before = phone.stats();
    let out = env.phonevault(&["ls", "--json", "-v", "--serial", &phone.serial()]);
    let text = ok(&out, "phonevault ls -v");
    let ls: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(ls["items"].as_array().unwrap().len(), 20_000);
    let after = phone.stats();
    // One call reads the handset's identity when it is opened; one lists the whole phone.
    assert_eq!(
        shell_calls(&after) - shell_calls(&before),
        2,
        "shell/exec calls for one `ls`: {after}"
    );
    let walks = |s: &Value| s["sync_requests"]["LIS2"].as_u64().unwrap_or(0);
    assert_eq!(
        walks(&after),
        walks(&before),
        "no folder walked over sync: {after}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("ls -v said:\n{stderr}");
    let calls: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("helper call: list"))
        .collect();
    assert_eq!(calls.len(), 1, "{stderr}");
    assert!(calls[0].contains("20001 records"), "{stderr}");
}

#[test]
fn selection_and_albums() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14().populate(Populate::default()));
    let want = included(&phone.truth());
    let ls = ls_json(
        &env,
        &phone.serial(),
        &["--source", "whatsapp", "--kind", "photo"],
    );
    let got = listed(&ls);
    let expected: BTreeMap<String, Row> = want
        .iter()
        .filter(|(_, r)| r.0 == "whatsapp" && r.2 == "photo")
        .map(|(p, r)| (p.clone(), r.clone()))
        .collect();
    assert!(!expected.is_empty());
    assert_same(&expected, &got);

    let albums = ls_json(&env, &phone.serial(), &["--albums"]);
    let mut counts: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for r in want.values() {
        let e = counts.entry((r.0.clone(), r.1.clone())).or_default();
        e.0 += 1;
        e.1 += r.3;
    }
    let got: BTreeMap<(String, String), (u64, u64)> = albums["albums"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                (
                    a["source"].as_str().unwrap().to_string(),
                    a["album"].as_str().unwrap().to_string(),
                ),
                (a["count"].as_u64().unwrap(), a["size"].as_u64().unwrap()),
            )
        })
        .collect();
    assert_eq!(got, counts);
}
