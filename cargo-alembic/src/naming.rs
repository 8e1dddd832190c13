//! Names of new revisions: generated ids, the slug of a message and `file_template`, each as
//! Alembic makes them, so that a team moving from Python Alembic gets the file names it knows.

use chrono::{DateTime, Datelike, TimeZone, Timelike};

/// A new revision id: the last 12 hex digits of a random UUID, as Alembic's `rev_id()`.
pub fn generate_rev_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    hex[hex.len() - 12..].to_string()
}

/// The slug of a message: its word-character runs joined by `_`, lowercased; when longer than
/// `truncate` characters, cut at `truncate`, back to the last `_`, and ended with `_`
/// (Alembic: "add indexes to the prompts table, quite..." -> "add_indexes_to_the_prompts_table_quite_").
pub fn slug(message: &str, truncate: usize) -> String {
    let words: Vec<String> = message
        .split(|c: char| !is_word_char(c))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let slug = words.join("_");
    if slug.chars().count() <= truncate {
        return slug;
    }
    let cut: String = slug.chars().take(truncate).collect();
    // Python's rsplit("_", 1)[0]: everything before the last "_", or all of it if there is none.
    let kept = match cut.rfind('_') {
        Some(i) => &cut[..i],
        None => &cut[..],
    };
    format!("{kept}_")
}

/// Python's `\w` on str: letters, digits (of any script) and the underscore.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Values `file_template` can refer to.
pub struct TemplateValues<'a, Tz: TimeZone> {
    pub rev: &'a str,
    pub slug: &'a str,
    pub create_date: &'a DateTime<Tz>,
}

/// Why a `file_template` cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FileTemplateError {
    #[error("file_template {template:?} refers to unknown key %({key}); known: rev, slug, epoch, year, month, day, hour, minute, second")]
    UnknownKey { template: String, key: String },
    #[error("file_template {template:?} is malformed at character {position}: {why}")]
    Malformed {
        template: String,
        position: usize,
        why: &'static str,
    },
}

/// Renders Alembic's `file_template` (Python `%`-formatting with named keys: `%(rev)s`,
/// `%(slug)s`, `%(epoch)s`, `%(year)d`, `%(month).2d`, ...), without the `.sql` extension.
pub fn render_file_template<Tz: TimeZone>(
    template: &str,
    values: &TemplateValues<'_, Tz>,
) -> Result<String, FileTemplateError> {
    let malformed = |position: usize, why: &'static str| FileTemplateError::Malformed {
        template: template.to_string(),
        position,
        why,
    };
    let date = values.create_date;
    let mut out = String::new();
    let chars: Vec<char> = template.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            out.push(c);
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        match chars.get(i) {
            Some('%') => {
                out.push('%');
                i += 1;
                continue;
            }
            Some('(') => {}
            _ => return Err(malformed(start, "expected %(name)s or %%")),
        }
        let close = chars[i..]
            .iter()
            .position(|&c| c == ')')
            .ok_or_else(|| malformed(start, "unclosed %("))?;
        let key: String = chars[i + 1..i + close].iter().collect();
        i += close + 1;
        // Flags, width and precision, then the conversion character.
        let spec_start = i;
        while i < chars.len() && matches!(chars[i], '0'..='9' | '.' | '-' | '+' | ' ' | '#') {
            i += 1;
        }
        let spec: String = chars[spec_start..i].iter().collect();
        let conversion = *chars
            .get(i)
            .ok_or_else(|| malformed(start, "missing conversion character after %(name)"))?;
        i += 1;
        let value = match key.as_str() {
            "rev" => Value::Text(values.rev.to_string()),
            "slug" => Value::Text(values.slug.to_string()),
            "epoch" => Value::Number(date.timestamp()),
            "year" => Value::Number(i64::from(date.year())),
            "month" => Value::Number(i64::from(date.month())),
            "day" => Value::Number(i64::from(date.day())),
            "hour" => Value::Number(i64::from(date.hour())),
            "minute" => Value::Number(i64::from(date.minute())),
            "second" => Value::Number(i64::from(date.second())),
            _ => {
                return Err(FileTemplateError::UnknownKey {
                    template: template.to_string(),
                    key,
                })
            }
        };
        out.push_str(&format_value(&value, &spec, conversion).ok_or_else(|| {
            malformed(
                start,
                "unsupported conversion (use s or d, with optional width/precision)",
            )
        })?);
    }
    Ok(out)
}

enum Value {
    Text(String),
    Number(i64),
}

/// One `%` conversion: `s`, `d`/`i` with the flags `0` and `-`, a width and (for `d`) a
/// precision meaning "at least this many digits", as Python's `%.2d`.
fn format_value(value: &Value, spec: &str, conversion: char) -> Option<String> {
    let left = spec.contains('-');
    let (before_dot, precision) = match spec.split_once('.') {
        Some((w, p)) => (w, Some(p.parse::<usize>().unwrap_or(0))),
        None => (spec, None),
    };
    let zero = before_dot
        .trim_start_matches(['-', '+', ' ', '#'])
        .starts_with('0');
    let digits: String = before_dot.chars().filter(char::is_ascii_digit).collect();
    let width = digits.parse::<usize>().unwrap_or(0);
    let body = match (conversion, value) {
        ('s', Value::Text(t)) => match precision {
            Some(p) => t.chars().take(p).collect(),
            None => t.clone(),
        },
        ('s', Value::Number(n)) => n.to_string(),
        ('d' | 'i', Value::Number(n)) => {
            let magnitude = n.unsigned_abs().to_string();
            let min = precision.unwrap_or(0);
            let padded = format!(
                "{}{magnitude}",
                "0".repeat(min.saturating_sub(magnitude.len()))
            );
            if *n < 0 {
                format!("-{padded}")
            } else {
                padded
            }
        }
        _ => return None,
    };
    let len = body.chars().count();
    if len >= width {
        return Some(body);
    }
    let fill = width - len;
    Some(if left {
        format!("{body}{}", " ".repeat(fill))
    } else if zero && conversion != 's' && precision.is_none() {
        match body.strip_prefix('-') {
            Some(rest) => format!("-{}{rest}", "0".repeat(fill)),
            None => format!("{}{body}", "0".repeat(fill)),
        }
    } else {
        format!("{}{body}", " ".repeat(fill))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn generated_ids_are_12_lowercase_hex() {
        for _ in 0..50 {
            let id = generate_rev_id();
            assert_eq!(id.len(), 12);
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{id}"
            );
        }
        assert_ne!(generate_rev_id(), generate_rev_id());
    }

    #[test]
    fn slug_as_alembic() {
        // Values observed from Python Alembic 1.20.1.
        assert_eq!(slug("Initial migration", 40), "initial_migration");
        assert_eq!(
            slug(
                "add indexes to the prompts table, quite a long message indeed here!",
                40
            ),
            "add_indexes_to_the_prompts_table_quite_"
        );
        assert_eq!(slug("x", 40), "x");
        assert_eq!(slug("", 40), "");
        assert_eq!(
            slug("  Add   users.email -- NOT NULL  ", 40),
            "add_users_email_not_null"
        );
        assert_eq!(slug("snake_case_kept", 40), "snake_case_kept");
        assert_eq!(slug("Größe ändern", 40), "größe_ändern");
    }

    #[test]
    fn slug_truncation_edges() {
        // Exactly the limit: untouched.
        assert_eq!(slug("abcd efgh", 9), "abcd_efgh");
        // One over: cut back to the last underscore, then "_".
        assert_eq!(slug("abcd efghi", 9), "abcd_");
        // No underscore in the cut part: the whole cut part, then "_".
        assert_eq!(slug("abcdefghijkl", 5), "abcde_");
        // Multi-byte characters are counted as characters and never split.
        assert_eq!(slug("ééééé ééééé", 7), "ééééé_");
    }

    #[test]
    fn file_template_default_and_dates() {
        let date = Utc.with_ymd_and_hms(2025, 8, 3, 7, 5, 9).unwrap();
        let v = TemplateValues {
            rev: "ae1027a6acf",
            slug: "add_x",
            create_date: &date,
        };
        assert_eq!(
            render_file_template("%(rev)s_%(slug)s", &v).unwrap(),
            "ae1027a6acf_add_x"
        );
        assert_eq!(
            render_file_template(
                "%(year)d_%(month).2d_%(day).2d_%(hour).2d%(minute).2d-%(rev)s_%(slug)s",
                &v
            )
            .unwrap(),
            "2025_08_03_0705-ae1027a6acf_add_x"
        );
        assert_eq!(
            render_file_template("%(year)d/%(month)02d/%(second)03d_%(epoch)s_100%%", &v).unwrap(),
            format!("2025/08/009_{}_100%", date.timestamp())
        );
        assert_eq!(
            render_file_template("%(rev)5s|%(rev)-13s|", &v).unwrap(),
            "ae1027a6acf|ae1027a6acf  |"
        );
    }

    #[test]
    fn file_template_errors_name_the_problem() {
        let date = Utc.with_ymd_and_hms(2025, 8, 3, 7, 5, 9).unwrap();
        let v = TemplateValues {
            rev: "a",
            slug: "b",
            create_date: &date,
        };
        match render_file_template("%(revision)s", &v) {
            Err(FileTemplateError::UnknownKey { key, .. }) => assert_eq!(key, "revision"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            render_file_template("%(rev", &v),
            Err(FileTemplateError::Malformed { .. })
        ));
        assert!(matches!(
            render_file_template("%(rev)", &v),
            Err(FileTemplateError::Malformed { .. })
        ));
        assert!(matches!(
            render_file_template("50% off", &v),
            Err(FileTemplateError::Malformed { .. })
        ));
        assert!(matches!(
            render_file_template("%(slug)d", &v),
            Err(FileTemplateError::Malformed { .. })
        ));
    }
}
