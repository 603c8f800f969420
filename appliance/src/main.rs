//! `tandem`: a two-tier session-steering load balancer and packet gateway
//! for mobile networks, on DPDK.
//!
//! `tandem run --config FILE` runs the appliance; `tandem check-config FILE`
//! only checks a config. A config error exits with status 2 before DPDK
//! starts; a runtime failure exits with status 1.

#![forbid(unsafe_code)]

mod accounting;
mod api;
mod clock;
mod cluster;
mod config;
mod ctl;
mod gen;
mod metrics;
mod plan;
mod runtime;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "tandem",
    version,
    about = "Two-tier session-steering load balancer and packet gateway on DPDK"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the appliance.
    Run {
        /// The config file (RON); see conf/ for examples.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check a config file and exit: 0 if valid, 2 with the error otherwise.
    CheckConfig {
        /// The config file (RON).
        file: PathBuf,
    },
    /// Talk to a running tandem through its control socket.
    Ctl(ctl::CtlArgs),
    /// Write a synthetic workload (terminal -> VIP frames) as a pcap file.
    GenPcap(gen::GenArgs),
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::GenPcap(args) => gen::run(&args),
        Cmd::Ctl(args) => ctl::run(args),
        Cmd::CheckConfig { file } => match config::load(&file) {
            Ok(_) => {
                println!("{}: ok", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Cmd::Run { config: path } => {
            let cfg = match config::load(&path) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            init_logging(&cfg.log.level);
            match runtime::run(&path, cfg) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("tandem: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
