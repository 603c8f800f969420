//! `tandem ctl` run as an operator runs it, against a test's appliance
//! through its real control socket, plus a raw client that sends one JSON
//! line of the protocol itself (for requests `ctl` would refuse before
//! sending).

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// What one `tandem ctl` run printed and how it ended.
#[derive(Debug)]
pub struct CtlRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CtlRun {
    /// The run as one block of text for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `tandem ctl --socket PATH` for one appliance.
pub struct Ctl {
    pub socket: PathBuf,
}

impl Ctl {
    pub fn new(socket: &Path) -> Ctl {
        Ctl {
            socket: socket.to_path_buf(),
        }
    }

    /// Runs `tandem ctl --socket PATH ARGS` (add `--json` to `args` for
    /// JSON). `TANDEM_SOCKET` is cleared so only `--socket` counts.
    pub fn run(&self, args: &[&str]) -> CtlRun {
        let out = Command::new(super::tandem::binary())
            .arg("ctl")
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .env_remove("TANDEM_SOCKET")
            .env("NO_COLOR", "1")
            .output()
            .expect("run tandem ctl");
        CtlRun {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs a verb that must succeed; returns what it printed.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(r.code, Some(0), "tandem ctl {args:?}: {}", r.describe());
        assert!(
            r.stderr.is_empty(),
            "tandem ctl {args:?} complained: {}",
            r.describe()
        );
        r.stdout
    }

    /// Runs a verb with `--json` that must succeed; returns its data.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.ok(&all);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("tandem ctl {all:?} printed no JSON ({e}):\n{text}"))
    }

    /// Runs a verb the appliance must refuse: exit status 1, nothing on
    /// stdout, and a reason on stderr containing `says`. Returns stderr.
    pub fn refused(&self, args: &[&str], says: &str) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code,
            Some(1),
            "tandem ctl {args:?} should be refused: {}",
            r.describe()
        );
        assert!(
            r.stdout.is_empty(),
            "a refused request printed: {}",
            r.describe()
        );
        assert!(
            r.stderr.starts_with("tandem ctl: ") && r.stderr.contains(says),
            "tandem ctl {args:?}: the reason should say {says:?}: {}",
            r.describe()
        );
        r.stderr
    }

    /// Runs a verb that `ctl` itself must reject as bad usage (status 2)
    /// before asking the appliance; stderr must contain `says`.
    pub fn usage_error(&self, args: &[&str], says: &str) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code,
            Some(2),
            "tandem ctl {args:?} should be a usage error: {}",
            r.describe()
        );
        assert!(
            r.stderr.contains(says),
            "tandem ctl {args:?}: stderr should say {says:?}: {}",
            r.describe()
        );
        r.stderr
    }

    /// Sends one raw protocol line and returns the parsed answer line.
    pub fn raw(&self, line: &str) -> Value {
        let stream = UnixStream::connect(&self.socket).expect("connect to the control socket");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        (&stream)
            .write_all(format!("{line}\n").as_bytes())
            .expect("send request");
        let mut answer = String::new();
        BufReader::new(&stream)
            .read_line(&mut answer)
            .expect("read answer");
        serde_json::from_str(&answer)
            .unwrap_or_else(|e| panic!("answer to {line} is not JSON ({e}): {answer:?}"))
    }

    /// Sends a raw request (the `request` object) that the appliance must
    /// refuse; returns its error text.
    pub fn raw_refused(&self, request: &str) -> String {
        let answer = self.raw(&format!(r#"{{"version":1,"request":{request}}}"#));
        assert_eq!(
            answer["ok"],
            Value::Bool(false),
            "{request} should be refused: {answer}"
        );
        answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("refusal without a reason: {answer}"))
            .to_string()
    }
}

/// The server `addr` (and `port` when given) of service `service` in the
/// data of `services --json`.
pub fn find_server<'a>(
    services: &'a Value,
    service: &str,
    addr: &str,
    port: Option<u16>,
) -> Option<&'a Value> {
    services.as_array()?.iter().find(|s| s["name"] == service)?["servers"]
        .as_array()?
        .iter()
        .find(|s| s["addr"] == addr && port.is_none_or(|p| s["port"] == p))
}

/// Like [`find_server`], panicking with the whole answer if absent.
pub fn server<'a>(services: &'a Value, service: &str, addr: &str) -> &'a Value {
    find_server(services, service, addr, None)
        .unwrap_or_else(|| panic!("no server {addr} in service {service}: {services:#}"))
}

/// Live user sessions over every worker, from `status --json` data.
pub fn live_user_sessions(status: &Value) -> u64 {
    status["workers"]
        .as_array()
        .map(|ws| {
            ws.iter()
                .map(|w| w["user_sessions_live"].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}
