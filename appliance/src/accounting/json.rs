//! Accounting records as JSON lines in a size-rotated file.
//!
//! The simplest sink an operator can feed to any billing pipeline: one JSON
//! object per line, appended. When the next line would take the file past
//! its size limit the file rotates with logrotate's numbered scheme
//! (`path` -> `path.1` -> `path.2` ..., the oldest beyond `keep` removed),
//! so a line is never split between two files.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::record::AccountingRecord;

/// Appends records to `path`, rotating at `max_bytes`.
pub struct JsonLinesWriter {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    /// `None` only between a failed rotation and the next successful open.
    file: Option<BufWriter<File>>,
    /// Bytes in the current file, buffered ones included.
    current_bytes: u64,
    /// One serialized line, reused between records.
    line: Vec<u8>,
}

impl JsonLinesWriter {
    /// Opens (or creates) `path` for appending. `max_bytes` is the size a
    /// file may reach; a single line longer than that still goes into a
    /// file of its own. `keep` is how many rotated files (`path.1` ..
    /// `path.keep`) survive; with 0 the full file is simply removed.
    pub fn open(path: impl AsRef<Path>, max_bytes: u64, keep: u32) -> io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let (file, current_bytes) = open_append(&path)?;
        Ok(JsonLinesWriter {
            path,
            max_bytes,
            keep,
            file: Some(file),
            current_bytes,
            line: Vec::with_capacity(1024),
        })
    }

    /// Appends one record as one line, rotating first if the line would not
    /// fit under the size limit.
    pub fn write(&mut self, rec: &AccountingRecord) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, rec).map_err(io::Error::other)?;
        self.line.push(b'\n');
        let line_len = self.line.len() as u64;
        if self.file.is_none()
            || (self.current_bytes > 0 && self.current_bytes + line_len > self.max_bytes)
        {
            self.rotate()?;
        }
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("accounting file is not open"));
        };
        file.write_all(&self.line)?;
        self.current_bytes += line_len;
        Ok(())
    }

    /// Pushes buffered lines to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }

    /// Path of the file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the current file, shifts the numbered ones up by one and
    /// starts an empty file at `path`.
    fn rotate(&mut self) -> io::Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush()?;
        }
        if self.keep == 0 {
            remove_if_present(&self.path)?;
        } else {
            remove_if_present(&self.numbered(self.keep))?;
            for n in (1..self.keep).rev() {
                rename_if_present(&self.numbered(n), &self.numbered(n + 1))?;
            }
            rename_if_present(&self.path, &self.numbered(1))?;
        }
        let (file, current_bytes) = open_append(&self.path)?;
        self.file = Some(file);
        self.current_bytes = current_bytes;
        Ok(())
    }

    /// `path.n`.
    fn numbered(&self, n: u32) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }
}

impl Drop for JsonLinesWriter {
    fn drop(&mut self) {
        // BufWriter flushes on drop too, but says nothing on failure.
        if let Err(e) = self.flush() {
            tracing::warn!(path = %self.path.display(), "accounting file not flushed: {e}");
        }
    }
}

fn open_append(path: &Path) -> io::Result<(BufWriter<File>, u64)> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let len = file.metadata()?.len();
    Ok((BufWriter::with_capacity(64 * 1024, file), len))
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounting::test_support::{sample_record, TempDir};

    fn read_lines(path: &Path) -> Vec<serde_json::Value> {
        let text = fs::read_to_string(path).unwrap();
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "{path:?} ends mid-line"
        );
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn line_len(n: u32) -> u64 {
        serde_json::to_vec(&sample_record(n)).unwrap().len() as u64 + 1
    }

    #[test]
    fn records_read_back_in_order() {
        let dir = TempDir::new("json-readback");
        let path = dir.path().join("acct.jsonl");
        let mut w = JsonLinesWriter::open(&path, 1 << 20, 3).unwrap();
        for n in 0..5 {
            w.write(&sample_record(n)).unwrap();
        }
        w.flush().unwrap();
        let lines = read_lines(&path);
        let expected: Vec<_> = (0..5)
            .map(|n| serde_json::to_value(sample_record(n)).unwrap())
            .collect();
        assert_eq!(lines, expected);
        assert!(!dir.path().join("acct.jsonl.1").exists());
    }

    #[test]
    fn reopening_appends() {
        let dir = TempDir::new("json-append");
        let path = dir.path().join("acct.jsonl");
        {
            let mut w = JsonLinesWriter::open(&path, 1 << 20, 3).unwrap();
            w.write(&sample_record(0)).unwrap();
        }
        let mut w = JsonLinesWriter::open(&path, 1 << 20, 3).unwrap();
        w.write(&sample_record(1)).unwrap();
        w.flush().unwrap();
        let lines = read_lines(&path);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["terminal_port"], sample_record(1).terminal_port);
    }

    /// Records that differ only in a five-digit port all have the same
    /// line length: with room for exactly three lines per file and keep = 2,
    /// eleven lines end up as 3 in path.2, 3 in path.1, 2 in path, and the
    /// three oldest are gone.
    #[test]
    fn rotates_at_size_and_keeps_numbered_files() {
        let rec = |i: u16| AccountingRecord {
            terminal_port: 30_000 + i,
            ..sample_record(1)
        };
        let len = serde_json::to_vec(&rec(0)).unwrap().len() as u64 + 1;
        let dir = TempDir::new("json-rotate");
        let path = dir.path().join("acct.jsonl");
        // One byte short of four lines: three fit, the fourth rotates.
        let max = 4 * len - 1;
        let mut w = JsonLinesWriter::open(&path, max, 2).unwrap();
        for i in 0..11 {
            w.write(&rec(i)).unwrap();
        }
        w.flush().unwrap();
        let ports = |p: &Path| -> Vec<u64> {
            read_lines(p)
                .iter()
                .map(|v| v["terminal_port"].as_u64().unwrap() - 30_000)
                .collect()
        };
        assert_eq!(ports(&path), vec![9, 10]);
        assert_eq!(ports(&dir.path().join("acct.jsonl.1")), vec![6, 7, 8]);
        assert_eq!(ports(&dir.path().join("acct.jsonl.2")), vec![3, 4, 5]);
        assert!(!dir.path().join("acct.jsonl.3").exists());
        for name in ["acct.jsonl.1", "acct.jsonl.2"] {
            assert_eq!(fs::metadata(dir.path().join(name)).unwrap().len(), 3 * len);
        }
    }

    #[test]
    fn line_longer_than_limit_gets_a_file_of_its_own() {
        let dir = TempDir::new("json-long");
        let path = dir.path().join("acct.jsonl");
        let mut w = JsonLinesWriter::open(&path, 10, 5).unwrap();
        for n in 0..3 {
            w.write(&sample_record(n)).unwrap();
        }
        w.flush().unwrap();
        for (file, n) in [("acct.jsonl", 2), ("acct.jsonl.1", 1), ("acct.jsonl.2", 0)] {
            let lines = read_lines(&dir.path().join(file));
            assert_eq!(lines.len(), 1, "{file}");
            assert_eq!(lines[0]["terminal_port"], sample_record(n).terminal_port);
        }
    }

    #[test]
    fn keep_zero_discards_the_full_file() {
        let dir = TempDir::new("json-keep0");
        let path = dir.path().join("acct.jsonl");
        let mut w = JsonLinesWriter::open(&path, line_len(0) + 1, 0).unwrap();
        w.write(&sample_record(0)).unwrap();
        w.write(&sample_record(1)).unwrap();
        w.flush().unwrap();
        let lines = read_lines(&path);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["terminal_port"], sample_record(1).terminal_port);
        assert!(!dir.path().join("acct.jsonl.1").exists());
    }
}
