#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The resident roster CSV: what a good file gives, and every problem of a
//! bad one reported with its line and column in English and Vietnamese.

use chrono::NaiveDate;
use doorstep_core::Units;
use doorstep_core::record::{RecordKind, Sex};
use doorstep_core::roster::{
    MAX_ROSTER_ERRORS, Need, Resident, RosterError, parse_roster, roster_csv_header,
};
use doorstep_core::text::NameProblem;
use unicode_normalization::is_nfc;

const UNITS: &str = "code,name,level,parent_code\n\
74,Tỉnh Bình Dương,province,\n\
725,Thành phố Thuận An,district,74\n\
25972,Phường Thuận Giao,commune,725\n\
25975,Phường An Phú,commune,725\n";

fn units() -> Units {
    Units::from_csv(UNITS.as_bytes()).unwrap()
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
}

fn parse(text: &str) -> Result<Vec<Resident>, Vec<RosterError>> {
    parse_roster(text.as_bytes(), &units(), today())
}

fn errors(text: &str) -> Vec<RosterError> {
    match parse(text) {
        Ok(r) => panic!("expected problems, got {r:?}"),
        Err(e) => e,
    }
}

/// A file with the header and these lines.
fn file(lines: &[&str]) -> String {
    let mut s = format!("{}\n", roster_csv_header());
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    s
}

const GOOD: &str = "074303001234,Nguyễn Thị Lan,2003-05-14,female,25972,\"Tổ 3, khu phố 2\",HK-12/3,card;eid_activation";

#[test]
fn parses_a_good_file() {
    let got = parse(&file(&[
        GOOD,
        "001068004521,Phạm Văn Đức,1968-07-20,male,25975,,,",
    ]))
    .unwrap();
    assert_eq!(
        got[0],
        Resident {
            personal_id: "074303001234".into(),
            full_name: "Nguyễn Thị Lan".into(),
            date_of_birth: NaiveDate::from_ymd_opt(2003, 5, 14).unwrap(),
            sex: Sex::Female,
            unit_code: "25972".into(),
            address_detail: Some("Tổ 3, khu phố 2".into()),
            household: Some("HK-12/3".into()),
            needs: vec![Need::Card, Need::EidActivation],
        }
    );
    assert_eq!(got[1].needs, vec![], "empty needs: nothing left to do");
    assert_eq!(got[1].address_detail, None);
    assert_eq!(got[1].household, None);
}

#[test]
fn accepts_bom_crlf_quotes_any_column_order_and_cleans_values() {
    let text = "\u{feff}needs,sex,unit_code,full_name,personal_id,date_of_birth,household,address_detail\r\n\
                \" eid_activation ; card;card;\", male ,\" 25972\",\"  Tra\u{302}\u{300}n\t Va\u{306}n  Hu\u{300}ng \", 074085012345 , 1985-10-01 ,  ,\"So\u{302}\u{301} 12,\n đường Du\"\r\n\
                \r\n";
    let got = parse(text).unwrap();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.full_name, "Trần Văn Hùng");
    assert!(is_nfc(&r.full_name));
    assert_eq!(r.personal_id, "074085012345");
    assert_eq!(r.unit_code, "25972");
    assert_eq!(r.sex, Sex::Male);
    assert_eq!(r.address_detail.as_deref(), Some("Số 12, đường Du"));
    assert_eq!(r.household, None);
    assert_eq!(r.needs, vec![Need::Card, Need::EidActivation]);
}

#[test]
fn the_header_must_name_each_column_once() {
    let e = errors("personal_id,full_name,date_of_birth,sex,unit_code,needs\n");
    assert_eq!(
        e,
        vec![RosterError::MissingColumns {
            missing: "address_detail, household".into()
        }]
    );
    let e = errors(&format!(
        "{},phone\n{GOOD},0912345678\n",
        roster_csv_header()
    ));
    assert_eq!(
        e,
        vec![RosterError::UnknownColumn {
            column: "phone".into()
        }]
    );
    assert!(
        e[0].to_string().contains("unknown column `phone`"),
        "{}",
        e[0]
    );
    assert!(e[0].message_vi().contains("cột `phone` không hợp lệ"));
    let e = errors(&format!("{},sex\n", roster_csv_header()));
    assert_eq!(
        e,
        vec![RosterError::DuplicateColumn {
            column: "sex".into()
        }]
    );
    assert_eq!(e[0].line(), Some(1));
}

#[test]
fn refuses_empty_and_non_utf8_files() {
    assert_eq!(errors(""), vec![RosterError::Empty]);
    assert_eq!(errors(&file(&[])), vec![RosterError::Empty]);
    assert_eq!(errors(&file(&[",,,,,,,"])), vec![RosterError::Empty]);
    let mut bytes = file(&[GOOD]).into_bytes();
    bytes.extend_from_slice(b"\xff\n");
    assert_eq!(
        parse_roster(&bytes, &units(), today()).unwrap_err(),
        vec![RosterError::NotUtf8 { line: 3 }]
    );
}

#[test]
fn reports_every_bad_line_with_its_number_and_column() {
    let text = file(&[
        GOOD,                                                            // 2
        "07430300123,Lê Văn A,2003-05-14,male,25972,,,card",             // 3
        "003303001234,Lê Thị B,2003-05-14,female,25972,,,card",          // 4
        "074203001234,Lê Thị C,2003-05-14,female,25972,,,card",          // 5
        "074304001234,Lê Thị D,2003-05-14,female,25972,,,card",          // 6
        "074303001235,Lê Thị 3,2003-05-14,female,25972,,,card",          // 7
        "074303001236,Lê Thị E,14/05/2003,female,25972,,,card",          // 8
        "074326001237,Lê Thị F,2026-11-23,female,25972,,,card",          // 9
        "074303001238,Lê Thị G,2003-05-14,nữ,25972,,,card",              // 10
        "074303001239,Lê Thị H,2003-05-14,female,99999,,,card",          // 11
        "074303001240,Lê Thị I,2003-05-14,female,25972,Tổ 3\u{7},,card", // 12
        "074303001241,Lê Thị K,2003-05-14,female,25972,,HK 12,card",     // 13
        "074303001242,Lê Thị L,2003-05-14,female,25972,,,card;passport", // 14
        "074303001234,Nguyễn Thị Lan,2003-05-14,female,25972,,,card",    // 15
        "074303001243,Lê Thị M,2003-05-14,female,25972,,card",           // 16
        "074303001244,Lê Thị N,2003-05-14,female,25972,,,card",          // 17 good
        "074299001245,Lê Thị O,1899-12-31,female,25972,,,card",          // 18
    ]);
    let e = errors(&text);
    let got: Vec<(Option<usize>, Option<&str>)> =
        e.iter().map(|e| (e.line(), e.column())).collect();
    assert_eq!(
        got,
        vec![
            (Some(3), Some("personal_id")),
            (Some(4), Some("personal_id")),
            (Some(5), Some("personal_id")),
            (Some(6), Some("personal_id")),
            (Some(7), Some("full_name")),
            (Some(8), Some("date_of_birth")),
            (Some(9), Some("date_of_birth")),
            (Some(10), Some("sex")),
            (Some(11), Some("unit_code")),
            (Some(12), Some("address_detail")),
            (Some(13), Some("household")),
            (Some(14), Some("needs")),
            (Some(15), Some("personal_id")),
            (Some(16), None),
            (Some(18), Some("date_of_birth")),
        ],
        "{e:#?}"
    );
    assert!(matches!(e[0], RosterError::PersonalIdFormat { .. }));
    assert!(matches!(e[1], RosterError::PersonalIdProvince { .. }));
    assert_eq!(
        e[2],
        RosterError::PersonalIdCenturySex {
            line: 5,
            digit: 2,
            expected: 3
        }
    );
    assert!(matches!(e[3], RosterError::PersonalIdYear { .. }));
    assert_eq!(
        e[4],
        RosterError::Name {
            line: 7,
            problem: NameProblem::InvalidCharacter('3')
        }
    );
    assert!(matches!(e[5], RosterError::Date { .. }));
    assert!(matches!(e[6], RosterError::BirthFuture { .. }));
    assert!(matches!(e[7], RosterError::Sex { .. }));
    assert!(matches!(e[8], RosterError::UnknownUnit { .. }));
    assert!(matches!(e[9], RosterError::DetailControl { .. }));
    assert!(matches!(e[10], RosterError::Household { .. }));
    assert!(matches!(e[11], RosterError::Need { .. }));
    assert_eq!(
        e[12],
        RosterError::DuplicatePersonalId {
            line: 15,
            personal_id: "074303001234".into(),
            first_line: 2
        }
    );
    assert_eq!(
        e[13],
        RosterError::FieldCount {
            line: 16,
            expected: 8,
            found: 7
        }
    );
    assert!(matches!(e[14], RosterError::BirthTooEarly { .. }));
    for err in &e {
        let line = err.line().unwrap();
        assert!(
            err.to_string().starts_with(&format!("line {line}")),
            "{err}"
        );
        let vi = err.message_vi();
        assert!(vi.starts_with(&format!("dòng {line}")), "{vi}");
        assert!(is_nfc(&vi), "{vi}");
        if let Some(col) = err.column() {
            assert!(err.to_string().contains(col) && vi.contains(col), "{err}");
        }
    }
}

#[test]
fn all_problems_of_one_line_are_reported() {
    let e = errors(&file(&["00330300123X,Lê 3,2003-02-30,female,1,,a b,x"]));
    let cols: Vec<Option<&str>> = e.iter().map(RosterError::column).collect();
    assert_eq!(
        cols,
        vec![
            Some("full_name"),
            Some("date_of_birth"),
            Some("personal_id"),
            Some("unit_code"),
            Some("household"),
            Some("needs"),
        ],
        "{e:#?}"
    );
}

#[test]
fn a_long_detail_and_a_long_household_are_refused() {
    let detail = "ơ".repeat(301);
    let household = "H".repeat(65);
    let ok_household = "H".repeat(64);
    let e = errors(&file(&[
        &format!("074303001234,Lê Thị A,2003-05-14,female,25972,{detail},,card"),
        &format!("074303001235,Lê Thị B,2003-05-14,female,25972,,{household},card"),
        &format!("074303001236,Lê Thị C,2003-05-14,female,25972,,{ok_household},card"),
    ]));
    assert_eq!(
        e,
        vec![
            RosterError::DetailTooLong { line: 2 },
            RosterError::Household {
                line: 3,
                found: "H".repeat(40)
            },
        ]
    );
}

#[test]
fn the_number_of_listed_problems_is_capped() {
    let lines: Vec<String> = (0..MAX_ROSTER_ERRORS + 500)
        .map(|i| format!("074303{i:06},Lê Thị A,2003-05-14,female,99999,,,card"))
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let e = errors(&file(&refs));
    assert_eq!(e.len(), MAX_ROSTER_ERRORS + 1);
    assert_eq!(e.last(), Some(&RosterError::TooMany { more: 500 }));
    assert_eq!(e[MAX_ROSTER_ERRORS].line(), None);
    assert!(e[MAX_ROSTER_ERRORS].message_vi().contains("500"));
}

#[test]
fn a_written_file_reads_back() {
    let r = &parse(&file(&[GOOD])).unwrap()[0];
    let needs: Vec<&str> = r.needs.iter().map(|n| n.as_str()).collect();
    let line = format!(
        "{},{},{},{},{},\"{}\",{},{}",
        r.personal_id,
        r.full_name,
        r.date_of_birth,
        r.sex,
        r.unit_code,
        r.address_detail.as_deref().unwrap_or(""),
        r.household.as_deref().unwrap_or(""),
        needs.join(";")
    );
    assert_eq!(&parse(&file(&[&line])).unwrap()[0], r);
}

#[test]
fn needs_map_to_the_record_kinds_that_cover_them() {
    assert_eq!(
        Need::covered_by(RecordKind::IdCardApplication),
        Some(Need::Card)
    );
    assert_eq!(
        Need::covered_by(RecordKind::EidRegistration),
        Some(Need::EidRegistration)
    );
    assert_eq!(
        Need::covered_by(RecordKind::EidActivation),
        Some(Need::EidActivation)
    );
    for k in [
        RecordKind::DriverLicenseLink,
        RecordKind::InfoCorrection,
        RecordKind::VisitOutcome,
    ] {
        assert_eq!(Need::covered_by(k), None);
    }
    for n in Need::ALL {
        assert!(is_nfc(n.label_vi()) && !n.label_en().is_empty());
        assert!(
            RecordKind::ALL
                .iter()
                .any(|k| Need::covered_by(*k) == Some(*n))
        );
    }
}
