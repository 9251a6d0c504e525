//! Language of people-facing output. Vietnamese by default (officers);
//! English on request.

pub use doorstep_core::violation::Lang;

pub trait Pick {
    fn from_flag(flag: &str) -> Lang;
    /// Chooses between a Vietnamese and an English text.
    fn pick<'a>(self, vi: &'a str, en: &'a str) -> &'a str;
}

impl Pick for Lang {
    fn from_flag(flag: &str) -> Lang {
        Lang::parse(flag).unwrap_or_default()
    }

    fn pick<'a>(self, vi: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }
}
