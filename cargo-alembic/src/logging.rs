//! Log output on stderr, in Alembic's shape (`INFO  [target] message`): the runtime reports each
//! revision it runs, with its duration, at INFO, which is shown by default as Alembic shows its
//! `Running upgrade ...` lines. `-q` keeps only warnings and errors; `-vv` adds debug, `-vvv`
//! trace. `RUST_LOG`, when set, overrides all of it.

use std::io::Write;

use log::LevelFilter;

use crate::error::mask_secrets;

pub fn init(verbose: u8, quiet: bool) {
    let level = if quiet {
        LevelFilter::Warn
    } else {
        match verbose {
            0 | 1 => LevelFilter::Info,
            2 => LevelFilter::Debug,
            _ => LevelFilter::Trace,
        }
    };
    let mut builder = env_logger::Builder::new();
    builder
        .filter_level(level)
        .format(|buf, record| {
            let target = record.target().split("::").next().unwrap_or("");
            writeln!(
                buf,
                "{:<5} [{}] {}",
                record.level(),
                target,
                mask_secrets(&record.args().to_string())
            )
        })
        .target(env_logger::Target::Stderr);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        builder.parse_filters(&spec);
    }
    // A second init (only possible in tests) is harmless.
    let _ = builder.try_init();
}
