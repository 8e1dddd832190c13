//! `cargo alembic`: Alembic's migration workflow as a cargo subcommand.
//!
//! The flow is one way: [`args`] parses the command line (clap), [`project`] finds the
//! configuration, the database URL and the scripts, one function per command in [`commands`]
//! does the work through `alembic_core` and `alembic_runtime` (there is no second migration
//! runner here), [`output`] prints, and [`error`] turns any failure into one message and an exit
//! code (0 ok, 1 failure, 2 usage).

mod args;
mod commands;
mod error;
mod logging;
mod manifest;
mod naming;
mod output;
mod project;
mod template;

use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;
use crate::output::Printer;

fn main() -> ExitCode {
    let argv = args::strip_cargo_subcommand(std::env::args_os().collect());
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    logging::init(cli.global.verbose, cli.global.quiet);
    let printer = Printer {
        quiet: cli.global.quiet,
    };
    match commands::run(&cli, &printer) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", e.render());
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}
