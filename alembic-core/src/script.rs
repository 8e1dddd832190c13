//! Revision scripts: one `.sql` file per revision (SPEC section 4), parsed into a [`Script`].
//!
//! ```sql
//! -- Add indexes to prompts table          <- message (first header line)
//! --
//! -- Revision ID: 2_add_indexes            <- `Key: value` lines, keys case-insensitive
//! -- Revises: 1_initial_migration
//!
//! -- +upgrade                              <- required
//! CREATE INDEX ix_prompts_name ON prompts (name);
//!
//! -- +downgrade                            <- optional; empty means "cannot be downgraded"
//! DROP INDEX ix_prompts_name;
//! ```
//!
//! The parser reports every problem of a file at once ([`ScriptError`], each with the file and
//! the 1-based line), because a user fixing a broken script should not have to rerun the tool
//! once per mistake. Line numbers count `\r\n`, `\r` and `\n` each as one line ending, the same
//! normalisation the [`Checksum`] uses.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::revision::is_valid_id;
use crate::{Checksum, Revision};

/// A parsed revision script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// Id, down revisions, labels and dependencies: what the graph needs.
    pub revision: Revision,
    /// The header's first line.
    pub message: String,
    /// `Create Date`, as written.
    pub create_date: Option<String>,
    /// `false` when the header says `Transactional: false`: the revision runs outside any
    /// transaction (e.g. `CREATE INDEX CONCURRENTLY`).
    pub transactional: bool,
    /// The SQL between `-- +upgrade` and `-- +downgrade` (or the end of the file).
    pub upgrade_sql: String,
    /// The SQL after `-- +downgrade`; `None` when that section is missing or holds no SQL,
    /// meaning the revision cannot be downgraded.
    pub downgrade_sql: Option<String>,
    /// SHA-256 of the file with line endings normalised to `\n`.
    pub checksum: Checksum,
    /// The file it was read from.
    pub path: PathBuf,
    /// 1-based line of the `Revision ID` header, for messages that point at the revision.
    pub id_line: usize,
}

impl Script {
    /// The revision id (`Revision ID` header).
    pub fn id(&self) -> &str {
        &self.revision.id
    }

    /// Whether the script has downgrade SQL, i.e. whether `downgrade` may run through it.
    pub fn is_downgradable(&self) -> bool {
        self.downgrade_sql.is_some()
    }
}

/// The header keys a script may use, in the order the template writes them. Matching is
/// case-insensitive and treats runs of spaces as one.
pub const HEADER_KEYS: [&str; 6] = [
    "Revision ID",
    "Revises",
    "Create Date",
    "Branch Labels",
    "Depends On",
    "Transactional",
];

/// One problem in one script file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {kind}", path.display())]
pub struct ScriptError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line the problem is on (1 for problems of the whole file).
    pub line: usize,
    /// What is wrong.
    pub kind: ScriptErrorKind,
}

/// What is wrong in a script; [`ScriptError`] adds where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScriptErrorKind {
    #[error("the file is not valid UTF-8 (first bad byte at offset {offset}); save it as UTF-8")]
    NotUtf8 { offset: usize },
    #[error(
        "no `Revision ID` in the header; the file must start with `-- <message>` followed by \
         `-- Revision ID: <id>`"
    )]
    MissingRevisionId,
    #[error(
        "unknown header key {key:?} (expected one of: {}){}",
        HEADER_KEYS.join(", "),
        suggestion.as_ref().map(|s| format!("; did you mean {s:?}?")).unwrap_or_default()
    )]
    UnknownKey {
        key: String,
        suggestion: Option<String>,
    },
    #[error(
        "header line {text:?} is not `Key: value`; end the header with a blank line before \
         free-form comments"
    )]
    NotKeyValue { text: String },
    #[error(
        "header key {key:?} is below the end of the header (the blank line {blank_line}); \
         write `--` instead of an empty line inside the header"
    )]
    KeyAfterHeader { key: String, blank_line: usize },
    #[error("header key {key:?} appears twice (first on line {first_line}); keep one")]
    DuplicateKey { key: String, first_line: usize },
    #[error(
        "invalid revision id {value:?} in `{key}`: an id is 1 to 32 characters of A-Z, a-z, \
         0-9 and _"
    )]
    InvalidId { key: String, value: String },
    #[error("`{key}` lists {value:?} twice; list it once")]
    DuplicateEntry { key: String, value: String },
    #[error("invalid `Transactional` value {value:?}; write `true` or `false`")]
    InvalidTransactional { value: String },
    #[error("no `-- +upgrade` line; put `-- +upgrade` alone on a line before the upgrade SQL")]
    MissingUpgrade,
    #[error("`{marker}` appears twice (first on line {first_line}); a script has one of each")]
    DuplicateMarker {
        marker: &'static str,
        first_line: usize,
    },
    #[error("`-- +downgrade` comes before `-- +upgrade`; put the upgrade section first")]
    DowngradeBeforeUpgrade,
    #[error("SQL before `-- +upgrade` would never run; move it below the `-- +upgrade` line")]
    SqlBeforeUpgrade,
    #[error("unknown section marker {text:?}; the sections are `-- +upgrade` and `-- +downgrade`")]
    UnknownMarker { text: String },
}

const UPGRADE: &str = "-- +upgrade";
const DOWNGRADE: &str = "-- +downgrade";

/// 1-based lines of the header fields, for messages about a script's relations (a missing
/// parent is best reported at its `Revises` line). `None` where the header lacks the key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HeaderLines {
    pub revision_id: Option<usize>,
    pub revises: Option<usize>,
    pub branch_labels: Option<usize>,
    pub depends_on: Option<usize>,
}

/// Parses one revision script.
///
/// `path` is only used for [`Script::path`] and for error messages; the content is `bytes`.
/// Returns every problem found in the file, in line order.
pub fn parse_script(path: &Path, bytes: &[u8]) -> Result<Script, Vec<ScriptError>> {
    parse_script_with_lines(path.to_path_buf(), bytes).map(|(script, _)| script)
}

/// What a line of the file is, as far as the structure of a script goes.
enum LineKind<'a> {
    Blank,
    /// A `--` comment; the text after the dashes, trimmed.
    Comment(&'a str),
    Marker(Marker),
    /// A `-- +word` line with an unknown word: most likely a typo of a marker.
    UnknownMarker,
    Sql,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Marker {
    Upgrade,
    Downgrade,
}

fn classify(line: &str) -> LineKind<'_> {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return LineKind::Blank;
    }
    let Some(comment) = trimmed.strip_prefix("--") else {
        return LineKind::Sql;
    };
    let comment = comment.trim();
    if let Some(word) = comment.strip_prefix('+') {
        if word.eq_ignore_ascii_case("upgrade") {
            return LineKind::Marker(Marker::Upgrade);
        }
        if word.eq_ignore_ascii_case("downgrade") {
            return LineKind::Marker(Marker::Downgrade);
        }
        // Only a lone word is taken for a marker typo: `-- +1 to this` stays a comment.
        if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphabetic() || c == '_') {
            return LineKind::UnknownMarker;
        }
    }
    LineKind::Comment(comment)
}

/// Splits text into lines the way the checksum normalises them: `\r\n`, `\r` and `\n` each end a
/// line. A final line ending does not start an extra empty line.
fn split_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&text[start..i]);
                i += 1;
                start = i;
            }
            b'\r' => {
                lines.push(&text[start..i]);
                i += if bytes.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < bytes.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// 1-based line of byte `offset`, counting line endings as [`split_lines`] does.
fn line_of_offset(bytes: &[u8], offset: usize) -> usize {
    let before = &bytes[..offset.min(bytes.len())];
    let mut line = 1;
    for (i, &b) in before.iter().enumerate() {
        let ends_line = b == b'\n' || (b == b'\r' && before.get(i + 1) != Some(&b'\n'));
        if ends_line {
            line += 1;
        }
    }
    line
}

/// `"Revision  id"` -> `"revision id"`: how keys are compared.
fn normalise_key(key: &str) -> String {
    key.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn known_key(key: &str) -> Option<&'static str> {
    // Every script has several header lines, so the usual case (an ASCII key) is compared in
    // place, word by word. Other keys take the general path below, whose Unicode lowercasing
    // this must not change (the Kelvin sign lowercases to an ASCII `k`).
    if key.is_ascii() {
        return HEADER_KEYS
            .iter()
            .copied()
            .find(|k| same_words_ignore_ascii_case(key, k));
    }
    let norm = normalise_key(key);
    HEADER_KEYS
        .iter()
        .copied()
        .find(|k| k.to_lowercase() == norm)
}

/// Whether `key` has the words of `known` (single-spaced), ignoring ASCII case and how much
/// whitespace separates or surrounds them.
fn same_words_ignore_ascii_case(key: &str, known: &str) -> bool {
    let mut words = key.split_whitespace();
    known
        .split(' ')
        .all(|k| words.next().is_some_and(|w| w.eq_ignore_ascii_case(k)))
        && words.next().is_none()
}

/// The known key closest to a misspelt one, if it is close enough to be a plausible typo.
fn suggest_key(key: &str) -> Option<String> {
    let norm = normalise_key(key);
    HEADER_KEYS
        .iter()
        .map(|k| (edit_distance(&norm, &k.to_lowercase()), *k))
        .filter(|(d, k)| *d <= 3.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.to_string())
}

/// Levenshtein distance over chars; keys are short, so the quadratic cost is irrelevant.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Splits `key: value` on the first colon, if the line has that shape.
fn split_key_value(text: &str) -> Option<(&str, &str)> {
    let (key, value) = text.split_once(':')?;
    let key = key.trim();
    if key.is_empty() {
        return None;
    }
    Some((key, value.trim()))
}

/// Collects errors with the file path attached.
struct Errors<'p> {
    path: &'p Path,
    list: Vec<ScriptError>,
}

impl Errors<'_> {
    fn push(&mut self, line: usize, kind: ScriptErrorKind) {
        self.list.push(ScriptError {
            path: self.path.to_path_buf(),
            line,
            kind,
        });
    }
}

/// Header values as they are collected, before the `Revision` is assembled.
#[derive(Default)]
struct Header {
    message: String,
    id: Option<String>,
    revises: Vec<String>,
    branch_labels: Vec<String>,
    depends_on: Vec<String>,
    create_date: Option<String>,
    transactional: Option<bool>,
    /// First line of each key seen, by index into [`HEADER_KEYS`], for duplicate detection.
    seen: [Option<usize>; HEADER_KEYS.len()],
}

/// Parses a comma-separated list of ids, checking each one.
fn parse_id_list(key: &str, value: &str, line: usize, errors: &mut Errors<'_>) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    if value.is_empty() {
        return ids;
    }
    for item in value.split(',').map(str::trim) {
        if !is_valid_id(item) {
            errors.push(
                line,
                ScriptErrorKind::InvalidId {
                    key: key.to_string(),
                    value: item.to_string(),
                },
            );
        } else if ids.iter().any(|seen| seen == item) {
            errors.push(
                line,
                ScriptErrorKind::DuplicateEntry {
                    key: key.to_string(),
                    value: item.to_string(),
                },
            );
        } else {
            ids.push(item.to_string());
        }
    }
    ids
}

impl Header {
    /// Records one `Key: value` line (`key` already known to be one of [`HEADER_KEYS`]).
    fn set(
        &mut self,
        key: &'static str,
        value: &str,
        line: usize,
        lines: &mut HeaderLines,
        errors: &mut Errors<'_>,
    ) {
        let index = HEADER_KEYS.iter().position(|k| *k == key).unwrap_or(0);
        if let Some(first_line) = self.seen[index] {
            errors.push(
                line,
                ScriptErrorKind::DuplicateKey {
                    key: key.to_string(),
                    first_line,
                },
            );
            return;
        }
        self.seen[index] = Some(line);
        match key {
            "Revision ID" => {
                lines.revision_id = Some(line);
                if is_valid_id(value) {
                    self.id = Some(value.to_string());
                } else {
                    errors.push(
                        line,
                        ScriptErrorKind::InvalidId {
                            key: key.to_string(),
                            value: value.to_string(),
                        },
                    );
                }
            }
            "Revises" => {
                lines.revises = Some(line);
                self.revises = parse_id_list(key, value, line, errors);
            }
            "Branch Labels" => {
                lines.branch_labels = Some(line);
                self.branch_labels = parse_id_list(key, value, line, errors);
            }
            "Depends On" => {
                lines.depends_on = Some(line);
                self.depends_on = parse_id_list(key, value, line, errors);
            }
            "Create Date" => {
                self.create_date = (!value.is_empty()).then(|| value.to_string());
            }
            "Transactional" => {
                if value.eq_ignore_ascii_case("true") {
                    self.transactional = Some(true);
                } else if value.eq_ignore_ascii_case("false") {
                    self.transactional = Some(false);
                } else {
                    errors.push(
                        line,
                        ScriptErrorKind::InvalidTransactional {
                            value: value.to_string(),
                        },
                    );
                }
            }
            _ => {}
        }
    }
}

/// Joins the lines of a section and trims the blank space around it. `lines` are consecutive
/// lines of `text`, as [`split_lines`] cut them.
fn section_text(text: &str, lines: &[&str]) -> String {
    let (Some(first), Some(last)) = (lines.first(), lines.last()) else {
        return String::new();
    };
    // With `\n` line endings the joined lines are the file's own text from the first line to
    // the last: copy that span once instead of joining (every script has two sections).
    let start = first.as_ptr() as usize - text.as_ptr() as usize;
    let end = last.as_ptr() as usize - text.as_ptr() as usize + last.len();
    match text.get(start..end) {
        Some(span) if !span.contains('\r') => span.trim().to_string(),
        _ => lines.join("\n").trim().to_string(),
    }
}

/// Extends a section (a range of line indexes) by the line at `index`. A section's lines are
/// consecutive in every script that parses; in one that does not, the sections are not used.
fn extend_section(section: &mut Option<(usize, usize)>, index: usize) {
    match section {
        Some((_, end)) => *end = index + 1,
        None => *section = Some((index, index + 1)),
    }
}

/// [`parse_script`], also returning where each header field was, for
/// [`crate::source::ScriptDirectory`]'s messages.
///
/// Takes the path by value: it becomes [`Script::path`] without a copy.
pub(crate) fn parse_script_with_lines(
    path: PathBuf,
    bytes: &[u8],
) -> Result<(Script, HeaderLines), Vec<ScriptError>> {
    let mut errors = Errors {
        path: &path,
        list: Vec::new(),
    };

    // Keep going on bad UTF-8 (with replacement characters) so that the other problems of
    // the file are reported in the same run.
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(e) => {
            let offset = e.valid_up_to();
            errors.push(
                line_of_offset(bytes, offset),
                ScriptErrorKind::NotUtf8 { offset },
            );
            String::from_utf8_lossy(bytes)
        }
    };
    // Editors on Windows may save a byte-order mark; it is not part of the first line.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let lines = split_lines(text);

    let mut header = Header::default();
    let mut header_lines = HeaderLines::default();
    let mut upgrade_at: Option<usize> = None;
    let mut downgrade_at: Option<usize> = None;
    let mut upgrade: Option<(usize, usize)> = None;
    let mut downgrade: Option<(usize, usize)> = None;

    // Phase of the scan: the header block, the gap up to `+upgrade`, then the sections.
    #[derive(PartialEq)]
    enum Phase {
        BeforeHeader,
        Header { saw_message: bool },
        AfterHeader,
        Upgrade,
        Downgrade,
    }
    let mut phase = Phase::BeforeHeader;
    let mut reported_sql_before_upgrade = false;
    // The blank line that ended the header, and whether an id was seen below it.
    let mut header_end: Option<usize> = None;
    let mut id_outside_header = false;

    for (index, &line) in lines.iter().enumerate() {
        let number = index + 1;
        let kind = classify(line);

        // Markers are recognised everywhere: they end the header and switch sections.
        match kind {
            LineKind::Marker(Marker::Upgrade) => {
                if let Some(first_line) = upgrade_at {
                    errors.push(
                        number,
                        ScriptErrorKind::DuplicateMarker {
                            marker: UPGRADE,
                            first_line,
                        },
                    );
                } else {
                    upgrade_at = Some(number);
                    if downgrade_at.is_none() {
                        phase = Phase::Upgrade;
                    }
                }
                continue;
            }
            LineKind::Marker(Marker::Downgrade) => {
                if let Some(first_line) = downgrade_at {
                    errors.push(
                        number,
                        ScriptErrorKind::DuplicateMarker {
                            marker: DOWNGRADE,
                            first_line,
                        },
                    );
                } else {
                    downgrade_at = Some(number);
                    if upgrade_at.is_none() {
                        errors.push(number, ScriptErrorKind::DowngradeBeforeUpgrade);
                    }
                    phase = Phase::Downgrade;
                }
                continue;
            }
            LineKind::UnknownMarker => {
                errors.push(
                    number,
                    ScriptErrorKind::UnknownMarker {
                        text: line.trim().to_string(),
                    },
                );
                continue;
            }
            _ => {}
        }

        match phase {
            Phase::BeforeHeader | Phase::Header { .. } => match kind {
                LineKind::Comment(comment) => {
                    let saw_message = matches!(phase, Phase::Header { saw_message: true });
                    phase = Phase::Header { saw_message: true };
                    let key_value = split_key_value(comment);
                    let known = key_value.and_then(|(k, v)| known_key(k).map(|k| (k, v)));
                    match (saw_message, known, key_value) {
                        // The first line is the message, unless it is already a known key
                        // (a script written without a message).
                        (false, None, _) => header.message = comment.to_string(),
                        (_, Some((key, value)), _) => {
                            header.set(key, value, number, &mut header_lines, &mut errors)
                        }
                        (true, None, _) if comment.is_empty() => {}
                        (true, None, Some((key, _))) => errors.push(
                            number,
                            ScriptErrorKind::UnknownKey {
                                key: key.to_string(),
                                suggestion: suggest_key(key),
                            },
                        ),
                        (true, None, None) => errors.push(
                            number,
                            ScriptErrorKind::NotKeyValue {
                                text: comment.to_string(),
                            },
                        ),
                    }
                }
                // Blank lines may precede the header; after it, they end it.
                LineKind::Blank => {
                    if matches!(phase, Phase::Header { .. }) {
                        phase = Phase::AfterHeader;
                        header_end = Some(number);
                    }
                }
                _ => {
                    phase = Phase::AfterHeader;
                    if !reported_sql_before_upgrade {
                        reported_sql_before_upgrade = true;
                        errors.push(number, ScriptErrorKind::SqlBeforeUpgrade);
                    }
                }
            },
            // Comments between the header and `+upgrade` are harmless; SQL there would be lost.
            Phase::AfterHeader => match kind {
                LineKind::Sql if !reported_sql_before_upgrade => {
                    reported_sql_before_upgrade = true;
                    errors.push(number, ScriptErrorKind::SqlBeforeUpgrade);
                }
                // A header key below a blank line would otherwise be a plain comment: a
                // `Transactional: false` there would silently run in a transaction.
                LineKind::Comment(comment) => {
                    let known = split_key_value(comment).and_then(|(k, _)| known_key(k));
                    if let (Some(key), Some(blank_line)) = (known, header_end) {
                        if key == "Revision ID" {
                            id_outside_header = true;
                        }
                        errors.push(
                            number,
                            ScriptErrorKind::KeyAfterHeader {
                                key: key.to_string(),
                                blank_line,
                            },
                        );
                    }
                }
                _ => {}
            },
            Phase::Upgrade => extend_section(&mut upgrade, index),
            Phase::Downgrade => extend_section(&mut downgrade, index),
        }
    }

    if header.id.is_none() && header_lines.revision_id.is_none() && !id_outside_header {
        errors.push(1, ScriptErrorKind::MissingRevisionId);
    }
    if upgrade_at.is_none() {
        errors.push(lines.len().max(1), ScriptErrorKind::MissingUpgrade);
    }

    match header.id {
        Some(id) if errors.list.is_empty() => {
            let section = |range: Option<(usize, usize)>| match range {
                Some((start, end)) => section_text(text, &lines[start..end]),
                None => String::new(),
            };
            let downgrade_sql = section(downgrade);
            let script = Script {
                revision: Revision {
                    id,
                    down_revisions: header.revises,
                    branch_labels: header.branch_labels,
                    depends_on: header.depends_on,
                },
                message: header.message,
                create_date: header.create_date,
                transactional: header.transactional.unwrap_or(true),
                upgrade_sql: section(upgrade),
                downgrade_sql: (!downgrade_sql.is_empty()).then_some(downgrade_sql),
                checksum: Checksum::of_file_bytes(bytes),
                path,
                id_line: header_lines.revision_id.unwrap_or(1),
            };
            Ok((script, header_lines))
        }
        _ => {
            let mut list = errors.list;
            list.sort_by_key(|e| e.line);
            Err(list)
        }
    }
}

impl fmt::Display for Script {
    /// `id: message (path)`, for lists of scripts in messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} ({})",
            self.revision.id,
            self.message,
            self.path.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "migrations/versions/2_x.sql";

    fn parse(text: &str) -> Result<Script, Vec<ScriptError>> {
        parse_script(Path::new(P), text.as_bytes())
    }

    fn errors(text: &str) -> Vec<ScriptError> {
        match parse(text) {
            Ok(s) => panic!("expected errors, parsed {s:?}"),
            Err(e) => e,
        }
    }

    /// Asserts there is exactly one error, on `line`, whose message contains `needle`, and that
    /// the message starts with `file:line:`.
    fn one_error(text: &str, line: usize, needle: &str) -> ScriptError {
        let errs = errors(text);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        let e = errs.into_iter().next().expect("one error");
        let msg = e.to_string();
        assert_eq!(e.line, line, "{msg}");
        assert!(msg.starts_with(&format!("{P}:{line}: ")), "{msg}");
        assert!(msg.contains(needle), "{msg:?} should contain {needle:?}");
        e
    }

    const FULL: &str = "-- Add indexes to prompts table
--
-- Revision ID: 2_add_indexes
-- Revises: 1_initial_migration
-- Create Date: 2025-08-23 10:30:00.000000
-- Branch Labels: analytics
-- Depends On: 5a1b2c3d4e5f

-- +upgrade
CREATE INDEX ix_prompts_name ON prompts (name);

-- +downgrade
DROP INDEX ix_prompts_name;
";

    #[test]
    fn parses_the_spec_example() {
        let s = parse(FULL).expect("valid");
        assert_eq!(s.revision.id, "2_add_indexes");
        assert_eq!(s.id(), "2_add_indexes");
        assert_eq!(s.revision.down_revisions, vec!["1_initial_migration"]);
        assert_eq!(s.revision.branch_labels, vec!["analytics"]);
        assert_eq!(s.revision.depends_on, vec!["5a1b2c3d4e5f"]);
        assert_eq!(s.message, "Add indexes to prompts table");
        assert_eq!(s.create_date.as_deref(), Some("2025-08-23 10:30:00.000000"));
        assert!(s.transactional);
        assert_eq!(
            s.upgrade_sql,
            "CREATE INDEX ix_prompts_name ON prompts (name);"
        );
        assert_eq!(
            s.downgrade_sql.as_deref(),
            Some("DROP INDEX ix_prompts_name;")
        );
        assert!(s.is_downgradable());
        assert_eq!(s.id_line, 3);
        assert_eq!(s.path, Path::new(P));
        assert_eq!(s.checksum, Checksum::of_file_bytes(FULL.as_bytes()));
        assert_eq!(
            s.to_string(),
            format!("2_add_indexes: Add indexes to prompts table ({P})")
        );
    }

    #[test]
    fn crlf_file_parses_the_same_and_has_the_same_checksum() {
        let crlf = FULL.replace('\n', "\r\n");
        let a = parse(FULL).expect("lf");
        let b = parse(&crlf).expect("crlf");
        assert_eq!(a, b);
        let cr = FULL.replace('\n', "\r");
        assert_eq!(parse(&cr).expect("cr"), a);
    }

    #[test]
    fn keys_are_case_insensitive_and_base_and_merge_revises() {
        let s = parse(
            "-- merge\n-- revision id: m1\n-- REVISES: a, b ,c\n-- transactional: FALSE\n\
             -- +upgrade\n",
        )
        .expect("valid");
        assert_eq!(s.revision.down_revisions, vec!["a", "b", "c"]);
        assert!(!s.transactional);
        assert_eq!(s.upgrade_sql, "");
        assert_eq!(s.downgrade_sql, None);

        let base = parse("-- first\n-- Revision ID: a1\n-- Revises:\n\n-- +upgrade\nSELECT 1;\n")
            .expect("valid");
        assert!(base.revision.down_revisions.is_empty());
        let absent =
            parse("-- first\n-- Revision ID: a1\n\n-- +upgrade\nSELECT 1;\n").expect("valid");
        assert!(absent.revision.down_revisions.is_empty());
        assert!(absent.revision.branch_labels.is_empty());
        assert!(absent.revision.depends_on.is_empty());
        assert_eq!(absent.create_date, None);
    }

    #[test]
    fn empty_or_blank_downgrade_is_none_but_a_comment_is_a_deliberate_no_op() {
        for text in [
            "-- m\n-- Revision ID: a\n-- +upgrade\nSELECT 1;\n-- +downgrade\n",
            "-- m\n-- Revision ID: a\n-- +upgrade\nSELECT 1;\n-- +downgrade\n  \n\t\n",
            "-- m\n-- Revision ID: a\n-- +upgrade\nSELECT 1;\n",
        ] {
            assert_eq!(parse(text).expect("valid").downgrade_sql, None, "{text:?}");
        }
        let noop = parse("-- m\n-- Revision ID: a\n-- +upgrade\n-- +downgrade\n-- nothing\n")
            .expect("valid");
        assert_eq!(noop.downgrade_sql.as_deref(), Some("-- nothing"));
    }

    #[test]
    fn sql_is_kept_exactly_inside_trimmed_ends() {
        let s = parse(
            "-- m\n-- Revision ID: a\n\n-- +upgrade\n\n  CREATE TABLE t (\n\tid INT\n);\n\n\
             -- a comment\nINSERT INTO t VALUES (1);  \n\n-- +downgrade\n\nDROP TABLE t;\n\n",
        )
        .expect("valid");
        assert_eq!(
            s.upgrade_sql,
            "CREATE TABLE t (\n\tid INT\n);\n\n-- a comment\nINSERT INTO t VALUES (1);"
        );
        assert_eq!(s.downgrade_sql.as_deref(), Some("DROP TABLE t;"));
    }

    #[test]
    fn blank_comment_lines_blank_lines_before_header_bom_and_comments_before_upgrade() {
        let s = parse(
            "\u{feff}\n\n-- msg\n--\n-- Revision ID: a\n--\n-- Revises: b\n\n-- notes here\n\n\
             -- +upgrade\nSELECT 1;\n",
        )
        .expect("valid");
        assert_eq!(s.message, "msg");
        assert_eq!(s.revision.down_revisions, vec!["b"]);
        assert_eq!(s.id_line, 5);
    }

    #[test]
    fn header_without_message_line() {
        let s = parse("-- Revision ID: a\n-- Revises: b\n-- +upgrade\nSELECT 1;\n").expect("valid");
        assert_eq!(s.message, "");
        assert_eq!(s.revision.id, "a");
        assert_eq!(s.upgrade_sql, "SELECT 1;");
    }

    #[test]
    fn unknown_key_names_key_file_and_line() {
        let errs = errors("-- m\n--\n-- Revises: a\n-- Revison ID: b\n-- +upgrade\n");
        let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(msgs.len(), 2, "{msgs:#?}");
        // The misspelt key also leaves the script without an id: both are reported.
        assert!(
            msgs[0].starts_with(&format!("{P}:1: no `Revision ID`")),
            "{msgs:#?}"
        );
        assert_eq!(
            msgs[1],
            format!(
                "{P}:4: unknown header key \"Revison ID\" (expected one of: Revision ID, \
                 Revises, Create Date, Branch Labels, Depends On, Transactional); did you mean \
                 \"Revision ID\"?"
            )
        );
    }

    #[test]
    fn unknown_key_suggestion() {
        let e = one_error(
            "-- m\n-- Revision ID: a\n-- Revsies: b\n-- +upgrade\n",
            3,
            "did you mean \"Revises\"?",
        );
        assert_eq!(
            e.kind,
            ScriptErrorKind::UnknownKey {
                key: "Revsies".into(),
                suggestion: Some("Revises".into())
            }
        );
        let far = one_error(
            "-- m\n-- Revision ID: a\n-- Author: me\n-- +upgrade\n",
            3,
            "unknown header key \"Author\"",
        );
        assert!(!far.to_string().contains("did you mean"), "{far}");
    }

    #[test]
    fn not_key_value_line_in_header() {
        one_error(
            "-- m\n-- Revision ID: a\n-- some more words\n-- +upgrade\n",
            3,
            "is not `Key: value`",
        );
    }

    #[test]
    fn missing_revision_id() {
        one_error(
            "-- m\n-- Revises: a\n\n-- +upgrade\nSELECT 1;\n",
            1,
            "no `Revision ID` in the header",
        );
        // An empty file lacks both the id and the upgrade marker.
        let errs = errors("");
        let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(errs.len(), 2, "{msgs:?}");
        assert!(
            msgs[0].starts_with(&format!("{P}:1: no `Revision ID`")),
            "{msgs:?}"
        );
        assert!(
            msgs[1].starts_with(&format!("{P}:1: no `-- +upgrade`")),
            "{msgs:?}"
        );
    }

    #[test]
    fn invalid_ids_in_every_field() {
        one_error(
            "-- m\n-- Revision ID: bad-id\n-- +upgrade\n",
            2,
            "invalid revision id \"bad-id\" in `Revision ID`",
        );
        one_error(
            "-- m\n-- Revision ID: \n-- +upgrade\n",
            2,
            "invalid revision id \"\" in `Revision ID`",
        );
        one_error(
            &format!("-- m\n-- Revision ID: {}\n-- +upgrade\n", "a".repeat(33)),
            2,
            "1 to 32 characters",
        );
        one_error(
            "-- m\n-- Revision ID: a\n-- Revises: b, c d\n-- +upgrade\n",
            3,
            "invalid revision id \"c d\" in `Revises`",
        );
        one_error(
            "-- m\n-- Revision ID: a\n-- Revises: b,,c\n-- +upgrade\n",
            3,
            "invalid revision id \"\" in `Revises`",
        );
        one_error(
            "-- m\n-- Revision ID: a\n-- Branch Labels: x.y\n-- +upgrade\n",
            3,
            "in `Branch Labels`",
        );
        one_error(
            "-- m\n-- Revision ID: a\n-- Depends On: é\n-- +upgrade\n",
            3,
            "in `Depends On`",
        );
        one_error(
            "-- m\n-- Revision ID: a\n-- Revises: b, b\n-- +upgrade\n",
            3,
            "`Revises` lists \"b\" twice",
        );
    }

    #[test]
    fn header_key_after_a_blank_line_is_not_a_comment() {
        one_error(
            "-- m\n\n-- Revision ID: a\n-- +upgrade\n",
            3,
            "header key \"Revision ID\" is below the end of the header (the blank line 2); \
             write `--` instead",
        );
        one_error(
            "-- m\n-- Revision ID: a\n\n-- Transactional: false\n-- +upgrade\n",
            4,
            "header key \"Transactional\" is below the end of the header",
        );
        // Ordinary comments there stay comments.
        assert!(parse("-- m\n-- Revision ID: a\n\n-- Note: slow\n-- +upgrade\n").is_ok());
    }

    #[test]
    fn duplicate_key() {
        one_error(
            "-- m\n-- Revision ID: a\n-- Revises: b\n-- revises: c\n-- +upgrade\n",
            4,
            "header key \"Revises\" appears twice (first on line 3)",
        );
    }

    #[test]
    fn missing_upgrade_marker() {
        one_error("-- m\n-- Revision ID: a\n", 2, "no `-- +upgrade` line");
    }

    #[test]
    fn duplicate_markers() {
        one_error(
            "-- m\n-- Revision ID: a\n-- +upgrade\nSELECT 1;\n-- +upgrade\n",
            5,
            "`-- +upgrade` appears twice (first on line 3)",
        );
        one_error(
            "-- m\n-- Revision ID: a\n-- +upgrade\n-- +downgrade\nSELECT 1;\n  --   +downgrade  \n",
            6,
            "`-- +downgrade` appears twice (first on line 4)",
        );
    }

    #[test]
    fn downgrade_before_upgrade() {
        one_error(
            "-- m\n-- Revision ID: a\n-- +downgrade\nDROP TABLE t;\n-- +upgrade\nCREATE TABLE t (x INT);\n",
            3,
            "`-- +downgrade` comes before `-- +upgrade`",
        );
    }

    #[test]
    fn sql_before_upgrade() {
        one_error(
            "-- m\n-- Revision ID: a\n\nCREATE TABLE t (x INT);\nSELECT 1;\n-- +upgrade\n",
            4,
            "SQL before `-- +upgrade`",
        );
        // SQL right after the header, with no blank line.
        one_error(
            "-- m\n-- Revision ID: a\nSELECT 1;\n-- +upgrade\n",
            3,
            "SQL before `-- +upgrade`",
        );
    }

    #[test]
    fn unknown_marker_is_a_typo_not_a_comment() {
        one_error(
            "-- m\n-- Revision ID: a\n-- +upgrade\nSELECT 1;\n-- +downgade\nSELECT 2;\n",
            5,
            "unknown section marker \"-- +downgade\"",
        );
        // `-- +1 ...` is an ordinary comment.
        let s = parse("-- m\n-- Revision ID: a\n-- +upgrade\n-- +1 for this\nSELECT 1;\n")
            .expect("valid");
        assert_eq!(s.upgrade_sql, "-- +1 for this\nSELECT 1;");
    }

    #[test]
    fn bad_transactional_value() {
        one_error(
            "-- m\n-- Revision ID: a\n-- Transactional: no\n-- +upgrade\n",
            3,
            "invalid `Transactional` value \"no\"; write `true` or `false`",
        );
    }

    #[test]
    fn non_utf8_names_offset_and_line() {
        let mut bytes = b"-- m\n-- Revision ID: a\n-- +upgrade\nSELECT '".to_vec();
        let offset = bytes.len();
        bytes.extend_from_slice(b"\xff';\n");
        let errs = parse_script(Path::new(P), &bytes).expect_err("not utf-8");
        assert_eq!(errs.len(), 1, "{errs:?}");
        let msg = errs[0].to_string();
        assert_eq!(errs[0].line, 4);
        assert!(
            msg.starts_with(&format!(
                "{P}:4: the file is not valid UTF-8 (first bad byte at offset {offset})"
            )),
            "{msg}"
        );
    }

    #[test]
    fn line_numbers_count_lone_cr_like_lf() {
        assert_eq!(line_of_offset(b"a\r\nb\rc\nd", 7), 4);
        let errs = parse_script(
            Path::new(P),
            b"-- m\r-- Revision ID: a\r--\r-- Bad: 1\r-- +upgrade\r",
        )
        .expect_err("unknown key");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0]
            .to_string()
            .starts_with(&format!("{P}:4: unknown header key \"Bad\"")));
    }

    #[test]
    fn collects_all_errors_of_a_file_in_line_order() {
        let errs = errors(
            "-- m\n-- Revison ID: a\n-- Revises: b-c\n-- Transactional: maybe\n-- Revises: d\n\
             SELECT 1;\n-- +downgade\n",
        );
        let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
        let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(lines, vec![1, 2, 3, 4, 5, 6, 7, 7], "{msgs:#?}");
        for m in &msgs {
            assert!(m.starts_with(P), "{m}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Lines that exercise every branch of the scanner, in any order.
        fn fragment() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("-- msg".to_string()),
                Just("--".to_string()),
                Just("".to_string()),
                Just("-- Revision ID: a1".to_string()),
                Just("-- Revises: a0, b0".to_string()),
                Just("-- revises:".to_string()),
                Just("-- Transactional: false".to_string()),
                Just("-- Depends On: x".to_string()),
                Just("-- Bogus: 1".to_string()),
                Just("-- +upgrade".to_string()),
                Just("-- +downgrade".to_string()),
                Just("-- +upgrde".to_string()),
                Just("SELECT 1;".to_string()),
                "[ -~]{0,20}",
            ]
        }

        fn id() -> impl Strategy<Value = String> {
            "[A-Za-z0-9_]{1,32}"
        }

        proptest! {
            #[test]
            fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
                let _ = parse_script(Path::new("x.sql"), &bytes);
            }

            #[test]
            fn never_panics_and_errors_carry_valid_lines(
                lines in proptest::collection::vec(fragment(), 0..30),
                ending in prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
            ) {
                let text = lines.join(ending);
                let line_count = split_lines(&text).len().max(1);
                if let Err(errs) = parse(&text) {
                    prop_assert!(!errs.is_empty());
                    for e in errs {
                        prop_assert!(e.line >= 1 && e.line <= line_count, "{} of {}", e, line_count);
                        prop_assert!(e.to_string().starts_with(P));
                    }
                }
            }

            #[test]
            fn generated_scripts_round_trip(
                rev in id(),
                parents in proptest::collection::btree_set(id(), 0..3),
                message in "[A-Za-z][ -~]{0,30}",
                up in "[A-Za-z(][ -~]{0,40}",
                down in proptest::option::of("[A-Za-z(][ -~]{0,40}"),
                crlf in any::<bool>(),
            ) {
                // A message that looks like a known key is read as that key: not what we test.
                prop_assume!(split_key_value(&message).and_then(|(k, _)| known_key(k)).is_none());
                prop_assume!(!matches!(classify(&format!("-- {message}")), LineKind::Marker(_) | LineKind::UnknownMarker));
                let parents: Vec<String> = parents.into_iter().collect();
                let mut text = format!(
                    "-- {message}\n--\n-- Revision ID: {rev}\n-- Revises: {}\n\n-- +upgrade\n{up}\n",
                    parents.join(", ")
                );
                if let Some(down) = &down {
                    text.push_str(&format!("\n-- +downgrade\n{down}\n"));
                }
                if crlf {
                    text = text.replace('\n', "\r\n");
                }
                let s = parse(&text).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                prop_assert_eq!(&s.revision.id, &rev);
                prop_assert_eq!(&s.revision.down_revisions, &parents);
                prop_assert_eq!(s.message, message.trim());
                prop_assert_eq!(s.upgrade_sql, up.trim());
                prop_assert_eq!(s.downgrade_sql, down.map(|d| d.trim().to_string()).filter(|d| !d.is_empty()));
                prop_assert_eq!(s.id_line, 3);
                prop_assert_eq!(s.checksum, Checksum::of_file_bytes(text.replace("\r\n", "\n").as_bytes()));
            }
        }
    }
}
