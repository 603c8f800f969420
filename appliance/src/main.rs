//! `tandem`: the appliance binary.

mod accounting;
mod config;

fn main() {}
