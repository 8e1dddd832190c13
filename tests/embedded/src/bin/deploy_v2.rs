//! Deploy rollback test: release v2 (d1..d3). See `alembic_embedded_tests::app` for the arguments.

fn main() -> std::process::ExitCode {
    alembic_embedded_tests::app::main(&embedded_fixture_deploy_v2::MIGRATIONS)
}
