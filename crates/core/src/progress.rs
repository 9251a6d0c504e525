//! Campaign progress, computed the way leaders read it in the news:
//! achieved / target and percent (118.82%, it can pass 100%), units done
//! ("91/91 communes"), the date a unit reached its target and how many days
//! ahead of its deadline, rank among its peers ("3rd of 63"), and where the
//! work was done.
//!
//! Input is what central counts at ingest: confirmed records per visit
//! unit, visit day, kind, place and reason. Pure: the caller supplies the
//! counts, the targets, the units and the "as of" date.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::campaign::{Metric, Target};
use crate::record::{RecordKind, VisitPlace, VisitReason};
use crate::units::{UnitLevel, Units};

/// Confirmed records of one kind, visited in one unit on one day at one
/// kind of place for one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitCount {
    pub kind: RecordKind,
    pub unit_code: String,
    pub day: NaiveDate,
    pub place: VisitPlace,
    pub reason: Option<VisitReason>,
    pub n: u64,
}

/// What a report covers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProgressQuery {
    /// A unit to drill into: the report shows it and its children.
    pub scope: Option<String>,
    /// Show every unit of this level (within `scope` when given).
    pub level: Option<UnitLevel>,
    /// Only this metric (a campaign may count several).
    pub metric: Option<Metric>,
}

/// Units done at one level below a unit ("91/91 communes").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelDone {
    pub level: String,
    pub done: u64,
    pub total: u64,
}

/// Where a target came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetSource {
    /// Given for this unit in the campaign file.
    Set,
    /// The sum of its children's targets.
    Rollup,
}

/// One unit's progress on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitProgress {
    pub code: String,
    pub name: String,
    pub level: String,
    pub parent_code: Option<String>,
    pub metric: Metric,
    pub achieved: u64,
    pub target: Option<u64>,
    pub target_source: Option<TargetSource>,
    /// Percent of target, rounded half up to two decimals (118.82).
    pub percent: Option<f64>,
    /// The same percent times 100, exact (11882).
    pub percent_x100: Option<u64>,
    pub done: bool,
    /// The visit day on which the running total reached the target.
    pub reached_on: Option<NaiveDate>,
    pub deadline: Option<NaiveDate>,
    /// Days from `reached_on` to the deadline: positive ahead, negative late.
    pub days_ahead: Option<i64>,
    /// For a unit not done: days from the report date to the deadline
    /// (negative once the deadline has passed).
    pub days_left: Option<i64>,
    /// Rank by percent among the siblings that have a target (1 = best;
    /// equal percents share a rank).
    pub rank: Option<u64>,
    pub rank_of: Option<u64>,
    /// Units with a target at each level below, and how many are done.
    pub units_done: Vec<LevelDone>,
    /// Whether the unit has children to drill into.
    pub has_children: bool,
    pub by_place: BTreeMap<String, u64>,
    pub by_reason: BTreeMap<String, u64>,
}

/// A campaign's progress report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressReport {
    pub campaign: String,
    pub as_of: NaiveDate,
    pub start: NaiveDate,
    pub metrics: Vec<Metric>,
    pub scope: Option<String>,
    pub level: Option<String>,
    pub units: Vec<UnitProgress>,
}

/// Why a report cannot be made.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ProgressError {
    #[error("campaign `{0}` has no targets: import it first")]
    UnknownCampaign(String),
    #[error("unit `{0}` is not in the loaded unit list")]
    UnknownUnit(String),
    #[error("campaign `{campaign}` has no {metric} targets")]
    MetricNotInCampaign { campaign: String, metric: Metric },
    #[error("the report date {as_of} is before the campaign's start {start}")]
    BeforeStart { as_of: NaiveDate, start: NaiveDate },
}

/// Per unit and metric: the running totals a report is made from.
#[derive(Debug, Default)]
struct Tally {
    achieved: u64,
    by_day: BTreeMap<NaiveDate, u64>,
    by_place: BTreeMap<String, u64>,
    by_reason: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Copy)]
struct Goal {
    target: u64,
    deadline: NaiveDate,
    source: TargetSource,
}

/// Computes a campaign's progress. `targets` are the campaign's rows;
/// `counts` may hold any kinds and days (only the campaign's metrics
/// within `start..=as_of` count).
pub fn progress(
    targets: &[Target],
    counts: &[VisitCount],
    units: &Units,
    query: &ProgressQuery,
    as_of: NaiveDate,
) -> Result<ProgressReport, ProgressError> {
    let Some(first) = targets.first() else {
        return Err(ProgressError::UnknownCampaign(String::new()));
    };
    let campaign = first.campaign.clone();
    let start = targets.iter().map(|t| t.start).min().unwrap_or(first.start);
    if as_of < start {
        return Err(ProgressError::BeforeStart { as_of, start });
    }
    if let Some(scope) = &query.scope
        && !units.contains(scope)
    {
        return Err(ProgressError::UnknownUnit(scope.clone()));
    }
    let mut metrics: Vec<Metric> = targets.iter().map(|t| t.metric).collect();
    metrics.sort();
    metrics.dedup();
    if let Some(m) = query.metric {
        if !metrics.contains(&m) {
            return Err(ProgressError::MetricNotInCampaign {
                campaign,
                metric: m,
            });
        }
        metrics = vec![m];
    }
    let mut rows = Vec::new();
    for &metric in &metrics {
        let tallies = tally(counts, units, metric, start, as_of);
        let goals = goals(targets, units, metric);
        let ctx = Ctx {
            units,
            tallies: &tallies,
            goals: &goals,
            metric,
            as_of,
        };
        for code in shown_units(&ctx, query) {
            rows.push(ctx.unit_progress(&code));
        }
    }
    Ok(ProgressReport {
        campaign,
        as_of,
        start,
        metrics,
        scope: query.scope.clone(),
        level: query.level.map(|l| l.as_str().to_owned()),
        units: rows,
    })
}

/// Adds each count to its unit and every unit above it.
fn tally(
    counts: &[VisitCount],
    units: &Units,
    metric: Metric,
    start: NaiveDate,
    as_of: NaiveDate,
) -> HashMap<String, Tally> {
    let mut out: HashMap<String, Tally> = HashMap::new();
    for c in counts {
        if c.kind != metric.kind() || c.day < start || c.day > as_of || c.n == 0 {
            continue;
        }
        for code in lineage(units, &c.unit_code) {
            let t = out.entry(code.to_owned()).or_default();
            t.achieved += c.n;
            *t.by_day.entry(c.day).or_default() += c.n;
            *t.by_place.entry(c.place.as_str().to_owned()).or_default() += c.n;
            if let Some(r) = c.reason {
                *t.by_reason.entry(r.as_str().to_owned()).or_default() += c.n;
            }
        }
    }
    out
}

/// A unit and its ancestors, nearest first (just the code when it is not
/// in the list: a record validated against an older list still counts).
fn lineage<'a>(units: &'a Units, code: &'a str) -> Vec<&'a str> {
    let mut out = vec![code];
    let mut current = code;
    // Unit trees are three levels deep; the bound guards a cyclic file.
    for _ in 0..8 {
        match units.get(current).and_then(|u| u.parent_code.as_deref()) {
            Some(parent) => {
                out.push(parent);
                current = parent;
            }
            None => break,
        }
    }
    out
}

/// Targets as set, and for units above them without their own, the sum
/// of their children's (with the latest of their deadlines).
fn goals(targets: &[Target], units: &Units, metric: Metric) -> HashMap<String, Goal> {
    let mut out: HashMap<String, Goal> = HashMap::new();
    let mut above: HashSet<String> = HashSet::new();
    for t in targets.iter().filter(|t| t.metric == metric) {
        out.insert(
            t.unit_code.clone(),
            Goal {
                target: t.target,
                deadline: t.deadline,
                source: TargetSource::Set,
            },
        );
        for a in lineage(units, &t.unit_code).into_iter().skip(1) {
            above.insert(a.to_owned());
        }
    }
    // Deepest first, so a unit's children are settled before it is.
    let mut pending: Vec<(usize, String)> = above
        .into_iter()
        .filter(|c| !out.contains_key(c))
        .map(|c| (lineage(units, &c).len(), c))
        .collect();
    pending.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    for (_, code) in pending {
        let kids: Vec<Goal> = units
            .children(&code)
            .filter_map(|u| out.get(&u.code).copied())
            .collect();
        if let Some(deadline) = kids.iter().map(|g| g.deadline).max() {
            out.insert(
                code,
                Goal {
                    target: kids.iter().map(|g| g.target).sum(),
                    deadline,
                    source: TargetSource::Rollup,
                },
            );
        }
    }
    out
}

struct Ctx<'a> {
    units: &'a Units,
    tallies: &'a HashMap<String, Tally>,
    goals: &'a HashMap<String, Goal>,
    metric: Metric,
    as_of: NaiveDate,
}

impl Ctx<'_> {
    fn takes_part(&self, code: &str) -> bool {
        self.goals.contains_key(code) || self.tallies.get(code).is_some_and(|t| t.achieved > 0)
    }

    fn achieved(&self, code: &str) -> u64 {
        self.tallies.get(code).map_or(0, |t| t.achieved)
    }

    fn is_done(&self, code: &str) -> bool {
        self.goals
            .get(code)
            .is_some_and(|g| self.achieved(code) >= g.target)
    }

    /// Units with a target sharing `code`'s parent (top-level units when
    /// it has none), best percent first.
    fn rank(&self, code: &str) -> Option<(u64, u64)> {
        let goal = self.goals.get(code)?;
        let parent = self.units.get(code).and_then(|u| u.parent_code.clone());
        let peers: Vec<(u64, u64)> = match &parent {
            Some(p) => self
                .units
                .children(p)
                .filter_map(|u| {
                    self.goals
                        .get(&u.code)
                        .map(|g| (self.achieved(&u.code), g.target))
                })
                .collect(),
            None => self
                .units
                .iter()
                .filter(|u| u.parent_code.is_none())
                .filter_map(|u| {
                    self.goals
                        .get(&u.code)
                        .map(|g| (self.achieved(&u.code), g.target))
                })
                .collect(),
        };
        let mine = (self.achieved(code), goal.target);
        // a/t > b/s ⇔ a·s > b·t: exact, no rounding ties.
        let better = peers
            .iter()
            .filter(|&&(a, t)| {
                u128::from(a) * u128::from(mine.1) > u128::from(mine.0) * u128::from(t)
            })
            .count();
        Some((better as u64 + 1, peers.len() as u64))
    }

    fn units_done(&self, code: &str) -> Vec<LevelDone> {
        let mut by_level: BTreeMap<UnitLevel, (u64, u64)> = BTreeMap::new();
        let mut stack: Vec<&str> = vec![code];
        while let Some(c) = stack.pop() {
            for kid in self.units.children(c) {
                if self.goals.contains_key(&kid.code) {
                    let e = by_level.entry(kid.level).or_default();
                    e.1 += 1;
                    if self.is_done(&kid.code) {
                        e.0 += 1;
                    }
                }
                stack.push(&kid.code);
            }
        }
        by_level
            .into_iter()
            .map(|(level, (done, total))| LevelDone {
                level: level.as_str().to_owned(),
                done,
                total,
            })
            .collect()
    }

    fn unit_progress(&self, code: &str) -> UnitProgress {
        let unit = self.units.get(code);
        let tally = self.tallies.get(code);
        let achieved = self.achieved(code);
        let goal = self.goals.get(code).copied();
        let percent_x100 = goal.map(|g| percent_x100(achieved, g.target));
        let reached_on = goal.and_then(|g| {
            let mut running = 0u64;
            tally?.by_day.iter().find_map(|(&day, &n)| {
                running += n;
                (running >= g.target).then_some(day)
            })
        });
        let done = reached_on.is_some();
        let (rank, rank_of) = self
            .rank(code)
            .map_or((None, None), |(r, of)| (Some(r), Some(of)));
        UnitProgress {
            code: code.to_owned(),
            name: unit.map_or_else(|| code.to_owned(), |u| u.name.clone()),
            level: unit.map_or("unknown", |u| u.level.as_str()).to_owned(),
            parent_code: unit.and_then(|u| u.parent_code.clone()),
            metric: self.metric,
            achieved,
            target: goal.map(|g| g.target),
            target_source: goal.map(|g| g.source),
            percent: percent_x100.map(|p| p as f64 / 100.0),
            percent_x100,
            done,
            reached_on,
            deadline: goal.map(|g| g.deadline),
            days_ahead: goal
                .zip(reached_on)
                .map(|(g, day)| (g.deadline - day).num_days()),
            days_left: goal
                .filter(|_| !done)
                .map(|g| (g.deadline - self.as_of).num_days()),
            rank,
            rank_of,
            units_done: self.units_done(code),
            has_children: self.units.children(code).next().is_some(),
            by_place: tally.map(|t| t.by_place.clone()).unwrap_or_default(),
            by_reason: tally.map(|t| t.by_reason.clone()).unwrap_or_default(),
        }
    }
}

/// Percent times 100, rounded half up: 1,455,967 of 1,225,365 → 11882.
pub fn percent_x100(achieved: u64, target: u64) -> u64 {
    if target == 0 {
        return 0;
    }
    let (a, t) = (u128::from(achieved), u128::from(target));
    u64::try_from((a * 10_000 * 2 + t) / (2 * t)).unwrap_or(u64::MAX)
}

/// The units a report lists, in order: the scope unit first, then the
/// rest ranked (best first), then those without a target by achievement.
fn shown_units(ctx: &Ctx<'_>, query: &ProgressQuery) -> Vec<String> {
    let candidates: Vec<String> = match (query.level, &query.scope) {
        (Some(level), scope) => ctx
            .units
            .iter()
            .filter(|u| u.level == level)
            .filter(|u| {
                scope
                    .as_deref()
                    .is_none_or(|s| ctx.units.is_within(&u.code, s))
            })
            .map(|u| u.code.clone())
            .collect(),
        (None, Some(scope)) => ctx.units.children(scope).map(|u| u.code.clone()).collect(),
        (None, None) => ctx
            .units
            .iter()
            .filter(|u| u.parent_code.is_none())
            .map(|u| u.code.clone())
            .collect(),
    };
    let mut shown: Vec<String> = candidates
        .into_iter()
        .filter(|c| ctx.takes_part(c))
        .collect();
    shown.sort_by(|a, b| {
        let key = |c: &str| {
            let goal = ctx.goals.get(c);
            (
                goal.is_none(),
                std::cmp::Reverse(goal.map(|g| (ctx.achieved(c), g.target))),
                std::cmp::Reverse(ctx.achieved(c)),
            )
        };
        let (ga, gb) = (key(a), key(b));
        ga.0.cmp(&gb.0)
            .then_with(|| match (ga.1.0, gb.1.0) {
                (Some((a1, t1)), Some((a2, t2))) => {
                    (u128::from(a2) * u128::from(t1)).cmp(&(u128::from(a1) * u128::from(t2)))
                }
                _ => std::cmp::Ordering::Equal,
            })
            .then_with(|| ga.2.cmp(&gb.2))
            .then_with(|| a.cmp(b))
    });
    if query.level.is_none()
        && let Some(scope) = &query.scope
    {
        shown.insert(0, scope.clone());
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNITS_2023: &str = include_str!("../../../data/units/units_2023.csv");
    const BINH_DUONG: &str = "74";

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    fn target(unit: &str, n: u64, deadline: &str) -> Target {
        Target {
            campaign: "kich-hoat-2023".into(),
            unit_code: unit.into(),
            metric: Metric::EidActivation,
            target: n,
            start: day("2023-07-01"),
            deadline: day(deadline),
        }
    }

    fn count(
        unit: &str,
        on: &str,
        place: VisitPlace,
        reason: Option<VisitReason>,
        n: u64,
    ) -> VisitCount {
        VisitCount {
            kind: RecordKind::EidActivation,
            unit_code: unit.into(),
            day: day(on),
            place,
            reason,
            n,
        }
    }

    /// Bình Dương as the news reported it on 27 September 2023: 1,455,967
    /// activations of a 1,225,365 target (118.82%), 91/91 communes and 9/9
    /// districts done, 39 days before the committed deadline, 3rd of 63.
    fn binh_duong() -> (Units, Vec<Target>, Vec<VisitCount>) {
        let units = Units::from_csv(UNITS_2023.as_bytes()).unwrap_or_default();
        let communes: Vec<String> = units
            .leaves_under(BINH_DUONG)
            .iter()
            .map(|u| u.code.clone())
            .collect();
        assert_eq!(communes.len(), 91);
        let mut targets = vec![target(BINH_DUONG, 1_225_365, "2023-09-30")];
        let mut counts = Vec::new();
        // 1,225,365 = 91 × 13,465 + 50; 1,455,967 = 91 × 16,000 − 33.
        for (i, c) in communes.iter().enumerate() {
            let t = 13_465 + u64::from(i < 50);
            let achieved = 16_000 - u64::from(i < 33);
            targets.push(target(c, t, "2023-09-30"));
            // One short of target the day before; over it on 22 August.
            counts.push(count(c, "2023-08-21", VisitPlace::Home, None, t - 1));
            counts.push(count(
                c,
                "2023-08-22",
                VisitPlace::Hospital,
                Some(VisitReason::Bedridden),
                100,
            ));
            counts.push(count(
                c,
                "2023-08-22",
                VisitPlace::Workplace,
                Some(VisitReason::Worker),
                achieved - t + 1 - 100,
            ));
        }
        // The other 62 provinces: two ahead of Bình Dương, the rest behind.
        let others: Vec<String> = units
            .iter()
            .filter(|u| u.parent_code.is_none() && u.code != BINH_DUONG)
            .map(|u| u.code.clone())
            .collect();
        for (i, p) in others.iter().enumerate() {
            targets.push(target(p, 100_000, "2023-10-31"));
            let achieved = match i {
                0 => 125_000,
                1 => 118_830,
                _ => 118_810 - i as u64 * 100,
            };
            counts.push(count(
                p,
                "2023-09-01",
                VisitPlace::MobilePoint,
                None,
                achieved,
            ));
        }
        // Outside the campaign window: before its start and after the report date.
        counts.push(count(&communes[0], "2023-06-30", VisitPlace::Home, None, 7));
        counts.push(count(&communes[0], "2023-09-28", VisitPlace::Home, None, 7));
        (units, targets, counts)
    }

    #[test]
    fn reproduces_binh_duong_as_reported() {
        let (units, targets, counts) = binh_duong();
        let report = progress(
            &targets,
            &counts,
            &units,
            &ProgressQuery::default(),
            day("2023-09-27"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.units.len(), 63);
        let bd = report
            .units
            .iter()
            .find(|u| u.code == BINH_DUONG)
            .unwrap_or_else(|| panic!("no Bình Dương row"));
        assert_eq!(bd.achieved, 1_455_967);
        assert_eq!(bd.target, Some(1_225_365));
        assert_eq!(bd.percent_x100, Some(11_882));
        assert_eq!(bd.percent, Some(118.82));
        assert!(bd.done);
        assert_eq!(bd.reached_on, Some(day("2023-08-22")));
        assert_eq!(bd.days_ahead, Some(39));
        assert_eq!(bd.days_left, None);
        assert_eq!((bd.rank, bd.rank_of), (Some(3), Some(63)));
        assert_eq!(
            bd.units_done,
            vec![
                LevelDone {
                    level: "district".into(),
                    done: 9,
                    total: 9
                },
                LevelDone {
                    level: "commune".into(),
                    done: 91,
                    total: 91
                },
            ]
        );
        assert_eq!(bd.by_place.get("hospital"), Some(&9_100));
        assert_eq!(bd.by_reason.get("bedridden"), Some(&9_100));
        assert_eq!(bd.by_place.values().sum::<u64>(), 1_455_967);
        // The ranking table is ordered best first.
        assert_eq!(report.units[2].code, BINH_DUONG);
        assert_eq!(report.units[0].percent_x100, Some(12_500));
    }

    #[test]
    fn drills_down_into_districts_with_rolled_up_targets() {
        let (units, targets, counts) = binh_duong();
        let query = ProgressQuery {
            scope: Some(BINH_DUONG.into()),
            ..ProgressQuery::default()
        };
        let report = progress(&targets, &counts, &units, &query, day("2023-09-27"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.units[0].code, BINH_DUONG);
        let districts = &report.units[1..];
        assert_eq!(districts.len(), 9);
        for d in districts {
            assert_eq!(d.target_source, Some(TargetSource::Rollup));
            assert_eq!(d.rank_of, Some(9));
            assert!(d.done);
            assert_eq!(d.days_ahead, Some(39));
        }
        assert_eq!(districts.iter().map(|d| d.achieved).sum::<u64>(), 1_455_967);
        assert_eq!(
            districts.iter().filter_map(|d| d.target).sum::<u64>(),
            1_225_365
        );
        let communes = progress(
            &targets,
            &counts,
            &units,
            &ProgressQuery {
                scope: Some(BINH_DUONG.into()),
                level: Some(UnitLevel::Commune),
                metric: Some(Metric::EidActivation),
            },
            day("2023-09-27"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(communes.units.len(), 91);
        assert!(
            communes
                .units
                .iter()
                .all(|u| u.done && u.level == "commune")
        );
    }

    #[test]
    fn a_unit_not_done_shows_the_days_left_or_overdue() {
        let units = Units::from_csv(UNITS_2023.as_bytes()).unwrap_or_default();
        let targets = vec![
            target("01", 1_000, "2023-08-31"),
            target("79", 1_000, "2023-08-31"),
        ];
        let counts = vec![
            count(
                "00001",
                "2023-07-10",
                VisitPlace::Home,
                Some(VisitReason::Elderly),
                400,
            ),
            count("79", "2023-07-10", VisitPlace::Home, None, 400),
        ];
        let before = progress(
            &targets,
            &counts,
            &units,
            &ProgressQuery::default(),
            day("2023-08-21"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let hn = &before.units[0];
        assert_eq!((hn.achieved, hn.done, hn.reached_on), (400, false, None));
        assert_eq!(hn.days_left, Some(10));
        assert_eq!(hn.percent_x100, Some(4_000));
        // Equal percents share the rank.
        assert_eq!((hn.rank, before.units[1].rank), (Some(1), Some(1)));
        let after = progress(
            &targets,
            &counts,
            &units,
            &ProgressQuery::default(),
            day("2023-09-05"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(after.units[0].days_left, Some(-5));
    }

    #[test]
    fn late_completion_counts_as_days_behind() {
        let units = Units::from_csv(UNITS_2023.as_bytes()).unwrap_or_default();
        let targets = vec![target("01", 10, "2023-08-31")];
        let counts = vec![count("01", "2023-09-03", VisitPlace::Home, None, 10)];
        let r = progress(
            &targets,
            &counts,
            &units,
            &ProgressQuery::default(),
            day("2023-09-10"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.units[0].days_ahead, Some(-3));
    }

    #[test]
    fn rounds_percent_half_up() {
        assert_eq!(percent_x100(1_455_967, 1_225_365), 11_882);
        assert_eq!(percent_x100(1, 3), 3_333);
        assert_eq!(percent_x100(2, 3), 6_667);
        assert_eq!(percent_x100(1, 8), 1_250);
        assert_eq!(percent_x100(1, 80_000), 0);
        assert_eq!(percent_x100(1, 20_000), 1);
        assert_eq!(percent_x100(0, 5), 0);
    }

    #[test]
    fn refuses_what_it_cannot_report() {
        let (units, targets, counts) = binh_duong();
        let e = progress(
            &targets,
            &counts,
            &units,
            &ProgressQuery::default(),
            day("2023-06-01"),
        );
        assert!(matches!(e, Err(ProgressError::BeforeStart { .. })));
        let q = ProgressQuery {
            scope: Some("9999".into()),
            ..ProgressQuery::default()
        };
        let e = progress(&targets, &counts, &units, &q, day("2023-09-27"));
        assert_eq!(e, Err(ProgressError::UnknownUnit("9999".into())));
        let q = ProgressQuery {
            metric: Some(Metric::IdCardIntake),
            ..ProgressQuery::default()
        };
        let e = progress(&targets, &counts, &units, &q, day("2023-09-27"));
        assert!(matches!(e, Err(ProgressError::MetricNotInCampaign { .. })));
    }
}
