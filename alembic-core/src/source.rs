//! Loading the revision scripts of the version locations into a [`ScriptDirectory`]: the parsed
//! [`Script`]s plus their validated [`RevisionMap`].
//!
//! This is the one place where files meet the graph, so it is also where graph errors (which
//! carry only revision ids) become `file:line` messages. Every problem of every file is reported
//! in one [`SourceErrors`], so a broken checkout is fixed in one pass.
//!
//! Which files count: every `*.sql` file (extension matched case-insensitively) at the top level
//! of each location, sorted by file name within a location, locations in the order given. That
//! order is the map order, which (as in Alembic, whose loader also sorts file names) breaks ties
//! between heads and bases. Hidden files (`.#x.sql` editor locks) are skipped, and a file reached
//! twice through overlapping locations is loaded once, as Alembic does.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::graph::{GraphError, GraphErrors, RevisionMap};
use crate::script::{parse_script_with_lines, HeaderLines, ScriptError};
use crate::{Revision, Script};

/// The scripts of a project and their revision graph.
#[derive(Clone, Debug)]
pub struct ScriptDirectory {
    /// In map order (see the module documentation): a revision's index in the map is its
    /// script's index here.
    scripts: Vec<Script>,
    map: RevisionMap,
}

/// A place in a script file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    pub path: PathBuf,
    /// 1-based.
    pub line: usize,
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)
    }
}

/// One problem found while loading scripts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    #[error(
        "{}: version location does not exist (set by `version_locations` in the config, \
         default `<script_location>/versions`); create the folder (`cargo alembic init`) or fix \
         the setting",
        path.display()
    )]
    MissingLocation { path: PathBuf },
    #[error(
        "{}: version location is not a folder (set by `version_locations` in the config, \
         default `<script_location>/versions`); point the setting at a folder",
        path.display()
    )]
    NotADirectory { path: PathBuf },
    #[error("{}: cannot list the version location: {message}", path.display())]
    ReadDir { path: PathBuf, message: String },
    #[error("{}: cannot read the script: {message}", path.display())]
    ReadFile { path: PathBuf, message: String },
    #[error(transparent)]
    Script(ScriptError),
    #[error(
        "{second}: revision id {id:?} is already used by {first}; give one of them a new \
         `Revision ID`"
    )]
    DuplicateId {
        id: String,
        first: Site,
        second: Site,
    },
    /// A graph problem, at the script it is about; `related` locates the other revisions the
    /// error names (the first declaration of a label, the members of a cycle).
    #[error("{site}: {error}{}; {advice}", fmt_related(related))]
    Graph {
        site: Site,
        error: GraphError,
        related: Vec<(String, Site)>,
        advice: &'static str,
    },
}

impl SourceError {
    /// The file (or folder) the problem is in, for tools that annotate files (build scripts,
    /// editors).
    pub fn path(&self) -> &Path {
        match self {
            SourceError::MissingLocation { path }
            | SourceError::NotADirectory { path }
            | SourceError::ReadDir { path, .. }
            | SourceError::ReadFile { path, .. } => path,
            SourceError::Script(e) => &e.path,
            SourceError::DuplicateId { second: site, .. } | SourceError::Graph { site, .. } => {
                &site.path
            }
        }
    }

    /// The 1-based line, when the problem is at one.
    pub fn line(&self) -> Option<usize> {
        match self {
            SourceError::Script(e) => Some(e.line),
            SourceError::DuplicateId { second: site, .. } | SourceError::Graph { site, .. } => {
                Some(site.line).filter(|&l| l > 0)
            }
            _ => None,
        }
    }
}

fn fmt_related(related: &[(String, Site)]) -> String {
    if related.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = related
        .iter()
        .map(|(id, site)| format!("{id} at {site}"))
        .collect();
    format!(" ({})", parts.join(", "))
}

/// Every problem found while loading, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceErrors(pub Vec<SourceError>);

impl fmt::Display for SourceErrors {
    /// One problem per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SourceErrors {}

impl SourceErrors {
    pub fn iter(&self) -> std::slice::Iter<'_, SourceError> {
        self.0.iter()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ScriptDirectory {
    /// Reads, parses and checks every script of `version_locations` (see the module docs for
    /// which files count). A missing or unreadable location, every bad script, every duplicate
    /// id and every graph problem are all reported together.
    pub fn load(version_locations: &[PathBuf]) -> Result<ScriptDirectory, SourceErrors> {
        let mut loaded = Loaded::default();
        // Overlapping locations (`v` and `v/.`) must not load a file twice and then call it a
        // duplicate. Only top-level files count, so two locations share files exactly when they
        // are the same folder: canonicalising each folder once decides it for all its files.
        let mut seen_locations: HashSet<PathBuf> = HashSet::new();

        for location in version_locations {
            let real_location =
                std::fs::canonicalize(location).unwrap_or_else(|_| location.clone());
            // Listed even when already seen, so that problems of the listing are reported the
            // same way whichever spelling of the folder comes first.
            let files = list_sql_files(location, &mut loaded.errors);
            if !seen_locations.insert(real_location) {
                continue;
            }
            loaded.append(read_and_parse(files));
        }
        build(loaded)
    }

    /// A directory from scripts already parsed (tests, embedded data). Messages about relations
    /// point at each script's `Revision ID` line, since the other header lines are not known.
    pub fn from_scripts(scripts: Vec<Script>) -> Result<ScriptDirectory, SourceErrors> {
        build(Loaded {
            lines: vec![HeaderLines::default(); scripts.len()],
            revisions: scripts.iter().map(|s| s.revision.clone()).collect(),
            scripts,
            errors: Vec::new(),
            any_script_failed: false,
        })
    }

    /// The script of revision `id` (a full id; prefixes and labels are resolved by
    /// [`crate::target`]).
    pub fn script(&self, id: &str) -> Option<&Script> {
        self.map.index(id).map(|i| &self.scripts[i])
    }

    /// All scripts, in map order.
    pub fn scripts(&self) -> &[Script] {
        &self.scripts
    }

    /// The validated revision graph.
    pub fn map(&self) -> &RevisionMap {
        &self.map
    }

    /// Takes the directory apart, for callers that keep the scripts elsewhere (code generation).
    pub fn into_parts(self) -> (Vec<Script>, RevisionMap) {
        (self.scripts, self.map)
    }
}

/// The `*.sql` files at the top level of `location`, sorted by file name. Problems with the
/// location itself go to `errors`.
fn list_sql_files(location: &Path, errors: &mut Vec<SourceError>) -> Vec<PathBuf> {
    match std::fs::metadata(location) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            errors.push(SourceError::MissingLocation {
                path: location.to_path_buf(),
            });
            return Vec::new();
        }
        Err(e) => {
            errors.push(SourceError::ReadDir {
                path: location.to_path_buf(),
                message: e.to_string(),
            });
            return Vec::new();
        }
        Ok(meta) if !meta.is_dir() => {
            errors.push(SourceError::NotADirectory {
                path: location.to_path_buf(),
            });
            return Vec::new();
        }
        Ok(_) => {}
    }
    let entries = match std::fs::read_dir(location) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(SourceError::ReadDir {
                path: location.to_path_buf(),
                message: e.to_string(),
            });
            return Vec::new();
        }
    };
    // Each file with where its name starts in the path, so that the sort compares names
    // without taking them from the paths at every step (which showed up in profiles).
    let mut files: Vec<(PathBuf, usize)> = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                errors.push(SourceError::ReadDir {
                    path: location.to_path_buf(),
                    message: e.to_string(),
                });
                continue;
            }
        };
        let path = entry.path();
        let Some(name) = path.file_name() else {
            continue;
        };
        let is_sql = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("sql"));
        if !is_sql || name.as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let name_start = path.as_os_str().len() - name.len();
        // A linked script counts (`metadata` follows the link), a folder named `x.sql` does not.
        // The entry's own file type usually needs no extra system call.
        let is_file = match entry.file_type() {
            Ok(kind) if !kind.is_symlink() => Ok(kind.is_file()),
            _ => std::fs::metadata(&path).map(|meta| meta.is_file()),
        };
        match is_file {
            Ok(true) => files.push((path, name_start)),
            Ok(false) => {}
            Err(e) => errors.push(SourceError::ReadFile {
                path,
                message: e.to_string(),
            }),
        }
    }
    // Names within one folder are unique, so an unstable sort gives the same order.
    fn name((path, start): &(PathBuf, usize)) -> &[u8] {
        &path.as_os_str().as_encoded_bytes()[*start..]
    }
    files.sort_unstable_by(|a, b| name(a).cmp(name(b)));
    files.into_iter().map(|(path, _)| path).collect()
}

/// What reading and parsing files gave: the scripts that parsed (with their header lines) and
/// every problem, each in file order.
#[derive(Default)]
struct Loaded {
    scripts: Vec<Script>,
    /// The scripts' revisions, copied for the map by the thread that parsed them.
    revisions: Vec<Revision>,
    lines: Vec<HeaderLines>,
    errors: Vec<SourceError>,
    /// Whether some file could not be read or parsed (its script is then missing).
    any_script_failed: bool,
}

impl Loaded {
    /// Adds what the files after these gave.
    fn append(&mut self, mut later: Loaded) {
        self.scripts.append(&mut later.scripts);
        self.revisions.append(&mut later.revisions);
        self.lines.append(&mut later.lines);
        self.errors.append(&mut later.errors);
        self.any_script_failed |= later.any_script_failed;
    }
}

/// Below this many files one thread is as fast: starting another costs more than it saves.
const PARALLEL_MIN_FILES: usize = 256;

/// Reads and parses `files`, in the order given.
///
/// Loading is most of what a read command costs (`history` at 10,000 revisions is mostly
/// opening, reading and parsing files), and the files are independent, so they are shared out
/// in contiguous chunks over the available cores. Joining the chunks in order keeps the result,
/// and so every error message, in file order whatever the scheduling.
fn read_and_parse(mut files: Vec<PathBuf>) -> Loaded {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(files.len() / PARALLEL_MIN_FILES)
        .max(1);
    if threads == 1 {
        return read_and_parse_chunk(files);
    }
    let chunk_len = files.len().div_ceil(threads);
    // Split from the back, so that each split copies one chunk.
    let mut later_chunks = Vec::with_capacity(threads - 1);
    while files.len() > chunk_len {
        let start = (files.len() - 1) / chunk_len * chunk_len;
        later_chunks.push(files.split_off(start));
    }
    later_chunks.reverse();
    std::thread::scope(|scope| {
        let workers: Vec<_> = later_chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || read_and_parse_chunk(chunk)))
            .collect();
        // This thread takes the first chunk rather than waiting idle.
        let mut loaded = read_and_parse_chunk(files);
        for worker in workers {
            match worker.join() {
                Ok(later) => loaded.append(later),
                // A panic in a worker is a bug; let it surface as one.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        loaded
    })
}

/// [`read_and_parse`] on one thread.
fn read_and_parse_chunk(files: Vec<PathBuf>) -> Loaded {
    let mut loaded = Loaded {
        scripts: Vec::with_capacity(files.len()),
        revisions: Vec::with_capacity(files.len()),
        lines: Vec::with_capacity(files.len()),
        ..Loaded::default()
    };
    // One buffer for all the files of the chunk: scripts are small, and allocating (and
    // freeing) a buffer per file showed up in profiles.
    let mut buffer = Vec::new();
    for file in files {
        let len = match read_into(&file, &mut buffer) {
            Ok(len) => len,
            Err(e) => {
                loaded.any_script_failed = true;
                loaded.errors.push(SourceError::ReadFile {
                    path: file,
                    message: e.to_string(),
                });
                continue;
            }
        };
        match parse_script_with_lines(file, &buffer[..len]) {
            Ok((script, header)) => {
                loaded.revisions.push(script.revision.clone());
                loaded.scripts.push(script);
                loaded.lines.push(header);
            }
            Err(script_errors) => {
                loaded.any_script_failed = true;
                loaded
                    .errors
                    .extend(script_errors.into_iter().map(SourceError::Script));
            }
        }
    }
    loaded
}

/// Reads the whole file at `path` into the start of `buffer` and returns its length. The buffer
/// only grows; what lies past the returned length is left over from earlier files.
///
/// Like [`std::fs::read`] without its `fstat` for a size hint and without a fresh allocation:
/// one open, reads until the end, one close, which matters at 10,000 files.
fn read_into(path: &Path, buffer: &mut Vec<u8>) -> std::io::Result<usize> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut filled = 0;
    loop {
        if filled == buffer.len() {
            buffer.resize((buffer.len() * 2).max(16 * 1024), 0);
        }
        match file.read(&mut buffer[filled..]) {
            Ok(0) => return Ok(filled),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Checks ids, builds the graph and turns its errors into file:line messages.
fn build(loaded: Loaded) -> Result<ScriptDirectory, SourceErrors> {
    let Loaded {
        scripts,
        revisions,
        lines,
        mut errors,
        any_script_failed,
    } = loaded;
    // The usual case first, and cheaply: the graph checks ids for duplicates itself, and a
    // valid map indexes the scripts as they are (same order), so no second index by id is
    // built. Only when the graph has problems is the work redone below to locate them.
    let graph_errors = match RevisionMap::new(revisions) {
        Ok(map) if errors.is_empty() => return Ok(ScriptDirectory { scripts, map }),
        Ok(_) => return Err(SourceErrors(errors)),
        Err(GraphErrors(graph_errors)) => graph_errors,
    };

    // Duplicate ids, with both files: the graph kept the first declaration of each id, as
    // this does, and checked the rest on that graph.
    let mut kept = Vec::with_capacity(scripts.len());
    let mut kept_lines = Vec::with_capacity(lines.len());
    let mut by_id: HashMap<String, usize> = HashMap::with_capacity(scripts.len());
    for (script, header) in scripts.into_iter().zip(lines) {
        if let Some(&first) = by_id.get(script.id()) {
            let first: &Script = &kept[first];
            errors.push(SourceError::DuplicateId {
                id: script.id().to_string(),
                first: Site {
                    path: first.path.clone(),
                    line: first.id_line,
                },
                second: Site {
                    path: script.path.clone(),
                    line: script.id_line,
                },
            });
            continue;
        }
        by_id.insert(script.id().to_string(), kept.len());
        kept.push(script);
        kept_lines.push(header);
    }

    let locate = Locator {
        scripts: &kept,
        lines: &kept_lines,
        by_id: &by_id,
    };
    for error in graph_errors {
        // Reported above, with the files.
        if matches!(error, GraphError::DuplicateId { .. }) {
            continue;
        }
        let missing = is_missing_reference(&error);
        let mut error = locate.graph_error(error);
        // A script that failed to parse may be the "missing" parent. The reference is still
        // reported (every problem at once), with that possibility named, so the user fixes the
        // broken file first rather than the reference.
        if any_script_failed && missing {
            if let SourceError::Graph { advice, .. } = &mut error {
                *advice = "it may be defined by a script above that failed to parse: fix that \
                           first, else fix this reference";
            }
        }
        errors.push(error);
    }
    Err(SourceErrors(errors))
}

fn is_missing_reference(error: &GraphError) -> bool {
    matches!(
        error,
        GraphError::MissingDownRevision { .. }
            | GraphError::MissingDependency { .. }
            | GraphError::AmbiguousDependency { .. }
    )
}

/// Which header line of a script an error is about.
#[derive(Clone, Copy)]
enum Field {
    Id,
    Revises,
    BranchLabels,
    DependsOn,
}

struct Locator<'a> {
    scripts: &'a [Script],
    lines: &'a [HeaderLines],
    by_id: &'a HashMap<String, usize>,
}

impl Locator<'_> {
    /// Where revision `id`'s `field` is; its `Revision ID` line when that field's line is not
    /// known; `None` for an id no script declares.
    fn site(&self, id: &str, field: Field) -> Option<Site> {
        let &i = self.by_id.get(id)?;
        let script = &self.scripts[i];
        let header = self.lines[i];
        let line = match field {
            Field::Id => header.revision_id,
            Field::Revises => header.revises,
            Field::BranchLabels => header.branch_labels,
            Field::DependsOn => header.depends_on,
        };
        Some(Site {
            path: script.path.clone(),
            line: line.unwrap_or(script.id_line),
        })
    }

    fn graph_error(&self, error: GraphError) -> SourceError {
        // (subject revision, its field, other revisions worth locating, advice)
        let (subject, field, others, advice): (String, Field, Vec<String>, &'static str) =
            match &error {
                GraphError::DuplicateId { id } => (
                    id.clone(),
                    Field::Id,
                    vec![],
                    "give one of them a new `Revision ID`",
                ),
                GraphError::RevisesItself { id } => (
                    id.clone(),
                    Field::Revises,
                    vec![],
                    "remove it from `Revises`",
                ),
                GraphError::DependsOnItself { id } => (
                    id.clone(),
                    Field::DependsOn,
                    vec![],
                    "remove it from `Depends On`",
                ),
                GraphError::MissingDownRevision { id, .. } => (
                    id.clone(),
                    Field::Revises,
                    vec![],
                    "fix `Revises`, or restore the missing script to a version location",
                ),
                GraphError::MissingDependency { id, .. } => (
                    id.clone(),
                    Field::DependsOn,
                    vec![],
                    "fix `Depends On`, or restore the missing script to a version location",
                ),
                GraphError::AmbiguousDependency { id, .. } => (
                    id.clone(),
                    Field::DependsOn,
                    vec![],
                    "write enough of the id in `Depends On` to name one revision",
                ),
                GraphError::DuplicateLabel { id, first, .. } => (
                    id.clone(),
                    Field::BranchLabels,
                    vec![first.clone()],
                    "rename one of the branch labels",
                ),
                GraphError::LabelIsRevisionId { id, label } => (
                    id.clone(),
                    Field::BranchLabels,
                    vec![label.clone()],
                    "rename the branch label",
                ),
                GraphError::Cycle { ids } | GraphError::DependencyCycle { ids } => (
                    ids.first().cloned().unwrap_or_default(),
                    if matches!(error, GraphError::Cycle { .. }) {
                        Field::Revises
                    } else {
                        Field::DependsOn
                    },
                    ids.iter().skip(1).cloned().collect(),
                    "a revision cannot come after itself; break the loop in `Revises` or \
                     `Depends On` of one of these",
                ),
                // GraphError may grow: a new variant still gets a message, at a plain site.
                #[allow(unreachable_patterns)]
                _ => (
                    String::new(),
                    Field::Id,
                    vec![],
                    "check the `Revises`, `Depends On` and `Branch Labels` headers",
                ),
            };
        let site = self.site(&subject, field).unwrap_or_else(|| Site {
            path: PathBuf::from("<revisions>"),
            line: 0,
        });
        let related = others
            .into_iter()
            .filter_map(|id| {
                let site = self.site(&id, Field::Id)?;
                Some((id, site))
            })
            .collect();
        SourceError::Graph {
            site,
            error,
            related,
            advice,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, text).expect("write fixture");
        path
    }

    fn script_text(id: &str, revises: &str) -> String {
        format!("-- rev {id}\n--\n-- Revision ID: {id}\n-- Revises: {revises}\n\n-- +upgrade\nSELECT 1;\n\n-- +downgrade\nSELECT 2;\n")
    }

    fn load_err(locations: &[PathBuf]) -> Vec<String> {
        match ScriptDirectory::load(locations) {
            Ok(d) => panic!("expected errors, loaded {:?}", d.scripts()),
            Err(e) => {
                let text = e.to_string();
                assert_eq!(
                    text.lines().count(),
                    e.len(),
                    "one problem per line: {text}"
                );
                e.iter().map(ToString::to_string).collect()
            }
        }
    }

    #[test]
    fn loads_sorted_top_level_sql_files_only() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let v = tmp.path().join("versions");
        fs::create_dir(&v).expect("mkdir");
        write(&v, "2_b.sql", &script_text("b", "a"));
        write(&v, "1_a.sql", &script_text("a", ""));
        write(&v, "3_c.SQL", &script_text("c", "b"));
        write(&v, "README.md", "not a script");
        write(&v, ".#1_a.sql", "editor lock file, not a script");
        fs::create_dir(v.join("sub")).expect("mkdir");
        write(&v.join("sub"), "9_z.sql", "nested: ignored");
        fs::create_dir(v.join("dir.sql")).expect("mkdir");

        #[cfg(unix)]
        {
            let outside = write(tmp.path(), "d.sql", &script_text("d", "c"));
            std::os::unix::fs::symlink(&outside, v.join("4_d.sql")).expect("symlink");
        }

        let dir = ScriptDirectory::load(std::slice::from_ref(&v)).expect("loads");
        let ids: Vec<&str> = dir.scripts().iter().map(|s| s.id()).collect();
        #[cfg(unix)]
        assert_eq!(ids, vec!["a", "b", "c", "d"]);
        #[cfg(not(unix))]
        assert_eq!(ids, vec!["a", "b", "c"]);
        assert_eq!(
            dir.script("b").map(|s| s.path.clone()),
            Some(v.join("2_b.sql"))
        );
        assert!(dir.script("zz").is_none());
        assert!(dir.map().get("c").is_some());
        #[cfg(unix)]
        assert_eq!(dir.map().heads(), vec!["d"]);
    }

    #[cfg(unix)]
    #[test]
    fn broken_symlink_is_reported_not_skipped() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let link = tmp.path().join("gone.sql");
        std::os::unix::fs::symlink(tmp.path().join("nowhere.sql"), &link).expect("symlink");
        let msgs = load_err(&[tmp.path().to_path_buf()]);
        assert_eq!(msgs.len(), 1, "{msgs:#?}");
        assert!(
            msgs[0].starts_with(&format!("{}: cannot read the script", link.display())),
            "{msgs:#?}"
        );
    }

    #[test]
    fn several_locations_and_overlap_loads_each_file_once() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let v1 = tmp.path().join("v1");
        let v2 = tmp.path().join("v2");
        fs::create_dir(&v1).expect("mkdir");
        fs::create_dir(&v2).expect("mkdir");
        write(&v1, "a.sql", &script_text("a", ""));
        write(&v2, "b.sql", &script_text("b", "a"));
        let dir = ScriptDirectory::load(&[v1.clone(), v2, v1.join(".")]).expect("loads");
        assert_eq!(dir.scripts().len(), 2);
    }

    #[test]
    fn empty_location_is_an_empty_directory() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = ScriptDirectory::load(&[tmp.path().to_path_buf()]).expect("loads");
        assert!(dir.scripts().is_empty());
    }

    #[test]
    fn missing_location_and_file_location_say_which_path_and_key() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let missing = tmp.path().join("nope");
        let file = write(tmp.path(), "f.txt", "x");
        let msgs = load_err(&[missing.clone(), file.clone()]);
        assert_eq!(msgs.len(), 2, "{msgs:#?}");
        assert!(
            msgs[0].starts_with(&format!(
                "{}: version location does not exist",
                missing.display()
            )),
            "{}",
            msgs[0]
        );
        assert!(msgs[0].contains("`version_locations`"), "{}", msgs[0]);
        assert!(
            msgs[1].starts_with(&format!(
                "{}: version location is not a folder",
                file.display()
            )),
            "{}",
            msgs[1]
        );
    }

    #[test]
    fn reports_every_bad_file_at_once() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let v = tmp.path();
        let a = write(v, "a.sql", "-- m\n-- Revison ID: a\n-- +upgrade\n");
        let b = write(
            v,
            "b.sql",
            "-- m\n-- Revision ID: b\n-- Transactional: nah\n-- +upgrade\n",
        );
        write(v, "c.sql", &script_text("c", "b"));
        let msgs = load_err(&[v.to_path_buf()]);
        // c's missing parent is reported too, pointing at the broken scripts as the likely
        // cause: b failed to parse and is probably the parent.
        assert_eq!(msgs.len(), 4, "{msgs:#?}");
        assert!(
            msgs[0].starts_with(&format!("{}:1: no `Revision ID`", a.display())),
            "{msgs:#?}"
        );
        assert!(
            msgs[1].starts_with(&format!("{}:2: unknown header key", a.display())),
            "{msgs:#?}"
        );
        assert!(
            msgs[2].starts_with(&format!("{}:3: invalid `Transactional`", b.display())),
            "{msgs:#?}"
        );
        assert!(msgs[3].contains("revision c revises b"), "{msgs:#?}");
        assert!(msgs[3].contains("failed to parse"), "{msgs:#?}");
    }

    #[test]
    fn duplicate_ids_name_both_files_and_lines() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let v = tmp.path();
        let one = write(v, "1.sql", &script_text("a", ""));
        let two = write(v, "2.sql", &format!("\n{}", script_text("a", "")));
        let msgs = load_err(&[v.to_path_buf()]);
        assert_eq!(
            msgs,
            vec![format!(
                "{}:4: revision id \"a\" is already used by {}:3; give one of them a new `Revision ID`",
                two.display(),
                one.display()
            )]
        );
    }

    #[test]
    fn graph_errors_point_at_the_header_line() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let v = tmp.path();
        write(v, "a.sql", &script_text("a", ""));
        let b = write(v, "b.sql", &script_text("b", "nothere"));
        let msgs = load_err(&[v.to_path_buf()]);
        assert_eq!(msgs.len(), 1, "{msgs:#?}");
        assert!(
            msgs[0].starts_with(&format!("{}:4: revision b revises nothere", b.display())),
            "{msgs:#?}"
        );
        assert!(msgs[0].contains("fix `Revises`"), "{msgs:#?}");
        let errs = ScriptDirectory::load(&[v.to_path_buf()]).expect_err("missing parent");
        assert_eq!(errs.0[0].path(), b.as_path());
        assert_eq!(errs.0[0].line(), Some(4));
    }

    #[test]
    fn duplicate_label_locates_both_revisions() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let v = tmp.path();
        let with_label = |id: &str| {
            format!("-- m\n-- Revision ID: {id}\n-- Branch Labels: shared\n-- +upgrade\n")
        };
        let a = write(v, "a.sql", &with_label("a"));
        let b = write(v, "b.sql", &with_label("b"));
        let msgs = load_err(&[v.to_path_buf()]);
        assert_eq!(msgs.len(), 1, "{msgs:#?}");
        assert!(
            msgs[0].starts_with(&format!("{}:3: ", b.display())),
            "{msgs:#?}"
        );
        assert!(
            msgs[0].contains(&format!("a at {}:2", a.display())),
            "{msgs:#?}"
        );
        assert!(
            msgs[0].contains("rename one of the branch labels"),
            "{msgs:#?}"
        );
    }

    #[test]
    fn cycle_locates_its_members() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let v = tmp.path();
        write(v, "a.sql", &script_text("a", "b"));
        write(v, "b.sql", &script_text("b", "a"));
        write(v, "c.sql", &script_text("c", ""));
        let msgs = load_err(&[v.to_path_buf()]);
        assert_eq!(
            msgs,
            vec![format!(
                "{}:4: cycle detected in revisions (a, b) (b at {}:3); a revision cannot come \
                 after itself; break the loop in `Revises` or `Depends On` of one of these",
                v.join("a.sql").display(),
                v.join("b.sql").display()
            )]
        );
    }

    #[test]
    fn from_scripts_builds_and_checks() {
        let parse = |name: &str, text: &str| {
            crate::script::parse_script(Path::new(name), text.as_bytes()).expect("valid")
        };
        let dir = ScriptDirectory::from_scripts(vec![
            parse("a.sql", &script_text("a", "")),
            parse("b.sql", &script_text("b", "a")),
        ])
        .expect("valid");
        assert_eq!(dir.map().heads(), vec!["b"]);
        let (scripts, _map) = dir.into_parts();
        assert_eq!(scripts.len(), 2);

        let err = ScriptDirectory::from_scripts(vec![
            parse("a.sql", &script_text("a", "")),
            parse("b.sql", &script_text("b", "x")),
        ])
        .expect_err("missing parent");
        // Without header lines the message points at the Revision ID line.
        assert!(
            err.to_string().starts_with("b.sql:3: revision b revises x"),
            "{err}"
        );
    }
}
