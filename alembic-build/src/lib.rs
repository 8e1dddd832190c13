//! Build-script helper: validates `migrations/versions` at compile time and embeds it.
//!
//! The embedding half (generated Rust in OUT_DIR, precomputed graph, chained checksums) is
//! issue 4's work. What is here already is the validation every build should get: parse every
//! script and check the revision graph with the same code the CLI uses, failing the build with
//! the file and line of each problem.
