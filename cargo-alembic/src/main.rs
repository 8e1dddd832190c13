//! `cargo alembic`: see the crate README.
mod args;
mod manifest;
mod naming;
mod template;

fn main() {}
