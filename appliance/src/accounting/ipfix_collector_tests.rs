//! The IPFIX export read by real collectors: Wireshark's dissector (tshark)
//! and nfdump's collector (nfcapd). Each decoded flow is compared with the
//! JSON record of the same user session, so the two sinks are shown to
//! agree and the element choices to mean what the collectors think they
//! mean.
//!
//! A test skips, saying so, only when its tool is not installed
//! (`scripts/setup.sh --test-tools` installs both). Everything is sent to
//! 127.0.0.1 only; processes started here are killed by their guard, also
//! when an assertion fails.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::ipfix::IpfixExporter;
use super::record::AccountingRecord;
use super::test_support::{sample_event, sample_record, FixedNames, TempDir};

/// Full path of `tool` if it is on PATH.
fn installed(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

/// The records sent: every end reason, kind, protocol, internal and
/// external services.
fn records() -> Vec<AccountingRecord> {
    (0..20)
        .map(|n| {
            if n % 5 == 2 {
                return nat66_record(n);
            }
            let rec = sample_record(n);
            if n % 5 != 4 {
                return rec;
            }
            // Every fifth a NAT64 user session: IPv6 terminal and
            // destination, IPv4 gateway address and server.
            AccountingRecord {
                terminal_ip: std::net::Ipv4Addr::UNSPECIFIED,
                dest_ip: std::net::Ipv4Addr::UNSPECIFIED,
                terminal_ipv6: Some(std::net::Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    1,
                    0,
                    0,
                    0,
                    0,
                    0x100 + n as u16,
                )),
                dest_ipv6: Some(std::net::Ipv6Addr::new(
                    0x64, 0xff9b, 0, 0, 0, 0, 0x0a03, n as u16,
                )),
                ..rec
            }
        })
        .collect()
}

/// An IPv6 → IPv6 (NAT66) user session's record, built from its event as
/// the control plane builds it: every IPv4 address 0.0.0.0, the IPv6
/// terminal, VIP, gateway address and server, all depending on `n`.
fn nat66_record(n: u32) -> AccountingRecord {
    let mut ev = sample_event(n);
    ev.terminal_ip = Ipv4Addr::UNSPECIFIED;
    ev.dest_ip = Ipv4Addr::UNSPECIFIED;
    ev.gateway_ip = Ipv4Addr::UNSPECIFIED;
    ev.server_ip = Ipv4Addr::UNSPECIFIED;
    let v6 = |net: u16, host: u32| Ipv6Addr::new(0x2001, 0xdb8, net, 0, 0, 0, 0, host as u16);
    ev.ipv6 = Some(dataplane::event::Ipv6Ends {
        terminal: v6(1, 0x200 + n),
        dest: v6(5, 0x80 + n),
        post_nat: Some(dataplane::event::PostNat6 {
            gateway: v6(2, 1 + n),
            server: v6(3, 0x20 + n),
        }),
    });
    AccountingRecord::from_event(&ev, &FixedNames)
}

/// Each record as the JSON sink writes it, keyed by user-session ID.
fn json_by_user_session(recs: &[AccountingRecord]) -> HashMap<String, Value> {
    recs.iter()
        .map(|r| {
            let v = serde_json::to_value(r).unwrap();
            (v["user_session_id"].as_str().unwrap().to_string(), v)
        })
        .collect()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Writes UDP datagrams from `from` to `to` as a pcap file of raw IPv4
/// packets (link type 101), so tshark can read what the exporter sent
/// without capture privileges.
fn write_pcap(path: &Path, from: SocketAddr, to: SocketAddr, datagrams: &[Vec<u8>]) {
    let ip = |a: SocketAddr| match a {
        SocketAddr::V4(v4) => *v4.ip(),
        SocketAddr::V6(_) => panic!("IPv4 only"),
    };
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut global = Vec::new();
    global.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes()); // magic, microseconds
    global.extend_from_slice(&2u16.to_le_bytes());
    global.extend_from_slice(&4u16.to_le_bytes());
    global.extend_from_slice(&0i32.to_le_bytes()); // zone
    global.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    global.extend_from_slice(&65_535u32.to_le_bytes()); // snaplen
    global.extend_from_slice(&101u32.to_le_bytes()); // LINKTYPE_RAW
    file.write_all(&global).unwrap();
    for (i, payload) in datagrams.iter().enumerate() {
        let total = 20 + 8 + payload.len();
        let mut pkt = Vec::with_capacity(total);
        pkt.extend_from_slice(&[0x45, 0]);
        pkt.extend_from_slice(&(total as u16).to_be_bytes());
        pkt.extend_from_slice(&(i as u16).to_be_bytes()); // identification
        pkt.extend_from_slice(&[0x40, 0, 64, 17, 0, 0]); // DF, ttl, UDP, checksum
        pkt.extend_from_slice(&ip(from).octets());
        pkt.extend_from_slice(&ip(to).octets());
        let sum = ipv4_header_checksum(&pkt[..20]);
        pkt[10..12].copy_from_slice(&sum.to_be_bytes());
        pkt.extend_from_slice(&from.port().to_be_bytes());
        pkt.extend_from_slice(&to.port().to_be_bytes());
        pkt.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        pkt.extend_from_slice(&[0, 0]); // no UDP checksum
        pkt.extend_from_slice(payload);
        let mut rec = Vec::with_capacity(16);
        rec.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        rec.extend_from_slice(&(i as u32).to_le_bytes());
        rec.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
        rec.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
        file.write_all(&rec).unwrap();
        file.write_all(&pkt).unwrap();
    }
    file.flush().unwrap();
}

fn ipv4_header_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Records per data message as the exporter packs them.
fn message_sizes(recs: &[AccountingRecord]) -> Vec<usize> {
    let template = super::ipfix::Template::new(None);
    let mut sizes = Vec::new();
    let mut rest = recs;
    while !rest.is_empty() {
        let n = template.records_that_fit(rest);
        sizes.push(n);
        rest = &rest[n..];
    }
    sizes
}

/// Sends `recs` through an `IpfixExporter` to a local socket and returns
/// (exporter address, collector address, datagrams received).
fn export_to_local_socket(recs: &[AccountingRecord]) -> (SocketAddr, SocketAddr, Vec<Vec<u8>>) {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = rx.local_addr().unwrap();
    let mut exp = IpfixExporter::new(to, 5, Duration::from_secs(3600)).unwrap();
    exp.export(recs).unwrap();
    // Loopback delivers in order and at once; the timeout only keeps a
    // broken test from hanging.
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 65_536];
    let mut datagrams = Vec::new();
    let mut from = None;
    let messages = 1 + message_sizes(recs).len();
    for _ in 0..messages {
        let (n, sender) = rx.recv_from(&mut buf).unwrap();
        from = Some(sender);
        datagrams.push(buf[..n].to_vec());
    }
    // The exporter's socket is bound to 0.0.0.0; loopback shows 127.0.0.1.
    let from = from.unwrap();
    (from, to, datagrams)
}

/// IANA protocol number of the JSON record's protocol word.
fn proto_number(rec: &Value) -> u64 {
    match rec["proto"].as_str().unwrap() {
        "icmp" => 1,
        "tcp" => 6,
        "udp" => 17,
        other => other.parse().unwrap(),
    }
}

/// (flowEndReason, firewallEvent) the JSON record's kind and end reason
/// should arrive as, from the IANA registries.
fn end_codes(rec: &Value) -> (&'static str, &'static str) {
    match (
        rec["kind"].as_str().unwrap(),
        rec["end_reason"].as_str().unwrap(),
    ) {
        ("interim", _) => ("2", "5"),
        ("final", "timeout") => ("1", "2"),
        ("final", "fin" | "rst") => ("3", "2"),
        ("final", "admin") => ("4", "2"),
        ("final", "not_entitled") => ("4", "3"),
        other => panic!("unexpected record {other:?}"),
    }
}

/// tshark's absolute time (`Nov 14, 2023 22:13:23.003000000 UTC`) as the
/// JSON record's RFC 3339 text (`2023-11-14T22:13:23.003Z`).
fn tshark_time_as_rfc3339(text: &str) -> String {
    let parts: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(parts.len(), 5, "{text}");
    assert_eq!(parts[4], "UTC", "{text}");
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = months.iter().position(|m| *m == parts[0]).unwrap() + 1;
    let day: u32 = parts[1].trim_end_matches(',').parse().unwrap();
    format!("{}-{month:02}-{day:02}T{}Z", parts[2], &parts[3][..12])
}

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// The exporter's messages decoded by Wireshark's IPFIX dissector, read
/// from a pcap of what a local socket received.
#[test]
fn tshark_decodes_what_the_json_sink_says() {
    let Some(tshark) = installed("tshark") else {
        eprintln!("SKIPPED tshark_decodes_what_the_json_sink_says: tshark is not installed");
        return;
    };
    let dir = TempDir::new("tshark");
    let recs = records();
    let json = json_by_user_session(&recs);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (from, to, datagrams) = export_to_local_socket(&recs);
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let pcap = dir.path().join("ipfix.pcap");
    write_pcap(&pcap, from, to, &datagrams);
    let out = run(Command::new(tshark)
        .arg("-r")
        .arg(&pcap)
        .arg("-d")
        .arg(format!("udp.port=={},cflow", to.port()))
        .args(["-T", "json", "--no-duplicate-keys"]));
    let packets: Value = serde_json::from_slice(&out.stdout).unwrap();
    let packets = packets.as_array().unwrap();
    assert_eq!(packets.len(), datagrams.len());

    let mut sequences = Vec::new();
    let mut flows = Vec::new();
    let mut template_seen = false;
    let mut nat64_template_seen = false;
    let mut nat66_template_seen = false;
    for pkt in packets {
        let cflow = &pkt["_source"]["layers"]["cflow"];
        assert_eq!(str_at(cflow, "cflow.version"), "10");
        assert_eq!(str_at(cflow, "cflow.od_id"), "5");
        let export_time: u64 = str_at(&cflow["cflow.timestamp_tree"], "cflow.exporttime")
            .parse()
            .unwrap();
        assert!((before..=after).contains(&export_time), "{export_time}");
        sequences.push(str_at(cflow, "cflow.sequence").parse::<u64>().unwrap());
        let sets = cflow.as_object().unwrap();
        for (name, set) in sets.iter().filter(|(k, _)| k.starts_with("Set ")) {
            for (key, item) in set.as_object().unwrap() {
                if key.starts_with("Template (Id = 256, Count = 19)") {
                    assert_template_pens(item);
                    template_seen = true;
                } else if key.starts_with("Template (Id = 257, Count = 19)") {
                    assert_template_pens(item);
                    nat64_template_seen = true;
                } else if key.starts_with("Template (Id = 258, Count = 19)") {
                    assert_template_pens(item);
                    nat66_template_seen = true;
                } else if key.starts_with("Flow ") {
                    flows.push(item.clone());
                } else {
                    assert!(key.starts_with("cflow."), "{name}: unexpected {key}");
                }
            }
        }
    }
    assert!(template_seen, "no template in the capture");
    assert!(nat64_template_seen, "no NAT64 template in the capture");
    assert!(nat66_template_seen, "no NAT66 template in the capture");
    let sizes = message_sizes(&recs);
    assert_eq!(sizes.len(), 2, "{sizes:?}");
    assert_eq!(sequences, vec![0, 0, sizes[0] as u64]);
    assert_eq!(flows.len(), recs.len());

    let mut nat64_flows = 0;
    let mut nat66_flows = 0;
    for flow in &flows {
        let gateway_port = str_at(flow, "cflow.post_naptsource_transport_port");
        // The user-session ID is the gateway address and port, written as
        // a socket address: the IPv6 one for NAT66.
        let us_id = match flow.get("cflow.post_nat_source_ipv6_address") {
            Some(gw6) => format!("[{}]:{gateway_port}", gw6.as_str().unwrap()),
            None => format!(
                "{}:{gateway_port}",
                str_at(flow, "cflow.post_natsource_ipv4_address")
            ),
        };
        let rec = json
            .get(&us_id)
            .unwrap_or_else(|| panic!("no JSON record for {us_id}"));
        let field = |k: &str| str_at(flow, k).to_string();
        let num = |k: &str| rec[k].as_u64().unwrap().to_string();
        if rec.get("gateway_ipv6").is_some() {
            // NAT66: IPv6 before and after the translation, no IPv4
            // address element at all.
            nat66_flows += 1;
            assert_eq!(field("cflow.srcaddrv6"), str_at(rec, "terminal_ipv6"));
            assert_eq!(field("cflow.dstaddrv6"), str_at(rec, "dest_ipv6"));
            assert_eq!(
                field("cflow.post_nat_source_ipv6_address"),
                str_at(rec, "gateway_ipv6")
            );
            assert_eq!(
                field("cflow.post_nat_destination_ipv6_address"),
                str_at(rec, "server_ipv6")
            );
            for v4 in [
                "cflow.srcaddr",
                "cflow.dstaddr",
                "cflow.post_natsource_ipv4_address",
                "cflow.post_natdestination_ipv4_address",
            ] {
                assert!(flow.get(v4).is_none(), "{v4} in {flow:#}");
            }
        } else if rec.get("terminal_ipv6").is_some() {
            // NAT64: the IPv6 elements in place of the IPv4 ones.
            nat64_flows += 1;
            assert_eq!(field("cflow.srcaddrv6"), str_at(rec, "terminal_ipv6"));
            assert_eq!(field("cflow.dstaddrv6"), str_at(rec, "dest_ipv6"));
            assert!(flow.get("cflow.srcaddr").is_none(), "{flow:#}");
            assert!(
                flow.get("cflow.post_nat_source_ipv6_address").is_none(),
                "{flow:#}"
            );
        } else {
            assert_eq!(field("cflow.srcaddr"), str_at(rec, "terminal_ip"));
            assert_eq!(field("cflow.dstaddr"), str_at(rec, "dest_ip"));
        }
        if rec.get("gateway_ipv6").is_none() {
            assert_eq!(
                field("cflow.post_natdestination_ipv4_address"),
                str_at(rec, "server_ip")
            );
        }
        assert_eq!(field("cflow.srcport"), num("terminal_port"));
        assert_eq!(field("cflow.dstport"), num("dest_port"));
        assert_eq!(field("cflow.protocol"), proto_number(rec).to_string());
        assert_eq!(
            field("cflow.post_naptdestination_transport_port"),
            num("server_port")
        );
        // Forward (IANA 85/86) then reverse (RFC 5103) in template order.
        assert_eq!(
            flow["cflow.permanent_octets"],
            serde_json::json!([num("bytes_up"), num("bytes_down")])
        );
        assert_eq!(
            flow["cflow.permanent_packets"],
            serde_json::json!([num("packets_up"), num("packets_down")])
        );
        let times = &flow["cflow.timedelta_tree"];
        assert_eq!(
            tshark_time_as_rfc3339(str_at(times, "cflow.abstimestart")),
            str_at(rec, "start")
        );
        assert_eq!(
            tshark_time_as_rfc3339(str_at(times, "cflow.abstimeend")),
            str_at(rec, "end")
        );
        let (end_reason, fw_event) = end_codes(rec);
        assert_eq!(field("cflow.flow_end_reason"), end_reason);
        assert_eq!(field("cflow.firewall_event"), fw_event);
        // Service and user-session type by name in the IANA application
        // elements; no enterprise element at all.
        assert_eq!(field("cflow.appl_name"), str_at(rec, "service"));
        assert_eq!(
            field("cflow.application_category_name"),
            str_at(rec, "user_session_type")
        );
        assert!(
            flow.get("cflow.enterprise_private_entry").is_none(),
            "{flow:#}"
        );
    }
    assert_eq!(nat64_flows, 4, "NAT64 flows decoded");
    assert_eq!(nat66_flows, 4, "NAT66 flows decoded");
}

/// Fields 14 and 15 are RFC 5103 reverse elements, every other one an IANA
/// element (no enterprise number of Tandem's own by default).
fn assert_template_pens(template: &Value) {
    // serde_json sorts keys: order by the number in "Field (N/20): ...".
    let mut pens = Vec::new();
    for (key, field) in template.as_object().unwrap() {
        let Some(rest) = key.strip_prefix("Field (") else {
            continue;
        };
        let position: usize = rest.split('/').next().unwrap().parse().unwrap();
        let pen = match str_at(field, "cflow.template_ipfix_pen_provided") {
            "0" => 0,
            _ => str_at(field, "cflow.template_ipfix_field_pen")
                .parse()
                .unwrap(),
        };
        pens.push((position, pen));
    }
    pens.sort_unstable();
    let pens: Vec<u32> = pens.into_iter().map(|(_, pen)| pen).collect();
    let mut expected = vec![0u32; 19];
    expected[13] = 29305;
    expected[14] = 29305;
    assert_eq!(pens, expected);
}

/// A process started by a test: killed (by its PID, through `Child`) and
/// reaped when the guard goes, whatever the test's outcome.
struct ProcessGuard {
    child: Child,
    name: &'static str,
}

impl ProcessGuard {
    fn spawn(name: &'static str, cmd: &mut Command) -> ProcessGuard {
        let child = cmd.spawn().unwrap_or_else(|e| panic!("{name}: {e}"));
        ProcessGuard { child, name }
    }

    fn assert_running(&mut self, log: &Path) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "{} exited early ({status}): {}",
                self.name,
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
    }

    /// Asks the process to end with SIGTERM (so it writes its files) and
    /// waits up to `limit` for it.
    fn terminate(&mut self, limit: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(sent, "could not send SIGTERM to {} ({pid})", self.name);
        wait_until(limit, &format!("{} to exit", self.name), || {
            self.child.try_wait().unwrap().is_some()
        });
        self.child.wait().unwrap()
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `done` until it holds; fails the test after `limit` so a broken
/// collector cannot hang it. Not a timing assertion: `limit` is generous.
fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `rx_queue` of the UDP socket bound to 127.0.0.1:`port`, from
/// /proc/net/udp; `None` while nothing is bound there.
fn udp_rx_queue(port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.get(1) != Some(&local.as_str()) {
            return None;
        }
        let queues = cols.get(4)?; // "tx_queue:rx_queue", hex
        let rx = queues.split(':').nth(1)?;
        u64::from_str_radix(rx, 16).ok()
    })
}

/// A UDP port nothing listens on now (another process could take it before
/// nfcapd does; the test then fails loudly, it does not pass wrongly).
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The exporter's messages received by nfdump's collector, nfcapd, and read
/// back with `nfdump -o json`.
#[test]
fn nfcapd_collects_what_the_json_sink_says() {
    let (Some(nfcapd), Some(nfdump)) = (installed("nfcapd"), installed("nfdump")) else {
        eprintln!("SKIPPED nfcapd_collects_what_the_json_sink_says: nfdump is not installed");
        return;
    };
    if !Path::new("/proc/net/udp").exists() {
        eprintln!("SKIPPED nfcapd_collects_what_the_json_sink_says: no /proc/net/udp");
        return;
    }
    let dir = TempDir::new("nfcapd");
    let flows_dir = dir.path().join("flows");
    std::fs::create_dir(&flows_dir).unwrap();
    let log_path = dir.path().join("nfcapd.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let port = free_udp_port();
    let mut collector = ProcessGuard::spawn(
        "nfcapd",
        Command::new(nfcapd)
            .args(["-b", "127.0.0.1", "-p", &port.to_string(), "-w"])
            .arg(&flows_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log),
    );
    wait_until(Duration::from_secs(20), "nfcapd to bind", || {
        collector.assert_running(&log_path);
        udp_rx_queue(port).is_some()
    });

    let recs = records();
    let collector_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut exp = IpfixExporter::new(collector_addr, 5, Duration::from_secs(3600)).unwrap();
    exp.export(&recs).unwrap();
    // Loopback delivers during the send (unless the kernel defers it to
    // ksoftirqd), so once the socket's queue stays empty nfcapd has read
    // every message; on SIGTERM it stores what it read and exits.
    let mut empty_polls = 0;
    wait_until(Duration::from_secs(20), "nfcapd to read", || {
        empty_polls = if udp_rx_queue(port) == Some(0) {
            empty_polls + 1
        } else {
            0
        };
        empty_polls >= 3
    });
    let status = collector.terminate(Duration::from_secs(30));
    let log_text = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(status.success(), "nfcapd: {status}\n{log_text}");
    assert!(
        log_text.contains("Sequence Errors: 0"),
        "nfcapd saw sequence errors:\n{log_text}"
    );

    let files: Vec<PathBuf> = std::fs::read_dir(&flows_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("nfcapd.") && !name.starts_with("nfcapd.current")
        })
        .collect();
    assert_eq!(files.len(), 1, "{files:?}\n{log_text}");
    let out = run(Command::new(nfdump)
        .env("TZ", "UTC")
        .arg("-r")
        .arg(&files[0])
        .args(["-o", "json"]));
    let flows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let flows = flows.as_array().unwrap();
    assert_eq!(flows.len(), recs.len());

    let json = json_by_user_session(&recs);
    // nfdump 1.7 keeps no post-NAT IPv6 address (IANA 281 / 282 are not
    // among the elements nfcapd stores), so a NAT66 flow is found by its
    // terminal and gateway port, which the samples never repeat.
    let nat66_json: HashMap<(String, String), &Value> = json
        .values()
        .filter(|r| r.get("gateway_ipv6").is_some())
        .map(|r| {
            let terminal = str_at(r, "terminal_ipv6").to_string();
            (
                (terminal, r["gateway_port"].as_u64().unwrap().to_string()),
                r,
            )
        })
        .collect();
    assert_eq!(nat66_json.len(), 4);
    let mut nat64_flows = 0;
    let mut nat66_flows = 0;
    for flow in flows {
        let gateway_port = str_at(flow, "src_xlt_port").to_string();
        let rec = match flow.get("src4_xlt_ip") {
            Some(gw) => {
                let us_id = format!("{}:{gateway_port}", gw.as_str().unwrap());
                json.get(&us_id)
                    .unwrap_or_else(|| panic!("no JSON record for {us_id}"))
            }
            None => {
                let key = (str_at(flow, "src6_addr").to_string(), gateway_port);
                *nat66_json
                    .get(&key)
                    .unwrap_or_else(|| panic!("no NAT66 JSON record for {key:?}: {flow}"))
            }
        };
        let num = |k: &str| rec[k].as_u64().unwrap();
        let flow_num = |k: &str| flow[k].as_u64().unwrap_or_else(|| panic!("{k} in {flow}"));
        if rec.get("gateway_ipv6").is_some() {
            // NAT66: IPv6 before the translation; no IPv4 address made up
            // for either side of it.
            nat66_flows += 1;
            assert_eq!(str_at(flow, "src6_addr"), str_at(rec, "terminal_ipv6"));
            assert_eq!(str_at(flow, "dst6_addr"), str_at(rec, "dest_ipv6"));
            for v4 in ["src4_addr", "dst4_addr", "src4_xlt_ip", "dst4_xlt_ip"] {
                assert!(flow.get(v4).is_none(), "{v4} in {flow}");
            }
            // A later nfdump that stores 281 / 282 must show them right.
            if let Some(gw6) = flow.get("src6_xlt_ip") {
                assert_eq!(gw6.as_str(), rec["gateway_ipv6"].as_str(), "{flow}");
            }
            if let Some(server6) = flow.get("dst6_xlt_ip") {
                assert_eq!(server6.as_str(), rec["server_ipv6"].as_str(), "{flow}");
            }
        } else if rec.get("terminal_ipv6").is_some() {
            // NAT64: IPv6 before the translation, IPv4 after.
            nat64_flows += 1;
            assert_eq!(str_at(flow, "src6_addr"), str_at(rec, "terminal_ipv6"));
            assert_eq!(str_at(flow, "dst6_addr"), str_at(rec, "dest_ipv6"));
        } else {
            assert_eq!(str_at(flow, "src4_addr"), str_at(rec, "terminal_ip"));
            assert_eq!(str_at(flow, "dst4_addr"), str_at(rec, "dest_ip"));
        }
        assert_eq!(flow_num("proto"), proto_number(rec));
        // nfdump shows ICMP flows with a type and code in place of ports.
        if proto_number(rec) != 1 {
            assert_eq!(flow_num("src_port"), num("terminal_port"));
            assert_eq!(flow_num("dst_port"), num("dest_port"));
        }
        if rec.get("gateway_ipv6").is_none() {
            assert_eq!(str_at(flow, "dst4_xlt_ip"), str_at(rec, "server_ip"));
        }
        assert_eq!(str_at(flow, "dst_xlt_port"), num("server_port").to_string());
        assert_eq!(flow_num("in_bytes"), num("bytes_up"));
        assert_eq!(flow_num("in_packets"), num("packets_up"));
        assert_eq!(flow_num("out_bytes"), num("bytes_down"));
        assert_eq!(flow_num("out_packets"), num("packets_down"));
        // nfdump prints local time without a zone; TZ=UTC above.
        assert_eq!(format!("{}Z", str_at(flow, "first")), str_at(rec, "start"));
        assert_eq!(format!("{}Z", str_at(flow, "last")), str_at(rec, "end"));
    }
    assert_eq!(nat64_flows, 4, "NAT64 flows collected");
    assert_eq!(nat66_flows, 4, "NAT66 flows collected");
}
