//! One TCP connection from the adb server: the handshake, stream routing, and a writer
//! thread that owns the socket's sending side (and applies the link profile and faults).

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rand::RngCore;

use super::message::{
    header, read_message, Message, AUTH_SIGNATURE, AUTH_TOKEN, A_AUTH, A_CLSE, A_CNXN, A_OKAY,
    A_OPEN, A_VERSION, A_WRTE, MAX_PAYLOAD,
};
use super::stream::Stream;
use super::{shell, sync};
use crate::serve::Handset;

/// A message on its way to the host (built, checksum included, before it is queued).
#[derive(Debug)]
pub struct Outgoing {
    header: [u8; 24],
    payload: Vec<u8>,
    is_wrte: bool,
    queued: Instant,
}

impl Outgoing {
    pub fn new(command: u32, arg0: u32, arg1: u32, payload: Vec<u8>) -> Outgoing {
        Outgoing {
            header: header(command, arg0, arg1, &payload),
            payload,
            is_wrte: command == A_WRTE,
            queued: Instant::now(),
        }
    }
}

/// What the connection's reader, writer and service threads share.
#[derive(Debug)]
pub struct ConnShared {
    tx: Mutex<Option<Sender<Outgoing>>>,
    /// On an unlimited link, messages are written by the thread that sends them: the
    /// reader thread then answers an OKAY with the stream's next WRTE at once, without
    /// waking another thread first (which costs milliseconds on a loaded machine).
    direct: Option<Mutex<TcpStream>>,
    max_payload: AtomicUsize,
    streams: Mutex<HashMap<u32, Arc<Stream>>>,
    next_id: AtomicU32,
    dead: AtomicBool,
    /// Why the sending side stopped, when it failed (logged when the connection ends).
    write_error: Mutex<Option<String>>,
    /// Sent WRTE buffers, reused so big transfers do not fault in fresh pages all the time.
    pool: Mutex<Vec<Vec<u8>>>,
    pub handset: Arc<Handset>,
}

impl ConnShared {
    pub fn max_payload(&self) -> usize {
        self.max_payload.load(Ordering::Relaxed)
    }

    /// Queues a message for the writer; silently dropped once the connection is gone.
    pub fn send(&self, command: u32, arg0: u32, arg1: u32, payload: Vec<u8>) {
        self.send_built(Outgoing::new(command, arg0, arg1, payload));
    }

    /// Sends a message built earlier (so the checksum is not on the round trip's path).
    pub fn send_built(&self, mut out: Outgoing) {
        out.queued = Instant::now();
        if let Some(sock) = &self.direct {
            if self.dead.load(Ordering::Relaxed) {
                return;
            }
            let mut sock = sock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            account(&self.handset, &out);
            let written = if out.payload.len() <= 64 * 1024 {
                let mut whole = Vec::with_capacity(24 + out.payload.len());
                whole.extend_from_slice(&out.header);
                whole.extend_from_slice(&out.payload);
                sock.write_all(&whole)
            } else {
                sock.write_all(&out.header)
                    .and_then(|()| sock.write_all(&out.payload))
            };
            if let Err(e) = written {
                self.note_write_error(&e);
                self.dead.store(true, Ordering::Relaxed);
                let _ = sock.shutdown(Shutdown::Both);
            }
            drop(sock);
            self.recycle(out.payload);
            return;
        }
        let tx = self
            .tx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(tx) = tx.as_ref() {
            let _ = tx.send(out);
        }
    }

    /// A buffer of exactly `max_payload` bytes (contents unspecified).
    pub fn take_buffer(&self) -> Vec<u8> {
        let max = self.max_payload();
        let mut buf = self
            .pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        buf.resize(max, 0);
        buf
    }

    fn recycle(&self, buf: Vec<u8>) {
        if buf.capacity() >= self.max_payload() {
            let mut pool = self
                .pool
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if pool.len() < 16 {
                pool.push(buf);
            }
        }
    }

    fn note_write_error(&self, e: &std::io::Error) {
        let mut slot = self
            .write_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.get_or_insert_with(|| e.to_string());
    }

    pub fn forget(&self, local: u32) {
        self.lock_streams().remove(&local);
    }

    fn lock_streams(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Arc<Stream>>> {
        self.streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn stream(&self, local: u32) -> Option<Arc<Stream>> {
        self.lock_streams().get(&local).cloned()
    }
}

/// Serves one connection until the host goes away or sends a malformed packet.
pub fn serve(sock: &TcpStream, handset: &Arc<Handset>) {
    let peer = sock
        .peer_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    let _ = sock.set_nodelay(true);
    let (Ok(wsock), Ok(dsock)) = (sock.try_clone(), sock.try_clone()) else {
        return;
    };
    handset.stats.connection_opened();
    let (tx, rx) = mpsc::channel();
    let conn = Arc::new(ConnShared {
        tx: Mutex::new(Some(tx)),
        direct: handset.link.is_unlimited().then(|| Mutex::new(dsock)),
        max_payload: AtomicUsize::new(MAX_PAYLOAD),
        streams: Mutex::new(HashMap::new()),
        next_id: AtomicU32::new(1),
        dead: AtomicBool::new(false),
        write_error: Mutex::new(None),
        pool: Mutex::new(Vec::new()),
        handset: Arc::clone(handset),
    });
    let writer = {
        let conn = Arc::clone(&conn);
        thread::spawn(move || write_loop(wsock, &rx, &conn))
    };
    let began = Instant::now();
    let read = read_loop(sock, &conn);
    conn.dead.store(true, Ordering::Relaxed);
    let _ = sock.shutdown(Shutdown::Both);
    let streams: Vec<_> = conn.lock_streams().drain().map(|(_, s)| s).collect();
    for s in streams {
        s.host_closed();
    }
    *conn
        .tx
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    let _ = writer.join();
    // Every end of a connection is logged, with its cause: a lost handset must leave evidence.
    let mut why = match read {
        Ok(()) => "the host closed it".to_owned(),
        Err(e) => format!("reading from the host failed: {e}"),
    };
    if let Some(e) = conn
        .write_error
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
    {
        why = format!("{why}; writing to the host had failed: {e}");
    }
    eprintln!(
        "phonevault-sim: {} connection from {peer} ended after {:.1} s: {why}",
        crate::lifelog::stamp(),
        began.elapsed().as_secs_f64()
    );
}

fn read_loop(sock: &TcpStream, conn: &Arc<ConnShared>) -> std::io::Result<()> {
    let handset = &conn.handset;
    let mut reader = BufReader::with_capacity(256 * 1024, sock);
    let mut online = false;
    while let Some(msg) = read_message(&mut reader)? {
        handset.link.pace_inbound(24 + msg.payload.len());
        if msg.command == A_WRTE {
            handset
                .faults
                .after_receive(msg.payload.len() as u64, &handset.stats);
            handset.stats.received(msg.payload.len() as u64);
        }
        match msg.command {
            A_CNXN => {
                if handset.unauthorized {
                    send_auth_token(conn);
                } else {
                    let host_max = (msg.arg1 as usize).clamp(256, MAX_PAYLOAD);
                    conn.max_payload.store(host_max, Ordering::Relaxed);
                    conn.send(
                        A_CNXN,
                        msg.arg0.min(A_VERSION),
                        MAX_PAYLOAD as u32,
                        handset.banner.clone().into_bytes(),
                    );
                    online = true;
                }
            }
            // A signature can never match: we stay unauthorised and ask again, as adbd does.
            A_AUTH if handset.unauthorized && msg.arg0 == AUTH_SIGNATURE => send_auth_token(conn),
            A_OPEN if online => open(conn, &msg),
            A_OKAY => {
                if let Some(s) = conn.stream(msg.arg1) {
                    s.acked();
                }
            }
            A_WRTE => {
                if let Some(s) = conn.stream(msg.arg1) {
                    s.deliver(msg.payload);
                }
            }
            A_CLSE => {
                if let Some(s) = conn.stream(msg.arg1) {
                    conn.forget(msg.arg1);
                    s.host_closed();
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn send_auth_token(conn: &ConnShared) {
    let mut token = vec![0u8; 20];
    rand::rng().fill_bytes(&mut token);
    conn.send(A_AUTH, AUTH_TOKEN, 0, token);
}

fn open(conn: &Arc<ConnShared>, msg: &Message) {
    let end = msg
        .payload
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(msg.payload.len());
    let service = msg.payload[..end].to_vec();
    let route = Route::parse(&service);
    conn.handset
        .stats
        .service_opened(&route.stats_name(&service));
    if matches!(route, Route::Refused) || msg.arg0 == 0 {
        conn.send(A_CLSE, 0, msg.arg0, Vec::new());
        conn.handset.stats.service_ended();
        return;
    }
    let local = conn.next_id.fetch_add(1, Ordering::Relaxed);
    let stream = Arc::new(Stream::new(local, msg.arg0, Arc::clone(conn)));
    conn.lock_streams().insert(local, Arc::clone(&stream));
    conn.send(A_OKAY, local, msg.arg0, Vec::new());
    let handset = Arc::clone(&conn.handset);
    thread::spawn(move || {
        match route {
            Route::ShellV2(cmd) => shell::shell_v2(&stream, &handset, &cmd),
            Route::Raw(cmd) => shell::raw(&stream, &handset, &cmd),
            Route::Sync => sync::serve(&stream, &handset),
            Route::Refused => {}
        }
        stream.close();
        handset.stats.service_ended();
    });
}

/// Which service an OPEN asks for.
#[derive(Debug)]
enum Route {
    ShellV2(Vec<u8>),
    /// `shell:` (v1) and `exec:`: raw bytes both ways, stderr merged into stdout as adbd does.
    Raw(Vec<u8>),
    Sync,
    Refused,
}

impl Route {
    fn parse(service: &[u8]) -> Route {
        if let Some(rest) = service.strip_prefix(b"exec:") {
            return Route::Raw(rest.to_vec());
        }
        if service == b"sync:" {
            return Route::Sync;
        }
        if let Some(rest) = service.strip_prefix(b"shell") {
            // `shell[,arg...]:command`; args are comma-separated and come before the first colon.
            let Some(colon) = rest.iter().position(|&b| b == b':') else {
                return Route::Refused;
            };
            let (args, cmd) = (&rest[..colon], rest[colon + 1..].to_vec());
            if !args.is_empty() && args[0] != b',' {
                return Route::Refused;
            }
            let v2 = args.split(|&b| b == b',').any(|a| a == b"v2");
            return if v2 {
                Route::ShellV2(cmd)
            } else {
                Route::Raw(cmd)
            };
        }
        Route::Refused
    }

    fn stats_name(&self, service: &[u8]) -> String {
        match self {
            Route::Raw(_) if service.starts_with(b"exec:") => "exec".into(),
            Route::ShellV2(_) | Route::Raw(_) => "shell".into(),
            Route::Sync => "sync".into(),
            Route::Refused => {
                let end = service
                    .iter()
                    .position(|&b| b == b':' || b == b',')
                    .unwrap_or(service.len());
                String::from_utf8_lossy(&service[..end]).into_owned()
            }
        }
    }
}

/// Counts a message about to leave (and lets the faults act on it).
fn account(handset: &Handset, msg: &Outgoing) {
    if msg.is_wrte {
        handset
            .faults
            .before_send(msg.payload.len() as u64, &handset.stats);
        handset.stats.sent(msg.payload.len() as u64);
    }
}

fn write_loop(sock: TcpStream, rx: &Receiver<Outgoing>, conn: &ConnShared) {
    if let Err(e) = write_messages(sock, rx, conn) {
        conn.note_write_error(&e);
        // The host cannot hear us any more: end the connection so the reader stops too.
        conn.dead.store(true, Ordering::Relaxed);
    }
}

/// Writes queued messages until the queue closes (`Ok`) or the socket fails.
fn write_messages(
    sock: TcpStream,
    rx: &Receiver<Outgoing>,
    conn: &ConnShared,
) -> std::io::Result<()> {
    let handset = &conn.handset;
    let mut w = BufWriter::with_capacity(256 * 1024, sock);
    loop {
        let msg = match rx.try_recv() {
            Ok(m) => m,
            Err(mpsc::TryRecvError::Empty) => {
                w.flush()?;
                match rx.recv_timeout(Duration::from_millis(200)) {
                    Ok(m) => m,
                    Err(RecvTimeoutError::Timeout) if !conn.dead.load(Ordering::Relaxed) => {
                        continue
                    }
                    Err(_) => return Ok(()),
                }
            }
            Err(mpsc::TryRecvError::Disconnected) => return Ok(()),
        };
        account(handset, &msg);
        let arrives = handset
            .link
            .schedule_outbound(msg.queued, 24 + msg.payload.len());
        if let Some(at) = arrives {
            if at > Instant::now() {
                w.flush()?;
                thread::sleep(at.saturating_duration_since(Instant::now()));
            }
        }
        w.write_all(&msg.header)?;
        w.write_all(&msg.payload)?;
        conn.recycle(msg.payload);
    }
}

#[cfg(test)]
mod tests {
    use super::Route;

    #[test]
    fn routes_services() {
        assert!(
            matches!(Route::parse(b"shell,v2,TERM=xterm,raw:ls"), Route::ShellV2(c) if c == b"ls")
        );
        assert!(matches!(Route::parse(b"shell:echo a:b"), Route::Raw(c) if c == b"echo a:b"));
        assert!(matches!(Route::parse(b"shell,raw:id"), Route::Raw(c) if c == b"id"));
        assert!(matches!(Route::parse(b"exec:cat /x"), Route::Raw(c) if c == b"cat /x"));
        assert!(matches!(Route::parse(b"sync:"), Route::Sync));
        assert!(matches!(Route::parse(b"root:"), Route::Refused));
        assert!(matches!(Route::parse(b"shellfoo:x"), Route::Refused));
    }
}
