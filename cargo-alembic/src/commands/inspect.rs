//! The read commands: `current`, `history`, `heads`, `branches`, `show`. They print Alembic's
//! lines (see [`crate::output`]); `--json` gives the same facts for machines. Only `current`,
//! `show current` and `history` with `--indicate-current` or a `current` range connect, and
//! they only read (no lock, no table created).

use alembic_core::source::ScriptDirectory;
use alembic_core::target;
use alembic_core::Script;
use serde_json::{json, Value};

use crate::args::{GlobalOpts, HeadsArgs, HistoryArgs, ReadArgs, ShowArgs};
use crate::error::{CliError, CliResult};
use crate::output::{LineStyle, Printer, RevView};
use crate::project::Project;

/// The database's heads, each known to the scripts.
fn database_heads(project: &Project, scripts: &ScriptDirectory) -> CliResult<Vec<String>> {
    let heads = project.read_heads(scripts)?;
    let unknown: Vec<&String> = heads
        .iter()
        .filter(|h| scripts.script(h).is_none())
        .collect();
    if !unknown.is_empty() {
        return Err(CliError::with_hint(
            format!(
                "Can't locate revision identified by '{}': the database is at a revision none of \
                 the scripts define",
                unknown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "check out the code that has its script (is this checkout older than the database?)",
        ));
    }
    Ok(heads)
}

fn script<'a>(scripts: &'a ScriptDirectory, id: &str) -> CliResult<&'a Script> {
    scripts
        .script(id)
        .ok_or_else(|| CliError::failed(format!("Can't locate revision identified by '{id}'")))
}

pub fn current(global: &GlobalOpts, args: &ReadArgs, printer: &Printer) -> CliResult {
    let verbose = global.verbose > 0;
    let project = Project::load(global)?;
    let scripts = project.scripts()?;
    let url = project.require_url()?.masked();
    let heads = database_heads(&project, &scripts)?;
    let views = shown_as_current(&scripts, &heads)?
        .into_iter()
        .map(|h| Ok(RevView::new(&scripts, script(&scripts, h)?)))
        .collect::<CliResult<Vec<_>>>()?;
    // Upgrades refuse a dirty database until it is resolved: say so where people look first.
    let dirty = crate::commands::check::dirty_state(&project, &scripts)?;
    if args.json {
        let at_heads = crate::commands::check::pending(&scripts, &heads)?.is_empty();
        printer.json(&json!({
            "url": url,
            "current": views.iter().map(RevView::json).collect::<Vec<_>>(),
            "at_heads": at_heads,
            "dirty": dirty.as_ref().map(|d| json!({
                "revision": d.revision,
                "operation": d.operation.as_str(),
                "failed_at": d.failed_at,
            })),
        }));
        return Ok(());
    }
    if let Some(dirty) = &dirty {
        log::warn!(
            "{}",
            alembic_runtime::RunError::Dirty(Box::new(dirty.clone()))
        );
    }
    if verbose {
        printer.out(&format!("Current revision(s) for {url}:"));
    }
    for view in views {
        printer.out(&if verbose {
            view.entry()
        } else {
            view.line(LineStyle::CURRENT)
        });
    }
    Ok(())
}

/// What `current` lists, as Alembic's `get_all_current` (the graph computes it): the version
/// rows plus the dependencies that no other listed revision revises, e.g. `base2 (effective
/// head)`.
fn shown_as_current<'a>(scripts: &'a ScriptDirectory, heads: &[String]) -> CliResult<Vec<&'a str>> {
    Ok(scripts
        .map()
        .current(heads)?
        .into_iter()
        .map(|r| r.id.as_str())
        .collect())
}

pub fn history(global: &GlobalOpts, args: &HistoryArgs, printer: &Printer) -> CliResult {
    let verbose = global.verbose > 0;
    let project = Project::load(global)?;
    let scripts = project.scripts()?;
    let range = args.rev_range.as_deref();
    if let Some(r) = range {
        if !r.contains(':') {
            return Err(CliError::Usage(format!(
                "History range requires [start]:[end], [start]:, or :[end]; got '{r}'"
            )));
        }
    }
    let needs_db = args.indicate_current
        || range.is_some_and(|r| r.split(':').any(|end| end.trim() == "current"));
    let current = if needs_db {
        database_heads(&project, &scripts)?
    } else {
        Vec::new()
    };
    let revisions = scripts.map().history(range, &current)?;
    let mut views = Vec::with_capacity(revisions.len());
    for r in revisions {
        let view = RevView::new(&scripts, script(&scripts, &r.id)?);
        views.push(if args.indicate_current {
            view.with_current(&current)
        } else {
            view
        });
    }
    if args.json {
        printer.json(&Value::Array(views.iter().map(RevView::json).collect()));
        return Ok(());
    }
    // One write for the whole list: stdout is line-buffered, and a system call per line was a
    // tenth of `history`'s time at 10,000 revisions.
    let mut text = String::new();
    for view in views {
        text.push_str(&if verbose {
            view.entry()
        } else {
            view.line(LineStyle::HISTORY)
        });
        text.push('\n');
    }
    printer.out_raw(&text);
    Ok(())
}

pub fn heads(global: &GlobalOpts, args: &HeadsArgs, printer: &Printer) -> CliResult {
    let verbose = global.verbose > 0;
    let project = Project::load(global)?;
    let scripts = project.scripts()?;
    let map = scripts.map();
    let ids = if args.resolve_dependencies {
        map.real_heads()
    } else {
        map.heads()
    };
    let views = ids
        .iter()
        .map(|id| Ok(RevView::new(&scripts, script(&scripts, id)?)))
        .collect::<CliResult<Vec<_>>>()?;
    if args.json {
        printer.json(&Value::Array(views.iter().map(RevView::json).collect()));
        return Ok(());
    }
    for view in views {
        printer.out(&if verbose {
            view.entry()
        } else {
            view.line(LineStyle::HEADS)
        });
    }
    Ok(())
}

pub fn branches(global: &GlobalOpts, args: &ReadArgs, printer: &Printer) -> CliResult {
    let verbose = global.verbose > 0;
    let project = Project::load(global)?;
    let scripts = project.scripts()?;
    let map = scripts.map();
    let mut json_out = Vec::new();
    for r in map.history(None, &[])? {
        if !map.is_branch_point(&r.id) {
            continue;
        }
        let view = RevView::new(&scripts, script(&scripts, &r.id)?);
        let children = view
            .children
            .iter()
            .map(|c| Ok(RevView::new(&scripts, script(&scripts, c)?)))
            .collect::<CliResult<Vec<_>>>()?;
        if args.json {
            let mut v = view.json();
            if let Some(obj) = v.as_object_mut() {
                obj.insert(
                    "branches_into".to_string(),
                    Value::Array(children.iter().map(RevView::json).collect()),
                );
            }
            json_out.push(v);
            continue;
        }
        let head = if verbose {
            view.entry()
        } else {
            view.line(LineStyle::BRANCH_POINT)
        };
        let pad = " ".repeat(r.id.len());
        let child_style = LineStyle {
            include_branches: true,
            include_doc: verbose,
            include_parents: false,
            tree_indicators: true,
        };
        let lines: Vec<String> = children
            .iter()
            .map(|c| format!("{pad} -> {}", c.line(child_style)))
            .collect();
        printer.out(&format!("{head}\n{}\n", lines.join("\n")));
    }
    if args.json {
        printer.json(&Value::Array(json_out));
    }
    Ok(())
}

pub fn show(global: &GlobalOpts, args: &ShowArgs, printer: &Printer) -> CliResult {
    let project = Project::load(global)?;
    let scripts = project.scripts()?;
    let mut views = Vec::new();
    for rev in &args.revisions {
        let ids = if rev == "current" {
            database_heads(&project, &scripts)?
        } else {
            target::resolve(scripts.map(), rev, &[])?
        };
        for id in ids {
            views.push(RevView::new(&scripts, script(&scripts, &id)?));
        }
    }
    if args.json {
        printer.json(&Value::Array(views.iter().map(RevView::json).collect()));
        return Ok(());
    }
    for view in views {
        printer.out(&view.entry());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alembic_core::{Checksum, Revision};

    fn script(id: &str, down: &[&str], deps: &[&str]) -> Script {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Script {
            revision: Revision {
                id: id.to_string(),
                down_revisions: list(down),
                branch_labels: Vec::new(),
                depends_on: list(deps),
            },
            message: id.to_string(),
            create_date: None,
            transactional: true,
            upgrade_sql: String::new(),
            downgrade_sql: None,
            checksum: Checksum::of_file_bytes(id.as_bytes()),
            path: format!("{id}.sql").into(),
            id_line: 3,
        }
    }

    #[test]
    fn current_lists_what_alembic_lists() {
        // Expected sets observed from `alembic current` on the same graph.
        let dir = ScriptDirectory::from_scripts(vec![
            script("a1", &[], &[]),
            script("b2", &["a1"], &[]),
            script("base2", &[], &[]),
            script("c3b", &["a1"], &[]),
            script("d4", &["c3b"], &["b2"]),
            script("d5", &["e4a193614c6e"], &["c3b"]),
            script("dd9", &[], &["base2"]),
            script("e4a193614c6e", &["b2"], &[]),
            script("m1", &["d4", "d5"], &[]),
        ])
        .expect("valid graph");
        let shown = |rows: &[&str]| {
            let rows: Vec<String> = rows.iter().map(|s| s.to_string()).collect();
            let mut v: Vec<String> = shown_as_current(&dir, &rows)
                .expect("known rows")
                .into_iter()
                .map(str::to_string)
                .collect();
            v.sort();
            v
        };
        assert_eq!(shown(&["dd9", "m1"]), ["base2", "dd9", "m1"]);
        assert_eq!(shown(&["d4"]), ["b2", "d4"]);
        assert_eq!(shown(&["d4", "d5"]), ["d4", "d5"]);
        assert_eq!(shown(&["b2", "c3b"]), ["b2", "c3b"]);
        assert_eq!(shown(&["a1"]), ["a1"]);
        assert!(shown(&[]).is_empty());
    }
}
