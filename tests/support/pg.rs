//! A fresh PostgreSQL schema per test on the server named by
//! `DOORSTEP_TEST_DATABASE_URL` (`.ci/run` sets it); without it the test
//! prints one "skipped" line and passes nothing off as tested.

use tokio_postgres::NoTls;

pub const ENV: &str = "DOORSTEP_TEST_DATABASE_URL";

/// A schema that lives as long as the guard (kept when the test fails).
#[derive(Debug)]
pub struct PgSchema {
    base: String,
    schema: String,
    /// The database URL with the schema as its search path: what
    /// `--database` is given.
    pub url: String,
}

impl PgSchema {
    /// A new empty schema, or `None` after printing why the test is skipped.
    pub fn create(test: &str) -> Option<PgSchema> {
        let Ok(base) = std::env::var(ENV) else {
            // Straight to the terminal: the test harness would swallow a
            // print of a passing test, and a skip must be seen.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "skipped: {test} needs PostgreSQL; set {ENV} (e.g. postgres://postgres@127.0.0.1:5432/test)"
            );
            return None;
        };
        ensure_database(&base);
        let schema = format!("t_{}", uuid_like());
        execute(&base, &format!("CREATE SCHEMA {schema}"));
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        Some(PgSchema { base, schema, url })
    }

    /// Runs SQL in the schema (test setup and fault injection).
    pub fn execute(&self, sql: &str) {
        execute(&self.url, sql);
    }

    /// One number from a query in the schema.
    pub fn count(&self, sql: &str) -> i64 {
        runtime().block_on(async {
            let client = connect(&self.url).await;
            client
                .query_one(sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .get(0)
        })
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            execute(&self.base, &format!("DROP SCHEMA {} CASCADE", self.schema));
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("{ENV}: cannot connect to {url}: {e}"));
    tokio::spawn(conn);
    client
}

/// Creates the database the URL names if the server does not have it
/// (a fresh machine has only `postgres`).
fn ensure_database(url: &str) {
    let config: tokio_postgres::Config = url.parse().unwrap_or_else(|e| panic!("{ENV}={url}: {e}"));
    let Some(name) = config.get_dbname().map(str::to_owned) else {
        return;
    };
    runtime().block_on(async {
        match tokio_postgres::connect(url, NoTls).await {
            Ok(_) => {}
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::INVALID_CATALOG_NAME) => {
                let mut admin = config.clone();
                admin.dbname("postgres");
                let (client, conn) = admin
                    .connect(NoTls)
                    .await
                    .unwrap_or_else(|e| panic!("{ENV}: cannot connect to create {name}: {e}"));
                tokio::spawn(conn);
                // Another test binary may create it at the same moment.
                if let Err(e) = client
                    .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    && e.code() != Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE)
                {
                    panic!("{ENV}: cannot create database {name}: {e}");
                }
            }
            Err(e) => panic!("{ENV}: cannot connect to {url}: {e}"),
        }
    });
}

fn execute(url: &str, sql: &str) {
    runtime().block_on(async {
        connect(url)
            .await
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    });
}

/// A unique enough name part: time and process.
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}_{}", std::process::id())
}
