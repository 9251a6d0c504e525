//! Server processes for the end-to-end tests: `doorstep central serve`
//! (and later stations) on loopback, killed when the guard is dropped so a
//! failing test never leaks a process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::{doorstep, units_csv};

/// How long a server may take to print its address.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// A running server process.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    pub data_dir: PathBuf,
    args: Vec<String>,
}

/// A loopback port that was free a moment ago (for a server that must
/// come back on the same address after a restart).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local address").port()
}

/// `doorstep --lang en central serve --data-dir D --listen 127.0.0.1:PORT`.
fn central_args(data_dir: &Path, port: u16) -> Vec<String> {
    vec![
        "--lang".to_owned(),
        "en".to_owned(),
        "central".to_owned(),
        "serve".to_owned(),
        "--data-dir".to_owned(),
        data_dir.display().to_string(),
        "--listen".to_owned(),
        format!("127.0.0.1:{port}"),
    ]
}

/// `--units` with the repository's 2023 unit list.
fn units_args() -> [String; 2] {
    ["--units".to_owned(), units_csv().display().to_string()]
}

impl Server {
    /// `doorstep central serve` on `127.0.0.1:port` (0: any free port)
    /// with the repository's 2023 unit list.
    pub fn central(data_dir: &Path, port: u16) -> Server {
        Self::central_with_units(data_dir, port, Some(&units_csv()))
    }

    /// Like [`Server::central`], with another unit list (None: the
    /// built-in 63 provinces). Open to unregistered laptops: the tests of
    /// sync mechanics use laptops made with a plain `field init`
    /// ([`Server::central_secure`] for the provisioning tests).
    pub fn central_with_units(data_dir: &Path, port: u16, units: Option<&Path>) -> Server {
        let mut args = central_args(data_dir, port);
        args.push("--allow-unregistered".to_owned());
        if let Some(u) = units {
            args.push("--units".to_owned());
            args.push(u.display().to_string());
        }
        Self::start(data_dir, args)
    }

    /// Like [`Server::central`], with more arguments (e.g. `--tls-cert`).
    pub fn central_with_args(data_dir: &Path, port: u16, extra: &[String]) -> Server {
        let mut args = central_args(data_dir, port);
        args.push("--allow-unregistered".to_owned());
        args.extend(units_args());
        args.extend(extra.iter().cloned());
        Self::start(data_dir, args)
    }

    /// `doorstep central serve` as deployed: only registered devices.
    pub fn central_secure(data_dir: &Path, port: u16) -> Server {
        let mut args = central_args(data_dir, port);
        args.extend(units_args());
        Self::start(data_dir, args)
    }

    /// `doorstep central serve` as deployed, on PostgreSQL at `url` with
    /// its keys in `key_dir` (several may share both: ingest nodes).
    pub fn central_postgres(key_dir: &Path, url: &str, port: u16) -> Server {
        let mut args = central_args(key_dir, port);
        args.extend(["--database".to_owned(), url.to_owned()]);
        args.extend(units_args());
        Self::start(key_dir, args)
    }

    /// `doorstep station serve` on `127.0.0.1:port` (0: any free port),
    /// forwarding to `upstream`, with the repository's 2023 unit list and
    /// a one-second forwarding interval.
    pub fn station(data_dir: &Path, upstream: &str, port: u16) -> Server {
        Self::station_with_args(data_dir, upstream, port, &[])
    }

    /// Like [`Server::station`], with more arguments (e.g. `--tls-cert`).
    pub fn station_with_args(
        data_dir: &Path,
        upstream: &str,
        port: u16,
        extra: &[String],
    ) -> Server {
        let mut args = vec![
            "--lang".to_owned(),
            "en".to_owned(),
            "station".to_owned(),
            "serve".to_owned(),
            "--data-dir".to_owned(),
            data_dir.display().to_string(),
            "--upstream".to_owned(),
            upstream.to_owned(),
            "--listen".to_owned(),
            format!("127.0.0.1:{port}"),
            "--units".to_owned(),
            units_csv().display().to_string(),
            "--forward-interval".to_owned(),
            "1".to_owned(),
        ];
        args.extend(extra.iter().cloned());
        Self::start(data_dir, args)
    }

    fn start(data_dir: &Path, args: Vec<String>) -> Server {
        let mut child = doorstep()
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the server");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            // Keep draining so the server never blocks on a full pipe.
            for _ in lines {}
        });
        let line = match rx.recv_timeout(START_DEADLINE) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait();
                panic!("server `{}` did not start: {status:?}", args.join(" "));
            }
        };
        let url = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the server: {line}"))
            .trim()
            .to_owned();
        Server {
            child: Some(child),
            url,
            data_dir: data_dir.to_path_buf(),
            args,
        }
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in the URL")
    }

    /// SIGKILL (no graceful shutdown) and wait for the process to go.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM (graceful shutdown) and wait, at most `deadline`, for the
    /// process to exit; returns its exit code.
    pub fn terminate(&mut self, deadline: Duration) -> Option<i32> {
        let mut child = self.child.take()?;
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(sent, "cannot send SIGTERM to the server");
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status.code();
            }
            if start.elapsed() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not stop within {deadline:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the same server again (same arguments, same port).
    pub fn restart(&mut self) {
        self.kill();
        let mut args = self.args.clone();
        if let Some(pos) = args.iter().position(|a| a == "--listen") {
            args[pos + 1] = format!("127.0.0.1:{}", self.port());
        }
        // The port was just released; retry briefly if the kernel has not
        // let go of it yet.
        for attempt in 0..50 {
            let try_start = std::panic::catch_unwind(|| Self::start(&self.data_dir, args.clone()));
            match try_start {
                Ok(server) => {
                    *self = server;
                    return;
                }
                Err(_) if attempt < 49 => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => std::panic::resume_unwind(e),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
