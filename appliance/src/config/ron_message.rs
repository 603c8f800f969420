//! Words for RON's parse errors. ron 0.8 writes its unknown-field and
//! unknown-variant errors without a space before "in" ("Unexpected field
//! named `bogus_field`in `Eal`"); those two are worded here, the others are
//! RON's own.

use ron::error::Error;

/// `a`, `b` or `c` for the names RON expected.
fn one_of(names: &[&str], none: &str) -> String {
    match names {
        [] => format!("there are no {none}"),
        [one] => format!("expected only `{one}`"),
        _ => {
            let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            format!("expected one of {}", quoted.join(", "))
        }
    }
}

/// The message for a RON error.
pub fn message(code: &Error) -> String {
    match code {
        Error::NoSuchStructField {
            expected,
            found,
            outer,
        } => {
            let place = outer
                .as_ref()
                .map(|o| format!(" in `{o}`"))
                .unwrap_or_default();
            format!(
                "Unexpected field named `{found}`{place}, {}",
                one_of(expected, "fields")
            )
        }
        Error::NoSuchEnumVariant {
            expected,
            found,
            outer,
        } => {
            let place = outer
                .as_ref()
                .map(|o| format!(" in enum `{o}`"))
                .unwrap_or_default();
            let what = if outer.is_some() {
                "variant"
            } else {
                "enum variant"
            };
            format!(
                "Unexpected {what} named `{found}`{place}, {}",
                one_of(expected, "variants")
            )
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_has_a_space_before_in() {
        let e = Error::NoSuchStructField {
            expected: &["lcores", "memory_mb"],
            found: "bogus_field".into(),
            outer: Some("Eal".into()),
        };
        assert_eq!(
            message(&e),
            "Unexpected field named `bogus_field` in `Eal`, expected one of `lcores`, `memory_mb`"
        );
    }

    #[test]
    fn unknown_variant_has_a_space_before_in() {
        let e = Error::NoSuchEnumVariant {
            expected: &["Access", "Server"],
            found: "Acess".into(),
            outer: Some("Role".into()),
        };
        assert_eq!(
            message(&e),
            "Unexpected variant named `Acess` in enum `Role`, expected one of `Access`, `Server`"
        );
    }
}
