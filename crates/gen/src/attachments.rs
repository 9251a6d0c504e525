//! Synthetic biometric attachments: a face photo (JPEG-shaped) and fingerprint images
//! (WSQ-shaped) for `id_card_application` records.
//!
//! The files are not real images: each is a correct header, incompressible
//! pseudo-random bytes standing in for entropy-coded image data, and the end marker. That
//! is what sizing, hashing, sealing, uploading and media-type sniffing need, at realistic
//! sizes (a face ≈ 60 KB, a fingerprint ≈ 25 KB, each ±10 %).
//!
//! # Determinism
//!
//! Every file has its own `ChaCha8Rng`, seeded with a BLAKE3 hash of the generator seed,
//! the record's index in the stream and the attachment kind. The record stream of
//! [`crate::Generator`] is therefore untouched: turning attachments on or off, or
//! changing which ones, gives the same records, and the same inputs always give the same
//! bytes. Like the rest of the crate, this module performs no I/O.
//!
//! ```
//! use doorstep_gen::attachments::{AttachmentSpec, generate};
//!
//! let spec: AttachmentSpec = "face,right_index,left_index".parse().unwrap();
//! let files = generate(42, 0, &spec);
//! assert_eq!(files.len(), 3);
//! assert_eq!(files[0].kind.as_str(), "face");
//! assert_eq!(files[0].file_name, "000000-face.jpg");
//! assert!(files[0].bytes.starts_with(b"\xff\xd8\xff\xe0"));
//! assert_eq!(files[1].kind.as_str(), "fingerprint_right_index");
//! assert_eq!(files[1].file_name, "000000-right_index.wsq");
//! assert!(files[1].bytes.starts_with(b"\xff\xa0"));
//! assert_eq!(files, generate(42, 0, &spec));
//! ```

use std::fmt;
use std::str::FromStr;

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Default target size of a face photo, in bytes.
pub const DEFAULT_FACE_BYTES: usize = 60_000;
/// Default target size of a fingerprint image, in bytes.
pub const DEFAULT_FINGERPRINT_BYTES: usize = 25_000;

/// BLAKE3 key-derivation context of the per-file random streams.
const SEED_CONTEXT: &str = "doorstep-gen attachments v1";

/// JPEG start of image and a JFIF APP0 segment (version 1.01, aspect ratio 1:1, no
/// thumbnail).
const JFIF_HEADER: [u8; 20] = [
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00,
];
/// JPEG end of image.
const JPEG_EOI: [u8; 2] = [0xFF, 0xD9];
/// WSQ start of image.
const WSQ_SOI: [u8; 2] = [0xFF, 0xA0];
/// WSQ comment marker.
const WSQ_COM: [u8; 2] = [0xFF, 0xA8];
/// WSQ end of image.
const WSQ_EOI: [u8; 2] = [0xFF, 0xA1];
/// The NIST_COM text of every fingerprint: a 500 ppi, 8-bit grey 416×416 plain
/// impression, as ten-print livescan devices produce.
const NIST_COM: &str = "NIST_COM 9\nPIX_WIDTH 416\nPIX_HEIGHT 416\nPIX_DEPTH 8\nPPI 500\n\
LOSSY 1\nCOLORSPACE GRAY\nCOMPRESSION WSQ\nWSQ_BITRATE 0.750000";

/// A finger, as named in attachment kinds (`fingerprint_<finger>`) and policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Finger {
    RightThumb,
    RightIndex,
    RightMiddle,
    RightRing,
    RightLittle,
    LeftThumb,
    LeftIndex,
    LeftMiddle,
    LeftRing,
    LeftLittle,
}

impl Finger {
    /// The ten fingers, in canonical order (right hand thumb to little, then left).
    pub const ALL: [Finger; 10] = [
        Finger::RightThumb,
        Finger::RightIndex,
        Finger::RightMiddle,
        Finger::RightRing,
        Finger::RightLittle,
        Finger::LeftThumb,
        Finger::LeftIndex,
        Finger::LeftMiddle,
        Finger::LeftRing,
        Finger::LeftLittle,
    ];

    /// The name, e.g. `"right_thumb"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Finger::RightThumb => "right_thumb",
            Finger::RightIndex => "right_index",
            Finger::RightMiddle => "right_middle",
            Finger::RightRing => "right_ring",
            Finger::RightLittle => "right_little",
            Finger::LeftThumb => "left_thumb",
            Finger::LeftIndex => "left_index",
            Finger::LeftMiddle => "left_middle",
            Finger::LeftRing => "left_ring",
            Finger::LeftLittle => "left_little",
        }
    }

    /// Parses a name as returned by [`Finger::as_str`] (exact spelling).
    pub fn parse(s: &str) -> Option<Finger> {
        Finger::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

impl fmt::Display for Finger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an attachment shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttachmentKind {
    Face,
    Fingerprint(Finger),
}

impl AttachmentKind {
    /// The `kind` of the attachment in a record: `"face"`, `"fingerprint_right_thumb"`…
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentKind::Face => "face",
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

    /// The file name of this attachment of the record at `index`:
    /// `000042-face.jpg`, `000042-right_thumb.wsq` (index zero-padded to at least 6 digits).
    pub fn file_name(self, index: u64) -> String {
        match self {
            AttachmentKind::Face => format!("{index:06}-face.jpg"),
            AttachmentKind::Fingerprint(f) => format!("{index:06}-{}.wsq", f.as_str()),
        }
    }
}

impl fmt::Display for AttachmentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which attachments to make, and how big.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentSpec {
    /// A face photo.
    pub face: bool,
    /// These fingers' prints, in [`Finger::ALL`] order without repeats when parsed.
    pub fingers: Vec<Finger>,
    /// Target size of the face photo in bytes (the file is within ±10 % of it).
    pub face_bytes: usize,
    /// Target size of each fingerprint image in bytes (within ±10 %).
    pub fingerprint_bytes: usize,
}

impl Default for AttachmentSpec {
    /// `face,all` at the default sizes.
    fn default() -> Self {
        AttachmentSpec {
            face: true,
            fingers: Finger::ALL.to_vec(),
            face_bytes: DEFAULT_FACE_BYTES,
            fingerprint_bytes: DEFAULT_FINGERPRINT_BYTES,
        }
    }
}

impl AttachmentSpec {
    /// Reads a policy string at the default sizes: comma-separated items, each `face`, a
    /// finger name (`right_thumb` … `left_little`) or `all` (the ten fingers); or `none`
    /// alone (no attachment). Spaces around items are ignored, repeats are harmless.
    /// Examples: `face,all`, `face,right_index,left_index`, `none`.
    pub fn parse(policy: &str) -> Result<AttachmentSpec, SpecError> {
        let mut spec = AttachmentSpec {
            face: false,
            fingers: Vec::new(),
            ..AttachmentSpec::default()
        };
        let items: Vec<&str> = policy.split(',').map(str::trim).collect();
        if items == ["none"] {
            return Ok(spec);
        }
        let mut fingers = [false; 10];
        for item in items {
            match item {
                "" => return Err(SpecError::EmptyItem),
                "none" => return Err(SpecError::NoneNotAlone),
                "face" => spec.face = true,
                "all" => fingers = [true; 10],
                _ => {
                    let finger = Finger::parse(item).ok_or_else(|| SpecError::UnknownItem {
                        item: item.to_owned(),
                    })?;
                    if let Some(slot) = Finger::ALL
                        .iter()
                        .position(|f| *f == finger)
                        .and_then(|i| fingers.get_mut(i))
                    {
                        *slot = true;
                    }
                }
            }
        }
        spec.fingers = Finger::ALL
            .into_iter()
            .zip(fingers)
            .filter_map(|(f, on)| on.then_some(f))
            .collect();
        Ok(spec)
    }

    /// True when nothing is made (`none`).
    pub fn is_empty(&self) -> bool {
        !self.face && self.fingers.is_empty()
    }

    /// The attachment kinds this spec makes, face first, then the fingers in order.
    pub fn kinds(&self) -> impl Iterator<Item = AttachmentKind> + '_ {
        self.face
            .then_some(AttachmentKind::Face)
            .into_iter()
            .chain(self.fingers.iter().map(|f| AttachmentKind::Fingerprint(*f)))
    }

    /// The spelling [`AttachmentSpec::parse`] reads back: `none`, `face,all`,
    /// `face,right_index,left_index`.
    pub fn policy(&self) -> String {
        if self.is_empty() {
            return "none".to_owned();
        }
        let mut items: Vec<&str> = Vec::new();
        if self.face {
            items.push("face");
        }
        if Finger::ALL.iter().all(|f| self.fingers.contains(f)) {
            items.push("all");
        } else {
            items.extend(self.fingers.iter().map(|f| f.as_str()));
        }
        items.join(",")
    }
}

impl FromStr for AttachmentSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AttachmentSpec::parse(s)
    }
}

/// The accepted policy items, for error messages.
fn allowed_items() -> String {
    let mut s = String::from("face, all, none (alone)");
    for f in Finger::ALL {
        s.push_str(", ");
        s.push_str(f.as_str());
    }
    s
}

/// A policy string [`AttachmentSpec::parse`] does not accept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// An item that is not `face`, `all`, `none` or a finger name.
    #[error("unknown biometrics item `{item}`: allowed are {}", allowed_items())]
    UnknownItem { item: String },
    /// `none` together with other items.
    #[error("`none` must stand alone in a biometrics list")]
    NoneNotAlone,
    /// An empty list or an empty item (`face,,all`).
    #[error("empty item in the biometrics list: allowed are {}", allowed_items())]
    EmptyItem,
}

/// One generated file.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    pub kind: AttachmentKind,
    /// File name, as [`AttachmentKind::file_name`].
    pub file_name: String,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("kind", &self.kind)
            .field("file_name", &self.file_name)
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// The attachments of the record at `index` (0-based position in the stream of a
/// generator seeded with `seed`), in [`AttachmentSpec::kinds`] order. Empty for `none`.
pub fn generate(seed: u64, index: u64, spec: &AttachmentSpec) -> Vec<Attachment> {
    spec.kinds()
        .map(|kind| Attachment {
            kind,
            file_name: kind.file_name(index),
            bytes: attachment_bytes(seed, index, kind, spec),
        })
        .collect()
}

/// The bytes of one attachment, with the size of `spec` for its kind.
pub fn attachment_bytes(
    seed: u64,
    index: u64,
    kind: AttachmentKind,
    spec: &AttachmentSpec,
) -> Vec<u8> {
    match kind {
        AttachmentKind::Face => face_jpeg(seed, index, spec.face_bytes),
        AttachmentKind::Fingerprint(f) => fingerprint_wsq(seed, index, f, spec.fingerprint_bytes),
    }
}

/// A JPEG-shaped face photo of about `target` bytes (±10 %, never shorter than its
/// header and end marker): SOI and a JFIF APP0 segment, byte-stuffed pseudo-random
/// "entropy-coded data" (every `FF` is followed by `00`, so no marker, in particular no
/// `FF D9`, occurs inside), then EOI `FF D9`.
pub fn face_jpeg(seed: u64, index: u64, target: usize) -> Vec<u8> {
    let mut rng = rng_for(seed, index, AttachmentKind::Face);
    let size = draw_size(&mut rng, target, JFIF_HEADER.len() + JPEG_EOI.len());
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&JFIF_HEADER);
    push_entropy(
        &mut rng,
        &mut out,
        size - JFIF_HEADER.len() - JPEG_EOI.len(),
    );
    out.extend_from_slice(&JPEG_EOI);
    out
}

/// A WSQ-shaped fingerprint image of about `target` bytes (±10 %, never shorter than
/// its headers and end marker): SOI `FF A0`, a comment segment `FF A8` holding a
/// `NIST_COM` block, byte-stuffed pseudo-random data, then EOI `FF A1`.
pub fn fingerprint_wsq(seed: u64, index: u64, finger: Finger, target: usize) -> Vec<u8> {
    let mut rng = rng_for(seed, index, AttachmentKind::Fingerprint(finger));
    // Comment segment: marker, big-endian length (counting itself), text.
    let com_len = NIST_COM.len() + 2;
    let header_len = WSQ_SOI.len() + WSQ_COM.len() + com_len;
    let size = draw_size(&mut rng, target, header_len + WSQ_EOI.len());
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&WSQ_SOI);
    out.extend_from_slice(&WSQ_COM);
    out.extend_from_slice(&u16::try_from(com_len).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(NIST_COM.as_bytes());
    push_entropy(&mut rng, &mut out, size - header_len - WSQ_EOI.len());
    out.extend_from_slice(&WSQ_EOI);
    out
}

/// The random stream of one attachment of one record.
fn rng_for(seed: u64, index: u64, kind: AttachmentKind) -> ChaCha8Rng {
    let mut hasher = blake3::Hasher::new_derive_key(SEED_CONTEXT);
    hasher.update(&seed.to_le_bytes());
    hasher.update(&index.to_le_bytes());
    hasher.update(kind.as_str().as_bytes());
    ChaCha8Rng::from_seed(*hasher.finalize().as_bytes())
}

/// A total size within ±10 % of `target`, at least `min`.
fn draw_size(rng: &mut ChaCha8Rng, target: usize, min: usize) -> usize {
    let spread = target / 10;
    let lo = target - spread;
    let hi = target.saturating_add(spread);
    rng.random_range(lo..=hi).max(min)
}

/// Appends `len` pseudo-random bytes with JPEG-style byte stuffing: each `FF` is followed
/// by `00`, and the last byte is never `FF`, so no marker appears inside the data.
fn push_entropy(rng: &mut ChaCha8Rng, out: &mut Vec<u8>, len: usize) {
    let start = out.len();
    out.resize(start + len, 0);
    let Some(body) = out.get_mut(start..) else {
        return;
    };
    rng.fill_bytes(body);
    let mut i = 0;
    while i < body.len() {
        if body.get(i) == Some(&0xFF) {
            match body.get_mut(i + 1) {
                Some(next) => *next = 0x00,
                // Last byte: no room for the stuffing byte.
                None => {
                    if let Some(last) = body.get_mut(i) {
                        *last = 0x00;
                    }
                }
            }
            i += 2;
        } else {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn distinct_bytes(bytes: &[u8]) -> usize {
        let mut seen = [false; 256];
        for b in bytes {
            seen[usize::from(*b)] = true;
        }
        seen.iter().filter(|s| **s).count()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn same_inputs_give_the_same_bytes() {
        let spec = AttachmentSpec::default();
        let a = generate(7, 3, &spec);
        let b = generate(7, 3, &spec);
        assert_eq!(a.len(), 11);
        assert_eq!(a, b);
    }

    #[test]
    fn records_seeds_and_kinds_give_different_bytes() {
        let spec = AttachmentSpec::default();
        let base = generate(7, 3, &spec);
        for other in [generate(7, 4, &spec), generate(8, 3, &spec)] {
            for (x, y) in base.iter().zip(&other) {
                assert_eq!(x.kind, y.kind);
                assert_ne!(x.bytes, y.bytes, "{:?}", x.kind);
            }
        }
        // Every file of one record differs from every other (no duplicate blobs).
        for (i, x) in base.iter().enumerate() {
            for y in &base[i + 1..] {
                assert_ne!(x.bytes, y.bytes, "{:?} and {:?}", x.kind, y.kind);
            }
        }
    }

    #[test]
    fn a_subset_spec_gives_the_same_files_as_the_full_one() {
        let full = generate(5, 9, &AttachmentSpec::default());
        let some = generate(5, 9, &"left_index,face".parse().unwrap());
        assert_eq!(some.len(), 2);
        assert_eq!(some[0], full[0]);
        assert_eq!(
            some[1],
            *full
                .iter()
                .find(|a| a.kind == AttachmentKind::Fingerprint(Finger::LeftIndex))
                .unwrap()
        );
    }

    #[test]
    fn sizes_are_within_ten_percent_and_vary() {
        let spec = AttachmentSpec::default();
        let mut face_sizes = Vec::new();
        for index in 0..40 {
            for a in generate(1, index, &spec) {
                let target = match a.kind {
                    AttachmentKind::Face => {
                        face_sizes.push(a.bytes.len());
                        DEFAULT_FACE_BYTES
                    }
                    AttachmentKind::Fingerprint(_) => DEFAULT_FINGERPRINT_BYTES,
                };
                let len = a.bytes.len();
                assert!(
                    len >= target * 9 / 10 && len <= target * 11 / 10,
                    "{:?}: {len} bytes for a target of {target}",
                    a.kind
                );
            }
        }
        face_sizes.sort_unstable();
        face_sizes.dedup();
        assert!(face_sizes.len() > 30, "sizes hardly vary: {face_sizes:?}");
        // Custom sizes are honoured.
        let small = AttachmentSpec {
            face_bytes: 10_000,
            fingerprint_bytes: 2_000,
            ..AttachmentSpec::default()
        };
        for a in generate(1, 0, &small) {
            let target = if a.kind == AttachmentKind::Face {
                10_000
            } else {
                2_000
            };
            assert!(a.bytes.len().abs_diff(target) <= target / 10, "{a:?}");
        }
    }

    #[test]
    fn tiny_targets_still_give_well_formed_files() {
        for target in [0, 1, 10, 100] {
            let face = face_jpeg(1, 0, target);
            assert!(face.starts_with(&JFIF_HEADER) && face.ends_with(&JPEG_EOI));
            let wsq = fingerprint_wsq(1, 0, Finger::LeftLittle, target);
            assert!(wsq.starts_with(&WSQ_SOI) && wsq.ends_with(&WSQ_EOI));
        }
    }

    #[test]
    fn face_is_jpeg_shaped() {
        for index in 0..20 {
            let face = face_jpeg(3, index, DEFAULT_FACE_BYTES);
            assert!(face.starts_with(&JFIF_HEADER));
            assert!(face.ends_with(&JPEG_EOI));
            let body = &face[JFIF_HEADER.len()..face.len() - JPEG_EOI.len()];
            assert!(!contains(body, &JPEG_EOI), "FF D9 inside record {index}");
            // The only FF D9 is the last two bytes (none across the boundaries either).
            let first_eoi = face.windows(2).position(|w| w == JPEG_EOI);
            assert_eq!(first_eoi, Some(face.len() - 2));
            assert!(
                body.windows(2)
                    .filter(|w| w[0] == 0xFF)
                    .all(|w| w[1] == 0x00)
            );
            assert_ne!(body.last(), Some(&0xFF));
            assert!(distinct_bytes(body) > 250);
        }
    }

    #[test]
    fn fingerprint_is_wsq_shaped() {
        for finger in Finger::ALL {
            let wsq = fingerprint_wsq(3, 17, finger, DEFAULT_FINGERPRINT_BYTES);
            assert!(wsq.starts_with(&[0xFF, 0xA0, 0xFF, 0xA8]));
            let len = usize::from(u16::from_be_bytes([wsq[4], wsq[5]]));
            let text = std::str::from_utf8(&wsq[6..4 + len]).unwrap();
            assert!(text.starts_with("NIST_COM "), "{text}");
            assert!(text.contains("COMPRESSION WSQ"));
            assert!(wsq.ends_with(&WSQ_EOI));
            let body = &wsq[4 + len..wsq.len() - 2];
            assert!(!contains(body, &WSQ_EOI));
            assert!(distinct_bytes(&wsq) > 200);
        }
    }

    #[test]
    fn kinds_and_file_names() {
        assert_eq!(AttachmentKind::Face.file_name(1), "000001-face.jpg");
        assert_eq!(
            AttachmentKind::Fingerprint(Finger::RightThumb).file_name(1),
            "000001-right_thumb.wsq"
        );
        assert_eq!(
            AttachmentKind::Fingerprint(Finger::LeftLittle).file_name(1_234_567),
            "1234567-left_little.wsq"
        );
        for f in Finger::ALL {
            assert_eq!(
                AttachmentKind::Fingerprint(f).as_str(),
                format!("fingerprint_{f}")
            );
            assert_eq!(Finger::parse(f.as_str()), Some(f));
        }
    }

    #[test]
    fn policy_strings_parse() {
        let all = AttachmentSpec::parse("face,all").unwrap();
        assert_eq!(all, AttachmentSpec::default());
        assert_eq!(all.policy(), "face,all");

        let two = AttachmentSpec::parse(" left_index , face,right_index,left_index").unwrap();
        assert!(two.face);
        assert_eq!(two.fingers, [Finger::RightIndex, Finger::LeftIndex]);
        assert_eq!(two.policy(), "face,right_index,left_index");
        assert_eq!(two.kinds().count(), 3);

        let none = AttachmentSpec::parse("none").unwrap();
        assert!(none.is_empty());
        assert_eq!(none.policy(), "none");
        assert!(generate(1, 0, &none).is_empty());

        let fingers_only = AttachmentSpec::parse("all").unwrap();
        assert!(!fingers_only.face);
        assert_eq!(fingers_only.fingers.len(), 10);
        assert_eq!(fingers_only.policy(), "all");
    }

    #[test]
    fn bad_policy_strings_say_what_is_wrong() {
        let err = AttachmentSpec::parse("face,thumb").unwrap_err();
        assert_eq!(
            err,
            SpecError::UnknownItem {
                item: "thumb".into()
            }
        );
        let text = err.to_string();
        assert!(text.contains("`thumb`"), "{text}");
        for allowed in ["face", "all", "none", "right_thumb", "left_little"] {
            assert!(text.contains(allowed), "{text}");
        }
        assert_eq!(
            AttachmentSpec::parse("none,face"),
            Err(SpecError::NoneNotAlone)
        );
        assert_eq!(AttachmentSpec::parse(""), Err(SpecError::EmptyItem));
        assert_eq!(AttachmentSpec::parse("face,"), Err(SpecError::EmptyItem));
        assert!("FACE".parse::<AttachmentSpec>().is_err());
    }
}
