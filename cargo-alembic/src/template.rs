//! `migrations/script.sql.tmpl`: the template new revision scripts are made from (the seed's
//! `script.py.mako`). A small, Mako-flavoured language so that Alembic users can read it at a
//! glance:
//!
//! - `${name}` is replaced by a value (`message`, `up_revision`, `down_revision`, `create_date`,
//!   `branch_labels`, `depends_on`); an unknown name is an error naming the line;
//! - a line `% if name:` ... `% else:` ... `% endif` keeps its lines when the value is not empty;
//! - a line starting with `##` is a comment, dropped from the output.

use std::collections::BTreeMap;

/// The template `init` writes. Renders to the revision-script format of SPEC section 4.
pub const DEFAULT_TEMPLATE: &str = "\
-- ${message}
--
-- Revision ID: ${up_revision}
-- Revises: ${down_revision}
-- Create Date: ${create_date}
% if branch_labels:
-- Branch Labels: ${branch_labels}
% endif
% if depends_on:
-- Depends On: ${depends_on}
% endif
## Add \"-- Transactional: false\" to the header for statements that cannot run in a
## transaction (CREATE INDEX CONCURRENTLY).

-- +upgrade


-- +downgrade

";

/// Why a template cannot be rendered. `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    #[error("line {line}: unknown name ${{{name}}}; known: {known}")]
    UnknownName {
        line: usize,
        name: String,
        known: String,
    },
    #[error("line {line}: `${{` is not closed by `}}`")]
    Unclosed { line: usize },
    #[error(
        "line {line}: unknown control line {text:?}; expected `% if NAME:`, `% else:` or `% endif`"
    )]
    BadControl { line: usize, text: String },
    #[error("line {line}: `% {what}` without a matching `% if`")]
    Unmatched { line: usize, what: &'static str },
    #[error("`% if` on line {line} is never closed by `% endif`")]
    UnclosedIf { line: usize },
}

/// The values a template sees, by name.
#[derive(Debug, Default, Clone)]
pub struct Values(BTreeMap<&'static str, String>);

impl Values {
    pub fn new() -> Self {
        Values::default()
    }

    pub fn set(&mut self, name: &'static str, value: impl Into<String>) -> &mut Self {
        self.0.insert(name, value.into());
        self
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn known(&self) -> String {
        self.0.keys().copied().collect::<Vec<_>>().join(", ")
    }
}

/// Renders `template` with `values`. Lines into which a value was substituted lose their
/// trailing whitespace, so an empty `Revises:` does not leave a stray space in the header.
pub fn render(template: &str, values: &Values) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len() + 128);
    // One entry per open `% if`: (line it opened on, whether its lines are being kept).
    let mut conditions: Vec<(usize, bool)> = Vec::new();
    for (index, raw_line) in template.split_inclusive('\n').enumerate() {
        let line_no = index + 1;
        let line = raw_line.strip_suffix('\n').unwrap_or(raw_line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let newline = &raw_line[line.len()..];
        let trimmed = line.trim_start();
        if trimmed.starts_with("##") {
            continue;
        }
        if let Some(control) = trimmed
            .strip_prefix('%')
            .filter(|_| !trimmed.starts_with("%%"))
        {
            control_line(control.trim(), line_no, values, &mut conditions)?;
            continue;
        }
        if conditions.iter().any(|&(_, keep)| !keep) {
            continue;
        }
        let line = match trimmed.strip_prefix("%%") {
            // `%%` at the start of a line is a literal `%`, as in Mako.
            Some(rest) => format!("{}%{rest}", &line[..line.len() - trimmed.len()]),
            None => line.to_string(),
        };
        let (text, substituted) = substitute(&line, line_no, values)?;
        out.push_str(if substituted { text.trim_end() } else { &text });
        out.push_str(newline);
    }
    if let Some(&(line, _)) = conditions.last() {
        return Err(TemplateError::UnclosedIf { line });
    }
    Ok(out)
}

fn control_line(
    control: &str,
    line: usize,
    values: &Values,
    conditions: &mut Vec<(usize, bool)>,
) -> Result<(), TemplateError> {
    if let Some(name) = control
        .strip_prefix("if ")
        .and_then(|c| c.trim().strip_suffix(':'))
    {
        let name = name.trim();
        let value = values.get(name).ok_or_else(|| TemplateError::UnknownName {
            line,
            name: name.to_string(),
            known: values.known(),
        })?;
        conditions.push((line, !value.trim().is_empty()));
        Ok(())
    } else if control == "else:" {
        let last = conditions.last_mut().ok_or(TemplateError::Unmatched {
            line,
            what: "else:",
        })?;
        last.1 = !last.1;
        Ok(())
    } else if control == "endif" {
        conditions
            .pop()
            .map(|_| ())
            .ok_or(TemplateError::Unmatched {
                line,
                what: "endif",
            })
    } else {
        Err(TemplateError::BadControl {
            line,
            text: format!("% {control}"),
        })
    }
}

/// Replaces every `${name}` of one line. Returns the text and whether anything was replaced.
fn substitute(
    line: &str,
    line_no: usize,
    values: &Values,
) -> Result<(String, bool), TemplateError> {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    let mut substituted = false;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or(TemplateError::Unclosed { line: line_no })?;
        let name = after[..end].trim();
        let value = values.get(name).ok_or_else(|| TemplateError::UnknownName {
            line: line_no,
            name: name.to_string(),
            known: values.known(),
        })?;
        out.push_str(value);
        substituted = true;
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok((out, substituted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(down: &str, labels: &str, depends: &str) -> Values {
        let mut v = Values::new();
        v.set("message", "Add indexes to prompts table")
            .set("up_revision", "2_add_indexes")
            .set("down_revision", down)
            .set("create_date", "2025-08-23 10:30:00.000000")
            .set("branch_labels", labels)
            .set("depends_on", depends);
        v
    }

    #[test]
    fn default_template_renders_the_spec_format() {
        let out = render(
            DEFAULT_TEMPLATE,
            &values("1_initial_migration", "analytics", "5a1b2c3d4e5f"),
        )
        .unwrap();
        assert_eq!(
            out,
            "-- Add indexes to prompts table\n\
             --\n\
             -- Revision ID: 2_add_indexes\n\
             -- Revises: 1_initial_migration\n\
             -- Create Date: 2025-08-23 10:30:00.000000\n\
             -- Branch Labels: analytics\n\
             -- Depends On: 5a1b2c3d4e5f\n\
             \n\
             -- +upgrade\n\
             \n\
             \n\
             -- +downgrade\n\
             \n"
        );
    }

    #[test]
    fn empty_values_drop_optional_lines_and_trailing_space() {
        let out = render(DEFAULT_TEMPLATE, &values("", "", "")).unwrap();
        assert!(out.contains("-- Revises:\n"), "{out}");
        assert!(!out.contains("Branch Labels"), "{out}");
        assert!(!out.contains("Depends On"), "{out}");
        assert!(!out.contains("##"), "comments are dropped: {out}");
    }

    #[test]
    fn else_and_nesting_and_literal_percent() {
        let t = "% if branch_labels:\nL ${branch_labels}\n% if depends_on:\nD\n% else:\nno deps\n% endif\n% else:\nno labels\n% endif\n%% literal\n";
        assert_eq!(
            render(t, &values("", "x", "")).unwrap(),
            "L x\nno deps\n% literal\n"
        );
        assert_eq!(
            render(t, &values("", "", "y")).unwrap(),
            "no labels\n% literal\n"
        );
    }

    #[test]
    fn errors_name_the_line() {
        let v = values("", "", "");
        assert_eq!(
            render("ok\n-- ${mesage}\n", &v).unwrap_err(),
            TemplateError::UnknownName {
                line: 2,
                name: "mesage".into(),
                known:
                    "branch_labels, create_date, depends_on, down_revision, message, up_revision"
                        .into()
            }
        );
        assert_eq!(
            render("${message\n", &v).unwrap_err(),
            TemplateError::Unclosed { line: 1 }
        );
        assert_eq!(
            render("% if message:\nx\n", &v).unwrap_err(),
            TemplateError::UnclosedIf { line: 1 }
        );
        assert_eq!(
            render("% endif\n", &v).unwrap_err(),
            TemplateError::Unmatched {
                line: 1,
                what: "endif"
            }
        );
        assert!(matches!(
            render("% for x in y:\n", &v),
            Err(TemplateError::BadControl { line: 1, .. })
        ));
    }

    #[test]
    fn crlf_templates_keep_their_line_endings() {
        let out = render("-- ${message}\r\n-- +upgrade\r\n", &values("", "", "")).unwrap();
        assert_eq!(out, "-- Add indexes to prompts table\r\n-- +upgrade\r\n");
    }
}
