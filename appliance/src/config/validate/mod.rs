//! Rules that span several fields of a config, checked before DPDK starts:
//! one file per config section, called in the order of the sections (the
//! first violation is the one reported, so the order is part of the
//! behaviour).
//!
//! Each failure names the place in the file (a path that `locate` turns into
//! line and column) and says what to change.

mod classify;
mod eal;
mod exporters;
mod gateway;
mod hardening;
mod health;
mod marks;
mod nat66;
mod ports;
mod quota;
mod services;
mod sizes;
mod subscribers;
mod workers;

pub use subscribers::{prefix_problem, unmatched_ipv6_prefix};

use super::locate::Seg;
use super::schema::Config;

/// A rule broken at `path`.
#[derive(Debug)]
pub struct Violation {
    pub path: Vec<Seg<'static>>,
    pub message: String,
}

fn field(name: &'static str) -> Seg<'static> {
    Seg::Field(name)
}

fn violation(path: Vec<Seg<'static>>, message: String) -> Violation {
    Violation { path, message }
}

/// Checks every cross-field rule; returns the first violation.
pub fn validate(c: &Config) -> Result<(), Violation> {
    let lcores = eal::check(c)?;
    let port_names = ports::check(c)?;
    workers::check(c, &lcores, &port_names)?;
    sizes::check(c)?;
    gateway::check(c)?;
    let type_names = classify::check(c)?;
    let service_names = services::check(c, &type_names)?;
    subscribers::check(c, &service_names)?;
    marks::check(c)?;
    health::check(c)?;
    exporters::check(c)?;
    // Addresses with two roles; tables the machine cannot hold.
    super::address_roles::check(c)?;
    super::table_memory::check(c, super::table_memory::machine_memory())?;
    services::check_nat64(c)?;
    nat66::check(c)?;
    hardening::check(c)?;
    super::cluster::validate(c)
}
