//! Crash test: 200 revisions, one transaction each, upgraded to head. See `alembic_embedded_tests::app` for the arguments.

fn main() -> std::process::ExitCode {
    alembic_embedded_tests::app::main(&embedded_fixture_crash::MIGRATIONS)
}
