//! A doorstep server started as a process whose first line on standard
//! output is `listening on http://ADDR` (`field serve`, `central serve`):
//! killed when dropped, so a failing test never leaks it; its standard
//! error is kept for assertion messages.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// How long a server may take to print its address.
const START_DEADLINE: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Listening {
    child: Option<Child>,
    /// `http://ADDR`, as printed.
    pub url: String,
    stderr: Arc<Mutex<String>>,
    what: String,
}

impl Listening {
    /// Starts `cmd` (its standard streams are taken over) and waits for
    /// its address; `what` names it in messages.
    pub fn spawn(cmd: &mut Command, what: &str) -> Listening {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `doorstep {what}`: {e}"));
        let stdout = child.stdout.take().expect("stdout piped");
        let mut err_pipe = child.stderr.take().expect("stderr piped");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            for _ in lines {}
        });
        let mut proc = Listening {
            child: Some(child),
            url: String::new(),
            stderr,
            what: what.to_owned(),
        };
        let Ok(line) = rx.recv_timeout(START_DEADLINE) else {
            proc.kill();
            panic!(
                "`doorstep {what}` did not print its address; stderr:\n{}",
                proc.stderr()
            );
        };
        proc.url = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line of `doorstep {what}`: {line:?}"))
            .trim()
            .to_owned();
        proc
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> &str {
        self.url.strip_prefix("http://").unwrap_or(&self.url)
    }

    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then the exit status (bounded wait).
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("process running");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`doorstep {}` did not stop on SIGTERM", self.what);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.kill();
    }
}
