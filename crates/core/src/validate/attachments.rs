//! The rules for `attachments` and `biometric_exemptions`
//! (`proto/attachments-v1.md` section 3): well-formed references, media
//! types allowed for their kind, no duplicates, and the biometrics the
//! campaign requires on an `id_card_application`.

use std::collections::HashSet;

use super::{Json, JsonMap, Obj, Validator};
use crate::record::{
    Attachment, AttachmentKind, BiometricExemption, ExemptionReason, Finger, MAX_ATTACHMENT_BYTES,
    MAX_DOCUMENTS, MediaType, RecordKind,
};

const ATTACHMENT_KEYS: &[&str] = &["kind", "media_type", "sha256", "size"];
const EXEMPTION_KEYS: &[&str] = &["finger", "reason", "note"];

impl Validator<'_, '_> {
    /// The record's attachments, sorted canonically; `Err` when any rule
    /// about them is broken (already reported).
    pub(super) fn attachments<V: Json>(
        &mut self,
        rec: &Obj<'_, V>,
        kind: Option<RecordKind>,
        exemptions: Option<&[BiometricExemption]>,
    ) -> Result<Vec<Attachment>, ()> {
        let before = self.out.len();
        let mut items = Vec::new();
        if let Some(value) = rec.get("attachments") {
            match value.as_array() {
                None => self.not_array(value, rec.at("attachments")),
                Some(list) => {
                    for (i, item) in list.iter().enumerate() {
                        if let Some(a) = self.attachment(item, format!("$.attachments[{i}]")) {
                            items.push((i, a));
                        }
                    }
                }
            }
        }
        if let Some(kind) = kind
            && self.out.len() == before
        {
            self.attachment_rules(kind, &items);
            if kind == RecordKind::IdCardApplication
                && let Some(exemptions) = exemptions
            {
                self.required_biometrics(&items, exemptions);
            }
        }
        if self.out.len() != before {
            return Err(());
        }
        let mut out: Vec<Attachment> = items.into_iter().map(|(_, a)| a).collect();
        out.sort_by(Attachment::canonical_cmp);
        Ok(out)
    }

    fn not_array<V: Json>(&mut self, value: &V, path: String) {
        let (en, vi) = value.type_names();
        self.push(
            path,
            "type.array",
            format!("must be a JSON array, found {en}"),
            format!("phải là một mảng JSON, nhận được {vi}"),
        );
    }

    fn attachment<V: Json>(&mut self, value: &V, path: String) -> Option<Attachment> {
        let obj = self.object(value, path, ATTACHMENT_KEYS)?;
        let kind = self.req_str(&obj, "kind").and_then(|k| {
            self.choice(
                k,
                obj.p("kind"),
                AttachmentKind::parse,
                AttachmentKind::allowed,
            )
        });
        let media_type = self.req_str(&obj, "media_type").and_then(|m| {
            self.choice(m, obj.p("media_type"), MediaType::parse, MediaType::allowed)
        });
        let sha256 = self.req_str(&obj, "sha256").and_then(|raw| {
            let s = raw.trim();
            let mut out = [0u8; 32];
            let ok = s.len() == 64
                && !s.bytes().any(|b| b.is_ascii_uppercase())
                && hex::decode_to_slice(s, &mut out).is_ok();
            if !ok {
                self.push(
                    obj.at("sha256"),
                    "attachment.sha256",
                    "must be the SHA-256 of the file: 64 lower-case hex digits",
                    "phải là mã SHA-256 của tệp: 64 chữ số hệ 16 viết thường",
                );
            }
            ok.then_some(out)
        });
        let size = self.required(&obj, "size").and_then(|v| {
            let n = v
                .as_u64()
                .filter(|n| (1..=MAX_ATTACHMENT_BYTES).contains(n));
            if n.is_none() {
                self.push(
                    obj.at("size"),
                    "attachment.size",
                    format!("must be the file's size in bytes, 1 to {MAX_ATTACHMENT_BYTES}"),
                    format!(
                        "phải là kích thước tệp tính bằng byte, từ 1 đến {MAX_ATTACHMENT_BYTES}"
                    ),
                );
            }
            n
        });
        if let (Some(kind), Some(media_type)) = (kind, media_type)
            && !kind.media_types().contains(&media_type)
        {
            let allowed: Vec<&str> = kind.media_types().iter().map(|m| m.as_str()).collect();
            self.push(
                obj.at("media_type"),
                "attachment.media_type",
                format!(
                    "a {kind} cannot be {media_type} (allowed: {})",
                    allowed.join(", ")
                ),
                format!(
                    "{} không được có định dạng {media_type} (cho phép: {})",
                    kind.label_vi(),
                    allowed.join(", ")
                ),
            );
            return None;
        }
        Some(Attachment {
            kind: kind?,
            media_type: media_type?,
            sha256: sha256?,
            size: size?,
        })
    }

    /// Rules across the list: biometrics only on card applications, one of
    /// each, at most [`MAX_DOCUMENTS`] documents, no file twice.
    fn attachment_rules(&mut self, kind: RecordKind, items: &[(usize, Attachment)]) {
        let mut kinds = HashSet::new();
        let mut blobs = HashSet::new();
        let mut documents = 0;
        for (i, a) in items {
            let path = format!("$.attachments[{i}]");
            match a.kind {
                AttachmentKind::Document => documents += 1,
                biometric if kind != RecordKind::IdCardApplication => self.push(
                    format!("{path}.kind"),
                    "attachment.not_applicable",
                    format!("a {biometric} is taken only for id_card_application, not {kind}"),
                    format!(
                        "{} chỉ thu nhận cho hồ sơ cấp căn cước, không cho {}",
                        biometric.label_vi(),
                        kind.label_vi()
                    ),
                ),
                biometric => {
                    if !kinds.insert(biometric) {
                        self.push(
                            format!("{path}.kind"),
                            "attachment.duplicate_kind",
                            format!("a second {biometric}: each is taken once"),
                            format!("{} bị trùng: mỗi loại chỉ một ảnh", biometric.label_vi()),
                        );
                    }
                }
            }
            if !blobs.insert(a.sha256) {
                self.push(
                    format!("{path}.sha256"),
                    "attachment.duplicate_blob",
                    "the same file is attached twice",
                    "một tệp được đính kèm hai lần",
                );
            }
        }
        if documents > MAX_DOCUMENTS {
            self.push(
                "$.attachments",
                "attachment.too_many",
                format!("{documents} documents: at most {MAX_DOCUMENTS}"),
                format!("{documents} ảnh giấy tờ: tối đa {MAX_DOCUMENTS}"),
            );
        }
    }

    /// The face and every required finger that is not exempted.
    fn required_biometrics(
        &mut self,
        items: &[(usize, Attachment)],
        exemptions: &[BiometricExemption],
    ) {
        let kinds: Vec<AttachmentKind> = items.iter().map(|(_, a)| a.kind).collect();
        self.out
            .extend(missing_biometrics(&kinds, exemptions, self.ctx.biometrics));
    }

    /// Fingers that could not be taken; `Err` when a rule is broken.
    pub(super) fn exemptions<V: Json>(
        &mut self,
        rec: &Obj<'_, V>,
        kind: Option<RecordKind>,
    ) -> Result<Vec<BiometricExemption>, ()> {
        let Some(value) = rec.get("biometric_exemptions") else {
            return Ok(Vec::new());
        };
        let before = self.out.len();
        let mut out = Vec::new();
        match value.as_array() {
            None => self.not_array(value, rec.at("biometric_exemptions")),
            Some(list) => {
                if let Some(kind) = kind
                    && kind != RecordKind::IdCardApplication
                    && !list.is_empty()
                {
                    self.not_applicable(
                        rec.at("biometric_exemptions"),
                        "biometric_exemptions",
                        kind,
                    );
                }
                let mut seen = HashSet::new();
                for (i, item) in list.iter().enumerate() {
                    let path = format!("$.biometric_exemptions[{i}]");
                    let Some(e) = self.exemption(item, path.clone()) else {
                        continue;
                    };
                    if !seen.insert(e.finger) {
                        self.push(
                            format!("{path}.finger"),
                            "exemption.duplicate",
                            format!("{} is exempted twice", e.finger),
                            format!("{} được miễn hai lần", e.finger.label_vi()),
                        );
                    }
                    let captured =
                        rec.get("attachments")
                            .and_then(V::as_array)
                            .is_some_and(|list| {
                                list.iter().any(|a| {
                                    a.as_object()
                                        .and_then(|m| m.get("kind"))
                                        .and_then(V::as_str)
                                        .and_then(|k| AttachmentKind::parse(k.trim()))
                                        == Some(AttachmentKind::Fingerprint(e.finger))
                                })
                            });
                    if captured {
                        self.push(
                            format!("{path}.finger"),
                            "exemption.fingerprint_present",
                            format!("{} is both exempted and attached", e.finger),
                            format!("{} vừa được miễn vừa có ảnh vân tay", e.finger.label_vi()),
                        );
                    }
                    out.push(e);
                }
            }
        }
        if self.out.len() != before {
            return Err(());
        }
        out.sort_by_key(|e| e.finger.as_str());
        Ok(out)
    }

    fn exemption<V: Json>(&mut self, value: &V, path: String) -> Option<BiometricExemption> {
        let obj = self.object(value, path, EXEMPTION_KEYS)?;
        let finger = self
            .req_str(&obj, "finger")
            .and_then(|f| self.choice(f, obj.p("finger"), Finger::parse, Finger::allowed));
        let reason = self.req_str(&obj, "reason").and_then(|r| {
            self.choice(
                r,
                obj.p("reason"),
                ExemptionReason::parse,
                ExemptionReason::allowed,
            )
        });
        let mut note_ok = true;
        let note = match self.opt_str(&obj, "note") {
            Some(raw) => {
                let before = self.out.len();
                let n = self.text(raw, obj.p("note"), false);
                note_ok = self.out.len() == before;
                n
            }
            None => {
                note_ok &= obj.get("note").is_none();
                None
            }
        };
        if !note_ok {
            return None;
        }
        Some(BiometricExemption {
            finger: finger?,
            reason: reason?,
            note,
        })
    }
}

/// The biometrics `policy` requires that an `id_card_application` with
/// attachments of `kinds` and these exemptions lacks (section 3.1). Central
/// checks a record against its device's policy with this, the laptop
/// through [`super::ValidationContext::biometrics`]: the rule lives here once.
pub fn missing_biometrics(
    kinds: &[AttachmentKind],
    exemptions: &[BiometricExemption],
    policy: crate::record::BiometricPolicy,
) -> Vec<crate::violation::Violation> {
    use crate::violation::Violation;
    let mut out = Vec::new();
    let has = |k: AttachmentKind| kinds.contains(&k);
    if policy.face && !has(AttachmentKind::Face) {
        out.push(Violation::new(
            "$.attachments",
            "attachment.face_required",
            "a face photo is required for an id_card_application",
            "hồ sơ cấp căn cước phải có ảnh chân dung",
        ));
    }
    let missing: Vec<Finger> = policy
        .fingers()
        .into_iter()
        .filter(|f| !has(AttachmentKind::Fingerprint(*f)))
        .filter(|f| !exemptions.iter().any(|e| e.finger == *f))
        .collect();
    if !missing.is_empty() {
        let en: Vec<&str> = missing.iter().map(|f| f.as_str()).collect();
        let vi: Vec<&str> = missing.iter().map(|f| f.label_vi()).collect();
        out.push(Violation::new(
            "$.attachments",
            "attachment.fingerprint_required",
            format!(
                "fingerprints required and missing: {} (attach them, or list each in biometric_exemptions with a reason)",
                en.join(", ")
            ),
            format!(
                "thiếu vân tay bắt buộc: {} (đính kèm, hoặc ghi vào biometric_exemptions kèm lý do)",
                vi.join(", ")
            ),
        ));
    }
    out
}
