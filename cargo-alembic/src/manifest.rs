//! Editing a package's `Cargo.toml` for `init`: adding `alembic-runtime` to `[dependencies]`
//! and `alembic-build` to `[build-dependencies]` with toml_edit, so that the user's formatting,
//! ordering and comments survive, and nothing changes when they are already there.

use toml_edit::{DocumentMut, Item, Table, Value};

/// How a dependency is written into `Cargo.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencySpec {
    pub version: String,
    /// A local checkout of the crate, for crates not published to a registry.
    pub path: Option<String>,
}

impl DependencySpec {
    fn to_item(&self) -> Item {
        match &self.path {
            None => toml_edit::value(self.version.as_str()),
            Some(path) => {
                let mut inline = toml_edit::InlineTable::new();
                inline.insert("version", Value::from(self.version.as_str()));
                inline.insert("path", Value::from(path.as_str()));
                toml_edit::value(inline)
            }
        }
    }
}

/// One dependency `add_dependencies` added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    pub name: &'static str,
    pub table: &'static str,
}

/// Why a manifest cannot be edited.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    #[error("it is not valid TOML: {0}")]
    Parse(#[from] toml_edit::TomlError),
    #[error("`{table}` is not a table")]
    NotATable { table: &'static str },
}

/// The manifest text with the dependencies added, and which were added (none: the text is
/// returned unchanged).
pub fn add_dependencies(
    text: &str,
    runtime: &DependencySpec,
    build: &DependencySpec,
) -> Result<(String, Vec<Added>), ManifestError> {
    let mut doc: DocumentMut = text.parse()?;
    // Comments after the last key of the file belong to the last table, but toml_edit keeps
    // them as the document's trailing text, which would end up after any appended key or
    // table. Take them out, and put them back where they were once the edits are made.
    let trailing = doc.trailing().as_str().unwrap_or("").to_string();
    let last_table = last_table_name(&doc);
    doc.set_trailing("");
    let mut added = Vec::new();
    let mut trailing_placed = trailing.trim().is_empty();
    for (table, name, spec) in [
        ("dependencies", "alembic-runtime", runtime),
        ("build-dependencies", "alembic-build", build),
    ] {
        match ensure_dependency(&mut doc, table, name, spec)? {
            Insertion::None => {}
            Insertion::Key(key) => {
                if !trailing_placed && last_table.as_deref() == Some(key.as_str()) {
                    // The comments stay above the new key, inside their table.
                    if let Some(mut k) = doc
                        .get_mut(&key)
                        .and_then(Item::as_table_mut)
                        .and_then(|t| t.key_mut(name))
                    {
                        k.leaf_decor_mut().set_prefix(trailing.clone());
                        trailing_placed = true;
                    }
                }
                added.push(Added { name, table });
            }
            Insertion::Table(key) => {
                if !trailing_placed {
                    // The comments stay at the end of the table before the new one.
                    if let Some(t) = doc.get_mut(&key).and_then(Item::as_table_mut) {
                        t.decor_mut().set_prefix(format!("{trailing}\n"));
                        trailing_placed = true;
                    }
                }
                added.push(Added { name, table });
            }
        }
    }
    if added.is_empty() {
        return Ok((text.to_string(), added));
    }
    if !trailing_placed {
        doc.set_trailing(trailing);
    }
    Ok((doc.to_string(), added))
}

/// What [`ensure_dependency`] did.
enum Insertion {
    None,
    /// Added a key to the existing table of this name.
    Key(String),
    /// Created the table of this name (at the end) for the key.
    Table(String),
}

/// The top-level name of the table written last in the file (`profile` for
/// `[profile.release]`).
fn last_table_name(doc: &DocumentMut) -> Option<String> {
    fn walk(table: &Table, top: &str, best: &mut Option<(usize, String)>) {
        if let Some(pos) = table.position() {
            if !best.as_ref().is_some_and(|(p, _)| pos < *p) {
                *best = Some((pos, top.to_string()));
            }
        }
        for (_, item) in table.iter() {
            if let Some(t) = item.as_table() {
                walk(t, top, best);
            }
        }
    }
    let mut best = None;
    for (key, item) in doc.iter() {
        if let Some(t) = item.as_table() {
            walk(t, key, &mut best);
        }
    }
    best.map(|(_, name)| name)
}

/// Adds `name = spec` to `[table]`, creating the table at the end if missing. Nothing when the
/// dependency is already there, in any form (`build-dependencies` also spelled
/// `build_dependencies`, and renamed dependencies with `package = name`).
fn ensure_dependency(
    doc: &mut DocumentMut,
    table: &'static str,
    name: &str,
    spec: &DependencySpec,
) -> Result<Insertion, ManifestError> {
    let alternative = table.replace('-', "_");
    for key in [table, alternative.as_str()] {
        if let Some(existing) = doc.get(key) {
            let deps = existing
                .as_table_like()
                .ok_or(ManifestError::NotATable { table })?;
            if has_dependency(deps, name) {
                return Ok(Insertion::None);
            }
        }
    }
    let key = if doc.contains_key(table) || !doc.contains_key(&alternative) {
        table.to_string()
    } else {
        alternative
    };
    let created = !doc.contains_key(&key);
    if created {
        let mut new_table = Table::new();
        new_table.set_implicit(false);
        doc.insert(&key, Item::Table(new_table));
    }
    let deps = doc
        .get_mut(&key)
        .and_then(Item::as_table_like_mut)
        .ok_or(ManifestError::NotATable { table })?;
    deps.insert(name, spec.to_item());
    Ok(if created {
        Insertion::Table(key)
    } else {
        Insertion::Key(key)
    })
}

fn has_dependency(deps: &dyn toml_edit::TableLike, name: &str) -> bool {
    deps.iter().any(|(key, item)| {
        key == name
            || item
                .as_table_like()
                .and_then(|t| t.get("package"))
                .and_then(Item::as_str)
                .is_some_and(|package| package == name)
    })
}

/// Whether the manifest declares a `[package]` (a virtual workspace manifest does not).
pub fn has_package(text: &str) -> Result<bool, ManifestError> {
    let doc: DocumentMut = text.parse()?;
    Ok(doc.get("package").is_some_and(|p| p.is_table_like()))
}

/// The package's name, if the manifest has one.
pub fn package_name(text: &str) -> Option<String> {
    let doc: DocumentMut = text.parse().ok()?;
    doc.get("package")?
        .get("name")?
        .as_str()
        .map(str::to_string)
}

/// The build script the package declares with `package.build`: `Some(path)` for a path,
/// `None` when the key is absent (cargo then uses `build.rs` if it exists).
pub fn declared_build_script(text: &str) -> Option<String> {
    let doc: DocumentMut = text.parse().ok()?;
    doc.get("package")?
        .get("build")?
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> (DependencySpec, DependencySpec) {
        (
            DependencySpec {
                version: "0.1.0".into(),
                path: None,
            },
            DependencySpec {
                version: "0.1.0".into(),
                path: Some("/src/alembic-build".into()),
            },
        )
    }

    const MANIFEST: &str = r#"# My application
[package]
name = "promptpilot"   # keep this comment
version = "0.1.0"
edition = "2021"

[dependencies]
# logging
log = "0.4"
serde = { version = "1", features = ["derive"] }

[profile.release]
lto = true
"#;

    #[test]
    fn adds_both_and_keeps_everything_else() {
        let (rt, build) = specs();
        let (out, added) = add_dependencies(MANIFEST, &rt, &build).unwrap();
        assert_eq!(
            added,
            [
                Added {
                    name: "alembic-runtime",
                    table: "dependencies"
                },
                Added {
                    name: "alembic-build",
                    table: "build-dependencies"
                }
            ]
        );
        assert_eq!(
            out,
            r#"# My application
[package]
name = "promptpilot"   # keep this comment
version = "0.1.0"
edition = "2021"

[dependencies]
# logging
log = "0.4"
serde = { version = "1", features = ["derive"] }
alembic-runtime = "0.1.0"

[profile.release]
lto = true

[build-dependencies]
alembic-build = { version = "0.1.0", path = "/src/alembic-build" }
"#
        );
    }

    #[test]
    fn second_run_changes_nothing() {
        let (rt, build) = specs();
        let (once, _) = add_dependencies(MANIFEST, &rt, &build).unwrap();
        let (twice, added) = add_dependencies(&once, &rt, &build).unwrap();
        assert!(added.is_empty());
        assert_eq!(once, twice);
    }

    #[test]
    fn existing_entries_in_any_form_are_respected() {
        let (rt, build) = specs();
        let text = "[package]\nname = \"a\"\n\n[dependencies.alembic-runtime]\npath = \"../x\"\n\n[build_dependencies]\nab = { package = \"alembic-build\", version = \"0.1\" }\n";
        let (out, added) = add_dependencies(text, &rt, &build).unwrap();
        assert!(added.is_empty(), "{added:?}");
        assert_eq!(out, text);
    }

    #[test]
    fn missing_tables_are_created_and_underscore_spelling_is_reused() {
        let (rt, build) = specs();
        let text = "[package]\nname = \"a\"\n\n[build_dependencies]\ncc = \"1\"\n";
        let (out, added) = add_dependencies(text, &rt, &build).unwrap();
        assert_eq!(added.len(), 2);
        assert_eq!(
            out,
            "[package]\nname = \"a\"\n\n[build_dependencies]\ncc = \"1\"\nalembic-build = { version = \"0.1.0\", path = \"/src/alembic-build\" }\n\n[dependencies]\nalembic-runtime = \"0.1.0\"\n"
        );
    }

    #[test]
    fn comments_at_the_end_of_the_file_stay_in_their_table() {
        let (rt, build) = specs();
        let text = "[package]\nname = \"a\"\n\n[dependencies]\n# none yet\n";
        let (out, _) = add_dependencies(text, &rt, &build).unwrap();
        assert_eq!(
            out,
            "[package]\nname = \"a\"\n\n[dependencies]\n# none yet\nalembic-runtime = \"0.1.0\"\n\n[build-dependencies]\nalembic-build = { version = \"0.1.0\", path = \"/src/alembic-build\" }\n"
        );
        let text = "[package]\nname = \"a\"\n\n[profile.release]\nlto = true\n# fast builds\n";
        let (out, _) = add_dependencies(text, &rt, &build).unwrap();
        assert!(
            out.starts_with("[package]\nname = \"a\"\n\n[profile.release]\nlto = true\n# fast builds\n\n[dependencies]\n"),
            "{out}"
        );
        let (again, added) = add_dependencies(&out, &rt, &build).unwrap();
        assert!(added.is_empty());
        assert_eq!(again, out);
    }

    #[test]
    fn bad_manifests_are_errors_not_panics() {
        let (rt, build) = specs();
        assert!(matches!(
            add_dependencies("[package\n", &rt, &build),
            Err(ManifestError::Parse(_))
        ));
        assert!(matches!(
            add_dependencies("dependencies = 3\n", &rt, &build),
            Err(ManifestError::NotATable {
                table: "dependencies"
            })
        ));
    }

    #[test]
    fn package_facts() {
        assert!(has_package(MANIFEST).unwrap());
        assert!(!has_package("[workspace]\nmembers = []\n").unwrap());
        assert_eq!(package_name(MANIFEST).as_deref(), Some("promptpilot"));
        assert_eq!(
            declared_build_script("[package]\nbuild = \"src/build.rs\"\n").as_deref(),
            Some("src/build.rs")
        );
        assert_eq!(declared_build_script(MANIFEST), None);
    }
}
