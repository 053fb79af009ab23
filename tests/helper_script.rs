//! The on-device helper run locally with Android's userland: mksh as `sh` and a PATH of
//! toybox applets only, on a temp tree with awkward names. Both listing paths are tested:
//! `find -printf` (toybox 0.8.3+) and the `-exec stat` fallback (toybox 0.8.0 refuses
//! `-printf`; a `find` wrapper that does the same comes first in PATH).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use phonevault::helper::{self, FileStatus, ListedFile};
use sha2::{Digest, Sha256};

fn find_program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is needed for this test and is not on PATH (apt-get install {name})")
        })
}

fn is_root() -> bool {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .expect("running `id -u`");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

struct Fixture {
    dir: tempfile::TempDir,
    /// toybox applets and `sh` (mksh).
    bin: PathBuf,
    /// A `find` that refuses `-printf`, like toybox 0.8.0.
    old_find: PathBuf,
    script: PathBuf,
    mksh: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let toybox = find_program("toybox");
        let mksh = find_program("mksh");
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let bin = dir.path().join("bin");
        fs::create_dir(&bin).unwrap();
        let applets = Command::new(&toybox).output().expect("running toybox");
        for applet in String::from_utf8_lossy(&applets.stdout).split_whitespace() {
            symlink(&toybox, bin.join(applet)).unwrap();
        }
        symlink(&mksh, bin.join("sh")).unwrap();
        let old_find = dir.path().join("old-find");
        fs::create_dir(&old_find).unwrap();
        let wrapper = old_find.join("find");
        fs::write(
            &wrapper,
            format!(
                "#!{}\nfor a; do [ \"$a\" = -printf ] && {{ echo \"find: Unknown option '-printf'\" >&2; exit 1; }}; done\nexec {} find \"$@\"\n",
                mksh.display(),
                toybox.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
        for d in [&bin, &old_find] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
        }
        // Like /data/local/tmp: the helper keeps scratch files next to itself.
        let tmp = dir.path().join("local-tmp");
        fs::create_dir(&tmp).unwrap();
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o777)).unwrap();
        let script = tmp.join("phonevault-helper.sh");
        fs::write(&script, helper::SCRIPT).unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        Fixture {
            dir,
            bin,
            old_find,
            script,
            mksh,
        }
    }

    fn tree(&self) -> PathBuf {
        self.dir.path().join("tree")
    }

    /// Runs the helper; `printf` = whether `find -printf` works; as an unprivileged user
    /// when the test runs as root (so permission bits count).
    fn run(&self, args: &[&str], printf: bool, stdin: &[u8]) -> Output {
        let path = if printf {
            self.bin.display().to_string()
        } else {
            format!("{}:{}", self.old_find.display(), self.bin.display())
        };
        let mut cmd = if is_root() {
            let mut c = Command::new(find_program("runuser"));
            c.args(["-u", "nobody", "--", "env"]);
            c.arg(format!("PATH={path}"));
            c.arg(&self.mksh);
            c
        } else {
            let mut c = Command::new(&self.mksh);
            c.env("PATH", &path);
            c
        };
        cmd.arg(&self.script).args(args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("running the helper with mksh");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "helper {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

const NAMES: &[&str] = &[
    "plain.jpg",
    "new\nline.jpg",
    "quote's \"double\".jpg",
    "$HOME and `tick`.jpg",
    "-leading-dash.jpg",
    "Фото 写真 صورة.jpg",
    "back\\slash.jpg",
    "tab\there.jpg",
    " space first.jpg",
];

/// Builds the tree; returns what a listing must report.
fn populate(root: &Path) -> Vec<ListedFile> {
    let mut expected = Vec::new();
    let mut add = |path: PathBuf, data: &[u8], mtime: i64| {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, data).unwrap();
        let f = fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime.unsigned_abs()),
        )
        .unwrap();
        expected.push(ListedFile {
            // Listings carry paths in display form (a backslash doubled: `escape`).
            path: phonevault::escape::phone_path_text(path.to_str().unwrap().as_bytes())
                .into_owned(),
            size: data.len() as u64,
            mtime,
        });
    };
    for (i, name) in NAMES.iter().enumerate() {
        add(
            root.join("DCIM/Camera").join(name),
            &vec![b'x'; i * 100],
            1_700_000_000 + i64::try_from(i).unwrap(),
        );
        add(
            root.join("Pictures/we\nird $dir").join(name),
            b"12345",
            1_600_000_000,
        );
    }
    add(root.join("DCIM/.thumbnails/t.jpg"), b"t", 1_500_000_000);
    add(
        root.join("DCIM/Secret/inside.jpg"),
        b"secret",
        1_500_000_000,
    );
    // A sparse file past 4 GiB: sizes must not wrap at 32 bits.
    let huge = root.join("Movies/huge.mp4");
    fs::create_dir_all(huge.parent().unwrap()).unwrap();
    let f = fs::File::create(&huge).unwrap();
    f.set_len(5 << 30).unwrap();
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_650_000_000))
        .unwrap();
    expected.push(ListedFile {
        path: huge.to_str().unwrap().to_string(),
        size: 5 << 30,
        mtime: 1_650_000_000,
    });
    for dir in walk_dirs(root) {
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
    expected.sort_by(|a, b| a.path.cmp(&b.path));
    expected
}

fn walk_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![root.to_path_buf()];
    let mut i = 0;
    while i < dirs.len() {
        for e in fs::read_dir(&dirs[i]).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                dirs.push(e.path());
            }
        }
        i += 1;
    }
    dirs
}

fn check_listing(printf: bool) {
    let fx = Fixture::new();
    let root = fx.tree();
    let mut expected = populate(&root);
    let secret = root.join("DCIM/Secret");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).unwrap();
    let secret_file = secret.join("inside.jpg").to_str().unwrap().to_string();
    expected.retain(|f| f.path != secret_file);

    let roots = [
        root.join("DCIM"),
        root.join("Pictures"),
        root.join("Movies"),
        root.join("absent"),
    ];
    let args: Vec<&str> = std::iter::once("list")
        .chain(roots.iter().map(|r| r.to_str().unwrap()))
        .collect();
    let out = fx.run(&args, printf, b"");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o755)).unwrap();
    let mut listing = helper::parse_list("local", &out.stdout).expect("parsing the listing");
    listing.files.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(listing.files.len(), expected.len());
    assert_eq!(listing.files, expected);
    assert_eq!(
        listing.unreadable,
        vec![secret.to_str().unwrap().to_string()]
    );
}

#[test]
fn list_with_find_printf() {
    check_listing(true);
}

#[test]
fn list_with_the_stat_fallback() {
    check_listing(false);
}

#[test]
fn list_of_nothing_still_ends() {
    let fx = Fixture::new();
    let out = fx.run(&["list", "/nonexistent-phonevault"], true, b"");
    let listing = helper::parse_list("local", &out.stdout).unwrap();
    assert!(listing.files.is_empty() && listing.unreadable.is_empty());
    assert_eq!(listing.records, 1);
}

#[test]
fn heads_and_hashes_are_framed_per_file() {
    let fx = Fixture::new();
    let root = fx.tree();
    fs::create_dir_all(&root).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    let long: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let files = [
        ("long\nname.jpg", long.clone()),
        ("short.jpg", b"abc".to_vec()),
        ("empty.jpg", Vec::new()),
    ];
    for (name, data) in &files {
        fs::write(root.join(name), data).unwrap();
    }
    let denied = root.join("denied.jpg");
    fs::write(&denied, b"no").unwrap();
    fs::set_permissions(&denied, fs::Permissions::from_mode(0o000)).unwrap();
    let mut paths: Vec<String> = files
        .iter()
        .map(|(n, _)| root.join(n).to_str().unwrap().to_string())
        .collect();
    paths.push(root.join("gone.jpg").to_str().unwrap().to_string());
    paths.push(denied.to_str().unwrap().to_string());
    paths.push(root.to_str().unwrap().to_string());
    let mut list = Vec::new();
    for p in &paths {
        list.extend_from_slice(p.as_bytes());
        list.push(0);
    }

    // From stdin, and from a list file next to the script.
    let list_file = fx.script.with_file_name("paths");
    fs::write(&list_file, &list).unwrap();
    fs::set_permissions(&list_file, fs::Permissions::from_mode(0o644)).unwrap();
    for (args, stdin) in [
        (vec!["heads", "1024"], list.as_slice()),
        (vec!["heads", "1024", list_file.to_str().unwrap()], &b""[..]),
    ] {
        let out = fx.run(&args, true, stdin);
        let mut got = Vec::new();
        helper::read_heads(
            "local",
            out.stdout.as_slice(),
            paths.len(),
            1024,
            &mut |i, s, b| {
                got.push((i, s, b.to_vec()));
                Ok(())
            },
        )
        .expect("splitting the heads stream");
        assert_eq!(got[0], (0, FileStatus::Ok, long[..1024].to_vec()));
        assert_eq!(got[1], (1, FileStatus::Ok, b"abc".to_vec()));
        assert_eq!(got[2], (2, FileStatus::Ok, Vec::new()));
        assert_eq!(got[3], (3, FileStatus::Missing, Vec::new()));
        assert_eq!(got[4], (4, FileStatus::Denied, Vec::new()));
        assert_eq!(got[5], (5, FileStatus::Directory, Vec::new()));
    }

    let out = fx.run(&["hash"], true, &list);
    let hashes = helper::parse_hash("local", &out.stdout, paths.len()).unwrap();
    for (i, (_, data)) in files.iter().enumerate() {
        let want = hex(&Sha256::digest(data));
        assert_eq!(hashes[i].status, FileStatus::Ok);
        assert_eq!(hashes[i].sha256, want, "{}", paths[i]);
    }
    assert_eq!(hashes[3].status, FileStatus::Missing);
    assert_eq!(hashes[4].status, FileStatus::Denied);
}

#[test]
fn another_version_is_refused_with_its_own_status() {
    let fx = Fixture::new();
    let mut cmd = Command::new(&fx.mksh);
    cmd.env("PATH", &fx.bin)
        .arg(&fx.script)
        .args(["--expect", "0", "version"]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(97));
    let out = fx.run(&["--expect", helper::VERSION, "version"], true, b"");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), helper::VERSION);
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
