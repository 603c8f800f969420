//! `tandem ctl`: the operator's command line for a running appliance.
//!
//! Each verb becomes one control request (see `api::protocol`), sent over
//! the appliance's Unix socket; the answer is shown as tables, or as JSON
//! with `--json`. Exit status: 0 done, 1 refused by the appliance (its
//! reason on stderr), 2 usage or connection error.

mod args;
mod client;
mod cluster_view;
mod request;
mod table;
mod tables;

#[cfg(test)]
mod args_tests;
#[cfg(test)]
mod e2e_tests;
#[cfg(test)]
mod tables_tests;
#[cfg(test)]
mod test_support;

pub use args::CtlArgs;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// The appliance carried out the request.
const EXIT_OK: u8 = 0;
/// The appliance refused the request (it changed nothing).
const EXIT_REFUSED: u8 = 1;
/// Bad usage, or no usable answer from the appliance.
const EXIT_UNREACHED: u8 = 2;

/// Runs one `tandem ctl` command, printing to stdout and stderr.
pub fn run(args: CtlArgs) -> ExitCode {
    let socket = args.socket_path();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let code = execute(
        &args,
        &socket,
        client::TIMEOUT,
        &mut stdout.lock(),
        &mut stderr.lock(),
    );
    ExitCode::from(code)
}

/// The command against `socket`, with its output written to `out` and
/// `err`; returns the exit status.
fn execute(
    args: &CtlArgs,
    socket: &Path,
    timeout: Duration,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    // Output errors (a closed pipe under `| head`) are not worth a message.
    let plan = match request::plan(&args.cmd) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "tandem ctl: {e}");
            return EXIT_UNREACHED;
        }
    };
    let response = match client::call(socket, &plan.request, timeout) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "tandem ctl: {e}");
            return EXIT_UNREACHED;
        }
    };
    if !response.ok {
        let why = response
            .error
            .unwrap_or_else(|| "the appliance refused the request without saying why".to_string());
        let _ = writeln!(err, "tandem ctl: {why}");
        return EXIT_REFUSED;
    }
    if args.json {
        let _ = writeln!(out, "{}", pretty(&response.data));
        return EXIT_OK;
    }
    match tables::render(&plan.view, &response.data) {
        Ok(text) => {
            let _ = out.write_all(text.as_bytes());
        }
        Err(e) => {
            let _ = writeln!(
                err,
                "tandem ctl: the answer has an unexpected shape ({e}); showing it as JSON"
            );
            let _ = writeln!(out, "{}", pretty(&response.data));
        }
    }
    EXIT_OK
}

fn pretty(data: &serde_json::Value) -> String {
    serde_json::to_string_pretty(data).unwrap_or_else(|_| data.to_string())
}
