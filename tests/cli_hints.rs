//! The command line adds its own hints (flags, variables) to the library's errors, which
//! describe the problem only.

mod common;

use common::{HandsetSpec, TestEnv};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn several_phones_without_a_choice_get_the_flag_hint_from_the_cli() {
    let env = TestEnv::new();
    let _a = env.start_handset(HandsetSpec::android14().serial("HINTA001"));
    let _b = env.start_handset(HandsetSpec::android14().serial("HINTB001"));
    let out = env.phonevault(&["ls"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("phonevault: error: several handsets are attached"),
        "{err}"
    );
    assert!(
        err.contains("phonevault: hint: choose one with -s SERIAL or ANDROID_SERIAL"),
        "{err}"
    );
}

#[test]
fn a_bad_selection_is_named_by_its_flag() {
    let env = TestEnv::new();
    let out = env.phonevault(&["ls", "--since", "2024-05-01", "--until", "2024-04-01"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("invalid --since value `2024-05-01`: it is after the until date 2024-04-01"),
        "{err}"
    );
}
