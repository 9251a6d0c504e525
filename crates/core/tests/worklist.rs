#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Who is left to reach (`doorstep_core::worklist`): each rule of the
//! module documentation with a case where it applies and one where it
//! does not, coverage counts, and properties over random histories.

use chrono::{DateTime, Duration, FixedOffset, TimeZone};
use doorstep_core::Units;
use doorstep_core::record::{OutcomeKind, RecordKind};
use doorstep_core::roster::Need;
use doorstep_core::worklist::{
    CoverageInput, CoverageRow, EventWhat, PersonEvent, PersonState, Reason, Status, coverage,
    derive,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use uuid::Uuid;

const HOME: &str = "25972";

fn t(minutes: i64) -> DateTime<FixedOffset> {
    let tz = FixedOffset::east_opt(7 * 3600).unwrap();
    tz.with_ymd_and_hms(2026, 9, 1, 8, 0, 0).unwrap() + Duration::minutes(minutes)
}

fn dev(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn event(device: u128, seq: u64, at: i64, what: EventWhat) -> PersonEvent {
    PersonEvent {
        record_id: Uuid::from_u128((device << 32) | u128::from(seq)),
        device_id: dev(device),
        device_seq: seq,
        at: t(at),
        what,
    }
}

fn out(device: u128, seq: u64, at: i64, result: OutcomeKind) -> PersonEvent {
    event(
        device,
        seq,
        at,
        EventWhat::Outcome {
            result,
            unit_code: None,
        },
    )
}

fn out_unit(device: u128, seq: u64, at: i64, result: OutcomeKind, unit: &str) -> PersonEvent {
    event(
        device,
        seq,
        at,
        EventWhat::Outcome {
            result,
            unit_code: Some(unit.to_owned()),
        },
    )
}

fn rec(device: u128, seq: u64, at: i64, kind: RecordKind) -> PersonEvent {
    event(device, seq, at, EventWhat::Record(kind))
}

const CARD: &[Need] = &[Need::Card];
const CARD_EID: &[Need] = &[Need::Card, Need::EidActivation];

#[test]
fn enrolled_wins_when_every_need_is_covered() {
    let s = derive(
        HOME,
        CARD_EID,
        &[
            rec(1, 1, 0, RecordKind::EidActivation),
            out(2, 1, 5, OutcomeKind::Refused),
            rec(1, 2, 10, RecordKind::IdCardApplication),
        ],
    );
    assert_eq!(s.status, Status::Enrolled);
    assert_eq!(s.covered, CARD_EID);
    assert_eq!(
        (s.reason, s.closed_by, s.flagged.as_deref()),
        (None, None, None)
    );
    assert_eq!(s.worklist_unit, HOME);

    // One need left: the latest outcome decides.
    let s = derive(
        HOME,
        CARD_EID,
        &[
            rec(1, 1, 0, RecordKind::EidActivation),
            out(2, 1, 5, OutcomeKind::Refused),
        ],
    );
    assert_eq!(s.status, Status::Open);
    assert_eq!(s.reason, Some(Reason::Refused));
    assert_eq!(s.covered, vec![Need::EidActivation]);
}

#[test]
fn an_enrolled_outcome_covers_every_need() {
    let s = derive(HOME, CARD_EID, &[out(1, 1, 0, OutcomeKind::Enrolled)]);
    assert_eq!(s.status, Status::Enrolled);
    assert_eq!(s.covered, CARD_EID);
    // A record of a kind that meets no need covers nothing.
    let s = derive(HOME, CARD, &[rec(1, 1, 0, RecordKind::DriverLicenseLink)]);
    assert_eq!(s.status, Status::Open);
    assert_eq!(s.reason, Some(Reason::NotVisited));
    assert!(s.covered.is_empty());
    // Only the person's own needs are listed as covered.
    let s = derive(HOME, CARD, &[rec(1, 1, 0, RecordKind::EidActivation)]);
    assert!(s.covered.is_empty());
}

#[test]
fn no_needs_means_nothing_left_to_do() {
    let s = derive(HOME, &[], &[]);
    assert_eq!(s.status, Status::Enrolled);
    assert_eq!(s.reason, None);
    let s = derive(HOME, &[], &[out(1, 1, 0, OutcomeKind::Refused)]);
    assert_eq!(s.status, Status::Enrolled);
}

#[test]
fn different_final_outcomes_across_devices_go_to_review() {
    let s = derive(
        HOME,
        CARD,
        &[
            out(1, 1, 0, OutcomeKind::Deceased),
            out(2, 1, 5, OutcomeKind::Refused),
        ],
    );
    assert_eq!(s.status, Status::Review);
    assert_eq!(s.reason, Some(Reason::Review));
    assert_eq!(s.closed_by, None);
    assert_eq!(s.worklist_unit, HOME);
    let flag = s.flagged.unwrap();
    assert!(
        flag.contains("deceased") && flag.contains("refused"),
        "{flag}"
    );
    assert!(
        flag.contains(&dev(1).to_string()) && flag.contains(&dev(2).to_string()),
        "{flag}"
    );

    // The same results from two devices agree.
    let s = derive(
        HOME,
        CARD,
        &[
            out(1, 1, 0, OutcomeKind::Deceased),
            out(2, 1, 5, OutcomeKind::Deceased),
        ],
    );
    assert_eq!(s.status, Status::Closed);
    assert_eq!(s.closed_by, Some(OutcomeKind::Deceased));
    assert_eq!(s.flagged, None);
}

#[test]
fn a_referral_to_different_units_is_a_contradiction() {
    let s = derive(
        HOME,
        CARD,
        &[
            out_unit(1, 1, 0, OutcomeKind::Moved, "00004"),
            out_unit(2, 1, 5, OutcomeKind::Moved, "25975"),
        ],
    );
    assert_eq!(s.status, Status::Review);
    assert_eq!(s.referred_to, None);
    assert!(s.flagged.unwrap().contains("00004"));

    let s = derive(
        HOME,
        CARD,
        &[
            out_unit(1, 1, 0, OutcomeKind::LivingElsewhere, "00004"),
            out_unit(2, 1, 5, OutcomeKind::LivingElsewhere, "00004"),
        ],
    );
    assert_eq!(s.status, Status::Open);
    assert_eq!(s.flagged, None);
    assert_eq!(s.referred_to.as_deref(), Some("00004"));
}

#[test]
fn a_device_replaces_its_own_earlier_outcome() {
    // Same device: refused, then deceased: no contradiction.
    let s = derive(
        HOME,
        CARD,
        &[
            out(1, 2, 30, OutcomeKind::Deceased),
            out(1, 1, 0, OutcomeKind::Refused),
        ],
    );
    assert_eq!(s.status, Status::Closed);
    assert_eq!(s.closed_by, Some(OutcomeKind::Deceased));
    assert_eq!(s.flagged, None);

    // A device's corrected outcome no longer contradicts another device.
    let s = derive(
        HOME,
        CARD,
        &[
            out(1, 1, 0, OutcomeKind::Deceased),
            out(2, 1, 10, OutcomeKind::Refused),
            out(1, 2, 20, OutcomeKind::Refused),
        ],
    );
    assert_eq!(s.flagged, None);
    assert_eq!(s.reason, Some(Reason::Refused));

    // At the same time, the sequence number decides, then the record ID.
    let s = derive(
        HOME,
        CARD,
        &[
            out(1, 7, 0, OutcomeKind::NotHome),
            out(1, 6, 0, OutcomeKind::CannotTravel),
        ],
    );
    assert_eq!(s.reason, Some(Reason::NotHome));
    let mut a = out(1, 7, 0, OutcomeKind::Refused);
    let mut b = out(2, 7, 0, OutcomeKind::NotHome);
    a.record_id = Uuid::from_u128(2);
    b.record_id = Uuid::from_u128(1);
    assert_eq!(derive(HOME, CARD, &[a, b]).reason, Some(Reason::Refused));
}

#[test]
fn transient_outcomes_never_contradict() {
    let s = derive(
        HOME,
        CARD,
        &[
            out(1, 1, 0, OutcomeKind::Deceased),
            out(2, 1, 10, OutcomeKind::NotHome),
            out(3, 1, 20, OutcomeKind::CannotTravel),
        ],
    );
    assert_eq!(s.flagged, None);
    assert_eq!(s.status, Status::Open);
    assert_eq!(s.reason, Some(Reason::CannotTravel));
    let s = derive(
        HOME,
        CARD,
        &[
            out(2, 1, 0, OutcomeKind::CannotTravel),
            out(3, 1, 20, OutcomeKind::NotHome),
        ],
    );
    assert_eq!(s.reason, Some(Reason::NotHome));
}

#[test]
fn deceased_contradicts_any_enrollment() {
    // Even from the same device.
    let s = derive(
        HOME,
        CARD_EID,
        &[
            rec(1, 1, 0, RecordKind::EidActivation),
            out(1, 2, 10, OutcomeKind::Deceased),
        ],
    );
    assert_eq!(s.status, Status::Review);
    let flag = s.flagged.unwrap();
    assert!(flag.contains("eid_activation record"), "{flag}");

    // Enrolled still wins, but the person is listed for review.
    let s = derive(
        HOME,
        CARD,
        &[
            out(1, 1, 0, OutcomeKind::Enrolled),
            out(2, 1, 10, OutcomeKind::Deceased),
        ],
    );
    assert_eq!(s.status, Status::Enrolled);
    assert!(s.flagged.is_some());

    // Without an enrollment, deceased closes.
    let s = derive(HOME, CARD, &[out(2, 1, 10, OutcomeKind::Deceased)]);
    assert_eq!(s.status, Status::Closed);
    assert_eq!(s.flagged, None);
}

#[test]
fn referrals_move_the_worklist_unit() {
    let s = derive(
        HOME,
        CARD,
        &[out_unit(1, 1, 0, OutcomeKind::LivingElsewhere, "00004")],
    );
    assert_eq!(s.status, Status::Open);
    assert_eq!(s.reason, Some(Reason::NotVisited));
    assert_eq!(s.worklist_unit, "00004");
    assert_eq!(s.referred_to.as_deref(), Some("00004"));

    let s = derive(HOME, CARD, &[out(1, 1, 0, OutcomeKind::Moved)]);
    assert_eq!(s.reason, Some(Reason::Moved));
    assert_eq!((s.worklist_unit.as_str(), s.referred_to), (HOME, None));

    // A new address in the home unit is no referral.
    let s = derive(HOME, CARD, &[out_unit(1, 1, 0, OutcomeKind::Moved, HOME)]);
    assert_eq!(s.reason, Some(Reason::NotVisited));
    assert_eq!((s.worklist_unit.as_str(), s.referred_to), (HOME, None));

    // A later outcome of the same device takes the referral back.
    let s = derive(
        HOME,
        CARD,
        &[
            out_unit(1, 1, 0, OutcomeKind::LivingElsewhere, "00004"),
            out(1, 2, 10, OutcomeKind::NotHome),
        ],
    );
    assert_eq!(s.worklist_unit, HOME);
    assert_eq!(s.reason, Some(Reason::NotHome));
}

#[test]
fn closing_outcomes_and_unvisited_people() {
    let s = derive(HOME, CARD, &[out(1, 1, 0, OutcomeKind::DoneElsewhere)]);
    assert_eq!(
        (s.status, s.reason, s.closed_by),
        (Status::Closed, None, Some(OutcomeKind::DoneElsewhere))
    );
    let s = derive(HOME, CARD, &[]);
    assert_eq!(
        (s.status, s.reason),
        (Status::Open, Some(Reason::NotVisited))
    );
    assert_eq!((s.visits, s.last_visit_at), (0, None));
    let s = derive(
        HOME,
        CARD_EID,
        &[rec(1, 1, 0, RecordKind::IdCardApplication)],
    );
    assert_eq!(s.reason, Some(Reason::PartlyEnrolled));
}

#[test]
fn visits_count_every_event_and_the_last_is_by_instant() {
    let mut late = rec(1, 1, 0, RecordKind::IdCardApplication);
    // 09:00 UTC is later than 15:30+07:00 (08:30 UTC).
    late.at = FixedOffset::east_opt(0)
        .unwrap()
        .with_ymd_and_hms(2026, 9, 1, 9, 0, 0)
        .unwrap();
    let early = out(2, 1, 450, OutcomeKind::NotHome);
    let s = derive(HOME, CARD_EID, &[early, late.clone()]);
    assert_eq!(s.visits, 2);
    assert_eq!(s.last_visit_at, Some(late.at));
}

// ---- coverage ----

const UNITS: &str = "code,name,level,parent_code\n\
74,Tỉnh Bình Dương,province,\n\
725,Thành phố Thuận An,district,74\n\
25972,Phường Thuận Giao,commune,725\n\
25975,Phường An Phú,commune,725\n\
01,Thành phố Hà Nội,province,\n\
00004,Phường Ba Đình,commune,01\n";

fn units() -> Units {
    Units::from_csv(UNITS.as_bytes()).unwrap()
}

struct Person {
    home: &'static str,
    needs: &'static [Need],
    state: PersonState,
}

fn person(home: &'static str, needs: &'static [Need], events: &[PersonEvent]) -> Person {
    Person {
        home,
        needs,
        state: derive(home, needs, events),
    }
}

fn rows(people: &[Person], under: Option<&str>) -> Vec<CoverageRow> {
    coverage(
        people.iter().map(|p| CoverageInput {
            home_unit: p.home,
            eligible: !p.needs.is_empty(),
            state: &p.state,
        }),
        &units(),
        under,
    )
}

fn find<'r>(rows: &'r [CoverageRow], code: &str) -> &'r CoverageRow {
    rows.iter()
        .find(|r| r.unit_code == code)
        .unwrap_or_else(|| panic!("no row {code}"))
}

fn town() -> Vec<Person> {
    vec![
        person(
            "25972",
            CARD,
            &[rec(1, 1, 0, RecordKind::IdCardApplication)],
        ),
        person(
            "25972",
            CARD,
            &[out_unit(1, 2, 5, OutcomeKind::LivingElsewhere, "00004")],
        ),
        person(
            "25972",
            CARD,
            &[
                out(1, 3, 0, OutcomeKind::Deceased),
                out(2, 1, 9, OutcomeKind::Refused),
            ],
        ),
        person("25975", CARD_EID, &[out(2, 2, 0, OutcomeKind::Deceased)]),
        person("25975", CARD, &[]),
        person("25975", &[], &[]),
        person("25975", CARD, &[out(2, 3, 0, OutcomeKind::NotHome)]),
    ]
}

#[test]
fn coverage_counts_at_home_and_at_the_worklist_unit() {
    let r = rows(&town(), None);
    let codes: Vec<&str> = r.iter().map(|r| r.unit_code.as_str()).collect();
    assert_eq!(codes, ["00004", "25972", "25975", "total"]);

    let a = find(&r, "25972");
    assert_eq!(a.unit_name, "Phường Thuận Giao");
    assert_eq!((a.eligible, a.reached, a.enrolled, a.closed), (3, 3, 1, 0));
    assert_eq!((a.referred_out, a.referred_in, a.review), (1, 0, 1));
    assert_eq!(a.remaining, 1);
    assert_eq!(a.remaining_by_reason["review"], 1);

    let b = find(&r, "00004");
    assert_eq!((b.eligible, b.referred_in, b.remaining), (0, 1, 1));
    assert_eq!(b.remaining_by_reason["not_visited"], 1);

    let c = find(&r, "25975");
    assert_eq!((c.eligible, c.reached, c.closed, c.deceased), (3, 2, 1, 1));
    assert_eq!(c.remaining, 2);
    assert_eq!(c.remaining_by_reason["not_visited"], 1);
    assert_eq!(c.remaining_by_reason["not_home"], 1);

    let total = find(&r, "total");
    assert_eq!(total.unit_name, "Tổng cộng");
    assert_eq!(
        (
            total.eligible,
            total.enrolled,
            total.closed,
            total.remaining
        ),
        (6, 1, 1, 4)
    );
    assert_eq!(
        (total.referred_in, total.referred_out, total.review),
        (1, 1, 1)
    );
    for row in &r {
        let keys: Vec<&str> = row.remaining_by_reason.keys().map(String::as_str).collect();
        let mut all: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        all.sort_unstable();
        assert_eq!(keys, all, "every reason is a column");
        assert_eq!(row.remaining, row.remaining_by_reason.values().sum::<u64>());
    }
}

#[test]
fn coverage_within_a_unit_leaves_the_others_out() {
    let r = rows(&town(), Some("725"));
    let codes: Vec<&str> = r.iter().map(|r| r.unit_code.as_str()).collect();
    assert_eq!(codes, ["25972", "25975", "total"]);
    let total = find(&r, "total");
    // The person referred to Hà Nội is remaining there, outside the scope.
    assert_eq!(
        (total.eligible, total.remaining, total.referred_out),
        (6, 3, 1)
    );
    assert_eq!(total.referred_in, 0);
    let r = rows(&town(), Some("00004"));
    let codes: Vec<&str> = r.iter().map(|r| r.unit_code.as_str()).collect();
    assert_eq!(codes, ["00004", "total"]);
}

#[test]
fn coverage_rows_serialise_with_stable_members() {
    let r = rows(&town(), None);
    let v = serde_json::to_value(&r[0]).unwrap();
    for key in [
        "unit_code",
        "unit_name",
        "eligible",
        "reached",
        "enrolled",
        "closed",
        "deceased",
        "done_elsewhere",
        "referred_out",
        "referred_in",
        "review",
        "remaining",
        "remaining_by_reason",
    ] {
        assert!(v.get(key).is_some(), "{key}");
    }
}

// ---- properties ----

const UNIT_CODES: &[&str] = &["25972", "25975", "00004", "99999"];

fn any_event() -> impl Strategy<Value = PersonEvent> {
    let what = prop_oneof![
        select(RecordKind::ALL).prop_map(EventWhat::Record),
        (
            select(OutcomeKind::ALL),
            proptest::option::of(select(UNIT_CODES))
        )
            .prop_map(|(result, unit)| EventWhat::Outcome {
                result,
                unit_code: unit.map(str::to_owned),
            }),
    ];
    (1u128..4, 1u64..6, 0i64..5, what, any::<u128>()).prop_map(|(d, seq, at, what, id)| {
        PersonEvent {
            record_id: Uuid::from_u128(id),
            device_id: dev(d),
            device_seq: seq,
            at: t(at),
            what,
        }
    })
}

fn any_needs() -> impl Strategy<Value = Vec<Need>> {
    proptest::sample::subsequence(Need::ALL.to_vec(), 0..=Need::ALL.len())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn derived_states_are_consistent(
        home in select(UNIT_CODES), needs in any_needs(), events in vec(any_event(), 0..8),
    ) {
        let s = derive(home, &needs, &events);
        prop_assert_eq!(s.reason.is_some(), matches!(s.status, Status::Open | Status::Review));
        prop_assert_eq!(s.closed_by.is_some(), s.status == Status::Closed);
        prop_assert!(matches!(s.closed_by, None | Some(OutcomeKind::Deceased | OutcomeKind::DoneElsewhere)));
        prop_assert_eq!(s.status == Status::Review, s.reason == Some(Reason::Review));
        if s.status == Status::Review {
            prop_assert!(s.flagged.is_some());
            prop_assert_eq!(&s.worklist_unit, home);
        }
        match &s.referred_to {
            Some(r) => {
                prop_assert_eq!(&s.worklist_unit, r);
                prop_assert_ne!(r.as_str(), home);
            }
            None => prop_assert_eq!(&s.worklist_unit, home),
        }
        prop_assert!(s.covered.iter().all(|n| needs.contains(n)));
        prop_assert_eq!(s.status == Status::Enrolled, needs.iter().all(|n| s.covered.contains(n)));
        prop_assert_eq!(s.visits as usize, events.len());
        prop_assert_eq!(s.last_visit_at, events.iter().map(|e| e.at).max());
        // The order of the events does not matter.
        let mut reversed = events.clone();
        reversed.reverse();
        prop_assert_eq!(derive(home, &needs, &reversed), s);
    }

    #[test]
    fn coverage_adds_up(
        people in vec((select(UNIT_CODES), any_needs(), vec(any_event(), 0..6)), 0..30),
        under in proptest::option::of(select(&["74", "725", "25972", "01"][..])),
    ) {
        let states: Vec<(&str, bool, PersonState)> = people
            .iter()
            .map(|(home, needs, events)| (*home, !needs.is_empty(), derive(home, needs, events)))
            .collect();
        let rows = coverage(
            states.iter().map(|(home, eligible, state)| CoverageInput {
                home_unit: home,
                eligible: *eligible,
                state,
            }),
            &units(),
            under,
        );
        let (total, units_rows) = rows.split_last().unwrap();
        prop_assert_eq!(total.unit_code.as_str(), "total");
        let mut sum_eligible = 0;
        let mut sum_remaining = 0;
        for r in &rows {
            prop_assert_eq!(r.remaining, r.remaining_by_reason.values().sum::<u64>());
            prop_assert!(r.eligible >= r.enrolled + r.closed, "{:?}", r);
            prop_assert!(r.eligible >= r.reached);
            prop_assert_eq!(r.closed, r.deceased + r.done_elsewhere);
            prop_assert_eq!(r.remaining_by_reason.len(), Reason::ALL.len());
        }
        for r in units_rows {
            sum_eligible += r.eligible;
            sum_remaining += r.remaining;
        }
        prop_assert_eq!(total.eligible, sum_eligible);
        prop_assert_eq!(total.remaining, sum_remaining);
        if under.is_none() {
            let eligible = states.iter().filter(|s| s.1).count() as u64;
            let open = states
                .iter()
                .filter(|s| s.1 && matches!(s.2.status, Status::Open | Status::Review))
                .count() as u64;
            prop_assert_eq!(total.eligible, eligible);
            prop_assert_eq!(total.remaining, open);
            prop_assert_eq!(total.referred_in, total.referred_out);
            prop_assert_eq!(
                total.eligible,
                total.enrolled + total.closed + total.remaining
            );
        }
    }
}
