//! `tandem`: the appliance binary.

mod config;

fn main() {}
