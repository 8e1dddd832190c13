// Checks migrations/versions and embeds it into the binary (cargo-alembic).
fn main() {
    alembic_build::embed().expect("migrations embedded");
}
