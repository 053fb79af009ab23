//! The Android commands that toybox does not provide, written as mksh scripts for
//! `/system/bin`: `getprop` answering from the profile, `am` and `content` taking media-scan
//! requests, and Android 10's `find` that has no `-printf`.
//!
//! Scan log format (one request per line, tab-separated, appended to the `--scan-log` file):
//! `am<TAB>MEDIA_SCANNER_SCAN_FILE<TAB>URI` for
//! `am broadcast -a android.intent.action.MEDIA_SCANNER_SCAN_FILE -d URI`, and
//! `content<TAB>scan_volume<TAB>ARG` for
//! `content call --uri content://media --method scan_volume --arg ARG`.

use crate::profile::Profile;

/// Where the scan log is bind-mounted inside the handset's root.
pub const SCAN_LOG_PATH: &str = "/data/misc/phonevault-sim/scan.log";

/// Quotes a value for mksh: single quotes, with embedded quotes closed and escaped.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The properties `getprop` knows, sorted by key as Android lists them.
pub fn properties(profile: &Profile) -> Vec<(&'static str, String)> {
    let mut props = vec![
        ("ro.build.type", "user".to_string()),
        ("ro.build.version.release", profile.release.to_string()),
        ("ro.build.version.sdk", profile.sdk.to_string()),
        ("ro.product.brand", profile.manufacturer.to_lowercase()),
        ("ro.product.cpu.abi", "arm64-v8a".to_string()),
        ("ro.product.device", profile.device.clone()),
        ("ro.product.manufacturer", profile.manufacturer.clone()),
        ("ro.product.model", profile.model.clone()),
        ("ro.product.name", profile.product.clone()),
        ("ro.serialno", profile.serial.clone()),
        ("sys.boot_completed", "1".to_string()),
    ];
    props.sort_by(|a, b| a.0.cmp(b.0));
    props
}

/// `getprop [KEY [DEFAULT]]`: one value, or every property as `[key]: [value]` lines.
pub fn getprop(profile: &Profile) -> String {
    let props = properties(profile);
    let listing: Vec<String> = props
        .iter()
        .map(|(key, value)| format!("  echo {}\n", quote(&format!("[{key}]: [{value}]"))))
        .collect();
    let cases: Vec<String> = props
        .iter()
        .map(|(key, value)| format!("{key}) echo {} ;;\n", quote(value)))
        .collect();
    // Android prints the default (or an empty line) for an unknown property.
    format!(
        "#!/system/bin/sh\n# Properties of the simulated handset.\nif [ $# -eq 0 ]; then\n{}  \
         exit 0\nfi\ncase $1 in\n{}*) echo \"${{2-}}\" ;;\nesac\n",
        listing.concat(),
        cases.concat()
    )
}

/// `am`: `broadcast` prints what Android prints and logs media-scan requests.
pub fn am() -> String {
    format!(
        r#"#!/system/bin/sh
# Activity manager of the simulated handset: only broadcasts are understood.
log={log}
if [ "${{1-}}" != broadcast ]; then
  echo "Error: unknown command '${{1-}}'" >&2
  exit 255
fi
shift
# am marks every broadcast it sends with FLAG_RECEIVER_FROM_SHELL (0x400000).
action= data= flags=0x400000
while [ $# -gt 0 ]; do
  case $1 in
  -a) action=$2; shift ;;
  -d) data=$2; shift ;;
  --receiver-include-background) flags=0x1400000 ;;
  --user|-n|-p|-c|-t|-f) shift ;;
  -e|--es|--ei|--ez|--el) shift 2 ;;
  *) ;;
  esac
  shift
done
line="Broadcasting: Intent {{"
[ -n "$action" ] && line="$line act=$action"
[ -n "$data" ] && line="$line dat=$data"
line="$line flg=$flags"
echo "$line }}"
if [ "$action" = android.intent.action.MEDIA_SCANNER_SCAN_FILE ] && [ -f "$log" ]; then
  printf 'am\tMEDIA_SCANNER_SCAN_FILE\t%s\n' "$data" >>"$log"
fi
echo "Broadcast completed: result=0"
"#,
        log = quote(SCAN_LOG_PATH)
    )
}

/// `content`: `call --method scan_volume` logs a volume scan; other calls answer null.
pub fn content() -> String {
    format!(
        r#"#!/system/bin/sh
# Content provider client of the simulated handset: only `call` is understood.
log={log}
if [ "${{1-}}" != call ]; then
  echo "[ERROR] Unsupported operation: ${{1-}}" >&2
  exit 1
fi
shift
uri= method= arg=
while [ $# -gt 0 ]; do
  case $1 in
  --uri) uri=$2; shift ;;
  --method) method=$2; shift ;;
  --arg) arg=$2; shift ;;
  --user|--extra) shift ;;
  *) ;;
  esac
  shift
done
if [ -z "$uri" ] || [ -z "$method" ]; then
  echo "[ERROR] --uri and --method are required" >&2
  exit 1
fi
if [ "$uri" = content://media ] && [ "$method" = scan_volume ] && [ -f "$log" ]; then
  printf 'content\tscan_volume\t%s\n' "$arg" >>"$log"
fi
echo "Result: null"
"#,
        log = quote(SCAN_LOG_PATH)
    )
}

/// Android 10's `find` (toybox 0.8.0): refuses `-printf`, otherwise toybox's own.
pub fn find_without_printf() -> String {
    r#"#!/system/bin/sh
# toybox 0.8.0 (Android 10) has no -printf.
for a in "$@"; do
  case $a in
  -printf) echo "find: Unknown option '-printf'" >&2; exit 1 ;;
  esac
done
exec /system/bin/toybox find "$@"
"#
    .to_string()
}
