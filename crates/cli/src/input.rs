//! Reading records to enroll: one JSON object, a JSON array of objects, or
//! NDJSON (one object per line). NDJSON is streamed line by line, so a
//! million-record file never sits in memory and one bad line does not stop
//! the others.

use std::io::{BufRead, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

/// One input record and where it was.
#[derive(Debug)]
pub struct Item {
    /// 1-based position of the record in the input.
    pub position: u64,
    /// 1-based line where it starts, when known.
    pub line: Option<u64>,
    /// The record: already parsed, or a line of text parsed later (on a
    /// worker thread).
    pub payload: Payload,
}

/// A record's JSON, parsed or not yet.
#[derive(Debug)]
pub enum Payload {
    Parsed(Value),
    Line(String),
}

impl Item {
    /// The JSON value, or why the text is not JSON.
    #[cfg(test)]
    pub fn into_value(self) -> Result<Value, String> {
        match self.payload {
            Payload::Parsed(v) => Ok(v),
            Payload::Line(text) => {
                serde_json::from_str::<Value>(&text).map_err(|e| syntax_message(&e))
            }
        }
    }
}

/// Why a line is not JSON, as listed to the officer.
pub fn syntax_message(e: &serde_json::Error) -> String {
    format!("not valid JSON at column {}: {e}", e.column())
}

/// Where a record is, in the officer's language: `#3 (line 5)` /
/// `#3 (dòng 5)`.
pub fn locate(position: u64, line: Option<u64>, lang: crate::lang::Lang) -> String {
    match (line, lang) {
        (Some(line), crate::lang::Lang::Vi) => format!("#{position} (dòng {line})"),
        (Some(line), crate::lang::Lang::En) => format!("#{position} (line {line})"),
        (None, _) => format!("#{position}"),
    }
}

/// Counts bytes read, for the progress bar.
#[derive(Debug)]
pub struct Counting<R> {
    inner: R,
    pub count: Arc<AtomicU64>,
}

impl<R: Read> Counting<R> {
    pub fn new(inner: R) -> Self {
        Counting {
            inner,
            count: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Input that cannot be read at all (not a per-record problem).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read input: {0}")]
    Io(#[from] std::io::Error),
    #[error("the input is not valid JSON at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "the input is not UTF-8 text at line {line}: convert it to UTF-8 (legacy TCVN3/VNI/Windows-1258 files must be converted first)"
    )]
    NotUtf8 { line: u64 },
}

enum Mode {
    Lines { next_line: u64 },
    Buffered(std::vec::IntoIter<(Option<u64>, Payload)>),
    Done,
}

/// Iterator over the records of an input.
pub struct Records<R: BufRead> {
    reader: R,
    mode: Mode,
    position: u64,
    pending_first: Option<(u64, String)>,
}

impl<R: BufRead> Records<R> {
    /// Looks at the start of the input to choose between array, NDJSON and
    /// a single (possibly pretty-printed) object.
    pub fn new(mut reader: R) -> Result<Self, InputError> {
        skip_bom(&mut reader)?;
        let first = first_non_ws(&mut reader)?;
        if first == Some(b'[') {
            let mut text = Vec::new();
            reader.read_to_end(&mut text)?;
            let values: Vec<Value> = serde_json::from_slice(&text).map_err(syntax)?;
            let items: Vec<_> = values
                .into_iter()
                .map(|v| (None, Payload::Parsed(v)))
                .collect();
            return Ok(Records {
                reader,
                mode: Mode::Buffered(items.into_iter()),
                position: 0,
                pending_first: None,
            });
        }
        // Read the first non-empty line: if it is a whole JSON value the
        // input is NDJSON; otherwise it is one multi-line document.
        let mut line_no = 0u64;
        loop {
            let mut buf = Vec::new();
            let n = reader.read_until(b'\n', &mut buf)?;
            if n == 0 {
                return Ok(Records {
                    reader,
                    mode: Mode::Done,
                    position: 0,
                    pending_first: None,
                });
            }
            line_no += 1;
            let text = String::from_utf8(buf).map_err(|_| InputError::NotUtf8 { line: line_no })?;
            if text.trim().is_empty() {
                continue;
            }
            if serde_json::from_str::<Value>(&text).is_ok() {
                return Ok(Records {
                    reader,
                    mode: Mode::Lines {
                        next_line: line_no + 1,
                    },
                    position: 0,
                    pending_first: Some((line_no, text)),
                });
            }
            let mut all = text.into_bytes();
            reader.read_to_end(&mut all)?;
            let items = match documents(&all, line_no) {
                Ok(items) => items,
                // Not a sequence of JSON documents. NDJSON whose first line is
                // broken: read it line by line like any other NDJSON, so the
                // bad line is listed and the others stored. Otherwise (one
                // broken multi-line document) the syntax error stands.
                Err(e) => match ndjson_lines(&all, line_no) {
                    Some(items) => items,
                    None => return Err(e),
                },
            };
            return Ok(Records {
                reader,
                mode: Mode::Buffered(items.into_iter()),
                position: 0,
                pending_first: None,
            });
        }
    }
}

/// Parses concatenated JSON documents (e.g. pretty-printed objects one
/// after another), each with the line it starts on. `first_line` is the
/// line number of `bytes[0]`.
fn documents(bytes: &[u8], first_line: u64) -> Result<Vec<(Option<u64>, Payload)>, InputError> {
    let mut items = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<Value>();
    let (mut counted_to, mut line) = (0usize, first_line);
    loop {
        let end_of_previous = stream.byte_offset();
        let start = bytes[end_of_previous..]
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .map_or(bytes.len(), |p| end_of_previous + p);
        line += bytes[counted_to..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        counted_to = start;
        match stream.next() {
            None => return Ok(items),
            Some(Ok(value)) => items.push((Some(line), Payload::Parsed(value))),
            Some(Err(e)) => return Err(shift(syntax(e), first_line - 1)),
        }
    }
}

/// The non-empty lines of `bytes` as NDJSON records, if at least one line
/// after the first is a whole JSON object (so the input is NDJSON, not a
/// broken pretty-printed document).
fn ndjson_lines(bytes: &[u8], first_line: u64) -> Option<Vec<(Option<u64>, Payload)>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let lines: Vec<(Option<u64>, Payload)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (Some(first_line + i as u64), Payload::Line(l.to_owned())))
        .collect();
    let ndjson = lines.iter().skip(1).any(|(_, p)| match p {
        Payload::Line(l) => serde_json::from_str::<Value>(l).is_ok_and(|v| v.is_object()),
        Payload::Parsed(_) => false,
    });
    ndjson.then_some(lines)
}

/// Readers that can tell whether input is already buffered (so taking
/// the next record will not wait on the source).
pub trait Buffered {
    fn has_buffered(&self) -> bool;
}

impl<T: Read> Buffered for std::io::BufReader<T> {
    fn has_buffered(&self) -> bool {
        !self.buffer().is_empty()
    }
}

impl Buffered for &[u8] {
    fn has_buffered(&self) -> bool {
        !self.is_empty()
    }
}

impl<R: BufRead + Buffered> Records<R> {
    /// True when the next record can be produced without waiting on the
    /// source (it is in memory already, or the reader has bytes buffered).
    pub fn input_buffered(&self) -> bool {
        match &self.mode {
            Mode::Buffered(items) => items.len() > 0,
            Mode::Lines { .. } => self.pending_first.is_some() || self.reader.has_buffered(),
            Mode::Done => false,
        }
    }
}

impl<R: BufRead> Iterator for Records<R> {
    type Item = Result<Item, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.mode {
            Mode::Done => None,
            Mode::Buffered(items) => {
                let (line, payload) = items.next()?;
                self.position += 1;
                Some(Ok(Item {
                    position: self.position,
                    line,
                    payload,
                }))
            }
            Mode::Lines { next_line } => {
                let (line, text) = match self.pending_first.take() {
                    Some(first) => first,
                    None => loop {
                        let mut buf = Vec::new();
                        match self.reader.read_until(b'\n', &mut buf) {
                            Err(e) => return Some(Err(e.into())),
                            Ok(0) => {
                                self.mode = Mode::Done;
                                return None;
                            }
                            Ok(_) => {}
                        }
                        let line = *next_line;
                        *next_line += 1;
                        let text = match String::from_utf8(buf) {
                            Ok(t) => t,
                            Err(_) => return Some(Err(InputError::NotUtf8 { line })),
                        };
                        if !text.trim().is_empty() {
                            break (line, text);
                        }
                    },
                };
                self.position += 1;
                Some(Ok(Item {
                    position: self.position,
                    line: Some(line),
                    payload: Payload::Line(text),
                }))
            }
        }
    }
}

fn syntax(e: serde_json::Error) -> InputError {
    InputError::Syntax {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    }
}

fn shift(e: InputError, lines: u64) -> InputError {
    match e {
        InputError::Syntax {
            line,
            column,
            message,
        } => InputError::Syntax {
            line: line + usize::try_from(lines).unwrap_or(0),
            column,
            message,
        },
        other => other,
    }
}

fn skip_bom<R: BufRead>(reader: &mut R) -> std::io::Result<()> {
    let buf = reader.fill_buf()?;
    if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
        reader.consume(3);
    }
    Ok(())
}

/// The first non-whitespace byte, without consuming it.
fn first_non_ws<R: BufRead>(reader: &mut R) -> std::io::Result<Option<u8>> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        if let Some(i) = buf.iter().position(|b| !b.is_ascii_whitespace()) {
            let b = buf[i];
            // Leading blank lines are dropped; line numbers count from the
            // first non-blank line in that case, which is rare enough.
            if buf[..i].contains(&b'\n') {
                let last_nl = buf[..i]
                    .iter()
                    .rposition(|&c| c == b'\n')
                    .map_or(0, |p| p + 1);
                reader.consume(last_nl);
            }
            return Ok(Some(b));
        }
        let n = buf.len();
        reader.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str) -> Vec<(u64, Option<u64>, bool)> {
        Records::new(s.as_bytes())
            .unwrap()
            .map(|i| i.unwrap())
            .map(|i| (i.position, i.line, i.into_value().is_ok()))
            .collect()
    }

    #[test]
    fn single_object_array_and_ndjson() {
        assert_eq!(read(r#"{"a":1}"#), vec![(1, Some(1), true)]);
        assert_eq!(read("{\n  \"a\": 1\n}\n"), vec![(1, Some(1), true)]);
        assert_eq!(
            read(r#" [{"a":1},{"b":2}]"#),
            vec![(1, None, true), (2, None, true)]
        );
        assert_eq!(
            read("{\"a\":1}\n\n{oops\n{\"c\":3}\n"),
            vec![(1, Some(1), true), (2, Some(3), false), (3, Some(4), true)]
        );
        assert_eq!(read(""), vec![]);
        assert_eq!(read("\u{feff}{\"a\":1}"), vec![(1, Some(1), true)]);
        // Several pretty-printed documents: each has its own line.
        assert_eq!(
            read("{\n \"a\": 1\n}\n\n{\n \"b\": 2\n}\n"),
            vec![(1, Some(1), true), (2, Some(5), true)]
        );
        // NDJSON with a broken first line: the line is listed, the rest read.
        assert_eq!(
            read("{oops\n{\"a\":1}\n{\"b\":2}\n"),
            vec![(1, Some(1), false), (2, Some(2), true), (3, Some(3), true)]
        );
    }

    #[test]
    fn broken_array_is_a_syntax_error() {
        assert!(matches!(
            Records::new(&b"[{\"a\":1},"[..]),
            Err(InputError::Syntax { .. })
        ));
    }
}
