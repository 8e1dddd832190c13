//! The package the embedded-migrations tests (issue 4) are about: an application that embeds
//! `migrations/versions` with `alembic_build::embed()` in its `build.rs` and migrates its
//! database itself.
//!
//! - [`MIGRATIONS`]: this package's own fixture (five revisions with a branch and a merge),
//!   exercised in process by `tests/embedded_set.rs` and `tests/edited_script.rs`.
//! - `fixtures/*`: packages embedding other sets (an edited script, 50 and 200 generated
//!   revisions, releases v1 and v2 of a deployment), one set per package because
//!   `embedded!()` reads the one file its package's build script wrote.
//! - `src/bin/*`: applications over those sets, all running [`app::main`], which the
//!   concurrency, rollback and crash tests start as processes.

pub mod app;

/// The fixture in `migrations/versions`, compiled in by `build.rs`.
pub static MIGRATIONS: alembic_runtime::Migrations = alembic_runtime::embedded!();
