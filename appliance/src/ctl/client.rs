//! One request/answer exchange with the appliance over its Unix socket,
//! with errors worded so that the operator knows what to do next.

use crate::api::protocol::{Request, RequestEnvelope, Response, VERSION};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long to wait for the appliance to take the request or to answer.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The longest answer accepted, so a broken peer cannot exhaust memory.
pub const MAX_ANSWER_BYTES: u64 = 256 << 20;

/// Why no usable answer came back. Each one exits `tandem ctl` with 2.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("is tandem running? no socket at {}", .0.display())]
    NoSocket(PathBuf),
    #[error(
        "permission denied on {}: run as the user that runs tandem, or root",
        .0.display()
    )]
    PermissionDenied(PathBuf),
    #[error(
        "is tandem running? nothing accepts connections on {} (a socket left over from a stopped appliance?)",
        .0.display()
    )]
    Refused(PathBuf),
    #[error("{doing} {}: {source}", .socket.display())]
    Io {
        socket: PathBuf,
        doing: &'static str,
        source: io::Error,
    },
    #[error("tandem did not answer within {} s on {}", .after.as_secs(), .socket.display())]
    TimedOut { socket: PathBuf, after: Duration },
    #[error("tandem closed the connection on {} without answering", .0.display())]
    NoAnswer(PathBuf),
    #[error("tandem's answer on {} is not understood: {detail}", .socket.display())]
    BadAnswer { socket: PathBuf, detail: String },
    #[error(
        "protocol version mismatch: this tandem ctl speaks version {ours}, the appliance answered with version {theirs}; use the tandem binary of the running release{}",
        .said.as_ref().map(|s| format!(" (the appliance said: {s})")).unwrap_or_default()
    )]
    VersionMismatch {
        ours: u32,
        theirs: u32,
        said: Option<String>,
    },
}

/// Names a connect failure by its cause.
pub fn connect_error(socket: &Path, e: io::Error) -> CallError {
    match e.kind() {
        io::ErrorKind::NotFound => CallError::NoSocket(socket.to_path_buf()),
        io::ErrorKind::PermissionDenied => CallError::PermissionDenied(socket.to_path_buf()),
        io::ErrorKind::ConnectionRefused => CallError::Refused(socket.to_path_buf()),
        _ => CallError::Io {
            socket: socket.to_path_buf(),
            doing: "cannot connect to",
            source: e,
        },
    }
}

fn transfer_error(
    socket: &Path,
    doing: &'static str,
    e: io::Error,
    timeout: Duration,
) -> CallError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => CallError::TimedOut {
            socket: socket.to_path_buf(),
            after: timeout,
        },
        io::ErrorKind::PermissionDenied => CallError::PermissionDenied(socket.to_path_buf()),
        _ => CallError::Io {
            socket: socket.to_path_buf(),
            doing,
            source: e,
        },
    }
}

/// Sends one request and reads its answer. The version is checked before
/// the rest of the answer, so an appliance of another release is named as
/// such even when its answers have another shape.
pub fn call(socket: &Path, request: &Request, timeout: Duration) -> Result<Response, CallError> {
    let stream = UnixStream::connect(socket).map_err(|e| connect_error(socket, e))?;
    let setup = |e| transfer_error(socket, "cannot set timeouts on", e, timeout);
    stream.set_read_timeout(Some(timeout)).map_err(setup)?;
    stream.set_write_timeout(Some(timeout)).map_err(setup)?;

    let envelope = RequestEnvelope {
        version: VERSION,
        request: request.clone(),
    };
    let mut line = serde_json::to_string(&envelope).map_err(|e| CallError::BadAnswer {
        socket: socket.to_path_buf(),
        detail: format!("the request cannot be encoded: {e}"),
    })?;
    line.push('\n');
    (&stream)
        .write_all(line.as_bytes())
        .and_then(|()| (&stream).flush())
        .map_err(|e| transfer_error(socket, "cannot send the request to", e, timeout))?;

    let mut answer = String::new();
    let mut reader = BufReader::new((&stream).take(MAX_ANSWER_BYTES));
    let read = reader
        .read_line(&mut answer)
        .map_err(|e| transfer_error(socket, "cannot read the answer from", e, timeout))?;
    if read == 0 {
        return Err(CallError::NoAnswer(socket.to_path_buf()));
    }
    if !answer.ends_with('\n') {
        let detail = if read as u64 >= MAX_ANSWER_BYTES {
            format!("longer than {} MiB", MAX_ANSWER_BYTES >> 20)
        } else {
            "the connection closed in the middle of it".to_string()
        };
        return Err(CallError::BadAnswer {
            socket: socket.to_path_buf(),
            detail,
        });
    }
    parse_answer(socket, &answer)
}

/// Reads one answer line: version first, then the envelope.
pub fn parse_answer(socket: &Path, line: &str) -> Result<Response, CallError> {
    let bad = |detail: String| CallError::BadAnswer {
        socket: socket.to_path_buf(),
        detail,
    };
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| bad(format!("not JSON ({e})")))?;
    let theirs = value
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| bad("no protocol version in it".to_string()))?;
    if theirs != u64::from(VERSION) {
        return Err(CallError::VersionMismatch {
            ours: VERSION,
            theirs: u32::try_from(theirs).unwrap_or(u32::MAX),
            said: value
                .get("error")
                .and_then(|e| e.as_str())
                .map(str::to_string),
        });
    }
    serde_json::from_value(value).map_err(|e| bad(e.to_string()))
}
