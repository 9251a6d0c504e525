//! What officers read for each value of the record's lists, in Vietnamese
//! and English: one place for the forms, the reports and the command line.

use crate::record::{
    AttachmentKind, CorrectionField, ExemptionReason, OutcomeKind, RecordKind, Sex, VisitPlace,
    VisitReason,
};

/// A value of a list with its labels.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Label {
    pub value: String,
    pub vi: String,
    pub en: String,
}

fn label(value: &str, vi: &str, en: &str) -> Label {
    Label {
        value: value.to_owned(),
        vi: vi.to_owned(),
        en: en.to_owned(),
    }
}

impl RecordKind {
    pub fn label_en(self) -> &'static str {
        match self {
            RecordKind::IdCardApplication => "ID card application",
            RecordKind::EidRegistration => "e-ID account registration",
            RecordKind::EidActivation => "e-ID account activation",
            RecordKind::DriverLicenseLink => "driver's licence link",
            RecordKind::InfoCorrection => "wrong information referred",
            RecordKind::VisitOutcome => "visit outcome",
        }
    }
}

impl VisitPlace {
    pub fn labels(self) -> (&'static str, &'static str) {
        match self {
            VisitPlace::Home => ("tại nhà", "home"),
            VisitPlace::Hospital => ("bệnh viện", "hospital"),
            VisitPlace::Workplace => ("nơi làm việc, nhà máy", "workplace, factory"),
            VisitPlace::BoardingHouse => ("nhà trọ", "boarding house"),
            VisitPlace::MobilePoint => ("điểm thu nhận lưu động", "mobile point"),
            VisitPlace::Station => ("trụ sở công an", "police station"),
            VisitPlace::Other => ("nơi khác", "other"),
        }
    }
}

impl VisitReason {
    pub fn labels(self) -> (&'static str, &'static str) {
        match self {
            VisitReason::Bedridden => ("nằm liệt giường", "bedridden"),
            VisitReason::Elderly => ("người cao tuổi", "elderly"),
            VisitReason::Disabled => ("người khuyết tật", "disabled"),
            VisitReason::Worker => ("công nhân", "worker"),
            VisitReason::TemporaryResident => ("tạm trú", "temporary resident"),
            VisitReason::Other => ("lý do khác", "other"),
        }
    }
}

impl CorrectionField {
    pub fn labels(self) -> (&'static str, &'static str) {
        match self {
            CorrectionField::PersonalId => ("số định danh cá nhân", "personal ID number"),
            CorrectionField::FullName => ("họ và tên", "full name"),
            CorrectionField::DateOfBirth => ("ngày sinh", "date of birth"),
            CorrectionField::Sex => ("giới tính", "sex"),
            CorrectionField::PermanentAddress => ("nơi thường trú", "permanent address"),
            CorrectionField::CurrentAddress => ("nơi ở hiện tại", "current address"),
            CorrectionField::Phone => ("số điện thoại", "phone number"),
        }
    }
}

impl ExemptionReason {
    pub fn labels(self) -> (&'static str, &'static str) {
        match self {
            ExemptionReason::Amputated => ("mất ngón", "amputated"),
            ExemptionReason::Injured => ("ngón bị thương", "injured"),
            ExemptionReason::Unreadable => ("không lấy được vân tay", "unreadable"),
        }
    }
}

/// The record kinds an officer enrolls with the form (outcomes are recorded
/// from the worklist).
pub fn kinds() -> Vec<Label> {
    RecordKind::ALL
        .iter()
        .filter(|k| **k != RecordKind::VisitOutcome)
        .map(|k| label(k.as_str(), k.label_vi(), k.label_en()))
        .collect()
}

pub fn places() -> Vec<Label> {
    VisitPlace::ALL
        .iter()
        .map(|p| {
            let (vi, en) = p.labels();
            label(p.as_str(), vi, en)
        })
        .collect()
}

pub fn reasons() -> Vec<Label> {
    VisitReason::ALL
        .iter()
        .map(|r| {
            let (vi, en) = r.labels();
            label(r.as_str(), vi, en)
        })
        .collect()
}

pub fn sexes() -> Vec<Label> {
    Sex::ALL
        .iter()
        .map(|s| match s {
            Sex::Male => label(s.as_str(), "nam", "male"),
            Sex::Female => label(s.as_str(), "nữ", "female"),
        })
        .collect()
}

pub fn correction_fields() -> Vec<Label> {
    CorrectionField::ALL
        .iter()
        .map(|f| {
            let (vi, en) = f.labels();
            label(f.as_str(), vi, en)
        })
        .collect()
}

pub fn outcomes() -> Vec<Label> {
    OutcomeKind::ALL
        .iter()
        .map(|o| label(o.as_str(), o.label_vi(), o.label_en()))
        .collect()
}

pub fn exemption_reasons() -> Vec<Label> {
    ExemptionReason::ALL
        .iter()
        .map(|r| {
            let (vi, en) = r.labels();
            label(r.as_str(), vi, en)
        })
        .collect()
}

/// Every attachment kind with its labels.
pub fn attachments() -> Vec<Label> {
    AttachmentKind::all()
        .map(|k| {
            let en = match k {
                AttachmentKind::Face => "face photo".to_owned(),
                AttachmentKind::Document => "document".to_owned(),
                AttachmentKind::Fingerprint(f) => {
                    format!("fingerprint, {}", f.as_str().replace('_', " "))
                }
            };
            label(k.as_str(), &k.label_vi(), &en)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_list_has_both_languages_for_every_value() {
        let lists = [
            kinds(),
            places(),
            reasons(),
            sexes(),
            correction_fields(),
            outcomes(),
            exemption_reasons(),
            attachments(),
        ];
        for list in &lists {
            assert!(!list.is_empty());
            for l in list {
                assert!(!l.vi.is_empty() && !l.en.is_empty(), "{l:?}");
            }
        }
        assert_eq!(kinds().len(), RecordKind::ALL.len() - 1);
        assert_eq!(attachments().len(), 12);
    }
}
