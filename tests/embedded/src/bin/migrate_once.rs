//! Concurrency test: 50 revisions, upgraded to head at startup. See `alembic_embedded_tests::app` for the arguments.

fn main() -> std::process::ExitCode {
    alembic_embedded_tests::app::main(&embedded_fixture_fifty::MIGRATIONS)
}
