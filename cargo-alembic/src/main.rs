//! (being written by the cli helper)
fn main() {}
