//! The `eal` section: the lcore list, the main lcore, the file prefix and
//! the memory DPDK gets.

use super::{field, violation, Violation};
use crate::config::schema::Config;

/// Parses DPDK's `--lcores`/`-l` syntax into the set of lcore ids it names:
/// `0-3`, `0,2,4`, `0@0,1@1`, `(0-1)@0,2@1`.
pub fn parse_lcores(spec: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut item = String::new();
    let mut items = Vec::new();
    for c in spec.chars() {
        match c {
            '(' => {
                depth += 1;
                item.push(c);
            }
            ')' => {
                depth -= 1;
                item.push(c);
            }
            ',' if depth == 0 => items.push(std::mem::take(&mut item)),
            _ => item.push(c),
        }
    }
    items.push(item);
    for it in items {
        let lhs = it.split('@').next().unwrap_or("").trim();
        let lhs = lhs.trim_start_matches('(').trim_end_matches(')');
        for part in lhs.split(',') {
            let part = part.trim();
            let bad =
                || format!("'{spec}' is not an lcore list (expected e.g. \"0-1\" or \"0@0,1@1\")");
            if let Some((a, b)) = part.split_once('-') {
                let a: u32 = a.trim().parse().map_err(|_| bad())?;
                let b: u32 = b.trim().parse().map_err(|_| bad())?;
                if a > b {
                    return Err(bad());
                }
                out.extend(a..=b);
            } else {
                out.push(part.parse().map_err(|_| bad())?);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Checks the `eal` section; the lcores it names, for the worker checks.
pub fn check(c: &Config) -> Result<Vec<u32>, Violation> {
    let lcores = parse_lcores(&c.eal.lcores)
        .map_err(|m| violation(vec![field("eal"), field("lcores")], m))?;
    if !lcores.contains(&c.eal.main_lcore) {
        return Err(violation(
            vec![field("eal"), field("main_lcore")],
            format!(
                "main lcore {} is not in eal.lcores \"{}\"",
                c.eal.main_lcore, c.eal.lcores
            ),
        ));
    }
    if c.eal.file_prefix.is_empty() || c.eal.file_prefix.contains('/') {
        return Err(violation(
            vec![field("eal"), field("file_prefix")],
            "file_prefix must be a non-empty name without '/'".into(),
        ));
    }
    if c.eal.memory_mb < 64 {
        return Err(violation(
            vec![field("eal"), field("memory_mb")],
            format!(
                "memory_mb {} is too small; give at least 64",
                c.eal.memory_mb
            ),
        ));
    }
    Ok(lcores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lcore_lists() {
        assert_eq!(parse_lcores("0-3").unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(parse_lcores("0,2,4").unwrap(), vec![0, 2, 4]);
        assert_eq!(parse_lcores("0@0,1@1,2@1").unwrap(), vec![0, 1, 2]);
        assert_eq!(parse_lcores("(0-1)@0,2@1").unwrap(), vec![0, 1, 2]);
        assert!(parse_lcores("a-b").is_err());
        assert!(parse_lcores("3-1").is_err());
    }
}
