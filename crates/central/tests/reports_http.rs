#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `GET /v1/reports/*` (`proto/reports-v1.md`) through the real router over
//! a real SQLite central: every 200 answer must match its JSON Schema in
//! `proto/schemas/` (and, with every object of the schema closed, carry no
//! member the schema does not document), every error must be a problem
//! document (`problem.schema.json`) with its status and code, and the
//! schemas must be strict enough to refuse a broken answer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, NaiveDate, Utc};
use doorstep_central::check::check_batch;
use doorstep_central::sqlite::UnitSource;
use doorstep_central::{AppState, CentralStore, IncomingBatch, SqliteCentral, router};
use doorstep_core::campaign::{Metric, Target};
use doorstep_core::canonical::encode_record;
use doorstep_core::{ContentHash, Record, Units, ValidationContext, validate};
use doorstep_wire::{Batch, BatchRecord, NodeRole, PROBLEM_JSON, PROTOCOL_VERSION, Sender};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

mod support;

const CAMPAIGN: &str = "kich-hoat-test";
const AS_OF: &str = "2025-10-05";

fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn schemas_dir() -> PathBuf {
    repo_dir().join("proto/schemas")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

// ---------------------------------------------------------------------
// Schemas

/// The answer schemas of the reports.
const REPORT_SCHEMAS: [&str; 8] = [
    "coverage-report.schema.json",
    "worklist-page.schema.json",
    "worklist-request.schema.json",
    "campaigns.schema.json",
    "progress-report.schema.json",
    "activity.schema.json",
    "review.schema.json",
    "audit-state.schema.json",
];

/// `schema` with `additionalProperties: false` added to every object
/// schema that lists its properties: the published schemas let clients
/// ignore members they do not know, this variant checks that the server
/// sends none the schema does not document.
fn closed(mut schema: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(o) => {
                let is_object = o.get("type") == Some(&Value::String("object".into()));
                if is_object && o.contains_key("properties") {
                    o.entry("additionalProperties")
                        .or_insert(Value::Bool(false));
                }
                for child in o.values_mut() {
                    walk(child);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut schema);
    schema
}

/// Validators for `proto/schemas/`, each schema registered under its
/// `$id` so the `$ref`s between them resolve without any network.
struct Schemas {
    open: jsonschema::Registry<'static>,
    closed: jsonschema::Registry<'static>,
}

impl Schemas {
    fn load() -> Schemas {
        let mut open = Vec::new();
        let mut closed_ones = Vec::new();
        for e in std::fs::read_dir(schemas_dir()).unwrap() {
            let path = e.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            if !file.ends_with(".schema.json") {
                continue;
            }
            let schema = read_json(&path);
            let id = schema["$id"]
                .as_str()
                .unwrap_or_else(|| panic!("{file}: no $id"))
                .to_owned();
            let shut = if REPORT_SCHEMAS.contains(&file.as_str()) {
                closed(schema.clone())
            } else {
                schema.clone()
            };
            open.push((id.clone(), schema));
            closed_ones.push((id, shut));
        }
        let prepare = |list: Vec<(String, Value)>| {
            jsonschema::Registry::new()
                .extend(list)
                .unwrap()
                .prepare()
                .unwrap()
        };
        Schemas {
            open: prepare(open),
            closed: prepare(closed_ones),
        }
    }

    fn errors_in(
        registry: &jsonschema::Registry<'static>,
        schema: &Value,
        file: &str,
        v: &Value,
    ) -> Vec<String> {
        let validator = jsonschema::options()
            .with_registry(registry)
            .build(schema)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        validator
            .iter_errors(v)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect()
    }

    /// What the published schema `file` finds wrong with `v`.
    fn errors(&self, file: &str, v: &Value) -> Vec<String> {
        let schema = read_json(&schemas_dir().join(file));
        Self::errors_in(&self.open, &schema, file, v)
    }

    /// What the closed variant of `file` finds wrong with `v`.
    fn closed_errors(&self, file: &str, v: &Value) -> Vec<String> {
        let schema = closed(read_json(&schemas_dir().join(file)));
        Self::errors_in(&self.closed, &schema, file, v)
    }

    /// `v` matches `file`, published and closed.
    fn assert_valid(&self, file: &str, what: &str, v: &Value) {
        let errors = self.errors(file, v);
        assert!(errors.is_empty(), "{what}: {file}: {errors:#?}\n{v:#}");
        let errors = self.closed_errors(file, v);
        assert!(
            errors.is_empty(),
            "{what}: members {file} does not document: {errors:#?}\n{v:#}"
        );
    }

    /// `v` is refused by `file`.
    fn assert_refused(&self, file: &str, what: &str, v: &Value) {
        assert!(
            !self.errors(file, v).is_empty(),
            "{file} accepts {what}:\n{v:#}"
        );
    }
}

// ---------------------------------------------------------------------
// A central with records, a conflict, a gap and a campaign

fn units_2023() -> (UnitSource, Units) {
    let path = repo_dir().join("data/units/units_2023.csv");
    let csv = std::fs::read(&path).unwrap();
    let units = Units::from_csv(&csv).unwrap();
    (
        UnitSource {
            source: path.display().to_string(),
            csv,
        },
        units,
    )
}

/// An e-ID activation of `device` visited in `unit` (any level of the
/// 2023 list) on `on`, at `place` for `reason`.
fn activation(
    units: &Units,
    now: DateTime<Utc>,
    device: Uuid,
    seq: u64,
    name: &str,
    (unit, on, place, reason): (&str, &str, &str, Option<&str>),
) -> Vec<u8> {
    let mut visit =
        json!({"place": place, "unit_code": unit, "at": format!("{on}T09:30:00+07:00")});
    if let Some(r) = reason {
        visit["reason"] = json!(r);
    }
    let input = json!({
        "kind": "eid_activation",
        "citizen": {"personal_id": "074303001234", "full_name": name, "date_of_birth": "2003-05-14",
                    "sex": "female", "permanent_address": {"unit_code": "74", "detail": "Tổ 3"}},
        "visit": visit,
        "officer_id": "CA-74-0012"
    });
    let body = validate(&input, &ValidationContext::new(units, now))
        .unwrap_or_else(|e| panic!("{unit} {on}: {e:?}"));
    encode_record(&Record {
        record_id: Uuid::now_v7(),
        device_id: device,
        device_seq: seq,
        enrolled_at: now,
        body,
    })
}

/// A batch of `records` from the laptop `device`, checked against `units`
/// and received `now`.
fn laptop_batch(
    units: &Units,
    now: DateTime<Utc>,
    device: Uuid,
    session: Uuid,
    records: &[&[u8]],
) -> IncomingBatch {
    let records = records
        .iter()
        .map(|bytes| BatchRecord {
            content_hash: ContentHash::of(bytes).to_hex(),
            record: Some(
                RawValue::from_string(String::from_utf8(bytes.to_vec()).unwrap()).unwrap(),
            ),
            sealed: None,
            signature: None,
        })
        .collect();
    let batch = Batch {
        protocol: PROTOCOL_VERSION,
        batch_id: Uuid::now_v7(),
        session_id: session,
        sender: Sender {
            node_id: device,
            role: NodeRole::Field,
            name: Some("Tổ 1 – Hiệp Thành".into()),
            client_version: "reports_http".into(),
        },
        journal: None,
        records,
    };
    check_batch(batch, units, now, 100)
}

fn target(unit: &str, metric: Metric, n: u64, deadline: &str) -> Target {
    Target {
        campaign: CAMPAIGN.into(),
        unit_code: unit.into(),
        metric,
        target: n,
        start: day("2025-09-01"),
        deadline: day(deadline),
    }
}

/// A central over the 2023 unit list holding: seven activations in Bình
/// Dương (74: communes 25747 and 25768 of 718, 25816 and 25822 of 719) and
/// Hồ Chí Minh City (79); one record refused as a conflict (a sequence
/// number used twice); a gap (number 7 never sent); and a campaign with
/// targets at commune and province level for two metrics.
async fn central(dir: &Path) -> Arc<SqliteCentral> {
    let (source, units) = units_2023();
    let now = Utc::now();
    let store =
        Arc::new(SqliteCentral::open_or_create(&dir.join("central"), Some(source), now).unwrap());
    let device = Uuid::now_v7();
    let session = Uuid::now_v7();
    let mk = |seq, name, visit| activation(&units, now, device, seq, name, visit);
    let r1 = mk(1, "Nguyễn Thị Lan", ("25747", "2025-09-10", "home", None));
    let r2 = mk(
        2,
        "Trần Văn Bình",
        ("25747", "2025-09-12", "hospital", Some("bedridden")),
    );
    let r3 = mk(
        3,
        "Lê Thị Hoa",
        ("25768", "2025-09-20", "workplace", Some("worker")),
    );
    let r4 = mk(4, "Phạm Văn Đức", ("25816", "2025-09-05", "home", None));
    let r5 = mk(5, "Hoàng Thị Mai", ("25822", "2025-09-06", "home", None));
    // A province-level visit, made by the shared test helper.
    let (_, r6) = support::record_with(
        device,
        6,
        "Võ Thị Hà",
        json!({"place": "home", "unit_code": "79", "at": "2025-09-15T09:30:00+07:00"}),
        None,
    );
    let applied = store
        .apply(laptop_batch(
            &units,
            now,
            device,
            session,
            &[&r1, &r2, &r3, &r4, &r5, &r6],
        ))
        .await
        .unwrap();
    assert!(
        applied
            .lines
            .iter()
            .all(|l| l.outcome == doorstep_wire::Outcome::Accepted),
        "{:?}",
        applied.lines
    );
    // Number 3 again for another record: a conflict. Number 8 after 6: a gap (7).
    let reused = mk(3, "Đặng Thu Trang", ("25768", "2025-09-21", "home", None));
    let r8 = mk(8, "Bùi Văn Nam", ("25768", "2025-09-22", "home", None));
    let applied = store
        .apply(laptop_batch(&units, now, device, session, &[&reused, &r8]))
        .await
        .unwrap();
    let outcomes: Vec<_> = applied.lines.iter().map(|l| l.outcome).collect();
    assert_eq!(
        outcomes,
        [
            doorstep_wire::Outcome::Conflict,
            doorstep_wire::Outcome::Accepted
        ]
    );

    store
        .import_targets(
            vec![
                target("25747", Metric::EidActivation, 2, "2025-09-30"),
                target("25768", Metric::EidActivation, 3, "2025-10-15"),
                target("25816", Metric::EidActivation, 1, "2025-09-30"),
                target("79", Metric::EidActivation, 10, "2025-09-30"),
                target("74", Metric::DriverLicenseLink, 1, "2025-12-31"),
            ],
            now,
        )
        .await
        .unwrap();
    store
}

// ---------------------------------------------------------------------
// HTTP

struct Answer {
    status: StatusCode,
    content_type: String,
    body: Value,
}

async fn call(app: &Router, method: &str, uri: &str) -> Answer {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{method} {uri}: {status}: not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    Answer {
        status,
        content_type,
        body,
    }
}

/// `GET uri` answers 200 with JSON matching `schema`.
async fn get_ok(app: &Router, schemas: &Schemas, uri: &str, schema: &str) -> Value {
    let a = call(app, "GET", uri).await;
    assert_eq!(a.status, StatusCode::OK, "GET {uri}: {:#}", a.body);
    assert!(
        a.content_type.starts_with("application/json"),
        "GET {uri}: {}",
        a.content_type
    );
    schemas.assert_valid(schema, &format!("GET {uri}"), &a.body);
    a.body
}

/// `method uri` answers a problem document with `status` and `code`.
async fn problem(
    app: &Router,
    schemas: &Schemas,
    method: &str,
    uri: &str,
    status: u16,
    code: &str,
) {
    let what = format!("{method} {uri}");
    let a = call(app, method, uri).await;
    assert_eq!(a.status.as_u16(), status, "{what}: {:#}", a.body);
    assert_eq!(a.content_type, PROBLEM_JSON, "{what}");
    let errors = schemas.errors("problem.schema.json", &a.body);
    assert!(errors.is_empty(), "{what}: {errors:#?}\n{:#}", a.body);
    assert_eq!(a.body["code"], code, "{what}: {:#}", a.body);
    assert_eq!(a.body["status"], status, "{what}");
    assert_eq!(
        a.body["type"],
        format!("urn:doorstep:problem:{code}"),
        "{what}"
    );
}

fn progress_uri(query: &str) -> String {
    format!("/v1/reports/progress?campaign={CAMPAIGN}&as_of={AS_OF}{query}")
}

fn codes(report: &Value) -> Vec<&str> {
    report["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["code"].as_str().unwrap())
        .collect()
}

/// The line of `code` for `metric`.
fn unit<'a>(report: &'a Value, code: &str, metric: &str) -> &'a Value {
    report["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["code"] == code && u["metric"] == metric)
        .unwrap_or_else(|| panic!("no {code}/{metric} in {report:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_report_answer_matches_its_schema() {
    let schemas = Schemas::load();
    let dir = tempfile::tempdir().unwrap();
    let store = central(dir.path()).await;
    let state = AppState::new(Arc::clone(&store));
    let audit = Arc::clone(&state.audit);
    let app = router(state);

    // Campaigns.
    let campaigns = get_ok(
        &app,
        &schemas,
        "/v1/reports/campaigns",
        "campaigns.schema.json",
    )
    .await;
    assert_eq!(
        campaigns["campaigns"][0],
        json!({"campaign": CAMPAIGN, "metrics": ["eid_activation", "driver_license_link"],
               "start": "2025-09-01", "deadline": "2025-12-31", "targets": 5,
               "imported_at": campaigns["campaigns"][0]["imported_at"]})
    );

    // Progress: the top-level units, every metric.
    let top = get_ok(
        &app,
        &schemas,
        &progress_uri(""),
        "progress-report.schema.json",
    )
    .await;
    assert_eq!(
        top["metrics"],
        json!(["eid_activation", "driver_license_link"])
    );
    assert_eq!((&top["scope"], &top["level"]), (&Value::Null, &Value::Null));
    assert_eq!(codes(&top), ["74", "79", "74"]);
    let bd = unit(&top, "74", "eid_activation");
    // Targets 25747 (2), 25768 (3), 25816 (1) set; 718 = 5, 719 = 1 and
    // 74 = 6 rolled up. Achieved: 25747 2, 25768 2 (the conflict does not
    // count), 25816 1, 25822 1 (no target): 6 of 6, on 22 September.
    assert_eq!(
        (&bd["achieved"], &bd["target"], &bd["target_source"]),
        (&json!(6), &json!(6), &json!("rollup"))
    );
    assert_eq!(
        (&bd["done"], &bd["reached_on"]),
        (&json!(true), &json!("2025-09-22"))
    );
    assert_eq!(
        (&bd["deadline"], &bd["days_ahead"]),
        (&json!("2025-10-15"), &json!(23))
    );
    assert_eq!((&bd["rank"], &bd["rank_of"]), (&json!(1), &json!(2)));
    assert_eq!(
        bd["units_done"],
        json!([{"level": "district", "done": 1, "total": 2},
               {"level": "commune", "done": 2, "total": 3}])
    );
    assert_eq!(
        bd["by_place"],
        json!({"home": 4, "hospital": 1, "workplace": 1})
    );
    assert_eq!(bd["by_reason"], json!({"bedridden": 1, "worker": 1}));
    let hcm = unit(&top, "79", "eid_activation");
    assert_eq!(
        (&hcm["percent"], &hcm["percent_x100"], &hcm["days_left"]),
        (&json!(10.0), &json!(1000), &json!(-5))
    );
    let licences = unit(&top, "74", "driver_license_link");
    assert_eq!(
        (&licences["achieved"], &licences["done"]),
        (&json!(0), &json!(false))
    );
    for u in top["units"].as_array().unwrap() {
        if let Some(x100) = u["percent_x100"].as_u64() {
            assert_eq!(u["percent"].as_f64().unwrap() * 100.0, x100 as f64, "{u}");
        }
    }

    // Drilling into Bình Dương: it first, then its districts ranked.
    let drill = get_ok(
        &app,
        &schemas,
        &progress_uri("&unit=74&metric=eid_activation"),
        "progress-report.schema.json",
    )
    .await;
    assert_eq!(codes(&drill), ["74", "719", "718"]);
    assert_eq!(drill["scope"], "74");
    let tdm = unit(&drill, "718", "eid_activation");
    assert_eq!(
        (&tdm["percent"], &tdm["percent_x100"]),
        (&json!(80.0), &json!(8000))
    );
    assert_eq!(
        (&tdm["done"], &tdm["days_left"]),
        (&json!(false), &json!(10))
    );

    // Every commune of 718 with a target or records.
    let communes = get_ok(
        &app,
        &schemas,
        &progress_uri("&unit=718&level=commune&metric=eid_activation"),
        "progress-report.schema.json",
    )
    .await;
    assert_eq!(communes["level"], "commune");
    assert_eq!(codes(&communes), ["25747", "25768"]);
    // A commune without a target (25822, in 719): the null members.
    let no_target = get_ok(
        &app,
        &schemas,
        &progress_uri("&unit=719&metric=eid_activation"),
        "progress-report.schema.json",
    )
    .await;
    assert_eq!(codes(&no_target), ["719", "25816", "25822"]);
    let free = unit(&no_target, "25822", "eid_activation");
    assert_eq!(
        (&free["target"], &free["rank"]),
        (&Value::Null, &Value::Null)
    );
    // The default date (today in Vietnam) and every level.
    for query in ["", "&level=province", "&level=district", "&level=commune"] {
        get_ok(
            &app,
            &schemas,
            &format!("/v1/reports/progress?campaign={CAMPAIGN}{query}"),
            "progress-report.schema.json",
        )
        .await;
    }

    // Activity: the laptop's one session, its two batches, this hour.
    for uri in [
        "/v1/reports/activity",
        "/v1/reports/activity?hours=1",
        "/v1/reports/activity?hours=720",
    ] {
        let activity = get_ok(&app, &schemas, uri, "activity.schema.json").await;
        let node = &activity["nodes"][0];
        assert_eq!(
            (&node["role"], &node["name"]),
            (&json!("laptop"), &json!("Tổ 1 – Hiệp Thành"))
        );
        let b = &node["buckets"][0];
        assert_eq!(
            (
                &b["sessions"],
                &b["batches"],
                &b["accepted"],
                &b["conflict"]
            ),
            (&json!(1), &json!(2), &json!(7), &json!(1)),
            "{uri}: {activity:#}"
        );
    }

    // Review: the conflict and the gap.
    let review = get_ok(&app, &schemas, "/v1/reports/review", "review.schema.json").await;
    assert_eq!(review["conflicts_total"], 1);
    assert_eq!(review["conflicts"][0]["code"], "conflict.device_seq");
    assert_eq!(review["gaps_total"], 1);
    assert_eq!(
        (&review["gaps"][0]["from"], &review["gaps"][0]["to"]),
        (&json!(7), &json!(7))
    );
    let limited = get_ok(
        &app,
        &schemas,
        "/v1/reports/review?limit=1",
        "review.schema.json",
    )
    .await;
    assert_eq!(limited["conflicts"].as_array().unwrap().len(), 1);

    // Audit: pending until the first check, then verified.
    let pending = get_ok(
        &app,
        &schemas,
        "/v1/reports/audit",
        "audit-state.schema.json",
    )
    .await;
    assert_eq!(pending["state"], "pending");
    audit.check(store.as_ref()).await;
    let verified = get_ok(
        &app,
        &schemas,
        "/v1/reports/audit",
        "audit-state.schema.json",
    )
    .await;
    assert_eq!(verified["state"], "verified", "{verified:#}");
    assert_eq!(
        (&verified["entries"], &verified["tree_size"]),
        (&json!(2), &json!(2))
    );

    // The dashboard page.
    let resp = app
        .clone()
        .oneshot(Request::get("/dashboard").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    // Errors: problem documents with their status and code.
    let campaign_errors = [
        ("&level=town", 400, "query.invalid"),
        ("&level=ward", 400, "query.invalid"),
        ("&metric=bogus", 400, "query.invalid"),
        // A metric the campaign has no targets for.
        ("&metric=eid_registration", 400, "query.invalid"),
        ("&unit=99999", 400, "unit.unknown"),
        // Before the campaign's start.
        ("&as_of=2025-08-31", 400, "query.invalid"),
        ("&as_of=05%2F10%2F2025", 400, "query.invalid"),
        ("&as_of=2025-10-05&as_of=2025-10-06", 400, "query.invalid"),
    ];
    for (query, status, code) in campaign_errors {
        let uri = format!("/v1/reports/progress?campaign={CAMPAIGN}{query}");
        problem(&app, &schemas, "GET", &uri, status, code).await;
    }
    for (uri, status, code) in [
        (
            "/v1/reports/progress?campaign=nope",
            404,
            "campaign.unknown",
        ),
        ("/v1/reports/progress", 400, "query.invalid"),
        ("/v1/reports/progress?campaign=", 400, "query.invalid"),
        (
            "/v1/reports/progress?campaign=bad%21id",
            400,
            "query.invalid",
        ),
        ("/v1/reports/activity?hours=0", 400, "query.invalid"),
        ("/v1/reports/activity?hours=721", 400, "query.invalid"),
        ("/v1/reports/activity?hours=abc", 400, "query.invalid"),
        ("/v1/reports/review?limit=5000", 400, "query.invalid"),
        ("/v1/reports/review?limit=0", 400, "query.invalid"),
        ("/v1/reports/review?limit=-1", 400, "query.invalid"),
    ] {
        problem(&app, &schemas, "GET", uri, status, code).await;
    }
    for path in [
        "/v1/reports/campaigns",
        "/v1/reports/progress",
        "/v1/reports/activity",
        "/v1/reports/review",
        "/v1/reports/audit",
    ] {
        problem(&app, &schemas, "POST", path, 405, "method_not_allowed").await;
    }

    // The schemas refuse broken answers.
    refusals(&schemas, &campaigns, &top, &review, &verified);
}

/// Each answer, broken one way, is refused by its schema.
fn refusals(schemas: &Schemas, campaigns: &Value, top: &Value, review: &Value, audit: &Value) {
    let progress = "progress-report.schema.json";
    let line = |report: &Value, code: &str, metric: &str| -> usize {
        report["units"]
            .as_array()
            .unwrap()
            .iter()
            .position(|u| u["code"] == code && u["metric"] == metric)
            .unwrap()
    };
    let bd = line(top, "74", "eid_activation");
    let hcm = line(top, "79", "eid_activation");
    let broken = |f: &dyn Fn(&mut Value)| {
        let mut v = top.clone();
        f(&mut v);
        v
    };
    let cases: Vec<(&str, Value)> = vec![
        (
            "a percent_x100 as a string",
            broken(&|v| v["units"][bd]["percent_x100"] = json!("10000")),
        ),
        (
            "a missing days_left",
            broken(&|v| {
                v["units"][hcm].as_object_mut().unwrap().remove("days_left");
            }),
        ),
        (
            "a done unit with days left",
            broken(&|v| v["units"][bd]["days_left"] = json!(3)),
        ),
        (
            "a unit not done with a reached_on",
            broken(&|v| v["units"][hcm]["reached_on"] = json!("2025-09-20")),
        ),
        (
            "no target but a percent",
            broken(&|v| {
                let u = &mut v["units"][hcm];
                u["target"] = Value::Null;
                u["target_source"] = Value::Null;
            }),
        ),
        (
            "an unknown place",
            broken(&|v| v["units"][bd]["by_place"]["moon"] = json!(1)),
        ),
        (
            "an unknown level",
            broken(&|v| v["units"][bd]["level"] = json!("ward")),
        ),
        (
            "a negative achieved",
            broken(&|v| v["units"][bd]["achieved"] = json!(-1)),
        ),
        (
            "a date-time as_of",
            broken(&|v| v["as_of"] = json!("2025-10-05T00:00:00Z")),
        ),
        (
            "an unknown metric",
            broken(&|v| v["metrics"] = json!(["eid_activation", "votes"])),
        ),
    ];
    for (what, v) in &cases {
        schemas.assert_refused(progress, what, v);
    }
    // An undocumented member: ignored by clients, never sent by central.
    let extra = broken(&|v| v["units"][bd]["extra"] = json!(1));
    assert!(schemas.errors(progress, &extra).is_empty());
    assert!(!schemas.closed_errors(progress, &extra).is_empty());

    let mut c = campaigns.clone();
    c["campaigns"][0]["metrics"] = json!([]);
    schemas.assert_refused("campaigns.schema.json", "no metric", &c);
    let mut c = campaigns.clone();
    c["campaigns"][0]
        .as_object_mut()
        .unwrap()
        .remove("imported_at");
    schemas.assert_refused("campaigns.schema.json", "no imported_at", &c);

    let mut r = review.clone();
    r["conflicts"][0]["device_id"] = json!("not-a-uuid");
    schemas.assert_refused("review.schema.json", "a device ID that is not a UUID", &r);
    let mut r = review.clone();
    r.as_object_mut().unwrap().remove("gaps_total");
    schemas.assert_refused("review.schema.json", "no gaps_total", &r);

    let activity = json!({"since": "2026-11-21T10:00:00.000Z", "bucket_seconds": 3600, "nodes": [
        {"node_id": "4f9c2e1a-8b7d-4c3e-9a1f-2b3c4d5e6f70", "name": null, "role": "laptop",
         "buckets": [{"at": "2026-11-23T09:00:00.000Z", "sessions": 1, "batches": 1,
                      "accepted": 1, "duplicate": 0, "conflict": 0, "invalid": 0}]}]});
    schemas.assert_valid("activity.schema.json", "a hand-made answer", &activity);
    let mut a = activity.clone();
    a["nodes"][0]["role"] = json!("central");
    schemas.assert_refused("activity.schema.json", "role central", &a);
    let mut a = activity;
    a["nodes"][0]["buckets"][0]["at"] = json!("2026-11-23T09:30:00.000Z");
    schemas.assert_refused("activity.schema.json", "a bucket not on the hour", &a);

    let mut s = audit.clone();
    s["problems"] = json!([1]);
    schemas.assert_refused(
        "audit-state.schema.json",
        "a problem that is not a string",
        &s,
    );
    let mut s = audit.clone();
    s["state"] = json!("ok");
    schemas.assert_refused("audit-state.schema.json", "state ok", &s);
    let mut s = audit.clone();
    s["state"] = json!("failed");
    schemas.assert_refused("audit-state.schema.json", "failed without an error", &s);
    let mut s = audit.clone();
    s.as_object_mut().unwrap().remove("problems_total");
    schemas.assert_refused("audit-state.schema.json", "no problems_total", &s);

    let mut p = json!({"type": "urn:doorstep:problem:campaign.unknown", "title": "No such campaign",
                       "status": 404, "code": "campaign.unknown"});
    assert!(schemas.errors("problem.schema.json", &p).is_empty());
    p.as_object_mut().unwrap().remove("code");
    schemas.assert_refused("problem.schema.json", "a problem without code", &p);
}

/// The coverage report and the worklist feed match their schemas (closed:
/// nothing undocumented), with people put, removed, referred and flagged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worklist_pages_and_the_coverage_report_match_their_schemas() {
    let schemas = Schemas::load();
    let tmp = tempfile::tempdir().unwrap();
    let (source, units) = units_2023();
    let now = Utc::now();
    let store = Arc::new(SqliteCentral::open_or_create(tmp.path(), Some(source), now).unwrap());
    let mut csv =
        "personal_id,full_name,date_of_birth,sex,unit_code,address_detail,household,needs\n"
            .to_owned();
    for i in 0..6 {
        let unit = if i < 4 { "25747" } else { "25750" };
        csv.push_str(&format!(
            "074303{i:06},Trần Thị Lan,2003-05-14,female,{unit},Tổ 3,HK{},card;eid_registration\n",
            i / 2
        ));
    }
    let residents =
        doorstep_core::roster::parse_roster(csv.as_bytes(), &units, now.date_naive()).unwrap();
    store.import_roster(&residents, now).unwrap();
    let issued = store
        .provision(
            NodeRole::Field,
            "74",
            "Tổ",
            None,
            doorstep_core::record::BiometricPolicy::NONE,
            chrono::Duration::hours(1),
            now,
        )
        .unwrap();
    let laptop = Uuid::now_v7();
    let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    store
        .register_node(
            &issued.token,
            laptop,
            NodeRole::Field,
            &hex::encode(key.verifying_key().to_bytes()),
            now,
        )
        .unwrap();
    store
        .assign(
            laptop,
            doorstep_central::sqlite::AssignMode::Replace,
            &["25747".into()],
            &["HK2".into()],
            now,
        )
        .unwrap();
    let request = doorstep_wire::worklist::WorklistRequest {
        protocol: PROTOCOL_VERSION,
        since: None,
        after: None,
        limit: Some(100),
    };
    schemas.assert_valid(
        "worklist-request.schema.json",
        "a first request",
        &serde_json::to_value(&request).unwrap(),
    );
    let first = store.worklist_page(laptop, request).await.unwrap();
    assert_eq!(first.changes.len(), 6);
    schemas.assert_valid(
        "worklist-page.schema.json",
        "a full page",
        &serde_json::to_value(&first).unwrap(),
    );
    // Outcomes: one enrolled in part, one referred, one refused by one
    // team and dead to another.
    let record = |seq: u64, i: usize, outcome: Option<Value>, device: Uuid| {
        let mut input = json!({
            "kind": "id_card_application",
            "citizen": {"personal_id": format!("074303{i:06}"), "full_name": "Trần Thị Lan",
                        "date_of_birth": "2003-05-14", "sex": "female",
                        "permanent_address": {"unit_code": "25747", "detail": "Tổ 3"}},
            "visit": {"place": "home", "unit_code": "25747", "at": "2025-09-25T09:30:00+07:00"},
            "officer_id": "CA-74-0012"
        });
        if let Some(o) = outcome {
            input["kind"] = json!("visit_outcome");
            input["outcome"] = o;
        }
        let body = validate(&input, &ValidationContext::new(&units, now)).unwrap();
        encode_record(&Record {
            record_id: Uuid::now_v7(),
            device_id: device,
            device_seq: seq,
            enrolled_at: now,
            body,
        })
    };
    let other = Uuid::now_v7();
    let mine = [
        record(1, 0, None, laptop),
        record(
            2,
            1,
            Some(json!({"result": "living_elsewhere", "unit_code": "25750", "note": "ở trọ"})),
            laptop,
        ),
        record(3, 2, Some(json!({"result": "refused"})), laptop),
    ];
    let theirs = [record(1, 2, Some(json!({"result": "deceased"})), other)];
    for (device, records) in [(laptop, &mine[..]), (other, &theirs[..])] {
        let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        let b = laptop_batch(&units, now, device, Uuid::now_v7(), &refs);
        store.apply(b).await.unwrap();
    }
    let checkpoint = doorstep_wire::worklist::WorklistCheckpoint {
        rev: first.cursor,
        scope: first.scope.clone(),
    };
    let next = store
        .worklist_page(
            laptop,
            doorstep_wire::worklist::WorklistRequest {
                protocol: PROTOCOL_VERSION,
                since: Some(checkpoint),
                after: None,
                limit: None,
            },
        )
        .await
        .unwrap();
    let v = serde_json::to_value(&next).unwrap();
    assert!(!next.full && !next.changes.is_empty(), "{v:#}");
    assert!(
        next.changes
            .iter()
            .any(|c| matches!(c, doorstep_wire::worklist::WorklistChange::Remove { .. })),
        "{v:#}"
    );
    schemas.assert_valid("worklist-page.schema.json", "an incremental page", &v);
    let app = router(AppState::new(Arc::clone(&store)));
    let report = get_ok(
        &app,
        &schemas,
        "/v1/reports/coverage",
        "coverage-report.schema.json",
    )
    .await;
    let total = report["rows"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(total["unit_code"], "total", "{report:#}");
    assert_eq!(
        (total["eligible"].as_u64(), total["review"].as_u64()),
        (Some(6), Some(1)),
        "{report:#}"
    );
    get_ok(
        &app,
        &schemas,
        "/v1/reports/coverage?unit=25750",
        "coverage-report.schema.json",
    )
    .await;
    problem(
        &app,
        &schemas,
        "GET",
        "/v1/reports/coverage?unit=99999",
        400,
        "query.invalid",
    )
    .await;
    // The people lists are never served.
    assert!(report.get("remaining").is_none() && report.get("review").is_none());
}
