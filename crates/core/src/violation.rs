//! A reason a record was refused: where (JSON path), what (stable code) and
//! why, in English and in Vietnamese for officers.

use serde::Serialize;

/// Language for people-facing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Vietnamese: the default for officers.
    #[default]
    Vi,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s.to_ascii_lowercase().as_str() {
            "vi" | "vi-vn" | "vi_vn" => Some(Lang::Vi),
            "en" | "en-us" | "en-gb" | "en_us" => Some(Lang::En),
            _ => None,
        }
    }
}

/// One rule a record breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// JSON path of the offending value, e.g. `$.citizen.personal_id`.
    pub path: String,
    /// Stable machine-readable code, e.g. `personal_id.year_mismatch`.
    pub code: &'static str,
    /// English explanation.
    pub message: String,
    /// Vietnamese explanation for officers.
    pub message_vi: String,
}

impl Violation {
    pub fn new(
        path: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
        message_vi: impl Into<String>,
    ) -> Self {
        Violation {
            path: path.into(),
            code,
            message: message.into(),
            message_vi: message_vi.into(),
        }
    }

    pub fn message_in(&self, lang: Lang) -> &str {
        match lang {
            Lang::Vi => &self.message_vi,
            Lang::En => &self.message,
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} [{}]", self.path, self.message, self.code)
    }
}
