//! Vietnamese text hygiene: NFC normalisation, whitespace collapsing, name
//! checks and accent-insensitive search keys.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// NFC-normalises `input`, trims it and collapses every run of Unicode
/// whitespace into one ASCII space. NFD input ("Nguye\u{302}\u{303}n") and
/// NFC input ("Nguyễn") give the same result.
pub fn clean(input: &str) -> String {
    // Fast path: most input is already NFC (the quick check answers
    // without normalising) with single spaces. Text made only of ASCII and
    // precomposed Vietnamese letters is NFC without looking anything up.
    if input
        .chars()
        .all(|c| c.is_ascii() || is_vietnamese_letter(c))
        || is_nfc_quick(input.chars()) == IsNormalized::Yes
    {
        if is_tidy(input) {
            return input.to_owned();
        }
        return collapse(input.chars(), input.len());
    }
    collapse(input.nfc(), input.len())
}

/// A precomposed letter of the Vietnamese alphabet (with its tone mark), in
/// upper or lower case, outside ASCII: each is alphabetic, is its own NFC
/// form and has combining class 0 (checked for every one by a test), so
/// text made of these and ASCII needs no Unicode table look-ups.
fn is_vietnamese_letter(c: char) -> bool {
    matches!(c,
        'À'..='Ã' | 'È'..='Ê' | 'Ì' | 'Í' | 'Ò'..='Õ' | 'Ù' | 'Ú' | 'Ý'
        | 'à'..='ã' | 'è'..='ê' | 'ì' | 'í' | 'ò'..='õ' | 'ù' | 'ú' | 'ý'
        | 'Ă' | 'ă' | 'Đ' | 'đ' | 'Ĩ' | 'ĩ' | 'Ũ' | 'ũ' | 'Ơ' | 'ơ' | 'Ư' | 'ư'
        | '\u{1EA0}'..='\u{1EF9}')
}

/// No leading, trailing or repeated whitespace and no whitespace but ' '.
fn is_tidy(s: &str) -> bool {
    let b = s.as_bytes();
    if b.first() == Some(&b' ') || b.last() == Some(&b' ') || s.contains("  ") {
        return false;
    }
    !s.chars().any(|c| c.is_whitespace() && c != ' ')
}

fn collapse(chars: impl Iterator<Item = char>, len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut pending_space = false;
    for c in chars {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}

/// True when `s` contains a control character (other than whitespace, which
/// [`clean`] already folded away).
pub fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Why a (cleaned) personal name is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// Nothing left after cleaning.
    Empty,
    /// A character that is not a letter, a combining mark, a space, an
    /// apostrophe or a hyphen (digits, punctuation, symbols, emoji...).
    InvalidCharacter(char),
    /// No letter at all (e.g. "- '").
    NoLetter,
    /// Longer than [`MAX_NAME_CHARS`].
    TooLong,
}

/// Longest accepted full name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Checks a cleaned full name. Letters of any script are accepted (ethnic
/// minority names such as "H'Hen Niê" or "Y-Moan Ênuôl" use apostrophes and
/// hyphens); digits and other symbols are not.
pub fn check_name(cleaned: &str) -> Result<(), NameProblem> {
    if cleaned.is_empty() {
        return Err(NameProblem::Empty);
    }
    if cleaned.len() > MAX_NAME_CHARS && cleaned.chars().count() > MAX_NAME_CHARS {
        return Err(NameProblem::TooLong);
    }
    let mut letters = 0usize;
    for c in cleaned.chars() {
        if c.is_ascii_alphabetic() || is_vietnamese_letter(c) || c.is_alphabetic() {
            letters += 1;
        } else if !(is_combining_mark(c) || c == ' ' || c == '\'' || c == '\u{2019}' || c == '-') {
            return Err(NameProblem::InvalidCharacter(c));
        }
    }
    if letters == 0 {
        return Err(NameProblem::NoLetter);
    }
    Ok(())
}

/// Accent-insensitive, case-insensitive key for searching Vietnamese text:
/// "Nguyễn Thị Hoà", "nguyen thi hoa" and "NGUYỄN THỊ HÒA" share a key.
/// "đ"/"Đ" do not decompose in Unicode, so they are mapped to "d" explicitly.
pub fn fold_key(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut pending_space = false;
    for c in input.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        match c {
            'đ' | 'Đ' => out.push('d'),
            _ => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// The text of a CSV file as people export it: UTF-8, with the byte
/// order mark Excel's "CSV UTF-8" writes removed. A file that is not
/// UTF-8 gives the line (from 1) of its first bad byte.
pub(crate) fn csv_text(bytes: &[u8]) -> Result<&str, usize> {
    match std::str::from_utf8(bytes) {
        Ok(t) => Ok(t.strip_prefix('\u{feff}').unwrap_or(t)),
        Err(e) => Err(1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfd_and_nfc_clean_to_the_same_string() {
        let nfc = "Nguyễn Thị Lan";
        let nfd: String = nfc.nfd().collect();
        assert_ne!(nfc, nfd);
        assert_eq!(clean(&nfd), nfc);
        assert_eq!(clean(nfc), nfc);
    }

    #[test]
    fn vietnamese_letters_are_nfc_letters_without_combining_class() {
        use unicode_normalization::char::canonical_combining_class;
        let all: Vec<char> = ('\u{80}'..='\u{1FFF}')
            .filter(|&c| is_vietnamese_letter(c))
            .collect();
        // 32 in Latin-1, 12 in Latin Extended-A/B, 90 from U+1EA0.
        assert_eq!(all.len(), 134);
        for c in all {
            assert!(c.is_alphabetic(), "{c}");
            assert_eq!(canonical_combining_class(c), 0, "{c}");
            assert_eq!(is_nfc_quick(std::iter::once(c)), IsNormalized::Yes, "{c}");
            assert_eq!(std::iter::once(c).nfc().collect::<String>(), c.to_string());
        }
    }

    #[test]
    fn whitespace_is_trimmed_and_collapsed() {
        assert_eq!(clean("  Trần \t Văn\u{00a0}\u{00a0}Nam \n"), "Trần Văn Nam");
        assert_eq!(clean(" \t "), "");
    }

    #[test]
    fn names_accept_letters_apostrophes_hyphens() {
        assert_eq!(check_name("Nguyễn Thị Lan"), Ok(()));
        assert_eq!(check_name("H'Hen Niê"), Ok(()));
        assert_eq!(check_name("Y-Moan Ênuôl"), Ok(()));
    }

    #[test]
    fn names_refuse_empty_digits_symbols() {
        assert_eq!(check_name(""), Err(NameProblem::Empty));
        assert_eq!(
            check_name("Nguyễn Văn 2"),
            Err(NameProblem::InvalidCharacter('2'))
        );
        assert_eq!(check_name("Lan @"), Err(NameProblem::InvalidCharacter('@')));
        assert_eq!(check_name("- '"), Err(NameProblem::NoLetter));
        assert_eq!(check_name(&"a".repeat(101)), Err(NameProblem::TooLong));
    }

    #[test]
    fn fold_key_ignores_accents_case_and_tone_placement() {
        assert_eq!(fold_key("Nguyễn Thị Hoà"), "nguyen thi hoa");
        assert_eq!(fold_key("NGUYỄN  THỊ HÒA"), "nguyen thi hoa");
        assert_eq!(fold_key("Đặng Đức"), "dang duc");
    }
}
