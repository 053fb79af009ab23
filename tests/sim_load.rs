//! The simulated handset under load (issue 15, "lost handsets"): a handset that gets no CPU
//! for seconds mid-transfer is not dropped by adb and finishes the transfer, and a handset
//! that loses a connection or is told to stop says so in its log, with when and who.

mod common;

use std::fs;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{assert_success, wait_timeout, HandsetSpec, TestEnv, COMMAND_TIMEOUT};

/// Sends `signal` (a `kill` name such as `STOP`) to `pid`; returns the sender's pid.
fn send_signal(signal: &str, pid: u32) -> u32 {
    let mut kill = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .spawn()
        .expect("the kill command");
    let sender = kill.id();
    assert!(kill.wait().expect("kill runs").success(), "kill -{signal}");
    sender
}

/// Waits until the handset's log holds `text`; the log, for the assertion message.
fn wait_for_log(phone: &common::Handset, text: &str) -> (bool, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = phone.sim_log();
        if log.contains(text) || Instant::now() > deadline {
            return (log.contains(text), log);
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Like a CPU-starved handset in a loaded benchmark, but certain: the handset process is
/// stopped (SIGSTOP) for 4 s in the middle of an `adb pull` over the usb2 link, then goes on.
/// adb keeps the transport (it has no idle timeout on a TCP device: it drops one only when a
/// read or write on the socket fails), and the pull completes byte for byte.
#[test]
fn a_handset_paused_mid_pull_still_completes_the_pull() {
    let env = TestEnv::new();
    let storage = env.new_dir("storage");
    let folder = storage.join("DCIM/Camera");
    fs::create_dir_all(&folder).unwrap();
    // 24 MB: about 0.6 s on the usb2 cable, so the pause lands mid-transfer.
    let body: Vec<u8> = (0..24_000_000_u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    fs::write(folder.join("VID_20240601_120000.mp4"), &body).unwrap();
    let phone = env.start_handset(HandsetSpec::android14().storage(&storage).link("usb2"));
    let pid = phone.pid().expect("the handset runs");
    let dest = env.new_dir("pulled");

    let mut pull = env
        .command("adb")
        .args(["-s", &phone.serial(), "pull", "/sdcard/DCIM/Camera"])
        .arg(&dest)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("adb pull starts");
    thread::sleep(Duration::from_millis(200));
    send_signal("STOP", pid);
    thread::sleep(Duration::from_secs(4));
    send_signal("CONT", pid);
    let status = wait_timeout(&mut pull, COMMAND_TIMEOUT).expect("the pull ends");
    let mut err = String::new();
    if let Some(mut e) = pull.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    assert!(
        status.success(),
        "adb pull after the pause: {status}; {err}"
    );
    let pulled = fs::read(dest.join("Camera/VID_20240601_120000.mp4")).expect("the pulled file");
    assert!(pulled == body, "the pulled file differs from the phone's");
    let devices = env.adb(&["devices"]);
    assert!(
        String::from_utf8_lossy(&devices.stdout).contains(&format!("{}\tdevice", phone.serial())),
        "adb no longer lists the handset as a device: {}",
        String::from_utf8_lossy(&devices.stdout)
    );
    assert!(phone.is_running());
}

/// A handset that was lost left an empty log before: now every connection that ends is
/// logged with its cause and time, and a terminating signal is logged with the sender's pid
/// before the handset dies of it (exit status unchanged: killed by SIGTERM).
#[test]
fn the_handset_logs_why_a_connection_ended_and_who_stopped_it() {
    let env = TestEnv::new();
    let phone = env.start_handset(HandsetSpec::android14());
    let out = phone.adb(&["shell", "echo", "hi"]);
    assert_success(&out, "adb shell echo hi");
    let disconnect = env.adb(&["disconnect", &phone.serial()]);
    assert_success(&disconnect, "adb disconnect");
    let (found, log) = wait_for_log(&phone, "ended after");
    assert!(found, "no line for the ended connection in the log:\n{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("connection from 127.0.0.1:") && l.contains("the host closed it")),
        "the log does not say the host closed the connection:\n{log}"
    );

    let pid = phone.pid().expect("the handset runs");
    let sender = send_signal("TERM", pid);
    let status = phone
        .wait_exit(Duration::from_secs(20))
        .expect("the handset ends on SIGTERM");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(15),
        "the handset still dies of SIGTERM: {status}"
    );
    let (found, log) = wait_for_log(&phone, "received signal 15");
    assert!(found, "the SIGTERM is not in the log:\n{log}");
    assert!(
        log.contains(&format!("received signal 15 from pid {sender}")),
        "the log does not name the sender (pid {sender}):\n{log}"
    );
}
