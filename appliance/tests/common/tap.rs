//! The kernel side of `net_tap` ports: tandem creates the interfaces when
//! it starts; the test then gives them addresses and routes with ip(8) and
//! talks through them with ordinary sockets. The interfaces, and with them
//! their addresses and routes, disappear when tandem exits.

use std::process::Command;
use std::time::Duration;

/// A tap interface name unique to this process (at most 15 characters).
pub fn iface(tag: &str) -> String {
    let name = format!("tdm{}{tag}", std::process::id() % 100_000);
    assert!(name.len() <= 15, "interface name {name} too long");
    name
}

/// Runs `ip ARGS`; panics with its message if it fails.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits for interface `name` to exist and be up.
pub fn wait_up(name: &str) {
    let flags = format!("/sys/class/net/{name}/flags");
    let up = super::wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&flags)
            .ok()
            .and_then(|f| u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok())
            .is_some_and(|f| f & 1 != 0)
    });
    assert!(up, "interface {name} did not come up");
}

/// Whether this machine can create tap interfaces at all.
pub fn available() -> bool {
    std::path::Path::new("/dev/net/tun").exists()
}
