//! Parses a `tandem ctl ...` line the way main.rs nests it, for tests.

use super::args::CtlArgs;
use clap::{Parser, Subcommand};

/// The same nesting as `tandem ctl ...` in main.rs.
#[derive(Parser)]
#[command(name = "tandem")]
struct Cli {
    #[command(subcommand)]
    cmd: Top,
}

#[derive(Subcommand)]
enum Top {
    Ctl(CtlArgs),
}

/// `line` split on blanks, after the program name.
pub fn parse(line: &str) -> Result<CtlArgs, clap::Error> {
    let words = std::iter::once("tandem").chain(line.split_whitespace());
    Cli::try_parse_from(words).map(|cli| match cli.cmd {
        Top::Ctl(a) => a,
    })
}
