#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! HTTPS between real processes on loopback: central and a station serve
//! TLS with a certificate from a throwaway CA (made here with rcgen); the
//! laptop trusts that CA with `--ca-cert` and nothing else. Without it the
//! command stops at once with one clear line, instead of retrying.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use doorstep_tests::{Output, Server, Store, args, run, temp_dir};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use serde_json::Value;

/// Bound on waits (a hang fails the test instead of blocking CI).
const PATIENCE: Duration = Duration::from_secs(120);
/// A refused certificate must be reported quickly: no retry loop (the
/// default policy would retry 8 times with up to 30 s between tries).
const NO_RETRY_LOOP: Duration = Duration::from_secs(20);

/// A CA and the files of one server certificate it issued.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    /// Another CA, which did not sign the server's certificate.
    other_ca: PathBuf,
}

fn make_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn make_pki(dir: &Path) -> Pki {
    std::fs::create_dir_all(dir).unwrap();
    let ca = make_ca("Doorstep test CA");
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "doorstep test server");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ca).unwrap();
    let pki = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
        other_ca: dir.join("other-ca.pem"),
    };
    std::fs::write(&pki.ca, ca.pem()).unwrap();
    std::fs::write(&pki.cert, cert.pem()).unwrap();
    std::fs::write(&pki.key, key.serialize_pem()).unwrap();
    std::fs::write(&pki.other_ca, make_ca("Some other CA").pem()).unwrap();
    pki
}

fn tls_args(pki: &Pki) -> Vec<String> {
    vec![
        "--tls-cert".to_owned(),
        pki.cert.display().to_string(),
        "--tls-key".to_owned(),
        pki.key.display().to_string(),
    ]
}

fn laptop(records: u64, seed: u64) -> Store {
    let store = Store::new();
    let file = store.file("records.ndjson");
    doorstep_tests::gen_records(&store.dir, records, seed, &file);
    store.enroll(&file).assert_success();
    store
}

fn sync(store: &Store, url: &str, extra: &[&str]) -> Output {
    let mut a = vec!["--server", url, "--no-progress", "--max-backoff", "1"];
    a.extend_from_slice(extra);
    store.field("sync", &a)
}

fn count(db: &Path, sql: &str) -> u64 {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    let _ = conn.busy_timeout(Duration::from_millis(500));
    conn.query_row(sql, [], |r| r.get::<_, i64>(0))
        .map(|n| u64::try_from(n).unwrap_or(0))
        .unwrap_or(0)
}

#[test]
fn a_laptop_syncs_over_https_only_with_the_configured_ca() {
    let tmp = temp_dir();
    let pki = make_pki(&tmp.path().join("pki"));
    let mut central = Server::central_with_args(&tmp.path().join("central"), 0, &tls_args(&pki));
    assert!(
        central.url.starts_with("https://127.0.0.1:"),
        "{}",
        central.url
    );
    let store = laptop(200, 7);
    let ca = pki.ca.display().to_string();

    // Without the CA: one clear line, exit 1, quickly, nothing sent.
    let started = Instant::now();
    let out = sync(&store, &central.url, &[]);
    out.assert_code(1);
    assert!(
        started.elapsed() < NO_RETRY_LOOP,
        "took {:?}",
        started.elapsed()
    );
    out.assert_stderr_contains("is not trusted")
        .assert_stderr_contains("--ca-cert");
    assert_eq!(
        out.stderr.lines().filter(|l| !l.trim().is_empty()).count(),
        1,
        "one line: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("retry"), "{}", out.stderr);
    assert_eq!(store.status()["by_status"]["pending"], 200);

    // In Vietnamese (the default language) too.
    let out = run(args![
        "field",
        "sync",
        "--data-dir",
        &store.dir,
        "--server",
        &central.url,
        "--no-progress"
    ]);
    out.assert_code(1);
    assert!(out.stderr.contains("không được tin cậy"), "{}", out.stderr);
    assert!(out.stderr.contains("--ca-cert"), "{}", out.stderr);

    // A CA that did not sign the certificate is refused the same way, and
    // --json says why in the report.
    let started = Instant::now();
    let other = pki.other_ca.display().to_string();
    let out = sync(&store, &central.url, &["--ca-cert", &other, "--json"]);
    out.assert_code(1);
    assert!(
        started.elapsed() < NO_RETRY_LOOP,
        "took {:?}",
        started.elapsed()
    );
    let report = out.json();
    assert_eq!(report["records_sent"], 0, "{report}");
    assert_eq!(report["retries"], 0, "{report}");
    let why = report["certificate_untrusted"].as_str().unwrap_or_default();
    assert!(why.contains("UnknownIssuer"), "{report}");

    // With the CA: every record over HTTPS, confirmed.
    let out = sync(&store, &central.url, &["--ca-cert", &ca, "--json"]);
    out.assert_success();
    let report = out.json();
    assert_eq!(report["accepted"], 200, "{report}");
    assert_eq!(report["confirmed"], 200, "{report}");
    assert_eq!(report["certificate_untrusted"], Value::Null, "{report}");
    assert_eq!(store.status()["by_status"]["confirmed"], 200);

    // The CA from the environment, for another command that reads.
    let out = run(args![
        "--lang",
        "en",
        "audit",
        "gaps",
        "--server",
        &central.url,
        "--all",
        "--json"
    ]);
    out.assert_code(1);
    out.assert_stderr_contains("is not trusted")
        .assert_stderr_contains("--ca-cert");
    let mut cmd = doorstep_tests::doorstep();
    cmd.args(["--lang", "en", "audit", "gaps", "--server", &central.url])
        .args(["--all", "--json"])
        .env("DOORSTEP_CA_CERT", &pki.ca);
    let gaps = cmd.output().unwrap();
    assert!(
        gaps.status.success(),
        "{}",
        String::from_utf8_lossy(&gaps.stderr)
    );

    // HTTPS only: plain HTTP on the same port gets no answer.
    let plain = central.url.replacen("https://", "http://", 1);
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let answer = http.get(format!("{plain}/healthz")).send();
    assert!(
        answer.as_ref().map_or(true, |r| !r.status().is_success()),
        "plain HTTP was answered: {answer:?}"
    );

    // Graceful shutdown still works over TLS.
    assert_eq!(central.terminate(PATIENCE), Some(0));
}

#[test]
fn a_station_serving_tls_forwards_to_a_tls_central() {
    let tmp = temp_dir();
    let pki = make_pki(&tmp.path().join("pki"));
    let central_dir = tmp.path().join("central");
    let central = Server::central_with_args(&central_dir, 0, &tls_args(&pki));
    let ca = pki.ca.display().to_string();
    let mut station_args = tls_args(&pki);
    station_args.extend(["--ca-cert".to_owned(), ca.clone()]);
    let station =
        Server::station_with_args(&tmp.path().join("station"), &central.url, 0, &station_args);
    assert!(
        station.url.starts_with("https://127.0.0.1:"),
        "{}",
        station.url
    );

    let store = laptop(300, 11);
    let out = sync(&store, &station.url, &["--ca-cert", &ca, "--json"]);
    out.assert_success();
    assert_eq!(out.json()["held"], 300, "{}", out.stdout);

    // The station forwards over HTTPS, trusting the same CA.
    let central_db = central_dir.join("central.sqlite3");
    let start = Instant::now();
    while count(
        &central_db,
        "SELECT COUNT(*) FROM records WHERE relayed_by IS NOT NULL",
    ) < 300
    {
        assert!(
            start.elapsed() < PATIENCE,
            "central did not get the station's records"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The station stores central's receipt after central has committed:
    // wait for that too, or the laptop may ask before the station knows.
    let station_db = tmp.path().join("station").join("central.sqlite3");
    while count(
        &station_db,
        "SELECT COUNT(*) FROM records WHERE upstream_status = 'confirmed'",
    ) < 300
    {
        assert!(
            start.elapsed() < PATIENCE,
            "the station did not store central's answers"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The laptop learns central's answers from the station.
    let out = sync(&store, &station.url, &["--ca-cert", &ca, "--json"]);
    out.assert_success();
    assert_eq!(store.status()["by_status"]["confirmed"], 300);
}

#[test]
fn unusable_certificate_files_are_usage_errors_naming_the_file() {
    let tmp = temp_dir();
    let pki = make_pki(&tmp.path().join("pki"));
    let data = tmp.path().join("central");
    let serve = |extra: &[&str]| {
        let mut a = args![
            "--lang",
            "en",
            "central",
            "serve",
            "--data-dir",
            &data,
            "--listen",
            "127.0.0.1:0"
        ];
        a.extend(extra.iter().map(|s| std::ffi::OsString::from(*s)));
        run(a)
    };
    let cert = pki.cert.display().to_string();
    let key = pki.key.display().to_string();

    // One flag without the other.
    serve(&["--tls-cert", &cert])
        .assert_code(2)
        .assert_stderr_contains("--tls-key");
    serve(&["--tls-key", &key])
        .assert_code(2)
        .assert_stderr_contains("--tls-cert");

    // A missing file, a file that is not PEM, the certificate given as key.
    let missing = tmp.path().join("missing.pem").display().to_string();
    serve(&["--tls-cert", &missing, "--tls-key", &key])
        .assert_code(2)
        .assert_stderr_contains("--tls-cert")
        .assert_stderr_contains("missing.pem");
    let junk = tmp.path().join("junk.key");
    std::fs::write(&junk, "not a key\n").unwrap();
    let junk = junk.display().to_string();
    serve(&["--tls-cert", &cert, "--tls-key", &junk])
        .assert_code(2)
        .assert_stderr_contains("--tls-key")
        .assert_stderr_contains("junk.key");
    serve(&["--tls-cert", &cert, "--tls-key", &cert])
        .assert_code(2)
        .assert_stderr_contains("server.pem");
    // A key that does not belong to the certificate.
    let other_key = tmp.path().join("other.key");
    std::fs::write(&other_key, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let other_key = other_key.display().to_string();
    serve(&["--tls-cert", &cert, "--tls-key", &other_key])
        .assert_code(2)
        .assert_stderr_contains("cannot be used together");

    // A client CA file that is not a certificate.
    let store = Store::new();
    let out = sync(&store, "https://127.0.0.1:9", &["--ca-cert", &junk]);
    out.assert_code(2).assert_stderr_contains("--ca-cert");
    out.assert_stderr_contains("junk.key");
}
