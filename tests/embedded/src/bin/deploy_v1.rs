//! Deploy rollback test: release v1 (d1..d2). See `alembic_embedded_tests::app` for the arguments.

fn main() -> std::process::ExitCode {
    alembic_embedded_tests::app::main(&embedded_fixture_deploy_v1::MIGRATIONS)
}
