//! `shell,v2:` (framed stdin/stdout/stderr/exit), and the raw services `shell:` (v1) and
//! `exec:`, which run their command with the handset's shell as adbd does.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag};
use nix::unistd::Pid;

use super::stream::{Stream, StreamReader, StreamWriter};
use crate::serve::Handset;

const ID_STDIN: u8 = 0;
const ID_STDOUT: u8 = 1;
const ID_STDERR: u8 = 2;
const ID_EXIT: u8 = 3;
const ID_CLOSE_STDIN: u8 = 4;

/// How long a raw command may run on after the host closed its stream.
const RAW_GRACE: Duration = Duration::from_secs(10);

/// Big pipes let one read fill a whole WRTE when the command writes faster than we send.
const PIPE_SIZE: i32 = 1024 * 1024;

fn grow_pipe(fd: impl AsFd) {
    // Only a throughput tweak: a smaller pipe still works.
    let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
}

/// The v2 exit byte: the child's code, or 128 + signal when it was killed.
fn exit_byte(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(sig)) => (128 + sig) as u8,
        (None, None) => 255,
    }
}

fn packet(id: u8, data: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(5 + data.len());
    p.push(id);
    p.extend_from_slice(&(data.len() as u32).to_le_bytes());
    p.extend_from_slice(data);
    p
}

/// The command's process group, killed only while the command is not reaped: a reaped pid
/// (and its group id) may already belong to another process on a busy machine, where pids
/// wrap in minutes (pid_max 32768), and killing it could end an unrelated process, even
/// another simulated handset.
#[derive(Debug)]
struct CommandGroup {
    pid: u32,
    /// Set, under the lock, once the command has exited and is about to be reaped.
    exited: Mutex<bool>,
}

impl CommandGroup {
    fn new(pid: u32) -> CommandGroup {
        CommandGroup {
            pid,
            exited: Mutex::new(false),
        }
    }

    /// Kills the command's whole process group (the shell and what it started), unless it
    /// has exited.
    fn kill(&self) {
        let exited = self
            .exited
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !*exited {
            let _ = killpg(Pid::from_raw(self.pid as i32), Signal::SIGKILL);
        }
    }

    fn has_exited(&self) -> bool {
        *self
            .exited
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits for the command to exit, marks it exited, then reaps it. The wait leaves it a
    /// zombie (`WNOWAIT`), which keeps its pid taken until [`CommandGroup::kill`] can no
    /// longer fire.
    fn wait(&self, child: &mut Child) -> io::Result<ExitStatus> {
        let pid = Pid::from_raw(self.pid as i32);
        while let Err(nix::errno::Errno::EINTR) =
            waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT)
        {}
        *self
            .exited
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        child.wait()
    }
}

pub fn shell_v2(stream: &Arc<Stream>, handset: &Handset, cmd: &[u8]) {
    let mut command = handset.env.shell_command(cmd);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let out = Arc::new(Mutex::new(StreamWriter::new(Arc::clone(stream))));
    let mut child: Child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            let mut w = lock(&out);
            let msg = format!("phonevault-sim: cannot start the shell: {e}\n");
            let _ = w.write_all(&packet(ID_STDERR, msg.as_bytes()));
            let _ = w.write_all(&packet(ID_EXIT, &[127]));
            let _ = w.flush();
            return;
        }
    };
    drop(command);
    let group = Arc::new(CommandGroup::new(child.id()));
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let stdin_thread = {
        let stream = Arc::clone(stream);
        let group = Arc::clone(&group);
        thread::spawn(move || {
            pump_v2_stdin(&stream, stdin);
            // The host hung up while the command runs: nobody will read its output.
            if stream.is_host_closed() {
                group.kill();
            }
        })
    };
    let stderr_thread = stderr.map(|err| {
        let out = Arc::clone(&out);
        thread::spawn(move || pump_v2_output(err, ID_STDERR, &out))
    });
    if let Some(o) = stdout {
        pump_v2_output(o, ID_STDOUT, &out);
    }
    if let Some(t) = stderr_thread {
        let _ = t.join();
    }
    let status = group.wait(&mut child);
    let code = status.map_or(255, exit_byte);
    {
        let mut w = lock(&out);
        let _ = w.write_all(&packet(ID_EXIT, &[code]));
        let _ = w.flush();
    }
    stream.close();
    let _ = stdin_thread.join();
}

fn lock(out: &Mutex<StreamWriter>) -> std::sync::MutexGuard<'_, StreamWriter> {
    out.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Host->device v2 packets: stdin data, close-stdin, window size (ignored: no pty).
fn pump_v2_stdin(stream: &Arc<Stream>, mut stdin: Option<std::process::ChildStdin>) {
    let mut r = StreamReader::new(Arc::clone(stream));
    let mut head = [0u8; 5];
    let mut data = Vec::new();
    loop {
        if r.read_exact(&mut head).is_err() {
            return;
        }
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
        data.resize(len, 0);
        if r.read_exact(&mut data).is_err() {
            return;
        }
        match head[0] {
            ID_STDIN => {
                if let Some(s) = stdin.as_mut() {
                    if s.write_all(&data).is_err() {
                        stdin = None;
                    }
                }
            }
            ID_CLOSE_STDIN => stdin = None,
            _ => {}
        }
    }
}

fn pump_v2_output(mut from: impl Read + AsFd, id: u8, out: &Mutex<StreamWriter>) {
    grow_pipe(from.as_fd());
    let mut buf = vec![0u8; 5 + PIPE_SIZE as usize];
    loop {
        let n = match from.read(&mut buf[5..]) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        buf[0] = id;
        buf[1..5].copy_from_slice(&(n as u32).to_le_bytes());
        let mut w = lock(out);
        if w.write_all(&buf[..5 + n]).is_err() || w.flush().is_err() {
            // The host is gone; keep draining so the command is not blocked on a full pipe.
            drop(w);
            while matches!(from.read(&mut buf), Ok(n) if n > 0) {}
            return;
        }
    }
}

/// `shell:CMD` (v1) and `exec:CMD`: the host's bytes go to stdin, stdout and stderr come
/// back merged and unframed; no exit status. A host CLSE closes stdin and lets the command
/// finish (as with `adb exec-in`), instead of killing it.
pub fn raw(stream: &Arc<Stream>, handset: &Handset, cmd: &[u8]) {
    let mut w = StreamWriter::new(Arc::clone(stream));
    let (mut reader, writer) = match io::pipe() {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(w, "phonevault-sim: cannot make a pipe: {e}");
            let _ = w.flush();
            return;
        }
    };
    grow_pipe(reader.as_fd());
    let child = {
        let mut command = handset.env.shell_command(cmd);
        let err_writer = match writer.try_clone() {
            Ok(e) => e,
            Err(e) => {
                let _ = writeln!(w, "phonevault-sim: cannot make a pipe: {e}");
                let _ = w.flush();
                return;
            }
        };
        command
            .stdin(Stdio::piped())
            .stdout(writer)
            .stderr(err_writer)
            .process_group(0);
        // The command (and its copies of the pipe's write end) is dropped here, so the
        // pipe reaches EOF when the child exits.
        command.spawn()
    };
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(w, "phonevault-sim: cannot start the shell: {e}");
            let _ = w.flush();
            return;
        }
    };
    let stdin = child.stdin.take();
    let group = Arc::new(CommandGroup::new(child.id()));
    let stdin_thread = {
        let stream = Arc::clone(stream);
        let group = Arc::clone(&group);
        thread::spawn(move || {
            let mut stdin = stdin;
            while let Some(chunk) = stream.recv() {
                if let Some(s) = stdin.as_mut() {
                    if s.write_all(&chunk).is_err() {
                        stdin = None;
                    }
                }
            }
            drop(stdin);
            // The host hung up: give the command time to finish what it was fed (`exec-in`),
            // then stop it rather than leave it running with nobody listening.
            if stream.is_host_closed() {
                let deadline = Instant::now() + RAW_GRACE;
                while !group.has_exited() && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(20));
                }
                group.kill();
            }
        })
    };
    let mut buf = vec![0u8; PIPE_SIZE as usize];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if w.write_all(&buf[..n]).is_err() || w.flush().is_err() {
            // Dropping our end makes the command's next write fail with SIGPIPE, as on adbd.
            break;
        }
    }
    drop(reader);
    let _ = group.wait(&mut child);
    stream.close();
    let _ = stdin_thread.join();
}
