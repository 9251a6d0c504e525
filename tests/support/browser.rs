//! Headless Chromium driven through chromedriver (WebDriver), for the
//! browser tests (`dashboard.rs`, `officer_app.rs`): finding both programs
//! (or skipping the test without them), chromedriver in its own process
//! group, bounded waits, screenshots in `<target>/test-artifacts/`.
//!
//! Not part of the support library (it needs fantoccini, a
//! dev-dependency): each browser test includes it with
//! `#[path = "support/browser.rs"] mod browser;`.

// Each test uses only some of these helpers.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use doorstep_tests::free_port;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// Any wait for the page: generous for a loaded 2-core machine, but bounded.
pub const PAGE_WAIT: Duration = Duration::from_secs(20);

/// `name` on the PATH.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Chromium and chromedriver, or why not.
pub fn find_browser() -> Result<(PathBuf, PathBuf), String> {
    let browser = std::env::var_os("DOORSTEP_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| {
            ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .find_map(|n| which(n))
        });
    let driver = std::env::var_os("DOORSTEP_CHROMEDRIVER")
        .map(PathBuf::from)
        .or_else(|| which("chromedriver"));
    match (browser, driver) {
        (Some(b), Some(d)) => Ok((b, d)),
        (None, None) => Err("neither chromium nor chromedriver is on the PATH".into()),
        (None, Some(_)) => Err("chromium is not on the PATH".into()),
        (Some(_), None) => Err("chromedriver is not on the PATH".into()),
    }
}

/// Chromium and chromedriver; `None` (after printing `skipped: …`) when
/// they are missing, unless `DOORSTEP_REQUIRE_BROWSER=1` (scripts/test.sh
/// sets it): then the test fails.
pub fn browser_or_skip(test: &str) -> Option<(PathBuf, PathBuf)> {
    match find_browser() {
        Ok(found) => Some(found),
        Err(why) => {
            let msg = format!("{test} (chromium/chromedriver not found: {why})");
            assert!(
                std::env::var("DOORSTEP_REQUIRE_BROWSER").as_deref() != Ok("1"),
                "DOORSTEP_REQUIRE_BROWSER=1 but {msg}"
            );
            println!("skipped: {msg}");
            None
        }
    }
}

/// chromedriver on a loopback port, in its own process group so that the
/// browsers it starts go with it.
pub struct Driver {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Driver {
    pub fn start(exe: &Path, dir: &Path) -> Driver {
        let port = free_port();
        let log = dir.join("chromedriver.log");
        let mut child = Command::new(exe)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "chromedriver exited ({status}):\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                start.elapsed() < PAGE_WAIT,
                "chromedriver did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver { child, port, log }
    }

    /// chromedriver's base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and the Chromium processes it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a session's Chromium is started with beyond the defaults.
pub struct Options<'a> {
    /// The window's width and height.
    pub window: (u32, u32),
    /// More command-line switches.
    pub args: &'a [&'a str],
    /// More top-level capabilities (e.g. `goog:loggingPrefs`).
    pub capabilities: &'a [(&'a str, Value)],
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            window: (1366, 900),
            args: &[],
            capabilities: &[],
        }
    }
}

/// A headless session in a window of 1366×900 that reaches nothing but
/// loopback.
pub async fn connect(driver: &Driver, chromium: &Path, profile: &Path) -> Client {
    connect_with(driver, chromium, profile, &Options::default()).await
}

/// A headless session that reaches nothing but loopback, with `options`.
pub async fn connect_with(
    driver: &Driver,
    chromium: &Path,
    profile: &Path,
    options: &Options<'_>,
) -> Client {
    let (width, height) = options.window;
    let mut args = vec![
        "--headless=new".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        format!("--window-size={width},{height}"),
        "--disable-dev-shm-usage".to_owned(),
        format!("--user-data-dir={}", profile.display()),
        // Nothing but loopback: no update checks, no Google services.
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--no-first-run".to_owned(),
        "--no-default-browser-check".to_owned(),
        "--proxy-server=http://127.0.0.1:9".to_owned(),
        "--proxy-bypass-list=127.0.0.1".to_owned(),
        "--lang=vi".to_owned(),
    ];
    args.extend(options.args.iter().map(|a| (*a).to_owned()));
    let mut caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {"binary": chromium, "args": args},
    });
    for (name, value) in options.capabilities {
        caps[*name] = value.clone();
    }
    let Value::Object(caps) = caps else {
        unreachable!()
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let session = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url())
        .await;
    match session {
        Ok(c) => c,
        Err(e) => panic!(
            "no WebDriver session: {e}\n{}",
            std::fs::read_to_string(&driver.log).unwrap_or_default()
        ),
    }
}

/// Waits (at most [`PAGE_WAIT`]) for an element matching `css`.
pub async fn wait_for(c: &Client, css: &str) {
    c.wait()
        .at_most(PAGE_WAIT)
        .every(Duration::from_millis(50))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear: {e}"));
}

/// Clicks the element matching `css`.
pub async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
}

/// Saves a screenshot of the window as `<target>/test-artifacts/<name>`.
pub async fn screenshot(c: &Client, name: &str) -> PathBuf {
    let png = c.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
    let path = artifacts_dir().join(name);
    std::fs::write(&path, png).expect("write the screenshot");
    println!("screenshot: {}", path.display());
    path
}

/// `<target>/test-artifacts/`, next to the profile directory this test
/// runs from (so a `--target-dir` is honoured).
pub fn artifacts_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let target = exe
        .ancestors()
        .find(|d| d.join("CACHEDIR.TAG").exists())
        .map_or_else(
            || doorstep_tests::workspace_root().join("target"),
            Path::to_path_buf,
        );
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("create the artifacts directory");
    dir
}
