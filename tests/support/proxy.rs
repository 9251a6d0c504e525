//! A loopback TCP proxy for tests with real processes, that can spoil one
//! blob upload: cut the connection, or flip a byte, some way into the body
//! of the first `PATCH /v1/blobs/…` request it sees. Only ever between two
//! processes on this machine; its threads end with their connections.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What to do to the first blob chunk that passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spoil {
    /// Close both sides after this many body bytes of the chunk.
    CutAfter(usize),
    /// Invert the body byte at this offset of the chunk.
    FlipAt(usize),
}

/// A running proxy; `url` is where clients connect.
#[derive(Debug)]
pub struct SpoilingProxy {
    pub url: String,
    done: Arc<AtomicBool>,
}

impl SpoilingProxy {
    /// Proxies to `upstream` (a loopback address), spoiling once.
    pub fn start(upstream: SocketAddr, spoil: Spoil) -> SpoilingProxy {
        assert!(upstream.ip().is_loopback(), "tests proxy loopback only");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let done = Arc::new(AtomicBool::new(false));
        let used = Arc::clone(&done);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let used = Arc::clone(&used);
                std::thread::spawn(move || relay(client, server, spoil, &used));
            }
        });
        SpoilingProxy {
            url: format!("http://{addr}"),
            done,
        }
    }

    /// Whether the spoiling has happened.
    pub fn spoiled(&self) -> bool {
        self.done.load(Ordering::SeqCst)
    }
}

fn relay(mut client: TcpStream, server: TcpStream, spoil: Spoil, used: &AtomicBool) {
    let (Ok(mut down_from), Ok(mut down_to), Ok(mut up_to)) =
        (server.try_clone(), client.try_clone(), server.try_clone())
    else {
        return;
    };
    // Server → client: copied as is.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut down_from, &mut down_to);
        let _ = down_to.shutdown(Shutdown::Write);
    });
    let mut scan = Scan::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &mut buf[..n];
        let mut cut = false;
        if !used.load(Ordering::SeqCst) {
            for (i, byte) in chunk.iter_mut().enumerate() {
                let Some(body_at) = scan.push(*byte) else {
                    continue;
                };
                match spoil {
                    Spoil::FlipAt(at) if body_at == at => {
                        *byte = !*byte;
                        used.store(true, Ordering::SeqCst);
                    }
                    Spoil::CutAfter(at) if body_at == at => {
                        used.store(true, Ordering::SeqCst);
                        let _ = up_to.write_all(&chunk[..i]);
                        cut = true;
                        break;
                    }
                    _ => {}
                }
                if used.load(Ordering::SeqCst) {
                    break;
                }
            }
        }
        if cut {
            let _ = up_to.shutdown(Shutdown::Both);
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        if up_to.write_all(chunk).is_err() {
            break;
        }
    }
    let _ = up_to.shutdown(Shutdown::Write);
}

/// Finds the body of the first `PATCH /v1/blobs/` request in a byte
/// stream: `push` answers each body byte's offset.
#[derive(Default)]
struct Scan {
    window: Vec<u8>,
    in_patch: bool,
    body: Option<usize>,
}

const PATCH: &[u8] = b"PATCH /v1/blobs/";
const END_OF_HEAD: &[u8] = b"\r\n\r\n";

impl Scan {
    fn push(&mut self, byte: u8) -> Option<usize> {
        if let Some(n) = self.body.as_mut() {
            let at = *n;
            *n += 1;
            return Some(at);
        }
        self.window.push(byte);
        if self.window.len() > 32 {
            self.window.remove(0);
        }
        if !self.in_patch && self.window.ends_with(PATCH) {
            self.in_patch = true;
        } else if self.in_patch && self.window.ends_with(END_OF_HEAD) {
            self.body = Some(0);
        }
        None
    }
}
