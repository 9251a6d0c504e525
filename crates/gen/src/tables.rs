//! Static vocabulary and weight tables used by the generator.
//!
//! Every weighted table is a non-empty slice of `(value, weight)` pairs; weights are
//! relative integers (mostly per-mille). All strings are written in NFC; a unit test
//! checks this.

use crate::RecordKind;

/// Record kind mix when no kind filter is given (per-mille).
pub(crate) const KIND_MIX: &[(RecordKind, u32)] = &[
    (RecordKind::IdCardApplication, 350),
    (RecordKind::EidRegistration, 300),
    (RecordKind::EidActivation, 250),
    (RecordKind::DriverLicenseLink, 70),
    (RecordKind::InfoCorrection, 30),
];

/// Where the visit took place.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Place {
    #[default]
    Home,
    Hospital,
    Workplace,
    BoardingHouse,
    MobilePoint,
    Station,
    Other,
}

impl Place {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Place::Home => "home",
            Place::Hospital => "hospital",
            Place::Workplace => "workplace",
            Place::BoardingHouse => "boarding_house",
            Place::MobilePoint => "mobile_point",
            Place::Station => "station",
            Place::Other => "other",
        }
    }
}

/// Place mix (per-mille).
pub(crate) const PLACE_MIX: &[(Place, u32)] = &[
    (Place::Home, 420),
    (Place::Workplace, 200),
    (Place::BoardingHouse, 120),
    (Place::MobilePoint, 120),
    (Place::Hospital, 60),
    (Place::Station, 60),
    (Place::Other, 20),
];

/// Why the team came to the citizen (optional on most places).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Reason {
    Bedridden,
    #[default]
    Elderly,
    Disabled,
    Worker,
    TemporaryResident,
}

impl Reason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::Bedridden => "bedridden",
            Reason::Elderly => "elderly",
            Reason::Disabled => "disabled",
            Reason::Worker => "worker",
            Reason::TemporaryResident => "temporary_resident",
        }
    }
}

/// Reasons for hospital visits.
pub(crate) const HOSPITAL_REASONS: &[(Reason, u32)] = &[
    (Reason::Bedridden, 700),
    (Reason::Elderly, 180),
    (Reason::Disabled, 120),
];

/// Reasons for the ~10% of home visits that carry one.
pub(crate) const HOME_REASONS: &[(Reason, u32)] = &[
    (Reason::Elderly, 450),
    (Reason::Bedridden, 300),
    (Reason::Disabled, 250),
];

/// Reasons for the few mobile-point / station / other visits that carry one.
pub(crate) const MISC_REASONS: &[(Reason, u32)] =
    &[(Reason::Elderly, 600), (Reason::Disabled, 400)];

/// Age brackets `(min, max)` inclusive, with weights.
pub(crate) type AgeTable = &'static [((u32, u32), u32)];

/// General population met during campaigns (ID card holders: 14+).
pub(crate) const AGE_GENERAL: AgeTable = &[
    ((14, 17), 70),
    ((18, 30), 250),
    ((31, 45), 280),
    ((46, 60), 220),
    ((61, 75), 130),
    ((76, 85), 50),
];

/// Workers and boarding-house tenants: mostly 18–50.
pub(crate) const AGE_WORKING: AgeTable = &[
    ((18, 25), 300),
    ((26, 35), 350),
    ((36, 50), 250),
    ((51, 60), 100),
];

/// Adults only (driver licence holders).
pub(crate) const AGE_ADULT: AgeTable = &[
    ((18, 30), 300),
    ((31, 45), 350),
    ((46, 60), 250),
    ((61, 75), 100),
];

/// Elderly citizens: 65+.
pub(crate) const AGE_ELDERLY: AgeTable = &[((65, 74), 500), ((75, 84), 350), ((85, 95), 150)];

/// Bedridden citizens: skewed old.
pub(crate) const AGE_BEDRIDDEN: AgeTable = &[
    ((18, 39), 150),
    ((40, 59), 200),
    ((60, 79), 400),
    ((80, 95), 250),
];

/// Citizens with disabilities.
pub(crate) const AGE_DISABLED: AgeTable = &[((14, 29), 250), ((30, 59), 450), ((60, 85), 300)];

/// Children applying under the "under 14" procedure.
pub(crate) const AGE_CHILD: AgeTable = &[((6, 13), 1)];

/// Family names, weighted (per-mille).
pub(crate) const FAMILY_NAMES: &[(&str, u32)] = &[
    ("Nguyễn", 380),
    ("Trần", 110),
    ("Lê", 95),
    ("Phạm", 70),
    ("Hoàng", 25),
    ("Huỳnh", 25),
    ("Phan", 45),
    ("Vũ", 20),
    ("Võ", 20),
    ("Đặng", 20),
    ("Bùi", 20),
    ("Đỗ", 14),
    ("Hồ", 13),
    ("Ngô", 13),
    ("Dương", 10),
    ("Lý", 5),
    ("Đinh", 15),
    ("Trương", 15),
    ("Lâm", 12),
    ("Mai", 12),
    ("Hà", 12),
    ("Cao", 10),
    ("Đoàn", 10),
    ("Tô", 8),
    ("Lưu", 8),
    ("Thái", 5),
    ("Châu", 4),
    ("Tạ", 4),
];

/// Male middle names, weighted.
pub(crate) const MALE_MIDDLE: &[(&str, u32)] = &[
    ("Văn", 350),
    ("Hữu", 70),
    ("Đức", 70),
    ("Minh", 80),
    ("Quang", 60),
    ("Công", 50),
    ("Thành", 50),
    ("Xuân", 40),
    ("Quốc", 50),
    ("Trọng", 30),
    ("Đình", 40),
    ("Tấn", 30),
    ("Gia", 30),
    ("Hoàng", 25),
    ("Anh", 25),
];

/// Female middle names, weighted.
pub(crate) const FEMALE_MIDDLE: &[(&str, u32)] = &[
    ("Thị", 420),
    ("Ngọc", 100),
    ("Thu", 60),
    ("Thanh", 60),
    ("Kim", 50),
    ("Mỹ", 50),
    ("Bích", 40),
    ("Thúy", 40),
    ("Hồng", 40),
    ("Phương", 30),
    ("Bảo", 30),
    ("Khánh", 25),
    ("Hoài", 25),
    ("Diễm", 15),
    ("Minh", 15),
];

/// Male given names (uniform).
pub(crate) const MALE_GIVEN: &[&str] = &[
    "Hùng", "Dũng", "Nam", "Tuấn", "Long", "Phong", "Khánh", "Huy", "Sơn", "Thắng", "Đạt", "Quân",
    "Hải", "Hiếu", "Minh", "Trung", "Tâm", "Thành", "Tùng", "Vinh", "Phúc", "Lộc", "Tài", "Toàn",
    "Cường", "Bình", "An", "Bảo", "Khang", "Khoa", "Nhân", "Nghĩa", "Thịnh", "Trí", "Duy", "Kiên",
    "Việt", "Hòa", "Tú", "Đông", "Lâm", "Hậu",
];

/// Female given names (uniform).
pub(crate) const FEMALE_GIVEN: &[&str] = &[
    "Lan", "Hương", "Mai", "Hoa", "Linh", "Trang", "Thảo", "Ngọc", "Yến", "Nhung", "Hằng",
    "Phương", "Hà", "Anh", "Vy", "Nhi", "Huyền", "Thủy", "Loan", "Dung", "Hạnh", "Tuyết", "Oanh",
    "Vân", "Hiền", "Châu", "Quyên", "My", "Nga", "Thư", "Trinh", "Diệp", "Giang", "Uyên", "Xuân",
    "Liên", "Tâm",
];

/// Mobile prefixes (3 digits), weighted roughly by carrier market share.
pub(crate) const PHONE_PREFIXES: &[(&str, u32)] = &[
    // Viettel
    ("032", 30),
    ("033", 30),
    ("034", 30),
    ("035", 30),
    ("036", 30),
    ("037", 30),
    ("038", 30),
    ("039", 30),
    ("086", 40),
    ("096", 40),
    ("097", 40),
    ("098", 40),
    // Vinaphone
    ("081", 20),
    ("082", 20),
    ("083", 20),
    ("084", 20),
    ("085", 20),
    ("088", 20),
    ("091", 30),
    ("094", 30),
    // MobiFone
    ("070", 20),
    ("076", 20),
    ("077", 20),
    ("078", 20),
    ("079", 20),
    ("089", 20),
    ("090", 30),
    ("093", 30),
    // Vietnamobile / Gmobile / Itel
    ("056", 8),
    ("058", 8),
    ("092", 8),
    ("099", 5),
    ("087", 5),
    ("095", 3),
];

/// Street names for "Số N, đường X" style details.
pub(crate) const STREETS: &[&str] = &[
    "Nguyễn Trãi",
    "Lê Lợi",
    "Trần Hưng Đạo",
    "Hai Bà Trưng",
    "Quang Trung",
    "Lý Thường Kiệt",
    "Phan Đình Phùng",
    "Nguyễn Văn Cừ",
    "Cách Mạng Tháng Tám",
    "Nguyễn Du",
    "Điện Biên Phủ",
    "Lê Hồng Phong",
    "Võ Thị Sáu",
    "Hùng Vương",
    "Nguyễn Huệ",
    "Bạch Đằng",
    "Trần Phú",
    "Ngô Quyền",
    "Yersin",
    "Phú Lợi",
    "Thích Quảng Đức",
    "Huỳnh Văn Lũy",
    "Nguyễn Thị Minh Khai",
    "Lê Thị Riêng",
    "Phạm Ngọc Thạch",
    "Nguyễn An Ninh",
    "Mỹ Phước Tân Vạn",
    "Hồ Văn Cống",
];

/// Hamlet / village names for rural details ("Ấp X", "Thôn X").
pub(crate) const HAMLETS: &[&str] = &[
    "Bình Phước",
    "Tân Thạnh",
    "Phú Hòa",
    "An Lợi",
    "Bình Đức",
    "Long Bình",
    "Tân Hiệp",
    "Hòa Lân",
    "Bình Thuận",
    "Phước Hải",
    "Đông Tư",
    "Bàu Bàng",
    "Suối Giữa",
    "Cây Trường",
    "Lai Khê",
    "Tân Định",
    "Vĩnh Tân",
    "Mỹ Hiệp",
];

/// Suffixes sometimes appended to hamlet names ("Ấp Bình Phước B").
pub(crate) const HAMLET_SUFFIXES: &[&str] = &["A", "B", "1", "2", "3"];

/// Boarding-house (nhà trọ) names.
pub(crate) const BOARDING_NAMES: &[&str] = &[
    "Hưng Phát",
    "Phú Cường",
    "Minh Tâm",
    "Thanh Bình",
    "Phước Lộc",
    "Kim Ngân",
    "Tấn Phát",
    "Hồng Phúc",
    "An Khang",
    "Thịnh Vượng",
    "Bảy Hoa",
    "Út Mười",
    "Cô Ba",
    "Tư Hùng",
    "Sáu Liên",
    "Phát Đạt",
];

/// Words for the kind of boarding house.
pub(crate) const BOARDING_KINDS: &[&str] = &["dãy trọ", "nhà trọ", "khu trọ"];

/// Fields that an info-correction request may concern.
pub(crate) const CORRECTION_FIELDS: &[&str] = &[
    "full_name",
    "date_of_birth",
    "sex",
    "permanent_address",
    "personal_id",
];

/// Short Vietnamese notes per correction field (same order as [`CORRECTION_FIELDS`]).
pub(crate) const CORRECTION_NOTES: &[&[&str]] = &[
    &[
        "Sai họ tên so với giấy khai sinh, đề nghị điều chỉnh",
        "Sai dấu trong tên đệm so với giấy khai sinh",
        "Thiếu tên đệm trên Cơ sở dữ liệu quốc gia về dân cư",
    ],
    &[
        "Sai ngày sinh so với giấy khai sinh, chuyển Tư pháp xã xác minh",
        "Sai năm sinh, công dân đã cung cấp bản sao giấy khai sinh",
        "Ngày sinh chỉ có năm, bổ sung ngày tháng theo giấy khai sinh",
    ],
    &[
        "Sai giới tính trên Cơ sở dữ liệu quốc gia về dân cư",
        "Giới tính không khớp với giấy khai sinh, đề nghị xác minh",
    ],
    &[
        "Sai địa chỉ thường trú sau khi sáp nhập ấp, khu phố",
        "Thiếu số nhà trong địa chỉ thường trú",
        "Địa chỉ thường trú chưa cập nhật theo sổ hộ khẩu cũ",
    ],
    &[
        "Số định danh cá nhân không khớp với chứng minh nhân dân cũ",
        "Trùng số định danh cá nhân, đề nghị Phòng PC06 xác minh",
    ],
];
