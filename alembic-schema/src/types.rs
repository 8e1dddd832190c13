//! Normalising what catalogues report: declared types into [`DataType`], default and check
//! expressions into one spelling.

use crate::model::DataType;

/// The type a column was declared with (SQLite's declared text, PostgreSQL's `format_type`,
/// MySQL's `COLUMN_TYPE`), with aliases folded: `int4` and `INT` are `Integer`,
/// `character varying(20)` is `Varchar(Some(20))`.
pub fn parse_type(declared: &str) -> DataType {
    let text = collapse_spaces(&declared.to_ascii_lowercase());
    let (base, args) = match text.find('(') {
        Some(open) => {
            let close = text.rfind(')').unwrap_or(text.len());
            let args: Vec<u32> = text[open + 1..close.max(open + 1)]
                .split(',')
                .filter_map(|a| a.trim().parse().ok())
                .collect();
            let rest = text[close.min(text.len())..].trim_start_matches(')').trim();
            let base = text[..open].trim();
            // `timestamp(3) with time zone`: the words after the arguments belong to the name.
            let base = if rest.is_empty() {
                base.to_string()
            } else {
                format!("{base} {rest}")
            };
            (base, args)
        }
        None => (text.clone(), Vec::new()),
    };
    // MySQL's display widths and attributes carry no meaning for the value.
    let base = base
        .trim_end_matches(" unsigned")
        .trim_end_matches(" zerofill")
        .trim();
    match (base, args.as_slice()) {
        ("tinyint", [1]) | ("bool" | "boolean", _) => DataType::Boolean,
        ("smallint" | "int2" | "tinyint", _) => DataType::SmallInt,
        ("int" | "integer" | "int4" | "mediumint" | "serial", _) => DataType::Integer,
        ("bigint" | "int8" | "bigserial", _) => DataType::BigInt,
        ("real" | "float4" | "float", _) => DataType::Real,
        ("double" | "double precision" | "float8", _) => DataType::Double,
        ("numeric" | "decimal", [p, s]) => DataType::Numeric(Some((*p, *s))),
        ("numeric" | "decimal", [p]) => DataType::Numeric(Some((*p, 0))),
        ("numeric" | "decimal", _) => DataType::Numeric(None),
        ("varchar" | "character varying" | "nvarchar" | "varying character", [n, ..]) => {
            DataType::Varchar(Some(*n))
        }
        ("varchar" | "character varying", _) => DataType::Varchar(None),
        ("char" | "character" | "bpchar" | "nchar", [n, ..]) => DataType::Char(*n),
        ("char" | "character" | "bpchar" | "nchar", _) => DataType::Char(1),
        ("text" | "clob" | "tinytext" | "mediumtext" | "longtext", _) => DataType::Text,
        ("blob" | "bytea" | "tinyblob" | "mediumblob" | "longblob", _) => DataType::Blob,
        ("date", _) => DataType::Date,
        ("time" | "time without time zone", _) => DataType::Time,
        ("timestamp" | "datetime" | "timestamp without time zone", _) => DataType::Timestamp,
        ("timestamptz" | "timestamp with time zone", _) => DataType::TimestampTz,
        ("json", _) => DataType::Json,
        ("jsonb", _) => DataType::Jsonb,
        ("uuid", _) => DataType::Uuid,
        _ => DataType::Other(text),
    }
}

/// A default expression in one spelling: outer parentheses removed (SQLite keeps what was
/// written, `(0)` or `0`), whitespace collapsed outside literals, `CURRENT_TIMESTAMP`-style
/// keywords upper-cased. `NULL` means no default.
pub fn normalise_default(expression: &str) -> Option<String> {
    let text = normalise_expression(expression);
    if text.is_empty() || text.eq_ignore_ascii_case("null") {
        return None;
    }
    let upper = text.to_ascii_uppercase();
    let keyword = matches!(
        upper.as_str(),
        "CURRENT_TIMESTAMP" | "CURRENT_DATE" | "CURRENT_TIME" | "TRUE" | "FALSE"
    );
    Some(if keyword { upper } else { text })
}

/// An expression in one spelling: whitespace collapsed outside quotes, no space just inside
/// parentheses, redundant outer parentheses removed.
pub fn normalise_expression(expression: &str) -> String {
    let mut out = String::with_capacity(expression.len());
    let mut chars = expression.trim().chars().peekable();
    let mut pending_space = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' => {
                if pending_space && !out.is_empty() && !out.ends_with('(') {
                    out.push(' ');
                }
                pending_space = false;
                out.push(c);
                // Copy the literal as is; a doubled quote is an escaped one.
                while let Some(d) = chars.next() {
                    out.push(d);
                    if d == c {
                        if chars.peek() == Some(&c) {
                            out.push(chars.next().unwrap_or(c));
                        } else {
                            break;
                        }
                    }
                }
            }
            c if c.is_whitespace() => pending_space = true,
            ')' | ',' => {
                pending_space = c == ',';
                out.push(c);
            }
            _ => {
                if pending_space && !out.is_empty() && !out.ends_with('(') {
                    out.push(' ');
                }
                pending_space = false;
                out.push(c);
            }
        }
    }
    let mut text = out.replace(" ,", ",");
    while let Some(inner) = strip_outer_parens(&text) {
        text = inner.to_string();
    }
    text
}

/// `(x)` -> `x` when the first parenthesis closes at the very end (not for `(a) + (b)`).
fn strip_outer_parens(text: &str) -> Option<&str> {
    if !(text.starts_with('(') && text.ends_with(')')) {
        return None;
    }
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' | '`' => quote = Some(c),
            '(' => depth += 1,
            ')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 && i != text.len() - 1 {
                    return None;
                }
            }
            _ => {}
        }
    }
    Some(text[1..text.len() - 1].trim())
}

fn collapse_spaces(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_fold_into_one_type() {
        for (declared, expected) in [
            ("INT", DataType::Integer),
            ("integer", DataType::Integer),
            ("int4", DataType::Integer),
            ("int(11)", DataType::Integer),
            ("BIGINT UNSIGNED", DataType::BigInt),
            ("tinyint(1)", DataType::Boolean),
            ("boolean", DataType::Boolean),
            ("character varying(20)", DataType::Varchar(Some(20))),
            ("VARCHAR( 20 )", DataType::Varchar(Some(20))),
            ("numeric(10,2)", DataType::Numeric(Some((10, 2)))),
            ("DECIMAL(10, 2)", DataType::Numeric(Some((10, 2)))),
            ("timestamp without time zone", DataType::Timestamp),
            ("timestamp(3) with time zone", DataType::TimestampTz),
            ("DATETIME", DataType::Timestamp),
            ("double precision", DataType::Double),
            ("bytea", DataType::Blob),
            ("geometry", DataType::Other("geometry".into())),
        ] {
            assert_eq!(parse_type(declared), expected, "{declared}");
        }
    }

    #[test]
    fn defaults_compare_by_meaning_of_spelling() {
        assert_eq!(normalise_default("(0)"), Some("0".into()));
        assert_eq!(normalise_default("0"), Some("0".into()));
        assert_eq!(
            normalise_default("current_timestamp"),
            Some("CURRENT_TIMESTAMP".into())
        );
        assert_eq!(normalise_default("NULL"), None);
        assert_eq!(normalise_default("'a  b'"), Some("'a  b'".into()));
        assert_eq!(normalise_default("'it''s'"), Some("'it''s'".into()));
        assert_eq!(
            normalise_default("(datetime( 'now' ))"),
            Some("datetime('now')".into())
        );
    }

    #[test]
    fn expressions_keep_inner_structure() {
        assert_eq!(normalise_expression("(a) + (b)"), "(a) + (b)");
        assert_eq!(normalise_expression("((price  >  0))"), "price > 0");
        assert_eq!(
            normalise_expression("status IN ( 'a' , 'b' )"),
            "status IN ('a', 'b')"
        );
    }
}
