//! Finds where a value stands in a RON text, to point config errors at it.
//!
//! serde tells us the position of syntax and type errors, but the rules that
//! span several fields (a port named twice, a worker on the main lcore) are
//! checked after parsing, when positions are gone. This walks the text along
//! a path such as `ports[1].name` and returns the 1-based line and column of
//! the value. It understands RON's comments, strings and nesting; it does not
//! need to understand values, only skip them.

/// One step of a path into the config.
#[derive(Clone, Copy, Debug)]
pub enum Seg<'a> {
    Field(&'a str),
    Index(usize),
}

/// Line and column (1-based) of the value at `path`, or of the deepest
/// part of the path that exists.
pub fn locate(text: &str, path: &[Seg<'_>]) -> (usize, usize) {
    let bytes = text.as_bytes();
    let mut w = Walker { b: bytes, i: 0 };
    w.skip_ws();
    // Optional struct name before the top-level parenthesis.
    w.skip_ident();
    w.skip_ws();
    let mut best = w.i;
    for seg in path {
        match w.enter(*seg) {
            Some(at) => {
                w.i = at;
                best = at;
            }
            None => break,
        }
    }
    line_col(text, best)
}

fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

struct Walker<'a> {
    b: &'a [u8],
    i: usize,
}

impl Walker<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        loop {
            match self.peek() {
                Some(c) if c.is_ascii_whitespace() => self.i += 1,
                Some(b'/') if self.b.get(self.i + 1) == Some(&b'/') => {
                    while let Some(c) = self.peek() {
                        self.i += 1;
                        if c == b'\n' {
                            break;
                        }
                    }
                }
                Some(b'/') if self.b.get(self.i + 1) == Some(&b'*') => {
                    self.i += 2;
                    while self.i < self.b.len()
                        && !(self.b[self.i] == b'*' && self.b.get(self.i + 1) == Some(&b'/'))
                    {
                        self.i += 1;
                    }
                    self.i = (self.i + 2).min(self.b.len());
                }
                _ => return,
            }
        }
    }

    fn skip_ident(&mut self) -> &str {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'_' {
                self.i += 1;
            } else {
                break;
            }
        }
        std::str::from_utf8(&self.b[start..self.i]).unwrap_or("")
    }

    fn skip_string(&mut self, quote: u8) {
        self.i += 1;
        while let Some(c) = self.peek() {
            self.i += 1;
            if c == b'\\' {
                self.i += 1;
            } else if c == quote {
                return;
            }
        }
    }

    /// Skips one value: atom, string, or bracketed group (with an optional
    /// leading name such as `Some(...)`).
    fn skip_value(&mut self) {
        self.skip_ws();
        match self.peek() {
            Some(b'"') => self.skip_string(b'"'),
            Some(b'\'') => self.skip_string(b'\''),
            Some(b'(') | Some(b'[') | Some(b'{') => self.skip_group(),
            _ => {
                while let Some(c) = self.peek() {
                    if c.is_ascii_alphanumeric() || b"_.+-".contains(&c) {
                        self.i += 1;
                    } else {
                        break;
                    }
                }
                self.skip_ws();
                if self.peek() == Some(b'(') {
                    self.skip_group();
                }
            }
        }
    }

    fn skip_group(&mut self) {
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            match c {
                b'"' | b'\'' => {
                    self.skip_string(c);
                    continue;
                }
                b'/' => {
                    let before = self.i;
                    self.skip_ws();
                    if self.i != before {
                        continue;
                    }
                }
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        self.i += 1;
                        return;
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
    }

    /// From the start of a value, finds the start of the child named by `seg`.
    fn enter(&mut self, seg: Seg<'_>) -> Option<usize> {
        self.skip_ws();
        // A named struct or `Some(` wrapper: step over the name.
        if self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            let is_some = self.skip_ident() == "Some";
            self.skip_ws();
            if is_some && self.peek() == Some(b'(') {
                self.i += 1;
                self.skip_ws();
            }
        }
        let open = self.peek()?;
        if !matches!(open, b'(' | b'[') {
            return None;
        }
        self.i += 1;
        let mut index = 0usize;
        loop {
            self.skip_ws();
            match self.peek()? {
                b')' | b']' => return None,
                b',' => {
                    self.i += 1;
                    continue;
                }
                _ => {}
            }
            match seg {
                Seg::Field(name) if open == b'(' => {
                    let key_at = self.i;
                    let key = self.skip_ident().to_string();
                    self.skip_ws();
                    if self.peek() == Some(b':') {
                        self.i += 1;
                        self.skip_ws();
                        if key == name {
                            return Some(self.i);
                        }
                    } else {
                        self.i = key_at;
                    }
                    self.skip_value();
                }
                Seg::Index(n) => {
                    if index == n {
                        return Some(self.i);
                    }
                    self.skip_value();
                    index += 1;
                }
                Seg::Field(_) => self.skip_value(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"// comment with ( and "
(
    eal: (lcores: "0-1", vdevs: ["a,b=(1)", "c"]),
    ports: [
        (name: "acc0", device: "net_tap0", role: Access),
        /* block ) */ (name: "acc0",
            device: "x", role: Server),
    ],
    opt: Some((a: 1)),
)"#;

    #[test]
    fn finds_nested_fields() {
        assert_eq!(locate(TEXT, &[Seg::Field("eal")]), (3, 10));
        assert_eq!(
            locate(TEXT, &[Seg::Field("eal"), Seg::Field("vdevs")]),
            (3, 33)
        );
        assert_eq!(
            locate(
                TEXT,
                &[Seg::Field("ports"), Seg::Index(1), Seg::Field("name")]
            ),
            (6, 30)
        );
        assert_eq!(
            locate(
                TEXT,
                &[Seg::Field("ports"), Seg::Index(1), Seg::Field("role")]
            ),
            (7, 32)
        );
        assert_eq!(locate(TEXT, &[Seg::Field("opt"), Seg::Field("a")]), (9, 19));
    }

    #[test]
    fn missing_path_points_at_deepest_existing_part() {
        assert_eq!(locate(TEXT, &[Seg::Field("ports"), Seg::Index(7)]), (4, 12));
        assert_eq!(locate(TEXT, &[Seg::Field("nope")]), (2, 1));
    }
}
