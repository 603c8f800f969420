//! Plain-text tables with aligned columns: numbers right-aligned, text
//! left-aligned, two spaces between columns, no trailing blanks.

/// A table built row by row, rendered once.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// A cell counts as a number if it reads as one (`-` stands for none).
fn numeric(cell: &str) -> bool {
    cell == "-" || (!cell.is_empty() && cell.trim_end_matches('%').parse::<f64>().is_ok())
}

fn width(s: &str) -> usize {
    s.chars().count()
}

impl Table {
    pub fn new<S: AsRef<str>>(header: &[S]) -> Table {
        Table {
            header: header.iter().map(|h| h.as_ref().to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are blank, extra cells are kept.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as lines, each ending with a newline.
    pub fn render(&self) -> String {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain(std::iter::once(self.header.len()))
            .max()
            .unwrap_or(0);
        let cell = |row: &[String], c: usize| -> String { row.get(c).cloned().unwrap_or_default() };
        let mut widths = vec![0usize; columns];
        let mut right = vec![true; columns];
        let mut any_number = vec![false; columns];
        for c in 0..columns {
            widths[c] = width(&cell(&self.header, c));
            for row in &self.rows {
                let v = cell(row, c);
                widths[c] = widths[c].max(width(&v));
                if numeric(&v) {
                    any_number[c] |= v != "-";
                } else if !v.is_empty() {
                    right[c] = false;
                }
            }
            right[c] &= any_number[c];
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(self.rows.iter()) {
            let mut line = String::new();
            for c in 0..columns {
                let v = cell(row, c);
                let pad = " ".repeat(widths[c] - width(&v));
                if c > 0 {
                    line.push_str("  ");
                }
                if right[c] {
                    line.push_str(&pad);
                    line.push_str(&v);
                } else {
                    line.push_str(&v);
                    line.push_str(&pad);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `name  value` pairs, names padded to the longest.
pub fn key_values(pairs: &[(&str, String)]) -> String {
    let name_width = pairs.iter().map(|(k, _)| width(k)).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        let line = format!("{k:<name_width$}  {v}");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_align_right_and_text_left() {
        let mut t = Table::new(&["name", "packets"]);
        t.row(vec!["eth0".into(), "5".into()]);
        t.row(vec!["access1".into(), "12345".into()]);
        assert_eq!(
            t.render(),
            "name     packets\n\
             eth0           5\n\
             access1    12345\n"
        );
    }

    #[test]
    fn a_text_cell_makes_the_column_left_aligned_and_dashes_count_as_numbers() {
        let mut t = Table::new(&["a", "b"]);
        t.row(vec!["1".into(), "-".into()]);
        t.row(vec!["x".into(), "100".into()]);
        assert_eq!(t.render(), "a    b\n1    -\nx  100\n");
    }

    #[test]
    fn short_rows_are_padded_and_no_line_has_trailing_blanks() {
        let mut t = Table::new(&["first", "second"]);
        t.row(vec!["only".into()]);
        let out = t.render();
        assert_eq!(out, "first  second\nonly\n");
        assert!(out.lines().all(|l| !l.ends_with(' ')));
    }

    #[test]
    fn key_values_pad_names() {
        assert_eq!(
            key_values(&[("version", "1.0".into()), ("up", "3s".into())]),
            "version  1.0\nup       3s\n"
        );
    }
}
