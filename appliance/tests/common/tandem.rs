//! Runs the real `tandem` binary for a test and makes sure it never
//! outlives the test: `stop` asks it to end with SIGTERM and waits, and
//! dropping the guard kills a process that is still running.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of the binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_tandem")
}

/// Runs `tandem ARGS` to completion (config checks, failures at start-up),
/// with a bound on how long it may take.
pub fn run_to_end(args: &[&str], limit: Duration) -> (ExitStatus, String, String) {
    let mut child = Command::new(binary())
        .args(args)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tandem");
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!(
                "tandem {args:?} still running after {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("wait");
    (
        status,
        String::from_utf8_lossy(&stdout).into_owned(),
        strip_ansi(&String::from_utf8_lossy(&stderr)),
    )
}

/// Removes ANSI colour sequences (in case the log is coloured anyway).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte
            if chars.next() == Some('[') {
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// How a stopped tandem ended.
#[derive(Debug)]
pub struct Exit {
    pub status: ExitStatus,
    /// Everything it wrote to stderr (EAL messages and the tracing log).
    pub log: String,
}

/// A running `tandem run --config`.
pub struct Tandem {
    child: Option<Child>,
    file_prefix: String,
    log_path: PathBuf,
}

impl Tandem {
    /// Writes `config` to `dir/tandem.ron` and starts the binary on it;
    /// stderr goes to `dir/tandem.log`. `file_prefix` must be the one in
    /// the config (its DPDK runtime directory is removed at the end).
    pub fn start(dir: &Path, file_prefix: &str, config: &str) -> Tandem {
        let config_path = dir.join("tandem.ron");
        std::fs::write(&config_path, config).expect("write config");
        let log_path = dir.join("tandem.log");
        let log = std::fs::File::create(&log_path).expect("create log");
        let child = Command::new(binary())
            .arg("run")
            .arg("--config")
            .arg(&config_path)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn tandem");
        Tandem {
            child: Some(child),
            file_prefix: file_prefix.to_string(),
            log_path,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The log so far.
    pub fn log(&self) -> String {
        strip_ansi(&std::fs::read_to_string(&self.log_path).unwrap_or_default())
    }

    /// Whether the process has ended (reaps it if so).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits until the log contains `needle`; false if the process ended
    /// first or `limit` passed. Panics never: the caller says what failed.
    pub fn wait_for_log(&mut self, needle: &str, limit: Duration) -> bool {
        let start = Instant::now();
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if self.exited().is_some() || start.elapsed() > limit {
                return self.log().contains(needle);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for "tandem running"; panics with the log if it does not come.
    pub fn wait_running(&mut self) {
        if !self.wait_for_log("tandem running", Duration::from_secs(15)) {
            panic!("tandem did not start; log:\n{}", self.log());
        }
    }

    /// Sends a signal by name (`TERM`, `INT`, `HUP`) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// Sends `signal` and waits up to `limit` for the process to end.
    /// Panics (after killing it) if it does not.
    pub fn stop_with(&mut self, signal: &str, limit: Duration) -> Exit {
        if self.exited().is_none() {
            self.signal(signal);
        }
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.exited() {
                break s;
            }
            if start.elapsed() > limit {
                self.kill();
                panic!(
                    "tandem did not stop within {limit:?} of SIG{signal}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        self.child = None;
        self.remove_runtime_dir();
        Exit {
            status,
            log: self.log(),
        }
    }

    /// SIGTERM, and wait up to 10 s.
    pub fn stop(&mut self) -> Exit {
        self.stop_with("TERM", Duration::from_secs(10))
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.remove_runtime_dir();
    }

    /// The EAL's runtime directory of this prefix (sockets, config).
    fn remove_runtime_dir(&self) {
        let mut bases = vec![PathBuf::from("/var/run/dpdk")];
        if let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR") {
            bases.push(PathBuf::from(xdg).join("dpdk"));
        }
        bases.push(PathBuf::from("/tmp/dpdk"));
        for base in bases {
            let _ = std::fs::remove_dir_all(base.join(&self.file_prefix));
        }
    }
}

impl Drop for Tandem {
    fn drop(&mut self) {
        if self.child.is_some() {
            if std::thread::panicking() {
                eprintln!("tandem log:\n{}", self.log());
            }
            self.kill();
        }
    }
}

/// Asserts a stopped tandem ended as it should: status 0, every mbuf back
/// in the pool, "stopped cleanly", no panic.
pub fn assert_clean_exit(exit: &Exit) {
    assert_eq!(
        exit.status.code(),
        Some(0),
        "tandem exit status; log:\n{}",
        exit.log
    );
    assert!(
        exit.log.contains("mbufs in use after stop in_use=0"),
        "mbufs not all returned; log:\n{}",
        exit.log
    );
    assert!(exit.log.contains("stopped cleanly"), "log:\n{}", exit.log);
    assert!(!exit.log.contains("panicked"), "log:\n{}", exit.log);
}

/// The MAC address tandem logged for port `name` when it started it.
pub fn port_mac(log: &str, name: &str) -> [u8; 6] {
    let key = format!("port={name} ");
    let line = log
        .lines()
        .find(|l| l.contains("port started") && l.contains(&key))
        .unwrap_or_else(|| panic!("no \"port started\" line for {name}; log:\n{log}"));
    let text = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("mac="))
        .unwrap_or_else(|| panic!("no mac= in {line}"));
    super::packet::mac(text)
}

/// The counters of the last "stats" line of a log (tandem writes one when
/// it stops): its `name=number` fields. Panics if there is none.
pub fn stats(log: &str) -> std::collections::HashMap<String, u64> {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains(" stats "))
        .unwrap_or_else(|| panic!("no stats line in the log:\n{log}"));
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter_map(|(k, v)| v.parse().ok().map(|v| (k.to_string(), v)))
        .collect()
}
