//! The rules for `outcome`, the block of a `visit_outcome` record
//! (`proto/canonical-v1.md` section 2.3): what came of a visit to a
//! resident on the roster, the unit a person is referred to, and the
//! enrollment record an `enrolled` result stands for.

use uuid::Uuid;

use super::{Json, Obj, Validator};
use crate::record::{OutcomeKind, RecordKind, VisitOutcome};

const OUTCOME_KEYS: &[&str] = &["result", "unit_code", "detail", "note", "record_id"];

/// Whether a result may name a unit: the unit a person living elsewhere is
/// referred to, or the unit of a new address.
fn takes_unit(result: OutcomeKind) -> bool {
    matches!(result, OutcomeKind::LivingElsewhere | OutcomeKind::Moved)
}

impl Validator<'_, '_> {
    /// The record's outcome: required on visit_outcome, refused elsewhere.
    /// `home_unit` is the citizen's permanent address unit, when the
    /// citizen is valid (a referral must leave it). `Err` when a rule is
    /// broken (already reported).
    pub(super) fn outcome<V: Json>(
        &mut self,
        rec: &Obj<'_, V>,
        kind: Option<RecordKind>,
        home_unit: Option<&str>,
    ) -> Result<Option<VisitOutcome>, ()> {
        let Some(obj) = self.kind_specific(
            rec,
            "outcome",
            kind,
            RecordKind::VisitOutcome,
            OUTCOME_KEYS,
            (
                "`outcome` (what came of the visit) is required for visit_outcome",
                "hồ sơ kết quả tiếp xúc cần trường `outcome` (kết quả của lần tiếp xúc)",
            ),
        )?
        else {
            return Ok(None);
        };
        let before = self.out.len();
        let result = self.req_str(&obj, "result").and_then(|r| {
            self.choice(r, obj.p("result"), OutcomeKind::parse, OutcomeKind::allowed)
        });
        let unit_code = self.outcome_unit(&obj, result, home_unit);
        let detail = self.outcome_detail(&obj);
        let note = self
            .opt_str(&obj, "note")
            .and_then(|n| self.text(n, obj.p("note"), false));
        let record_id = self.outcome_record_id(&obj, result);
        if self.out.len() != before {
            return Err(());
        }
        Ok(Some(VisitOutcome {
            result: result.ok_or(())?,
            unit_code,
            detail,
            note,
            record_id,
        }))
    }

    /// `unit_code`: required for living_elsewhere (and not the home unit),
    /// optional for moved, refused for every other result.
    fn outcome_unit<V: Json>(
        &mut self,
        obj: &Obj<'_, V>,
        result: Option<OutcomeKind>,
        home_unit: Option<&str>,
    ) -> Option<String> {
        let path = obj.p("unit_code");
        let Some(value) = obj.get("unit_code") else {
            if result == Some(OutcomeKind::LivingElsewhere) {
                self.push(
                    path,
                    "outcome.unit_required",
                    "a person living elsewhere is referred to the unit where they live: `unit_code` is required",
                    "người đang sinh sống nơi khác được chuyển cho đơn vị nơi họ sinh sống: cần trường `unit_code`",
                );
            }
            return None;
        };
        if let Some(r) = result.filter(|r| !takes_unit(*r)) {
            self.outcome_not_applicable(
                path.render(),
                "unit_code",
                r,
                "living_elsewhere, moved",
                "đang sinh sống nơi khác, đã chuyển đi",
            );
            return None;
        }
        let code = self
            .string(value, path)
            .and_then(|raw| self.unit(raw, path))?;
        if result == Some(OutcomeKind::LivingElsewhere) && home_unit == Some(code.as_str()) {
            self.push(
                path,
                "outcome.unit_is_home",
                format!("unit `{code}` is the citizen's permanent address unit: a referral must name another unit"),
                format!("đơn vị `{code}` là đơn vị nơi thường trú của công dân: phải chuyển cho một đơn vị khác"),
            );
            return None;
        }
        Some(code)
    }

    /// `detail`: the new address within `unit_code`, so only with it.
    fn outcome_detail<V: Json>(&mut self, obj: &Obj<'_, V>) -> Option<String> {
        let path = obj.p("detail");
        obj.get("detail")?;
        if obj.get("unit_code").is_none() {
            self.push(
                path,
                "outcome.not_applicable",
                "`detail` (the new address) goes only with `unit_code`",
                "trường `detail` (địa chỉ mới) chỉ dùng kèm trường `unit_code`",
            );
            return None;
        }
        self.opt_str(obj, "detail")
            .and_then(|d| self.text(d, path, false))
    }

    /// `record_id`: required for enrolled, refused for every other result.
    fn outcome_record_id<V: Json>(
        &mut self,
        obj: &Obj<'_, V>,
        result: Option<OutcomeKind>,
    ) -> Option<Uuid> {
        let path = obj.p("record_id");
        let Some(value) = obj.get("record_id") else {
            if result == Some(OutcomeKind::Enrolled) {
                self.push(
                    path,
                    "outcome.record_id_required",
                    "an `enrolled` outcome needs `record_id`, the enrollment record it stands for",
                    "kết quả “đã thu nhận” cần trường `record_id` (mã hồ sơ đã thu nhận)",
                );
            }
            return None;
        };
        if let Some(r) = result.filter(|r| *r != OutcomeKind::Enrolled) {
            self.outcome_not_applicable(path.render(), "record_id", r, "enrolled", "đã thu nhận");
            return None;
        }
        let raw = self.string(value, path)?;
        match Uuid::parse_str(raw.trim()) {
            Ok(id) => Some(id),
            Err(_) => {
                self.push(
                    path,
                    "outcome.record_id_invalid",
                    format!("`{raw}` is not a record ID (UUID)"),
                    format!("`{raw}` không phải mã hồ sơ hợp lệ (UUID)"),
                );
                None
            }
        }
    }

    fn outcome_not_applicable(
        &mut self,
        path: String,
        field: &str,
        result: OutcomeKind,
        only_en: &str,
        only_vi: &str,
    ) {
        self.push(
            path,
            "outcome.not_applicable",
            format!("`{field}` does not apply to the result {result} (only to: {only_en})"),
            format!(
                "trường `{field}` không áp dụng cho kết quả “{}” (chỉ dùng cho: {only_vi})",
                result.label_vi()
            ),
        );
    }
}
