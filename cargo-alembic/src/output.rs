//! Everything the commands print, in one place: results on stdout in Alembic's formats, status
//! lines (`Generating ... done`), machine output (`--json`), and progress on stderr.
//!
//! The revision lines follow Alembic's `Script.cmd_format` / `log_entry`, so that a user (or a
//! script that greps) sees what `alembic history`, `heads`, `current` and `show` print.

use std::io::{self, Write};
use std::path::Path;

use alembic_core::source::ScriptDirectory;
use alembic_core::Script;
use serde_json::{json, Value};

/// Where results and messages go; `-q` silences everything but results.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub quiet: bool,
}

impl Printer {
    /// A result line on stdout (never silenced). A closed pipe (`| head`) is not an error.
    pub fn out(&self, text: &str) {
        let mut stdout = io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
    }

    /// Text on stdout exactly as given (no newline added).
    pub fn out_raw(&self, text: &str) {
        let mut stdout = io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }

    /// A message for the user on stdout (advice, "Nothing to do"), silenced by `-q`.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            self.out(text);
        }
    }

    /// Alembic's status line: `Generating /path/file ...  done`, silenced by `-q`.
    pub fn done(&self, what: &str) {
        self.note(&format!("{what} ...  done"));
    }

    /// Pretty JSON on stdout.
    pub fn json(&self, value: &Value) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".to_string());
        self.out(&text);
    }
}

/// Shows that a long run is alive: while it lasts, every few seconds a line on stderr with the
/// time spent so far (the runtime logs each revision, with its duration, as it completes). Only
/// on a terminal and without `-q`; stops when dropped.
pub struct Ticker {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    pub fn start(printer: &Printer, what: &str) -> Ticker {
        use std::io::IsTerminal;
        if printer.quiet || !io::stderr().is_terminal() {
            return Ticker {
                stop: None,
                thread: None,
            };
        }
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let what = what.to_string();
        let started = std::time::Instant::now();
        let thread = std::thread::spawn(move || {
            let interval = std::time::Duration::from_secs(5);
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(interval) {
                let _ = writeln!(
                    io::stderr().lock(),
                    "... {what}: still running after {} s",
                    started.elapsed().as_secs()
                );
            }
        });
        Ticker {
            stop: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        // Dropping the sender wakes the thread at once.
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How much of a revision line to show, as Alembic's `cmd_format` arguments.
#[derive(Debug, Clone, Copy, Default)]
pub struct LineStyle {
    pub include_branches: bool,
    pub include_doc: bool,
    pub include_parents: bool,
    pub tree_indicators: bool,
}

impl LineStyle {
    /// `alembic current`: `ID (head)`.
    pub const CURRENT: LineStyle = LineStyle {
        include_branches: false,
        include_doc: false,
        include_parents: false,
        tree_indicators: true,
    };
    /// `alembic heads`: `ID (label) (head)`.
    pub const HEADS: LineStyle = LineStyle {
        include_branches: true,
        include_doc: false,
        include_parents: false,
        tree_indicators: false,
    };
    /// `alembic history`: `DOWN (DEPS) -> ID (label) (head) (branchpoint), message`.
    pub const HISTORY: LineStyle = LineStyle {
        include_branches: true,
        include_doc: true,
        include_parents: true,
        tree_indicators: true,
    };
    /// `alembic branches`: the branch point's own line.
    pub const BRANCH_POINT: LineStyle = LineStyle {
        include_branches: true,
        include_doc: false,
        include_parents: false,
        tree_indicators: true,
    };
}

/// Appends `items` separated by `, `.
fn push_joined(text: &mut String, items: &[impl AsRef<str>]) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        text.push_str(item.as_ref());
    }
}

/// One revision with the graph facts Alembic's formats need.
pub struct RevView<'a> {
    pub script: &'a Script,
    /// Revisions that list this one in `Revises`.
    pub children: Vec<&'a str>,
    /// Revisions that list this one only in `Depends On`.
    pub dependents: Vec<&'a str>,
    /// Declared and inherited labels.
    pub labels: Vec<&'a str>,
    /// `Some(true)` marks it `(current)`; `None` when the database was not asked.
    pub current: Option<bool>,
}

impl<'a> RevView<'a> {
    pub fn new(dir: &'a ScriptDirectory, script: &'a Script) -> Self {
        let map = dir.map();
        let id = script.revision.id.as_str();
        RevView {
            script,
            children: map.children(id),
            dependents: map.dependents(id),
            labels: map.labels(id),
            current: None,
        }
    }

    pub fn with_current(mut self, current: &[String]) -> Self {
        self.current = Some(current.contains(&self.script.revision.id));
        self
    }

    fn id(&self) -> &str {
        &self.script.revision.id
    }

    /// No revision revises it (it may still be depended on: an "effective head").
    pub fn is_head(&self) -> bool {
        self.children.is_empty()
    }

    /// Nothing revises or depends on it.
    pub fn is_real_head(&self) -> bool {
        self.children.is_empty() && self.dependents.is_empty()
    }

    pub fn is_branch_point(&self) -> bool {
        self.children.len() > 1
    }

    pub fn is_merge_point(&self) -> bool {
        self.script.revision.down_revisions.len() > 1
    }

    fn is_current(&self) -> bool {
        self.current == Some(true)
    }

    /// `<base>` or the down revisions, comma-separated.
    fn down_text(&self) -> String {
        let down = &self.script.revision.down_revisions;
        if down.is_empty() {
            "<base>".to_string()
        } else {
            down.join(", ")
        }
    }

    /// One line, as Alembic's `_head_only` (non-verbose `cmd_format`).
    pub fn line(&self, style: LineStyle) -> String {
        // Built in one buffer: `history` writes one of these per revision.
        let mut text = String::with_capacity(96);
        if style.include_parents {
            let down = &self.script.revision.down_revisions;
            if down.is_empty() {
                text.push_str("<base>");
            } else {
                push_joined(&mut text, down);
            }
            let deps = &self.script.revision.depends_on;
            if !deps.is_empty() {
                text.push_str(" (");
                push_joined(&mut text, deps);
                text.push(')');
            }
            text.push_str(" -> ");
        }
        text.push_str(self.id());
        if style.include_branches && !self.labels.is_empty() {
            text.push_str(" (");
            push_joined(&mut text, &self.labels);
            text.push(')');
        }
        if self.is_real_head() {
            text.push_str(" (head)");
        } else if self.is_head() {
            text.push_str(" (effective head)");
        }
        if self.is_current() {
            text.push_str(" (current)");
        }
        if style.tree_indicators {
            if self.is_branch_point() {
                text.push_str(" (branchpoint)");
            }
            if self.is_merge_point() {
                text.push_str(" (mergepoint)");
            }
        }
        if style.include_doc {
            text.push_str(", ");
            text.push_str(&self.script.message);
        }
        text
    }

    /// The verbose form, as Alembic's `log_entry`; ends with a newline.
    pub fn entry(&self) -> String {
        let mut entry = format!("Rev: {}", self.id());
        if self.is_head() {
            entry.push_str(" (head)");
        }
        if self.is_branch_point() {
            entry.push_str(" (branchpoint)");
        }
        if self.is_merge_point() {
            entry.push_str(" (mergepoint)");
        }
        if self.is_current() {
            entry.push_str(" (current)");
        }
        entry.push('\n');
        let label = if self.is_merge_point() {
            "Merges"
        } else {
            "Parent"
        };
        entry.push_str(&format!("{label}: {}\n", self.down_text()));
        let deps = &self.script.revision.depends_on;
        if !deps.is_empty() {
            entry.push_str(&format!("Also depends on: {}\n", deps.join(", ")));
        }
        if self.is_branch_point() {
            entry.push_str(&format!("Branches into: {}\n", self.children.join(", ")));
        }
        if !self.labels.is_empty() {
            entry.push_str(&format!("Branch names: {}\n", self.labels.join(", ")));
        }
        entry.push_str(&format!("Path: {}\n", self.script.path.display()));
        entry.push('\n');
        let doc: Vec<String> = long_doc(self.script)
            .lines()
            .map(|l| format!("    {l}"))
            .collect();
        entry.push_str(&doc.join("\n"));
        entry.push('\n');
        entry
    }

    /// Machine output for `--json`.
    pub fn json(&self) -> Value {
        let r = &self.script.revision;
        let mut v = json!({
            "revision": r.id,
            "down_revisions": r.down_revisions,
            "depends_on": r.depends_on,
            "branch_labels": self.labels,
            "message": self.script.message,
            "create_date": self.script.create_date,
            "path": self.script.path.display().to_string(),
            "checksum": self.script.checksum.to_string(),
            // Alembic's is_head: nothing revises it (it may be depended on).
            "is_head": self.is_head(),
            // Nothing revises or depends on it: printed as "(head)".
            "is_real_head": self.is_real_head(),
            "is_branch_point": self.is_branch_point(),
            "is_merge_point": self.is_merge_point(),
            "children": self.children,
        });
        if let (Some(current), Some(obj)) = (self.current, v.as_object_mut()) {
            obj.insert("is_current".to_string(), Value::Bool(current));
        }
        v
    }
}

/// The header comment block of a script without its `--` markers: Alembic's `longdoc` (the
/// module docstring). Read again from the file, since only verbose output needs it; a file that
/// cannot be read falls back to the message.
pub fn long_doc(script: &Script) -> String {
    match std::fs::read(&script.path) {
        Ok(bytes) => header_text(&String::from_utf8_lossy(&bytes)),
        Err(_) => script.message.clone(),
    }
}

fn header_text(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .take_while(|l| l.trim_start().starts_with("--") && !is_section_marker(l))
        .map(|l| {
            let rest = l.trim_start().trim_start_matches("--");
            rest.strip_prefix(' ').unwrap_or(rest)
        })
        .collect();
    lines.join("\n").trim().to_string()
}

fn is_section_marker(line: &str) -> bool {
    let t = line.trim();
    t == "-- +upgrade" || t == "-- +downgrade"
}

/// A path for messages: as given when relative, otherwise absolute (Alembic prints absolute
/// paths in its status lines).
pub fn display_path(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alembic_core::{Checksum, Revision};
    use std::path::PathBuf;

    fn script(id: &str, down: &[&str], labels: &[&str], deps: &[&str], message: &str) -> Script {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Script {
            revision: Revision {
                id: id.to_string(),
                down_revisions: list(down),
                branch_labels: list(labels),
                depends_on: list(deps),
            },
            message: message.to_string(),
            create_date: None,
            transactional: true,
            upgrade_sql: String::new(),
            downgrade_sql: None,
            checksum: Checksum::of_file_bytes(id.as_bytes()),
            path: PathBuf::from(format!("/nonexistent/{id}.sql")),
            id_line: 3,
        }
    }

    /// The graph built with Python Alembic 1.20.1 in a scratch project (files in name order).
    fn alembic_graph() -> ScriptDirectory {
        ScriptDirectory::from_scripts(vec![
            script("a1", &[], &[], &[], "Initial migration"),
            script("b2", &["a1"], &[], &[], "add indexes"),
            script("base2", &[], &[], &[], "second base"),
            script("c3b", &["a1"], &["feat"], &[], "feature two"),
            script("d4", &["c3b"], &[], &["b2"], "dep on b2"),
            script("d5", &["e4a193614c6e"], &[], &["feat"], "dep2"),
            script("dd9", &[], &[], &["base2"], "dep on b"),
            script("e4a193614c6e", &["b2"], &[], &[], "x"),
            script("m1", &["d4", "d5"], &[], &[], "merge them"),
        ])
        .expect("valid graph")
    }

    fn view<'a>(dir: &'a ScriptDirectory, id: &str) -> RevView<'a> {
        RevView::new(dir, dir.script(id).expect("known id"))
    }

    #[test]
    fn history_lines_match_alembic() {
        let dir = alembic_graph();
        // `alembic history` output, line for line.
        let expected = [
            ("dd9", "<base> (base2) -> dd9 (head), dep on b"),
            ("base2", "<base> -> base2 (effective head), second base"),
            ("m1", "d4, d5 -> m1 (feat) (head) (mergepoint), merge them"),
            ("d4", "c3b (b2) -> d4 (feat), dep on b2"),
            ("d5", "e4a193614c6e (feat) -> d5, dep2"),
            ("e4a193614c6e", "b2 -> e4a193614c6e, x"),
            ("c3b", "a1 -> c3b (feat), feature two"),
            ("b2", "a1 -> b2, add indexes"),
            ("a1", "<base> -> a1 (branchpoint), Initial migration"),
        ];
        for (id, line) in expected {
            assert_eq!(view(&dir, id).line(LineStyle::HISTORY), line);
        }
    }

    #[test]
    fn heads_and_current_lines_match_alembic() {
        let dir = alembic_graph();
        assert_eq!(
            view(&dir, "base2").line(LineStyle::HEADS),
            "base2 (effective head)"
        );
        assert_eq!(view(&dir, "dd9").line(LineStyle::HEADS), "dd9 (head)");
        assert_eq!(view(&dir, "m1").line(LineStyle::HEADS), "m1 (feat) (head)");
        assert_eq!(
            view(&dir, "m1").line(LineStyle::CURRENT),
            "m1 (head) (mergepoint)"
        );
        assert_eq!(
            view(&dir, "a1").line(LineStyle::CURRENT),
            "a1 (branchpoint)"
        );
        assert_eq!(view(&dir, "b2").line(LineStyle::CURRENT), "b2");
        let current = vec!["e4a193614c6e".to_string(), "c3b".to_string()];
        assert_eq!(
            view(&dir, "c3b")
                .with_current(&current)
                .line(LineStyle::HISTORY),
            "a1 -> c3b (feat) (current), feature two"
        );
        assert_eq!(
            view(&dir, "b2")
                .with_current(&current)
                .line(LineStyle::HISTORY),
            "a1 -> b2, add indexes"
        );
    }

    #[test]
    fn verbose_entries_match_alembic() {
        let dir = alembic_graph();
        assert_eq!(
            view(&dir, "m1").entry(),
            "Rev: m1 (head) (mergepoint)\nMerges: d4, d5\nBranch names: feat\nPath: /nonexistent/m1.sql\n\n    merge them\n"
        );
        assert_eq!(
            view(&dir, "d5").entry(),
            "Rev: d5\nParent: e4a193614c6e\nAlso depends on: feat\nPath: /nonexistent/d5.sql\n\n    dep2\n"
        );
        assert_eq!(
            view(&dir, "a1").entry(),
            "Rev: a1 (branchpoint)\nParent: <base>\nBranches into: b2, c3b\nPath: /nonexistent/a1.sql\n\n    Initial migration\n"
        );
    }

    #[test]
    fn json_carries_the_graph_facts() {
        let dir = alembic_graph();
        let v = view(&dir, "m1").with_current(&["m1".to_string()]).json();
        assert_eq!(v["revision"], "m1");
        assert_eq!(v["down_revisions"], json!(["d4", "d5"]));
        assert_eq!(v["branch_labels"], json!(["feat"]));
        assert_eq!(v["is_merge_point"], true);
        assert_eq!(v["is_current"], true);
        assert!(view(&dir, "b2").json().get("is_current").is_none());
    }

    #[test]
    fn header_text_strips_markers_and_stops_at_the_body() {
        let text = "-- Add indexes\n--\n-- Revision ID: b2\n-- Revises: a1\n-- Create Date: 2025-08-23 10:30:00.000000\n\n-- +upgrade\nSELECT 1;\n";
        assert_eq!(
            header_text(text),
            "Add indexes\n\nRevision ID: b2\nRevises: a1\nCreate Date: 2025-08-23 10:30:00.000000"
        );
        assert_eq!(
            header_text("-- m\r\n-- Revision ID: x\r\n-- +upgrade\r\n"),
            "m\nRevision ID: x"
        );
    }
}
