#![forbid(unsafe_code)]
// Test support: failing loudly is the point here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Helpers for the end-to-end tests: find (or build) the real `doorstep`
//! binary of the same profile as the running test, run it as a process
//! and capture what it prints, make throw-away data directories and
//! generated input files.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use tempfile::TempDir;

pub mod listening;
pub mod pg;
pub mod proxy;
pub mod server;
pub use listening::Listening;
pub use server::{Server, free_port};

/// File name of the store inside a data directory (as in doorstep-store).
pub const DB_FILE: &str = "field.sqlite3";

/// Longest any single doorstep command may take before the test gives up
/// (a hang must fail the test, not block CI forever). Not a performance
/// assertion: debug builds on a loaded machine stay far below this.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(900);

/// The workspace root (`tests/..`).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .expect("tests/ has a parent directory")
        .to_path_buf()
}

/// The 2023 unit list shipped in the repository.
pub fn units_csv() -> PathBuf {
    workspace_root().join("data/units/units_2023.csv")
}

/// `target/<profile>/` of the running test executable
/// (`target/<profile>/deps/<test>-<hash>`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test executable has a directory");
    if deps.file_name() == Some(OsStr::new("deps")) {
        deps.parent().expect("deps has a parent").to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

/// The `doorstep` binary built in the same profile as this test.
///
/// `DOORSTEP_BIN` overrides the lookup. Otherwise `cargo build -p
/// doorstep-cli` (with the profile of this test) runs once per test process:
/// the tests package does not depend on the binary, so without this a
/// binary left over from an older build of `crates/` would be tested. When
/// cargo cannot be started at all, an existing binary is used as is.
pub fn doorstep_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("DOORSTEP_BIN") {
            return PathBuf::from(bin);
        }
        let dir = profile_dir();
        let bin = dir.join(format!("doorstep{}", std::env::consts::EXE_SUFFIX));
        let profile = dir
            .file_name()
            .and_then(OsStr::to_str)
            .unwrap_or("debug")
            .to_owned();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace_root())
            .args(["build", "--quiet", "-p", "doorstep-cli"]);
        // Build into the target directory this test runs from (it may be a
        // --target-dir given to `cargo test`).
        if let Some(target) = dir.parent().filter(|t| t.join("CACHEDIR.TAG").exists()) {
            cmd.arg("--target-dir").arg(target);
        }
        match profile.as_str() {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        match cmd.output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "`cargo build -p doorstep-cli` ({profile}) failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) if bin.exists() => {
                eprintln!(
                    "note: cannot run cargo ({e}); testing the existing {}",
                    bin.display()
                );
            }
            Err(e) => panic!("cannot run cargo to build doorstep: {e}"),
        }
        assert!(
            bin.exists(),
            "doorstep binary not found at {} after building",
            bin.display()
        );
        bin
    })
}

/// A `doorstep` command with a clean environment: no DOORSTEP_* settings
/// of the person running the tests leak in.
pub fn doorstep() -> Command {
    let mut cmd = Command::new(doorstep_bin());
    for var in [
        "DOORSTEP_LANG",
        "DOORSTEP_DATA_DIR",
        "DOORSTEP_LOG",
        "DOORSTEP_NEW_PASSPHRASE",
        "DOORSTEP_CA_CERT",
    ] {
        cmd.env_remove(var);
    }
    // Laptop stores are encrypted under the officer's passphrase; tests
    // give it the way scripts do. A test of a wrong one overrides it.
    cmd.env("DOORSTEP_PASSPHRASE", TEST_PASSPHRASE);
    cmd
}

/// The passphrase of every laptop store the tests make.
pub const TEST_PASSPHRASE: &str = "mật khẩu thử nghiệm";

/// Every record of the laptop store in `data_dir`, decrypted with the
/// tests' passphrase: (sequence number, record ID, canonical bytes).
pub fn stored_canonical(data_dir: &Path) -> Vec<(i64, String, Vec<u8>)> {
    let mut store = doorstep_store::FieldStore::open(data_dir).expect("open the laptop store");
    store
        .unlock(TEST_PASSPHRASE, chrono::Utc::now())
        .expect("unlock the laptop store");
    store
        .canonical_records()
        .expect("read the laptop's records")
        .into_iter()
        .map(|(seq, id, bytes)| {
            (
                i64::try_from(seq).unwrap_or(i64::MAX),
                id.to_string(),
                bytes.unwrap_or_default(),
            )
        })
        .collect()
}

/// What a finished doorstep process printed and how it exited.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// The command line, for assertion messages.
    pub command: String,
}

impl Output {
    /// The exit code (`None` when killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Asserts the exit code, showing everything printed when it differs.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            Some(code),
            "exit code of `{}`\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            clip(&self.stdout),
            clip(&self.stderr)
        );
        self
    }

    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        self.assert_code(0)
    }

    /// Asserts that stderr contains `needle`.
    #[track_caller]
    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr of `{}` should contain {needle:?}:\n{}",
            self.command,
            clip(&self.stderr)
        );
        self
    }

    /// Parses stdout as one JSON document.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout of `{}` is not JSON ({e}):\n{}",
                self.command,
                clip(&self.stdout)
            )
        })
    }

    /// Non-empty stdout lines.
    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().filter(|l| !l.is_empty()).collect()
    }
}

/// At most a few kilobytes of a long output, for assertion messages.
pub fn clip(s: &str) -> String {
    const MAX: usize = 4000;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n… ({} more bytes)", &s[..end], s.len() - end)
}

/// Fails the test when a doorstep process panicked or suggested a backtrace.
#[track_caller]
pub fn assert_no_panic(out: &Output) {
    for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        for needle in ["panicked", "RUST_BACKTRACE"] {
            assert!(
                !text.contains(needle),
                "{name} of `{}` contains {needle:?}:\n{}",
                out.command,
                clip(text)
            );
        }
    }
}

fn describe(args: &[&OsStr]) -> String {
    let mut s = String::from("doorstep");
    for a in args {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Waits for `child` with [`COMMAND_DEADLINE`]; kills it and fails the
/// test when it takes longer.
pub fn wait_with_deadline(child: &mut Child, what: &str) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > COMMAND_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{what}` did not finish within {COMMAND_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs doorstep with `args`, feeding `stdin` (or nothing), and captures
/// its output. Always checks that nothing panicked.
#[track_caller]
pub fn run_with_stdin<I, S>(args: I, stdin: Option<&[u8]>) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().into()).collect();
    let refs: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let command = describe(&refs);
    let mut child = doorstep()
        .args(&args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{command}`: {e}"));
    let feeder = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().expect("stdin piped");
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            // The process may stop reading early (e.g. on an error).
            let _ = pipe.write_all(&bytes);
        })
    });
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf).expect("read child output");
            buf
        })
    };
    let out_t = reader(Box::new(child.stdout.take().expect("stdout piped")));
    let err_t = reader(Box::new(child.stderr.take().expect("stderr piped")));
    let status = wait_with_deadline(&mut child, &command);
    if let Some(f) = feeder {
        f.join().expect("stdin feeder");
    }
    let stdout = out_t.join().expect("stdout reader");
    let stderr = err_t.join().expect("stderr reader");
    let out = Output {
        status,
        stdout: String::from_utf8(stdout)
            .unwrap_or_else(|e| panic!("stdout of `{command}` is not UTF-8: {e}")),
        stderr: String::from_utf8(stderr)
            .unwrap_or_else(|e| panic!("stderr of `{command}` is not UTF-8: {e}")),
        command,
    };
    assert_no_panic(&out);
    out
}

/// Runs doorstep with `args` (no standard input) and captures its output.
#[track_caller]
pub fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_with_stdin(args, None)
}

/// A fresh temporary directory (deleted when dropped).
pub fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("doorstep-e2e-")
        .tempdir()
        .expect("create a temporary directory")
}

/// Path of the store file in a data directory.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

/// `doorstep field init` for unit 74 (Bình Dương) with the 2023 unit list.
#[track_caller]
pub fn init_store(data_dir: &Path) -> Output {
    let out = run([
        OsStr::new("--lang"),
        OsStr::new("en"),
        OsStr::new("field"),
        OsStr::new("init"),
        OsStr::new("--data-dir"),
        data_dir.as_os_str(),
        OsStr::new("--unit"),
        OsStr::new("74"),
        OsStr::new("--device-name"),
        OsStr::new("Tổ 3 - CA Thuận Giao"),
        OsStr::new("--units"),
        units_csv().as_os_str(),
    ]);
    out.assert_success();
    out
}

/// `doorstep gen --count N --seed S --data-dir D > file`: records valid in
/// the store at `data_dir`, written straight to `file`.
#[track_caller]
pub fn gen_records(data_dir: &Path, count: u64, seed: u64, file: &Path) {
    let out_file = std::fs::File::create(file).expect("create the records file");
    let mut child = doorstep()
        .args([
            "gen",
            "--count",
            &count.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(out_file)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start doorstep gen");
    let mut stderr = child.stderr.take().expect("stderr piped");
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = wait_with_deadline(&mut child, "doorstep gen");
    let stderr = err_t.join().expect("stderr reader");
    assert!(status.success(), "doorstep gen failed: {stderr}");
    let lines = std::fs::read_to_string(file)
        .expect("read generated records")
        .lines()
        .count();
    assert_eq!(
        lines as u64, count,
        "doorstep gen --count {count} printed {lines} lines"
    );
}

/// The records of an NDJSON file, parsed.
pub fn read_ndjson(file: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(file)
        .expect("read NDJSON")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("NDJSON line is JSON"))
        .collect()
}

/// True for a hyphenated UUID of version 7 with the RFC 4122 variant.
pub fn is_uuid_v7(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        })
        && b[14] == b'7'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
}

/// Opens the store file read-only (no writes, no WAL checkpoint).
pub fn open_read_only(data_dir: &Path) -> rusqlite::Result<rusqlite::Connection> {
    rusqlite::Connection::open_with_flags(
        db_path(data_dir),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

/// The names of the files in a directory, sorted.
pub fn dir_listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Arguments of mixed types (`&str`, `&Path`, `String`…) as `OsString`s:
/// `args!["field", "status", "--data-dir", &dir]`.
#[macro_export]
macro_rules! args {
    ($($a:expr),* $(,)?) => {
        vec![$(::std::ffi::OsString::from(::std::convert::AsRef::<::std::ffi::OsStr>::as_ref(&$a))),*]
    };
}

/// A fresh, initialised store in a temporary directory, with room for
/// input files next to it.
#[derive(Debug)]
pub struct Store {
    tmp: TempDir,
    /// The data directory (`<tmp>/data`).
    pub dir: PathBuf,
}

impl Store {
    /// `field init` (unit 74, 2023 unit list) in a new temporary directory.
    #[track_caller]
    pub fn new() -> Store {
        let tmp = temp_dir();
        let dir = tmp.path().join("data");
        init_store(&dir);
        Store { tmp, dir }
    }

    /// A path for a scratch file next to the data directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// The store file.
    pub fn db(&self) -> PathBuf {
        db_path(&self.dir)
    }

    /// `n` generated records (valid in this store), parsed.
    #[track_caller]
    pub fn records(&self, n: u64, seed: u64) -> Vec<serde_json::Value> {
        let file = self.file(&format!("gen-{n}-{seed}.ndjson"));
        gen_records(&self.dir, n, seed, &file);
        read_ndjson(&file)
    }

    /// Writes `text` to a scratch file and returns its path.
    pub fn write(&self, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
        let path = self.file(name);
        std::fs::write(&path, text).expect("write input file");
        path
    }

    /// `doorstep --lang en field <sub> --data-dir D <extra…>`.
    #[track_caller]
    pub fn field<S: AsRef<OsStr>>(&self, sub: &str, extra: &[S]) -> Output {
        let mut a = args!["--lang", "en", "field", sub, "--data-dir", &self.dir];
        a.extend(extra.iter().map(|s| s.as_ref().to_os_string()));
        run(a)
    }

    /// `field enroll` of a file (English messages).
    #[track_caller]
    pub fn enroll(&self, file: &Path) -> Output {
        self.field("enroll", &[file])
    }

    /// `field status --json`, parsed (must succeed).
    #[track_caller]
    pub fn status(&self) -> serde_json::Value {
        let out = self.field::<&str>("status", &["--json"]);
        out.assert_success();
        out.json()
    }

    /// `field list --json`, parsed (must succeed).
    #[track_caller]
    pub fn list(&self) -> Vec<serde_json::Value> {
        let out = self.field::<&str>("list", &["--json"]);
        out.assert_success();
        match out.json() {
            serde_json::Value::Array(items) => items,
            other => panic!("field list --json is not an array: {other}"),
        }
    }

    /// `field check --json`, parsed; asserts the store is healthy.
    #[track_caller]
    pub fn assert_check_ok(&self) -> serde_json::Value {
        let out = self.field::<&str>("check", &["--json"]);
        out.assert_success();
        let doc = out.json();
        assert_eq!(doc["ok"], true, "field check: {doc}");
        assert_eq!(doc["integrity_check"], serde_json::json!(["ok"]));
        assert_eq!(doc["sequence_gap_free"], true);
        doc
    }
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

/// One NDJSON line per value.
pub fn to_ndjson(values: &[serde_json::Value]) -> String {
    let mut s = String::new();
    for v in values {
        s.push_str(&v.to_string());
        s.push('\n');
    }
    s
}

/// `doorstep --lang en ARGS…`, run to the end.
pub fn cli(a: Vec<std::ffi::OsString>) -> Output {
    let mut full: Vec<std::ffi::OsString> = vec!["--lang".into(), "en".into()];
    full.extend(a);
    run(full)
}

/// A one-time token from `central provision` for a node of `role` in
/// unit 74 (under `station`, for a laptop relayed by one).
pub fn provision_token(central_dir: &Path, role: &str, station: Option<&str>) -> String {
    let mut a: Vec<std::ffi::OsString> = ["central", "provision", "--data-dir"]
        .iter()
        .map(Into::into)
        .collect();
    a.push(central_dir.into());
    for s in ["--unit", "74", "--name", "Tổ", "--role", role, "--json"] {
        a.push(s.into());
    }
    if let Some(s) = station {
        a.push("--station".into());
        a.push(s.into());
    }
    let out = cli(a);
    out.assert_success();
    out.json()["token"]
        .as_str()
        .expect("a token in the answer")
        .to_owned()
}

/// Registers the station in `station_dir` with the central at
/// `central_url` (its data in `central_dir`); returns the station's ID.
pub fn register_station(central_url: &str, central_dir: &Path, station_dir: &Path) -> String {
    let token = provision_token(central_dir, "station", None);
    let mut a: Vec<std::ffi::OsString> =
        vec!["station".into(), "register".into(), "--data-dir".into()];
    a.push(station_dir.into());
    for s in ["--server", central_url, "--token", &token, "--units"] {
        a.push(s.into());
    }
    a.push(units_csv().into());
    a.push("--json".into());
    let out = cli(a);
    out.assert_success();
    out.json()["node_id"]
        .as_str()
        .expect("the station's ID in the answer")
        .to_owned()
}

/// `field init` of a laptop for unit 74 with the test unit list, registered
/// with a central when given its URL and a token; returns its device ID.
pub fn init_laptop(dir: &Path, server: Option<(&str, &str)>) -> String {
    let mut a: Vec<std::ffi::OsString> = vec!["field".into(), "init".into(), "--data-dir".into()];
    a.push(dir.into());
    for s in ["--unit", "74", "--device-name", "Tổ 1", "--units"] {
        a.push(s.into());
    }
    a.push(units_csv().into());
    a.push("--json".into());
    if let Some((url, token)) = server {
        for s in ["--server", url, "--token", token] {
            a.push(s.into());
        }
    }
    let out = cli(a);
    out.assert_success();
    out.json()["device_id"]
        .as_str()
        .expect("the device ID in the answer")
        .to_owned()
}

/// `central roster import` of the roster `csv` (written into a file next to
/// `central_dir`).
pub fn import_roster(central_dir: &Path, csv: &str) {
    let file = central_dir.with_extension("roster.csv");
    std::fs::write(&file, csv).expect("write the roster file");
    cli(args![
        "central",
        "roster",
        "import",
        "--data-dir",
        central_dir,
        &file
    ])
    .assert_success();
}

/// `central assign --device DEVICE --units UNITS`.
pub fn assign_units(central_dir: &Path, device: &str, units: &str) {
    cli(args![
        "central",
        "assign",
        "--data-dir",
        central_dir,
        "--device",
        device,
        "--units",
        units
    ])
    .assert_success();
}
