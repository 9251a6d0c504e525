//! A fresh PostgreSQL schema per test, on the server named by
//! `DOORSTEP_TEST_DATABASE_URL`; without it, one "skipped" line.

use tokio_postgres::NoTls;

pub const ENV: &str = "DOORSTEP_TEST_DATABASE_URL";

pub struct TestDb {
    base: String,
    schema: String,
    /// The base URL with the schema as its search path.
    pub url: String,
}

impl TestDb {
    /// A new empty schema, or `None` (with a skip line) when no test
    /// database is configured.
    pub async fn create(test: &str) -> Option<TestDb> {
        let Ok(base) = std::env::var(ENV) else {
            println!(
                "skipped: {test} needs PostgreSQL; set {ENV} (e.g. postgres://postgres@127.0.0.1:5432/test)"
            );
            return None;
        };
        let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
        let (client, conn) = tokio_postgres::connect(&base, NoTls)
            .await
            .unwrap_or_else(|e| panic!("{ENV}={base}: cannot connect: {e}"));
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        Some(TestDb { base, schema, url })
    }

    /// Removes the schema (left in place when a test fails, to look at).
    pub async fn drop(self) {
        let (client, conn) = tokio_postgres::connect(&self.base, NoTls).await.unwrap();
        tokio::spawn(conn);
        client
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .await
            .unwrap();
    }
}
