//! The enrollment record: what an officer captured at a visit (the body)
//! and the envelope the laptop adds (record ID, device, sequence, time).

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use uuid::Uuid;

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }

            /// The accepted spellings, for error messages.
            pub fn allowed() -> String {
                [$($text),+].join(" | ")
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| {
                    serde::de::Error::custom(format!("`{s}` is not one of: {}", $name::allowed()))
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// What the officer did for the citizen.
    RecordKind {
        IdCardApplication => "id_card_application",
        EidRegistration => "eid_registration",
        EidActivation => "eid_activation",
        DriverLicenseLink => "driver_license_link",
        InfoCorrection => "info_correction",
        VisitOutcome => "visit_outcome",
    }
);

string_enum!(
    /// Sex as recorded in the national population database.
    Sex { Male => "male", Female => "female" }
);

string_enum!(
    /// Where the visit took place.
    VisitPlace {
        Home => "home",
        Hospital => "hospital",
        Workplace => "workplace",
        BoardingHouse => "boarding_house",
        MobilePoint => "mobile_point",
        Station => "station",
        Other => "other",
    }
);

string_enum!(
    /// Why the team came to the citizen rather than the reverse.
    VisitReason {
        Bedridden => "bedridden",
        Elderly => "elderly",
        Disabled => "disabled",
        Worker => "worker",
        TemporaryResident => "temporary_resident",
        Other => "other",
    }
);

string_enum!(
    /// Personal data fields an `info_correction` record can refer for fixing.
    CorrectionField {
        PersonalId => "personal_id",
        FullName => "full_name",
        DateOfBirth => "date_of_birth",
        Sex => "sex",
        PermanentAddress => "permanent_address",
        CurrentAddress => "current_address",
        Phone => "phone",
    }
);

impl RecordKind {
    /// Vietnamese label for officers.
    pub fn label_vi(self) -> &'static str {
        match self {
            RecordKind::IdCardApplication => "thu nhận hồ sơ cấp căn cước",
            RecordKind::EidRegistration => "đăng ký tài khoản định danh điện tử",
            RecordKind::EidActivation => "kích hoạt tài khoản định danh điện tử",
            RecordKind::DriverLicenseLink => "tích hợp giấy phép lái xe",
            RecordKind::InfoCorrection => "điều chỉnh thông tin sai",
            RecordKind::VisitOutcome => "kết quả tiếp xúc",
        }
    }
}

/// An address: an administrative unit and free text within it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub unit_code: String,
    pub detail: Option<String>,
}

/// The citizen's demographics, cleaned (NFC, collapsed whitespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Citizen {
    pub personal_id: String,
    pub full_name: String,
    pub date_of_birth: NaiveDate,
    pub sex: Sex,
    /// Normalised to the 10-digit national form (`0912345678`).
    pub phone: Option<String>,
    pub permanent_address: Address,
    pub current_address: Option<Address>,
}

/// Where and when the officer met the citizen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    pub place: VisitPlace,
    pub reason: Option<VisitReason>,
    pub unit_code: String,
    /// Local time with its UTC offset, whole seconds.
    pub at: DateTime<FixedOffset>,
}

/// A driver's licence to link to the e-ID account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverLicense {
    pub number: String,
}

/// Wrong or missing personal data referred for fixing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    pub fields: Vec<CorrectionField>,
    pub note: String,
}

string_enum!(
    /// What came of a visit to a resident on the roster (a `visit_outcome`
    /// record's `outcome.result`).
    OutcomeKind {
        Enrolled => "enrolled",
        NotHome => "not_home",
        Moved => "moved",
        LivingElsewhere => "living_elsewhere",
        Deceased => "deceased",
        Refused => "refused",
        CannotTravel => "cannot_travel",
        DoneElsewhere => "done_elsewhere",
    }
);

impl OutcomeKind {
    /// Vietnamese label for officers.
    pub fn label_vi(self) -> &'static str {
        match self {
            OutcomeKind::Enrolled => "đã thu nhận",
            OutcomeKind::NotHome => "vắng nhà",
            OutcomeKind::Moved => "đã chuyển đi",
            OutcomeKind::LivingElsewhere => "đang sinh sống nơi khác",
            OutcomeKind::Deceased => "đã mất",
            OutcomeKind::Refused => "từ chối",
            OutcomeKind::CannotTravel => "không thể di chuyển",
            OutcomeKind::DoneElsewhere => "đã làm ở nơi khác",
        }
    }

    /// English label.
    pub fn label_en(self) -> &'static str {
        match self {
            OutcomeKind::Enrolled => "enrolled",
            OutcomeKind::NotHome => "not at home",
            OutcomeKind::Moved => "moved away",
            OutcomeKind::LivingElsewhere => "living elsewhere",
            OutcomeKind::Deceased => "deceased",
            OutcomeKind::Refused => "refused",
            OutcomeKind::CannotTravel => "cannot travel",
            OutcomeKind::DoneElsewhere => "done elsewhere",
        }
    }
}

/// What came of a visit: the `outcome` block of a `visit_outcome` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitOutcome {
    pub result: OutcomeKind,
    /// The unit the person is referred to (`living_elsewhere`, required)
    /// or the unit of the new address (`moved`, optional).
    pub unit_code: Option<String>,
    /// The address within `unit_code`; only with `unit_code`.
    pub detail: Option<String>,
    pub note: Option<String>,
    /// The enrollment record this outcome stands for (`enrolled` only).
    pub record_id: Option<Uuid>,
}

/// e-ID account level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EidLevel {
    One = 1,
    Two = 2,
}

/// What the officer captured: validated and cleaned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBody {
    pub kind: RecordKind,
    pub citizen: Citizen,
    pub visit: Visit,
    pub officer_id: String,
    pub eid_level: Option<EidLevel>,
    pub under_14_request: bool,
    /// The record this one corrects; nothing is overwritten.
    pub supersedes: Option<Uuid>,
    pub driver_license: Option<DriverLicense>,
    pub correction: Option<Correction>,
    /// What came of the visit; only on `visit_outcome`.
    pub outcome: Option<VisitOutcome>,
    /// Files the record names (face, fingerprints, documents), in
    /// canonical order ([`Attachment::canonical_cmp`]).
    pub attachments: Vec<Attachment>,
    /// Required fingers that could not be taken, sorted by finger name.
    pub biometric_exemptions: Vec<BiometricExemption>,
}

/// A stored record: the body plus what the laptop adds when it stores it.
/// Its canonical bytes (see [`crate::canonical`]) and their SHA-256, the
/// content hash, identify it everywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// UUIDv7 made on the laptop.
    pub record_id: Uuid,
    /// The laptop (device) that enrolled it.
    pub device_id: Uuid,
    /// Gap-free per-device sequence number, from 1.
    pub device_seq: u64,
    /// When the laptop stored it (laptop clock: informative, never used for ordering).
    pub enrolled_at: DateTime<Utc>,
    pub body: RecordBody,
}

string_enum!(
    /// A finger, for fingerprint attachments and exemptions.
    Finger {
        RightThumb => "right_thumb",
        RightIndex => "right_index",
        RightMiddle => "right_middle",
        RightRing => "right_ring",
        RightLittle => "right_little",
        LeftThumb => "left_thumb",
        LeftIndex => "left_index",
        LeftMiddle => "left_middle",
        LeftRing => "left_ring",
        LeftLittle => "left_little",
    }
);

impl Finger {
    /// Vietnamese name, for officers ("ngón cái phải").
    pub fn label_vi(self) -> &'static str {
        match self {
            Finger::RightThumb => "ngón cái phải",
            Finger::RightIndex => "ngón trỏ phải",
            Finger::RightMiddle => "ngón giữa phải",
            Finger::RightRing => "ngón áp út phải",
            Finger::RightLittle => "ngón út phải",
            Finger::LeftThumb => "ngón cái trái",
            Finger::LeftIndex => "ngón trỏ trái",
            Finger::LeftMiddle => "ngón giữa trái",
            Finger::LeftRing => "ngón áp út trái",
            Finger::LeftLittle => "ngón út trái",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

string_enum!(
    /// Media types an attachment may have (`proto/attachments-v1.md` section 2).
    MediaType {
        Jpeg => "image/jpeg",
        Png => "image/png",
        Jp2 => "image/jp2",
        Wsq => "image/x-wsq",
        Pdf => "application/pdf",
    }
);

impl MediaType {
    /// Recognises a file's type from its first bytes; `None` for anything else.
    pub fn sniff(bytes: &[u8]) -> Option<MediaType> {
        const JP2: &[u8] = b"\x00\x00\x00\x0cjP  \r\n\x87\n";
        if bytes.starts_with(b"\xff\xd8\xff") {
            Some(MediaType::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(MediaType::Png)
        } else if bytes.starts_with(JP2) {
            Some(MediaType::Jp2)
        } else if bytes.starts_with(b"\xff\xa0") {
            Some(MediaType::Wsq)
        } else if bytes.starts_with(b"%PDF") {
            Some(MediaType::Pdf)
        } else {
            None
        }
    }
}

/// What an attachment shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttachmentKind {
    Face,
    Fingerprint(Finger),
    Document,
}

impl AttachmentKind {
    /// Every kind (not in canonical order: that is by [`Self::as_str`]).
    pub fn all() -> impl Iterator<Item = AttachmentKind> {
        [AttachmentKind::Face, AttachmentKind::Document]
            .into_iter()
            .chain(Finger::ALL.iter().map(|f| AttachmentKind::Fingerprint(*f)))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentKind::Face => "face",
            AttachmentKind::Document => "document",
            AttachmentKind::Fingerprint(f) => match f {
                Finger::RightThumb => "fingerprint_right_thumb",
                Finger::RightIndex => "fingerprint_right_index",
                Finger::RightMiddle => "fingerprint_right_middle",
                Finger::RightRing => "fingerprint_right_ring",
                Finger::RightLittle => "fingerprint_right_little",
                Finger::LeftThumb => "fingerprint_left_thumb",
                Finger::LeftIndex => "fingerprint_left_index",
                Finger::LeftMiddle => "fingerprint_left_middle",
                Finger::LeftRing => "fingerprint_left_ring",
                Finger::LeftLittle => "fingerprint_left_little",
            },
        }
    }

    pub fn parse(s: &str) -> Option<AttachmentKind> {
        match s {
            "face" => Some(AttachmentKind::Face),
            "document" => Some(AttachmentKind::Document),
            _ => s
                .strip_prefix("fingerprint_")
                .and_then(Finger::parse)
                .map(AttachmentKind::Fingerprint),
        }
    }

    /// The accepted spellings, for error messages.
    pub fn allowed() -> String {
        "face | fingerprint_<finger> | document".to_owned()
    }

    /// Media types allowed for this kind.
    pub fn media_types(self) -> &'static [MediaType] {
        match self {
            AttachmentKind::Face => &[MediaType::Jpeg, MediaType::Png, MediaType::Jp2],
            AttachmentKind::Fingerprint(_) => &[MediaType::Wsq, MediaType::Png, MediaType::Jp2],
            AttachmentKind::Document => &[MediaType::Jpeg, MediaType::Png, MediaType::Pdf],
        }
    }

    /// Vietnamese label for officers.
    pub fn label_vi(self) -> String {
        match self {
            AttachmentKind::Face => "ảnh chân dung".to_owned(),
            AttachmentKind::Document => "ảnh giấy tờ".to_owned(),
            AttachmentKind::Fingerprint(f) => format!("vân tay {}", f.label_vi()),
        }
    }
}

impl std::fmt::Display for AttachmentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Largest attachment, in bytes (plaintext).
pub const MAX_ATTACHMENT_BYTES: u64 = 4 * 1024 * 1024;
/// Most `document` attachments on one record.
pub const MAX_DOCUMENTS: usize = 5;

/// A file the record names by the SHA-256 of its bytes; the bytes travel
/// separately (`proto/attachments-v1.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub kind: AttachmentKind,
    pub media_type: MediaType,
    /// SHA-256 of the plaintext bytes.
    pub sha256: [u8; 32],
    /// Plaintext length in bytes, 1 to [`MAX_ATTACHMENT_BYTES`].
    pub size: u64,
}

impl Attachment {
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }

    /// Canonical order: by kind name, then by hash.
    pub fn canonical_cmp(&self, other: &Attachment) -> std::cmp::Ordering {
        self.kind
            .as_str()
            .cmp(other.kind.as_str())
            .then(self.sha256.cmp(&other.sha256))
    }
}

string_enum!(
    /// Why a fingerprint could not be taken.
    ExemptionReason {
        Amputated => "amputated",
        Injured => "injured",
        Unreadable => "unreadable",
    }
);

/// A required finger the officer could not capture, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BiometricExemption {
    pub finger: Finger,
    pub reason: ExemptionReason,
    pub note: Option<String>,
}

/// Which biometrics an `id_card_application` must carry: set per campaign
/// on the tokens issued for its laptops (`central provision --biometrics`),
/// kept by the laptop and checked again by central.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct BiometricPolicy {
    pub face: bool,
    fingers: u16,
}

impl BiometricPolicy {
    /// Nothing required.
    pub const NONE: BiometricPolicy = BiometricPolicy {
        face: false,
        fingers: 0,
    };
    /// A face and all ten fingers.
    pub const FULL: BiometricPolicy = BiometricPolicy {
        face: true,
        fingers: 0x3ff,
    };

    /// Everything either policy requires.
    pub fn union(self, other: BiometricPolicy) -> BiometricPolicy {
        BiometricPolicy {
            face: self.face || other.face,
            fingers: self.fingers | other.fingers,
        }
    }

    pub fn new(face: bool, fingers: &[Finger]) -> BiometricPolicy {
        BiometricPolicy {
            face,
            fingers: fingers.iter().fold(0, |acc, f| acc | f.bit()),
        }
    }

    pub fn requires(&self, finger: Finger) -> bool {
        self.fingers & finger.bit() != 0
    }

    /// The required fingers, in [`Finger::ALL`] order.
    pub fn fingers(&self) -> Vec<Finger> {
        Finger::ALL
            .iter()
            .copied()
            .filter(|f| self.requires(*f))
            .collect()
    }

    pub fn is_none(&self) -> bool {
        *self == BiometricPolicy::NONE
    }

    /// Reads `none`, or a comma-separated list of `face`, finger names and
    /// `all` (the ten fingers): `face,all`, `face,right_index,left_index`.
    pub fn parse(spec: &str) -> Result<BiometricPolicy, String> {
        let spec = spec.trim();
        if spec == "none" {
            return Ok(BiometricPolicy::NONE);
        }
        let mut out = BiometricPolicy::NONE;
        for item in spec.split(',').map(str::trim) {
            match item {
                "face" => out.face = true,
                "all" => out.fingers = BiometricPolicy::FULL.fingers,
                _ => match Finger::parse(item) {
                    Some(f) => out.fingers |= f.bit(),
                    None => {
                        return Err(format!(
                            "`{item}` is not one of: none | face | all | {}",
                            Finger::allowed()
                        ));
                    }
                },
            }
        }
        Ok(out)
    }

    /// The spelling [`Self::parse`] reads back: `none`, `face,all`, `face,right_index`.
    pub fn spec(&self) -> String {
        if self.is_none() {
            return "none".to_owned();
        }
        let mut items: Vec<&str> = Vec::new();
        if self.face {
            items.push("face");
        }
        if self.fingers == BiometricPolicy::FULL.fingers {
            items.push("all");
        } else {
            items.extend(self.fingers().into_iter().map(Finger::as_str));
        }
        items.join(",")
    }
}

impl serde::Serialize for BiometricPolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.spec())
    }
}

impl<'de> serde::Deserialize<'de> for BiometricPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        BiometricPolicy::parse(&s).map_err(serde::de::Error::custom)
    }
}
