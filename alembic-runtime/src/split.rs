//! Splitting a script into statements, for the one case that needs it: a PostgreSQL script run
//! outside a transaction. PostgreSQL runs a multi-statement query as one implicit transaction,
//! where `CREATE INDEX CONCURRENTLY` is refused, so such a script is sent a statement at a time.
//!
//! The splitter knows PostgreSQL's lexical forms that may contain `;`: `'strings'` (with `''`),
//! `E'escapes\''`, `"identifiers"`, `$tag$dollar quotes$tag$`, `-- line comments` and nested
//! `/* block comments */`. It does not parse anything else.

#![cfg_attr(not(feature = "postgres"), allow(dead_code))]

/// The statements of `sql`, trimmed, without empty ones (comments alone are kept with the
/// statement they precede, or dropped at the end).
pub fn split_statements(sql: &str) -> Vec<&str> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut has_code = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\'' => {
                // E'...' strings treat a backslash as an escape.
                let escapes =
                    i > 0 && matches!(bytes[i - 1], b'e' | b'E') && !ident_before(bytes, i - 1);
                i = skip_quoted(bytes, i, b'\'', escapes);
                has_code = true;
                continue;
            }
            b'"' => {
                i = skip_quoted(bytes, i, b'"', false);
                has_code = true;
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = bytes[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(bytes.len(), |p| i + p + 1);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = skip_block_comment(bytes, i);
                continue;
            }
            b'$' => {
                if let Some(end) = skip_dollar_quote(sql, i) {
                    i = end;
                    has_code = true;
                    continue;
                }
                has_code = true;
            }
            b';' => {
                if has_code {
                    out.push(sql[start..i].trim());
                }
                start = i + 1;
                has_code = false;
            }
            c if !c.is_ascii_whitespace() => has_code = true,
            _ => {}
        }
        i += 1;
    }
    if has_code {
        out.push(sql[start..].trim());
    }
    out
}

/// Whether the byte at `at` continues an identifier (so an `e` there is not an `E'` prefix).
fn ident_before(bytes: &[u8], at: usize) -> bool {
    at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_')
}

/// The index after the closing quote of the quoted text starting at `open`.
fn skip_quoted(bytes: &[u8], open: usize, quote: u8, escapes: bool) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if escapes => i += 2,
            c if c == quote => {
                // A doubled quote is a quote inside the text.
                if bytes.get(i + 1) == Some(&quote) {
                    i += 2;
                } else {
                    return i + 1;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index after a (possibly nested) block comment starting at `open`.
fn skip_block_comment(bytes: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    let mut i = open;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// When a dollar quote (`$$` or `$tag$`) opens at `open`, the index after its closing tag.
fn skip_dollar_quote(sql: &str, open: usize) -> Option<usize> {
    let rest = &sql[open + 1..];
    let tag_len = rest
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'_'))?;
    if rest.as_bytes()[tag_len] != b'$' || rest.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return None; // `$1` is a parameter, not a quote.
    }
    let tag = &sql[open..open + tag_len + 2];
    let body = open + tag.len();
    Some(match sql[body..].find(tag) {
        Some(p) => body + p + tag.len(),
        None => sql.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::split_statements;

    #[test]
    fn splits_on_semicolons_outside_quotes_and_comments() {
        let sql = "CREATE INDEX CONCURRENTLY a ON t (x);\n\
                   -- a comment; still a comment\n\
                   INSERT INTO t VALUES ('a;b', 'it''s;', E'\\';x', \"we;ird\");\n\
                   /* block; /* nested; */ still; */ SELECT 1;\n\
                   CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n\
                   DO $$ BEGIN PERFORM 1; END $$;\n\
                   SELECT $1;\n\
                   -- trailing comment only";
        let parts = split_statements(sql);
        assert_eq!(parts.len(), 6, "{parts:#?}");
        assert_eq!(parts[0], "CREATE INDEX CONCURRENTLY a ON t (x)");
        assert!(parts[1].ends_with("\"we;ird\")"), "{}", parts[1]);
        assert!(parts[2].ends_with("SELECT 1"), "{}", parts[2]);
        assert!(parts[3].ends_with("LANGUAGE sql"), "{}", parts[3]);
        assert_eq!(parts[4], "DO $$ BEGIN PERFORM 1; END $$");
        assert_eq!(parts[5], "SELECT $1");
    }

    #[test]
    fn empty_and_unterminated_input_do_not_panic() {
        assert!(split_statements("").is_empty());
        assert!(split_statements(" ;; -- x\n").is_empty());
        assert_eq!(split_statements("SELECT 'open"), ["SELECT 'open"]);
        assert_eq!(split_statements("SELECT $a$ open"), ["SELECT $a$ open"]);
        assert_eq!(split_statements("/* open"), Vec::<&str>::new());
        assert_eq!(split_statements("SELECT 1 $"), ["SELECT 1 $"]);
        assert_eq!(
            split_statements("SELECT e'x'; name'"),
            ["SELECT e'x'", "name'"]
        );
    }
}
