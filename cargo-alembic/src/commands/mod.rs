//! One function per command; [`run`] dispatches.

mod backup;
pub mod check;
mod init;
mod inspect;
mod migrate;
mod rehash;
mod revision;
mod test;

use crate::args::{Cli, Command};
use crate::error::CliResult;
use crate::output::Printer;

pub fn run(cli: &Cli, printer: &Printer) -> CliResult {
    let g = &cli.global;
    match &cli.command {
        Command::Init(a) => init::run(g, a, printer),
        Command::Revision(a) => revision::revision(g, a, printer),
        Command::Merge(a) => revision::merge(g, a, printer),
        Command::Upgrade(a) => migrate::upgrade(g, a, printer),
        Command::Downgrade(a) => migrate::downgrade(g, a, printer),
        Command::Stamp(a) => migrate::stamp(g, a, printer),
        Command::Current(a) => inspect::current(g, a, printer),
        Command::History(a) => inspect::history(g, a, printer),
        Command::Heads(a) => inspect::heads(g, a, printer),
        Command::Branches(a) => inspect::branches(g, a, printer),
        Command::Show(a) => inspect::show(g, a, printer),
        Command::Check => check::run(g, printer),
        Command::Rehash(a) => rehash::run(g, a, printer),
        Command::Test(a) => test::run(g, a, printer),
    }
}
