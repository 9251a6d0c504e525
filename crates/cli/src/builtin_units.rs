//! Unit lists built into the binary, so the demo (and a first try of
//! Doorstep) needs no file: the 2023 list of provinces, districts and
//! communes (data/units/units_2023.csv, MIT licence, see data/units/README.md).

/// Administrative units as of 2023 (`code,name,level,parent_code`).
pub const UNITS_2023: &[u8] = include_bytes!("../../../data/units/units_2023.csv");
/// Where [`UNITS_2023`] comes from, as recorded in stores.
pub const UNITS_2023_SOURCE: &str = "built-in: units_2023.csv (data/units, MIT)";
