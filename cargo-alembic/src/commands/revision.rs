//! `revision` and `merge`: a new script from `script.sql.tmpl`, with Alembic's rules for where
//! it goes in the graph (`--head`, `--splice`, several heads, `--depends-on`) and for its file
//! name (`file_template`, slug). The rendered script is parsed and the graph re-checked before
//! the file is written, so a broken template or a clashing label never leaves a file behind.

use std::fs;
use std::path::{Path, PathBuf};

use alembic_core::revision::is_valid_id;
use alembic_core::script::{parse_script, ScriptError};
use alembic_core::source::ScriptDirectory;
use alembic_core::target::{self, ResolveError};
use alembic_core::{Revision, RevisionMap, Script};
use chrono::{DateTime, Local, Utc};

use crate::args::{GlobalOpts, MergeArgs, RevisionArgs};
use crate::error::{CliError, CliResult};
use crate::naming::{self, TemplateValues};
use crate::output::{display_path, Printer};
use crate::project::Project;
use crate::template::{self, Values, DEFAULT_TEMPLATE};

/// What a new revision is made of, once the command line is read.
struct NewRevision {
    rev_id: String,
    message: Option<String>,
    /// Down revisions (empty: a new base).
    heads: Vec<String>,
    branch_labels: Vec<String>,
    depends_on: Vec<String>,
    version_path: Option<PathBuf>,
}

pub fn revision(global: &GlobalOpts, args: &RevisionArgs, printer: &Printer) -> CliResult {
    if args.autogenerate {
        return Err(CliError::with_hint(
            "revision --autogenerate is not available yet",
            "write the SQL by hand: `cargo alembic revision -m \"...\"` creates the file",
        ));
    }
    let project = Project::load(global)?;
    let scripts = project.scripts()?;
    let map = scripts.map();
    let heads = target::resolve(map, &args.head, &[]).map_err(|e| match e {
        ResolveError::MultipleHeads { heads, .. } => CliError::Failed {
            message: "Multiple heads are present; please specify the head revision on which the \
                      new revision should be based, or perform a merge."
                .to_string(),
            details: vec![format!("heads: {}", heads.join(", "))],
            hint: Some(
                "`--head <id>` or `--head <label>@head` picks one; `cargo alembic merge -m \
                 \"merge\" heads` joins them"
                    .to_string(),
            ),
        },
        other => CliError::from(other),
    })?;
    if !args.splice {
        if let Some(not_head) = heads.iter().find(|h| !map.is_head(h)) {
            return Err(CliError::failed(format!(
                "Revision {not_head} is not a head revision; please specify --splice to create a \
                 new branch from this revision"
            )));
        }
    }
    let depends_on = args
        .depends_on
        .iter()
        .flat_map(|d| d.split(',').map(str::trim).filter(|d| !d.is_empty()))
        .map(|d| resolve_dependency(map, d))
        .collect::<CliResult<Vec<String>>>()?;
    let new = NewRevision {
        rev_id: args.rev_id.clone().unwrap_or_else(naming::generate_rev_id),
        message: args.message.clone(),
        heads,
        branch_labels: split_list(&args.branch_label),
        depends_on,
        version_path: args.version_path.clone(),
    };
    generate(&project, &scripts, new, printer)
}

pub fn merge(global: &GlobalOpts, args: &MergeArgs, printer: &Printer) -> CliResult {
    let project = Project::load(global)?;
    let scripts = project.scripts()?;
    let map = scripts.map();
    let mut heads: Vec<String> = Vec::new();
    for rev in &args.revisions {
        for id in target::resolve(map, rev, &[])? {
            if heads.contains(&id) {
                return Err(CliError::failed("Duplicate head revisions specified"));
            }
            heads.push(id);
        }
    }
    if let Some(not_head) = heads.iter().find(|h| !map.is_head(h)) {
        return Err(CliError::failed(format!(
            "Revision {not_head} is not a head revision; merge heads (`cargo alembic heads` lists \
             them)"
        )));
    }
    let new = NewRevision {
        rev_id: args.rev_id.clone().unwrap_or_else(naming::generate_rev_id),
        message: args.message.clone(),
        heads,
        branch_labels: split_list(&args.branch_label),
        depends_on: Vec::new(),
        version_path: None,
    };
    generate(&project, &scripts, new, printer)
}

/// `--branch-label a,b --branch-label c` -> [a, b, c].
fn split_list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

/// A dependency as Alembic writes it: a branch label stays a label, an id prefix becomes the
/// full id.
fn resolve_dependency(map: &RevisionMap, dep: &str) -> CliResult<String> {
    if map.label_owner(dep).is_some() {
        return Ok(dep.to_string());
    }
    let ids = target::resolve(map, dep, &[])?;
    match ids.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(CliError::failed(format!(
            "--depends-on {dep} must name one revision; it names {}",
            if ids.is_empty() {
                "none".to_string()
            } else {
                ids.join(", ")
            }
        ))),
    }
}

fn generate(
    project: &Project,
    scripts: &ScriptDirectory,
    new: NewRevision,
    printer: &Printer,
) -> CliResult {
    let config = &project.config;
    let map = scripts.map();
    if !is_valid_id(&new.rev_id) {
        let bad: std::collections::BTreeSet<char> = new
            .rev_id
            .chars()
            .filter(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
            .collect();
        let what = if bad.is_empty() {
            format!(
                "Revision identifier '{}' must be 1 to 32 characters long",
                new.rev_id
            )
        } else {
            let list: Vec<String> = bad.iter().map(char::to_string).collect();
            format!(
                "Character(s) '{}' not allowed in revision identifier '{}'",
                list.join(", "),
                new.rev_id
            )
        };
        return Err(CliError::with_hint(
            what,
            "use letters, digits and _ (at most 32)",
        ));
    }
    if let Some(existing) = scripts.script(&new.rev_id) {
        return Err(CliError::with_hint(
            format!(
                "Revision {} is already present in {}",
                new.rev_id,
                existing.path.display()
            ),
            "choose another --rev-id, or leave it out for a generated one",
        ));
    }

    let version_path = pick_version_path(project, scripts, &new)?;
    let create_date = create_date(config.timezone.as_deref())?;
    let message = new
        .message
        .clone()
        .unwrap_or_else(|| "empty message".to_string());
    // The message is the header's first line: it cannot span lines.
    let message_line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    let slug = naming::slug(
        new.message.as_deref().unwrap_or(""),
        config.truncate_slug_length,
    );
    let name = naming::render_file_template(
        &config.file_template,
        &TemplateValues {
            rev: &new.rev_id,
            slug: &slug,
            create_date: &create_date.0,
        },
    )
    .map_err(|e| {
        CliError::with_hint(
            e.to_string(),
            format!("fix `file_template` in {}", config.config_path.display()),
        )
    })?;
    if name.contains(['/', '\\']) || name.is_empty() {
        return Err(CliError::with_hint(
            format!(
                "file_template {:?} gives the file name {name:?}: revision files must sit at the \
                 top level of a version location, where they are read from",
                config.file_template
            ),
            format!(
                "remove the folders from `file_template` in {}",
                config.config_path.display()
            ),
        ));
    }
    let path = version_path.join(format!("{name}.sql"));

    let template_path = config.template_path();
    let template_text = match fs::read_to_string(&template_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            log::info!(
                "no template at {}: using the built-in one (`cargo alembic init` writes it)",
                template_path.display()
            );
            DEFAULT_TEMPLATE.to_string()
        }
        Err(e) => return Err(CliError::io("read", &template_path, e)),
    };
    let render = |message: &str| {
        let mut values = Values::new();
        values
            .set("message", message)
            .set("up_revision", new.rev_id.as_str())
            .set("down_revision", new.heads.join(", "))
            .set("create_date", create_date.1.as_str())
            .set("branch_labels", new.branch_labels.join(", "))
            .set("depends_on", new.depends_on.join(", "));
        template::render(&template_text, &values).map_err(|e| {
            CliError::with_hint(
                format!("{}: {e}", template_path.display()),
                "fix the template (the names are message, up_revision, down_revision, \
                 create_date, branch_labels, depends_on)",
            )
        })
    };
    let mut text = render(&message_line)?;
    if new.heads.len() > 1 {
        text = mark_merge_downgradable(&text);
    }
    let parsed = parse_script(&path, text.as_bytes());
    if !matches!(&parsed, Ok(s) if s.message == message_line) {
        // Is it the message (one that reads as a header line, such as "Revises: x") or the
        // template? Render again with a plain message to tell.
        let plain = render("message")?;
        if parse_script(&path, plain.as_bytes()).is_ok() {
            return Err(CliError::with_hint(
                format!(
                    "the message {message_line:?} would be read as a header line or section \
                     marker of the script, not as its message"
                ),
                "reword the message (for instance \"Change Revises: ...\" instead of \
                 \"Revises: ...\")",
            ));
        }
    }
    check_rendered(parsed, &template_path, &new, map)?;

    if path.exists() {
        return Err(CliError::with_hint(
            format!("{} already exists", path.display()),
            "choose another message or --rev-id",
        ));
    }
    if let Some(parent) = path.parent() {
        if !parent.is_dir() {
            fs::create_dir_all(parent).map_err(|e| CliError::io("create", parent, e))?;
            printer.done(&format!("Creating directory {}", display_path(parent)));
        }
    }
    fs::write(&path, text).map_err(|e| CliError::io("write", &path, e))?;
    printer.done(&format!("Generating {}", display_path(&path)));
    Ok(())
}

/// The comment a merge revision's downgrade section gets.
const MERGE_NO_OP: &str = "-- A merge changes no schema: nothing to undo.";

/// A merge joins branches and runs no SQL, and must still be downgradable (as Alembic's merge,
/// whose `downgrade()` is `pass`). An empty `-- +downgrade` section means "cannot downgrade",
/// so the section gets a comment, the script format's deliberate no-op. Done here rather than
/// in the template so that it holds for any template. Left alone when the template already
/// writes something there.
fn mark_merge_downgradable(text: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(marker) = lines.iter().position(|l| l.trim() == "-- +downgrade") else {
        let sep = if text.ends_with('\n') || text.is_empty() {
            ""
        } else {
            "\n"
        };
        return format!("{text}{sep}\n-- +downgrade\n{MERGE_NO_OP}\n");
    };
    let has_content = lines[marker + 1..].iter().any(|l| !l.trim().is_empty());
    if has_content {
        return text.to_string();
    }
    let newline = if lines[marker].ends_with("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let mut out: String = lines[..=marker].concat();
    if !out.ends_with('\n') {
        out.push_str(newline);
    }
    out.push_str(MERGE_NO_OP);
    out.push_str(newline);
    out.push_str(&lines[marker + 1..].concat());
    out
}

/// Parses the rendered script and checks the graph with it added, so that a template that
/// drops a header line, or a label already in use, is caught before anything is written.
fn check_rendered(
    parsed: Result<Script, Vec<ScriptError>>,
    template_path: &Path,
    new: &NewRevision,
    map: &RevisionMap,
) -> CliResult {
    let script = parsed.map_err(|errors| CliError::Failed {
        message: format!(
            "the template {} renders a script that does not parse",
            template_path.display()
        ),
        details: errors.iter().map(|e| e.to_string()).collect(),
        hint: Some("fix the template; compare it with the one `cargo alembic init` writes".into()),
    })?;
    let r = &script.revision;
    let template_dropped = |what: &str| {
        CliError::with_hint(
            format!(
                "Version {} specified {what}, however the template {} does not render them",
                new.rev_id,
                template_path.display()
            ),
            "add the line from the default template (`-- Revises: ${down_revision}`, `-- Branch \
             Labels: ${branch_labels}`, `-- Depends On: ${depends_on}`)",
        )
    };
    if r.id != new.rev_id {
        return Err(template_dropped("its revision id"));
    }
    if r.down_revisions != new.heads {
        return Err(template_dropped("down revisions"));
    }
    if r.branch_labels != new.branch_labels {
        return Err(template_dropped("branch labels"));
    }
    if r.depends_on != new.depends_on {
        return Err(template_dropped("dependencies"));
    }
    let mut all: Vec<Revision> = map.iter().cloned().collect();
    all.push(r.clone());
    RevisionMap::new(all).map_err(|errors| CliError::Failed {
        message: format!("revision {} would break the revision graph", new.rev_id),
        details: errors.0.iter().map(|e| e.to_string()).collect(),
        hint: Some("choose another branch label or revision id".into()),
    })?;
    Ok(())
}

/// Which version location gets the file: `--version-path` (one of the configured locations);
/// else the only location; else the folder of the first head's script, as Alembic does.
fn pick_version_path(
    project: &Project,
    scripts: &ScriptDirectory,
    new: &NewRevision,
) -> CliResult<PathBuf> {
    let locations = &project.config.version_locations;
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    if let Some(wanted) = &new.version_path {
        let wanted_abs = absolute(wanted);
        return locations
            .iter()
            .find(|l| absolute(l) == wanted_abs)
            .cloned()
            .ok_or_else(|| CliError::Failed {
                message: format!(
                    "Path {} is not represented in current version locations",
                    wanted.display()
                ),
                details: locations
                    .iter()
                    .map(|l| format!("version location: {}", l.display()))
                    .collect(),
                hint: Some("add it to `version_locations`, or pick one of these".into()),
            });
    }
    match locations.as_slice() {
        [one] => Ok(one.clone()),
        _ => new
            .heads
            .iter()
            .find_map(|h| scripts.script(h))
            .and_then(|s| s.path.parent().map(Path::to_path_buf))
            .ok_or_else(|| {
                CliError::with_hint(
                    "Multiple version locations present, please specify --version-path",
                    format!(
                        "one of: {}",
                        locations
                            .iter()
                            .map(|l| l.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            }),
    }
}

/// Now, in the configured zone (else local time), and its text as Python prints a datetime:
/// `2025-08-23 10:30:00.123456`, with `+02:00` when a zone is configured.
fn create_date(timezone: Option<&str>) -> CliResult<(DateTime<chrono::FixedOffset>, String)> {
    let now = Utc::now();
    match timezone {
        None => {
            let local = now.with_timezone(&Local);
            let text = local.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
            Ok((local.fixed_offset(), text))
        }
        Some(name) => {
            let tz: chrono_tz::Tz = name
                .parse()
                .or_else(|_| name.to_uppercase().parse())
                .map_err(|_| {
                    CliError::with_hint(
                        format!("Can't locate timezone: {name}"),
                        "use an IANA name such as UTC or Europe/Paris in `timezone`",
                    )
                })?;
            let there = now.with_timezone(&tz);
            let text = there.format("%Y-%m-%d %H:%M:%S%.6f%:z").to_string();
            Ok((there.fixed_offset(), text))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Printer = Printer { quiet: true };

    /// A project in a temp dir, addressed with `-c` so that no test depends on the cwd.
    struct Fixture {
        dir: tempfile::TempDir,
        global: GlobalOpts,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            fs::create_dir_all(dir.path().join("migrations/versions")).unwrap();
            fs::write(
                dir.path().join("migrations/script.sql.tmpl"),
                DEFAULT_TEMPLATE,
            )
            .unwrap();
            let config = dir.path().join("alembic.toml");
            fs::write(
                &config,
                "[alembic]\nscript_location = \"migrations\"\ntimezone = \"UTC\"\n",
            )
            .unwrap();
            let global = GlobalOpts {
                config: Some(config),
                ..GlobalOpts::default()
            };
            Fixture { dir, global }
        }

        fn revision(&self, extra: &[&str]) -> CliResult {
            let mut line = vec!["x", "revision"];
            line.extend_from_slice(extra);
            let cli = <crate::args::Cli as clap::Parser>::try_parse_from(line).unwrap();
            match cli.command {
                crate::args::Command::Revision(a) => revision(&self.global, &a, &QUIET),
                crate::args::Command::Merge(a) => merge(&self.global, &a, &QUIET),
                _ => unreachable!("revision arguments"),
            }
        }

        fn merge(&self, extra: &[&str]) -> CliResult {
            let mut line = vec!["x", "merge"];
            line.extend_from_slice(extra);
            let cli = <crate::args::Cli as clap::Parser>::try_parse_from(line).unwrap();
            match cli.command {
                crate::args::Command::Merge(a) => merge(&self.global, &a, &QUIET),
                _ => unreachable!("merge arguments"),
            }
        }

        fn file(&self, name: &str) -> String {
            fs::read_to_string(self.dir.path().join("migrations/versions").join(name)).unwrap()
        }

        fn files(&self) -> Vec<String> {
            let mut v: Vec<String> = fs::read_dir(self.dir.path().join("migrations/versions"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        }
    }

    #[test]
    fn revisions_chain_and_follow_alembics_rules() {
        let f = Fixture::new();
        f.revision(&["-m", "Initial migration", "--rev-id", "a1"])
            .unwrap();
        f.revision(&["-m", "add x", "--rev-id", "b2"]).unwrap();
        let b2 = f.file("b2_add_x.sql");
        assert!(
            b2.starts_with("-- add x\n--\n-- Revision ID: b2\n-- Revises: a1\n-- Create Date: "),
            "{b2}"
        );
        assert!(b2.contains("+00:00\n"), "timezone UTC: {b2}");

        // A non-head needs --splice.
        let e = f
            .revision(&["-m", "side", "--rev-id", "c3", "--head", "a1"])
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("Revision a1 is not a head revision; please specify --splice"),
            "{e}"
        );
        f.revision(&[
            "-m",
            "side",
            "--rev-id",
            "c3",
            "--head",
            "a1",
            "--splice",
            "--branch-label",
            "feat",
        ])
        .unwrap();
        assert!(f.file("c3_side.sql").contains("-- Branch Labels: feat\n"));

        // Two heads now: plain `revision` refuses, naming them; label@head picks one.
        let e = f.revision(&["-m", "next"]).unwrap_err();
        let text = e.render();
        assert!(
            text.contains("Multiple heads are present; please specify the head revision"),
            "{text}"
        );
        assert!(
            text.contains("heads: ") && text.contains("b2") && text.contains("c3"),
            "{text}"
        );
        f.revision(&[
            "-m",
            "on feat",
            "--rev-id",
            "d4",
            "--head",
            "feat@head",
            "--depends-on",
            "feat",
            "--depends-on",
            "b2",
        ])
        .unwrap();
        let d4 = f.file("d4_on_feat.sql");
        assert!(
            d4.contains("-- Revises: c3\n") && d4.contains("-- Depends On: feat, b2\n"),
            "{d4}"
        );

        // Duplicate ids and bad characters write nothing.
        let before = f.files();
        assert!(f
            .revision(&["-m", "dup", "--rev-id", "a1", "--head", "b2"])
            .unwrap_err()
            .to_string()
            .contains("already present"));
        assert!(f
            .revision(&["-m", "bad", "--rev-id", "a-b", "--head", "b2"])
            .unwrap_err()
            .to_string()
            .contains("Character(s) '-' not allowed"));
        assert!(f.revision(&["-m", "Revises: b2", "--head", "b2"]).is_err());
        assert!(f
            .revision(&[
                "-m",
                "label clash",
                "--head",
                "b2",
                "--branch-label",
                "feat"
            ])
            .is_err());
        assert_eq!(f.files(), before);

        // Merge the two heads (`heads` would name only d4: b2 is an effective head, as in
        // Alembic); a new base with --head base.
        f.merge(&["-m", "merge them", "--rev-id", "m1", "b2", "d4"])
            .unwrap();
        assert!(f.file("m1_merge_them.sql").contains("-- Revises: b2, d4\n"));
        f.revision(&["-m", "other root", "--rev-id", "r0", "--head", "base"])
            .unwrap();
        assert!(f.file("r0_other_root.sql").contains("-- Revises:\n"));
    }

    #[test]
    fn create_date_formats_like_python() {
        let (_, local) = create_date(None).unwrap();
        // 2026-11-23 22:38:40.439656
        assert_eq!(local.len(), 26, "{local}");
        assert_eq!(&local[4..5], "-");
        assert_eq!(&local[19..20], ".");
        let (_, utc) = create_date(Some("utc")).unwrap();
        assert!(utc.ends_with("+00:00"), "{utc}");
        let (_, paris) = create_date(Some("Europe/Paris")).unwrap();
        assert!(
            paris.ends_with("+01:00") || paris.ends_with("+02:00"),
            "{paris}"
        );
        let e = create_date(Some("Mars/Olympus")).unwrap_err();
        assert!(e
            .to_string()
            .contains("Can't locate timezone: Mars/Olympus"));
    }

    #[test]
    fn merges_get_a_no_op_downgrade() {
        let text =
            "-- m\n-- Revision ID: m\n-- Revises: a, b\n\n-- +upgrade\n\n\n-- +downgrade\n\n";
        let out = mark_merge_downgradable(text);
        assert_eq!(
            out,
            "-- m\n-- Revision ID: m\n-- Revises: a, b\n\n-- +upgrade\n\n\n-- +downgrade\n-- A merge changes no schema: nothing to undo.\n\n"
        );
        let script = parse_script(Path::new("m.sql"), out.as_bytes()).unwrap();
        assert!(script.is_downgradable());
        // A template that writes its own downgrade is left alone; one without the section gets it.
        let own = "-- m\n-- Revision ID: m\n-- +upgrade\n-- +downgrade\nSELECT 1;\n";
        assert_eq!(mark_merge_downgradable(own), own);
        let none = mark_merge_downgradable("-- m\n-- Revision ID: m\n-- +upgrade");
        assert!(parse_script(Path::new("m.sql"), none.as_bytes())
            .unwrap()
            .is_downgradable());
    }

    #[test]
    fn list_flags_split_on_commas() {
        let v = vec!["a, b".to_string(), "c".to_string(), " ".to_string()];
        assert_eq!(split_list(&v), ["a", "b", "c"]);
    }
}
