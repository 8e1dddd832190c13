//! PromptPilot's job, on the schema the migrations built: users, and prompts they own, each
//! with a status and a version (the column revision 5_backfill_prompt_version added and filled).

use std::fmt::Write as _;

use alembic_runtime::rusqlite::{self, params, Connection, OptionalExtension};

/// The version of a new draft; publishing it makes it 1.0.0.
pub const FIRST_DRAFT: &str = "0.1.0";

/// Why a command of the job failed.
#[derive(Debug)]
pub enum JobError {
    UnknownUser(String),
    DuplicateUser(String),
    UnknownPrompt(String),
    DuplicatePrompt(String),
    BadRole(String),
    BadVersion { prompt: String, version: String },
    Database(rusqlite::Error),
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobError::UnknownUser(email) => {
                write!(
                    f,
                    "no user has email {email}: add one with `promptpilot add-user`"
                )
            }
            JobError::DuplicateUser(email) => write!(f, "a user with email {email} exists"),
            JobError::UnknownPrompt(name) => {
                write!(f, "no prompt is named {name}: see `promptpilot list`")
            }
            JobError::DuplicatePrompt(name) => write!(f, "a prompt named {name} exists"),
            JobError::BadRole(role) => {
                write!(f, "unknown role {role:?}: use `member` or `admin`")
            }
            JobError::BadVersion { prompt, version } => write!(
                f,
                "prompt {prompt} has version {version:?}, which is not MAJOR.MINOR.PATCH"
            ),
            JobError::Database(e) => write!(f, "database error: {e}"),
        }
    }
}

impl std::error::Error for JobError {}

impl From<rusqlite::Error> for JobError {
    fn from(e: rusqlite::Error) -> Self {
        JobError::Database(e)
    }
}

/// Connection settings for the job, set after migrating.
pub fn prepare(conn: &Connection) -> Result<(), JobError> {
    // Enforce the owner foreign key. Only after migrating: a migration that rebuilds a table
    // (SQLite's answer to ALTER ... ADD CONSTRAINT) must run with enforcement off.
    conn.pragma_update(None, "foreign_keys", true)?;
    // Other instances may be writing: wait for them instead of failing with SQLITE_BUSY.
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

pub fn add_user(conn: &Connection, email: &str, name: &str, role: &str) -> Result<(), JobError> {
    if !matches!(role, "member" | "admin") {
        return Err(JobError::BadRole(role.to_string()));
    }
    if user_id(conn, email)?.is_some() {
        return Err(JobError::DuplicateUser(email.to_string()));
    }
    conn.execute(
        "INSERT INTO users (email, name, role) VALUES (?1, ?2, ?3)",
        params![email, name, role],
    )?;
    Ok(())
}

pub fn add_prompt(
    conn: &Connection,
    owner_email: &str,
    name: &str,
    body: &str,
    description: Option<&str>,
) -> Result<(), JobError> {
    let owner = user_id(conn, owner_email)?
        .ok_or_else(|| JobError::UnknownUser(owner_email.to_string()))?;
    let exists: Option<i64> = conn
        .query_row("SELECT id FROM prompts WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?;
    if exists.is_some() {
        return Err(JobError::DuplicatePrompt(name.to_string()));
    }
    conn.execute(
        "INSERT INTO prompts (name, body, description, status, version, owner_id) \
         VALUES (?1, ?2, ?3, 'draft', ?4, ?5)",
        params![name, body, description, FIRST_DRAFT, owner],
    )?;
    Ok(())
}

/// Publishes the prompt and returns its new version.
pub fn publish(conn: &mut Connection, name: &str) -> Result<String, JobError> {
    let tx = conn.transaction()?;
    let (status, version): (String, String) = tx
        .query_row(
            "SELECT status, version FROM prompts WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or_else(|| JobError::UnknownPrompt(name.to_string()))?;
    let next = next_version(&status, &version).ok_or_else(|| JobError::BadVersion {
        prompt: name.to_string(),
        version: version.clone(),
    })?;
    tx.execute(
        "UPDATE prompts SET status = 'published', version = ?1 WHERE name = ?2",
        params![next, name],
    )?;
    tx.commit()?;
    Ok(next)
}

/// A draft's first publication is 1.0.0; republishing a published prompt is a minor release.
fn next_version(status: &str, version: &str) -> Option<String> {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    let (major, minor, _patch) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(Some(a)), Some(Some(b)), Some(Some(c)), None) => (a, b, c),
        _ => return None,
    };
    if status != "published" || major == 0 {
        Some("1.0.0".to_string())
    } else {
        Some(format!("{major}.{}.0", minor.checked_add(1)?))
    }
}

/// The prompts as a table, by name; only `owner`'s when given.
pub fn list(conn: &Connection, owner: Option<&str>) -> Result<String, JobError> {
    if let Some(email) = owner {
        user_id(conn, email)?.ok_or_else(|| JobError::UnknownUser(email.to_string()))?;
    }
    let mut stmt = conn.prepare(
        "SELECT p.name, p.version, p.status, u.email, u.role, COALESCE(p.description, '') \
         FROM prompts p JOIN users u ON u.id = p.owner_id \
         WHERE ?1 IS NULL OR u.email = ?1 \
         ORDER BY p.name",
    )?;
    let rows = stmt
        .query_map([owner], |r| {
            Ok([
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                format!("{} ({})", r.get::<_, String>(3)?, r.get::<_, String>(4)?),
                r.get::<_, String>(5)?,
            ])
        })?
        .collect::<Result<Vec<_>, _>>()?;
    if rows.is_empty() {
        return Ok("no prompts yet: add one with `promptpilot add-prompt`\n".to_string());
    }
    let header = ["PROMPT", "VERSION", "STATUS", "OWNER", "DESCRIPTION"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(header.map(str::to_string)).chain(rows) {
        let mut line = String::new();
        for (cell, w) in row.iter().zip(widths) {
            let _ = write!(line, "{cell:<w$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    Ok(out)
}

/// Adds the sample data when the library is empty (so running the demo again adds nothing),
/// then prints the prompts.
pub fn demo(conn: &mut Connection) -> Result<(), JobError> {
    let users: i64 = conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
    if users == 0 {
        let tx = conn.transaction()?;
        add_user(&tx, "ada@example.com", "Ada Lovelace", "admin")?;
        add_user(&tx, "grace@example.com", "Grace Hopper", "member")?;
        add_prompt(
            &tx,
            "ada@example.com",
            "summarize-ticket",
            "Summarize this support ticket in three bullet points: {ticket}",
            Some("support triage"),
        )?;
        add_prompt(
            &tx,
            "grace@example.com",
            "explain-error",
            "Explain this compiler error to a beginner: {error}",
            Some("teaching"),
        )?;
        add_prompt(
            &tx,
            "grace@example.com",
            "release-notes",
            "Write release notes from these commit messages: {log}",
            None,
        )?;
        tx.commit()?;
        publish(conn, "summarize-ticket")?;
        publish(conn, "explain-error")?;
        publish(conn, "explain-error")?;
        println!("added the sample data: 2 users, 3 prompts");
    } else {
        println!("the library already has users: no sample data added");
    }
    print!("{}", list(conn, None)?);
    Ok(())
}

fn user_id(conn: &Connection, email: &str) -> Result<Option<i64>, JobError> {
    Ok(conn
        .query_row("SELECT id FROM users WHERE email = ?1", [email], |r| {
            r.get(0)
        })
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::next_version;

    #[test]
    fn publishing_makes_drafts_1_0_0_and_bumps_the_minor_version_after() {
        assert_eq!(next_version("draft", "0.1.0").as_deref(), Some("1.0.0"));
        assert_eq!(next_version("published", "0.1.0").as_deref(), Some("1.0.0"));
        assert_eq!(next_version("published", "1.0.0").as_deref(), Some("1.1.0"));
        assert_eq!(next_version("published", "2.7.3").as_deref(), Some("2.8.0"));
        assert_eq!(next_version("draft", "1.0"), None);
        assert_eq!(next_version("draft", "1.0.0.0"), None);
        assert_eq!(next_version("draft", "one"), None);
    }
}
