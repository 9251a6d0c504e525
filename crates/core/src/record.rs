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
