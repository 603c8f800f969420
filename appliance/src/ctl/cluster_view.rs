//! `tandem ctl cluster` as a person reads it: the cluster in brief, one row
//! per member with its lease and digest, and a loud line when the digests
//! differ or etcd cannot be reached (then the rows are the last known).

use super::table::key_values;
use serde_json::Value;

/// Columns of a member, in the order shown.
pub const MEMBER_COLUMNS: &[&str] = &[
    "appliance_id",
    "me",
    "fabric",
    "tier1",
    "gateways",
    "lease",
    "lease_ttl_s",
    "lease_left_s",
    "generation",
    "digest",
];

pub fn render(data: &Value) -> Result<String, String> {
    let field = |k: &str| data.get(k).ok_or(format!("no \"{k}\" in the answer"));
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let reachable = field("etcd_reachable")?.as_bool().unwrap_or(false);
    let mismatch = field("digest_mismatch")?.as_bool().unwrap_or(false);
    let mut out = key_values(&[
        ("cluster", text(field("cluster")?)),
        ("appliance", text(field("appliance_id")?)),
        (
            "etcd",
            format!(
                "{} ({})",
                if reachable {
                    "reachable"
                } else {
                    "UNREACHABLE"
                },
                field("etcd")?
                    .as_array()
                    .map(|a| a.iter().map(text).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            ),
        ),
        ("generation", text(field("generation")?)),
        ("max_gateways", text(field("max_gateways")?)),
        ("gateways", text(field("gateways")?)),
        ("api pins", text(field("pins")?)),
        (
            "draining",
            data.get("draining")
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty())
                .map_or("none".to_string(), |a| {
                    a.iter().map(text).collect::<Vec<_>>().join(", ")
                }),
        ),
    ]);
    out.push('\n');
    out.push_str(&super::tables::objects(
        field("members")?,
        MEMBER_COLUMNS,
        "no members",
    )?);
    if !reachable {
        out.push_str(
            "!!! etcd is UNREACHABLE: forwarding goes on with the last table; session changes are refused; the members above are the last known\n",
        );
    }
    if let Some(problem) = data.get("problem").and_then(Value::as_str) {
        out.push_str(&format!("!!! NOT A MEMBER: {problem}\n"));
    }
    if mismatch {
        out.push_str("!!! DIGEST MISMATCH: the members built different steering tables\n");
    } else {
        out.push_str("digests agree\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(reachable: bool, mismatch: bool) -> Value {
        json!({
            "cluster": "lab", "appliance_id": 1, "etcd_reachable": reachable,
            "etcd": ["http://127.0.0.1:2379"], "max_gateways": 64, "generation": 12,
            "gateways": 2, "pins": 1, "digest_mismatch": mismatch,
            "members": [
                {"appliance_id": 1, "me": true, "fabric": "10.9.0.1:6081", "tier1": true,
                 "gateways": 2, "lease": "694d7", "lease_ttl_s": 3, "lease_left_s": 2,
                 "generation": 12, "digest": "00aa"},
            ],
        })
    }

    #[test]
    fn agreeing_members_are_listed_quietly() {
        let text = render(&answer(true, false)).unwrap();
        assert!(text.contains("reachable (http://127.0.0.1:2379)"), "{text}");
        assert!(text.contains("10.9.0.1:6081"), "{text}");
        assert!(text.contains("digests agree"), "{text}");
        assert!(!text.contains("!!!"), "{text}");
    }

    #[test]
    fn a_mismatch_and_a_lost_etcd_are_loud() {
        let text = render(&answer(false, true)).unwrap();
        assert!(text.contains("etcd is UNREACHABLE"), "{text}");
        assert!(text.contains("DIGEST MISMATCH"), "{text}");
    }
}
