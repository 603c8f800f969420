//! `tandem ctl types`: the user-session types of the policy in force, each
//! with how its server is chosen, whether it is accounted, the
//! classification rules that pick it (numbered in the order they are
//! tried: the first rule that matches wins, and the first type is taken
//! when none does) and its idle timeouts (its own, or the global ones).

use super::control::Control;
use dataplane::policy::{ClassRule, Selection};
use serde_json::{json, Value};

fn selection(s: Selection) -> &'static str {
    match s {
        Selection::LeastLoad => "least_load",
        Selection::WeightedLeastLoad => "weighted_least_load",
        Selection::Sticky => "sticky",
    }
}

/// `#2 udp dport 5060-5061 dscp 46`: a rule as its position and conditions.
fn rule_text(position: usize, r: &ClassRule) -> String {
    let mut text = format!("#{position}");
    match r.proto {
        Some(6) => text.push_str(" tcp"),
        Some(17) => text.push_str(" udp"),
        Some(1) => text.push_str(" icmp"),
        Some(p) => text.push_str(&format!(" proto {p}")),
        None => {}
    }
    match r.dst_ports {
        Some((lo, hi)) if lo == hi => text.push_str(&format!(" dport {lo}")),
        Some((lo, hi)) => text.push_str(&format!(" dport {lo}-{hi}")),
        None => {}
    }
    if let Some(d) = r.dscp {
        text.push_str(&format!(" dscp {d}"));
    }
    if r.proto.is_none() && r.dst_ports.is_none() && r.dscp.is_none() {
        text.push_str(" any");
    }
    text
}

fn seconds(ms: u64) -> u64 {
    ms / 1000
}

impl Control {
    pub fn types(&self) -> Value {
        let p = self.shared.policy.current();
        let c = &p.classifier;
        let rows = c
            .types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut rules: Vec<String> = c
                    .rules
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| usize::from(r.type_index) == i)
                    .map(|(n, r)| rule_text(n, r))
                    .collect();
                if i == 0 {
                    rules.push("no rule matches".to_string());
                }
                let to = p.timeouts_for(i as u8);
                json!({
                    "type": t.name,
                    "selection": selection(t.selection),
                    "accounted": t.accounted,
                    "rules": rules,
                    "timeouts": if t.timeouts.is_some() { "own" } else { "global" },
                    "tcp_syn_s": seconds(to.tcp_syn_ms),
                    "tcp_established_s": seconds(to.tcp_established_ms),
                    "tcp_closing_s": seconds(to.tcp_fin_ms),
                    "udp_s": seconds(to.udp_unreplied_ms),
                    "udp_replied_s": seconds(to.udp_replied_ms),
                    "icmp_s": seconds(to.icmp_ms),
                })
            })
            .collect();
        Value::Array(rows)
    }
}
