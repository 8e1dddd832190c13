fn main() {
    alembic_build::embed().expect("migrations embedded");
}
