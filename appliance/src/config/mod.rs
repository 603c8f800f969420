//! Tandem's configuration: a RON file read and checked before DPDK starts.
//!
//! A bad file fails with `FILE:LINE:COLUMN: message` so an operator can go
//! straight to the mistake; the process then exits with status 2.

mod address_roles;
pub mod cluster;
mod locate;
pub mod net;
mod ron_message;
pub mod schema;
mod table_memory;
mod validate;

pub use schema::*;
pub use validate::{prefix_problem, unmatched_ipv6_prefix};

use std::fmt;
use std::path::{Path, PathBuf};

/// A config error with its place in the file.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// Reads, parses and validates a config file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        message: format!("cannot read the config file: {e}"),
    })?;
    parse(path, &text)
}

/// Parses and validates config text; `path` is only used in messages.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let cfg: Config = ron::Options::default()
        .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
        .from_str(text)
        .map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: e.position.line,
            column: e.position.col,
            message: ron_message::message(&e.code),
        })?;
    validate::validate(&cfg).map_err(|v| {
        let (line, column) = locate::locate(text, &v.path);
        ConfigError {
            file: path.to_path_buf(),
            line,
            column,
            message: v.message,
        }
    })?;
    Ok(cfg)
}

impl Config {
    /// The EAL command line this config asks for.
    pub fn eal_args(&self) -> Vec<String> {
        let e = &self.eal;
        let mut a = vec![
            "tandem".to_string(),
            "--lcores".into(),
            e.lcores.clone(),
            "--main-lcore".into(),
            e.main_lcore.to_string(),
            "-m".into(),
            e.memory_mb.to_string(),
            "--file-prefix".into(),
            e.file_prefix.clone(),
        ];
        if e.no_huge {
            a.push("--no-huge".into());
        }
        for v in &e.vdevs {
            a.push("--vdev".into());
            a.push(v.clone());
        }
        if e.pci_allow.is_empty() {
            a.push("--no-pci".into());
        } else {
            for p in &e.pci_allow {
                a.push("-a".into());
                a.push(p.clone());
            }
        }
        a.extend(e.extra_args.iter().cloned());
        a
    }

    /// Index of the port called `name`.
    pub fn port_index(&self, name: &str) -> Option<usize> {
        self.ports.iter().position(|p| p.name == name)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_cluster;
#[cfg(test)]
mod tests_limits;
#[cfg(test)]
mod tests_nat66;
#[cfg(test)]
mod tests_subscribers_v6;
