//! Tests of the accounting exporter: config shape, fan-out to both sinks,
//! and the counting of every record a sink refused.

use std::net::UdpSocket;
use std::time::Duration;

use super::*;
use crate::accounting::ipfix_decode::Decoder;
use crate::accounting::test_support::{sample_record, TempDir};

fn ron_config(text: &str) -> Result<AccountingConfig, ron::error::SpannedError> {
    ron::Options::default()
        .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
        .from_str(text)
}

#[test]
fn config_reads_from_ron_with_defaults() {
    let cfg = ron_config(
        r#"(
            json: (path: "/var/log/tandem/acct.jsonl", keep: 3),
            ipfix: (collector: "192.0.2.9:4739", observation_domain: 7),
        )"#,
    )
    .unwrap();
    assert_eq!(
        cfg,
        AccountingConfig {
            json: Some(JsonSink {
                path: "/var/log/tandem/acct.jsonl".into(),
                max_bytes: 100 * 1024 * 1024,
                keep: 3,
            }),
            ipfix: Some(IpfixSink {
                collector: "192.0.2.9:4739".into(),
                observation_domain: 7,
                template_refresh_s: 60,
                enterprise: None,
            }),
        }
    );
    assert_eq!(ron_config("()").unwrap(), AccountingConfig::default());
}

#[test]
fn config_rejects_unknown_fields() {
    for text in [
        "(jsn: (path: \"a\"))",
        "(json: (path: \"a\", max_byte: 5))",
        "(ipfix: (collector: \"127.0.0.1:9\", refresh: 5))",
    ] {
        let err = ron_config(text).unwrap_err();
        assert!(
            matches!(err.code, ron::error::Error::NoSuchStructField { .. }),
            "{text}: {err}"
        );
    }
}

#[test]
fn bad_settings_fail_at_start() {
    let dir = TempDir::new("acct-bad");
    let ipfix = |collector: &str, refresh| AccountingConfig {
        json: None,
        ipfix: Some(IpfixSink {
            collector: collector.into(),
            observation_domain: 1,
            template_refresh_s: refresh,
            enterprise: None,
        }),
    };
    let json = |path: PathBuf, max_bytes| AccountingConfig {
        json: Some(JsonSink {
            path,
            max_bytes,
            keep: 1,
        }),
        ipfix: None,
    };
    let err = |cfg: AccountingConfig| AccountingExporter::new(&cfg).err().unwrap();
    assert!(matches!(
        err(ipfix("127.0.0.1", 60)),
        AccountingError::BadCollector(_)
    ));
    assert!(matches!(
        err(ipfix("127.0.0.1:0", 60)),
        AccountingError::BadCollector(_)
    ));
    assert!(matches!(
        err(ipfix("127.0.0.1:4739", 0)),
        AccountingError::ZeroTemplateRefresh
    ));
    assert!(matches!(
        err(json(dir.path().join("no/such/dir/a.jsonl"), 100)),
        AccountingError::JsonOpen { .. }
    ));
    assert!(matches!(
        err(json(dir.path().join("a.jsonl"), 0)),
        AccountingError::ZeroMaxBytes
    ));
}

#[test]
fn both_sinks_get_every_record() {
    let dir = TempDir::new("acct-both");
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let path = dir.path().join("acct.jsonl");
    let cfg = AccountingConfig {
        json: Some(JsonSink {
            path: path.clone(),
            max_bytes: 1 << 20,
            keep: 2,
        }),
        ipfix: Some(IpfixSink {
            collector: rx.local_addr().unwrap().to_string(),
            observation_domain: 9,
            template_refresh_s: 3600,
            enterprise: None,
        }),
    };
    let mut exp = AccountingExporter::new(&cfg).unwrap();
    let recs: Vec<_> = (0..3).map(sample_record).collect();
    exp.export(&recs);
    exp.note_lost(4);
    assert_eq!(
        exp.counters(),
        AccountingCounters {
            exported: 3,
            failed: 0,
            export_errors: 0,
            lost: 4,
        }
    );

    // Flushed by export: readable without dropping the exporter.
    let text = std::fs::read_to_string(&path).unwrap();
    let ports: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["terminal_port"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let expected: Vec<u64> = recs.iter().map(|r| u64::from(r.terminal_port)).collect();
    assert_eq!(ports, expected);

    let mut decoder = Decoder::default();
    let mut buf = vec![0u8; 2048];
    let mut ipfix_ports = Vec::new();
    for _ in 0..2 {
        let (n, _) = rx.recv_from(&mut buf).unwrap();
        let msg = decoder.decode(&buf[..n]).unwrap();
        assert_eq!(msg.domain, 9);
        for r in &msg.records {
            ipfix_ports.push(crate::accounting::ipfix_decode::uint(r, (0, 7)));
        }
    }
    assert_eq!(ipfix_ports, expected);
}

#[test]
fn records_a_sink_refuses_are_counted() {
    let dir = TempDir::new("acct-fail");
    let sub = dir.path().join("spool");
    std::fs::create_dir(&sub).unwrap();
    // Room for one line only: the second record must rotate, and rotation
    // cannot create a new file once the directory is gone.
    let json = JsonLinesWriter::open(sub.join("acct.jsonl"), 10, 1).unwrap();
    let mut exp = AccountingExporter::with_sinks(Some(json), None);
    exp.export(&[sample_record(0)]);
    std::fs::remove_dir_all(&sub).unwrap();
    exp.export(&[sample_record(1), sample_record(2)]);
    exp.note_lost(0);
    assert_eq!(
        exp.counters(),
        AccountingCounters {
            exported: 1,
            failed: 2,
            export_errors: 2,
            lost: 0,
        }
    );
}

#[test]
fn a_failed_ipfix_send_fails_its_records_but_not_the_json_sink() {
    let dir = TempDir::new("acct-ipfix-fail");
    let path = dir.path().join("acct.jsonl");
    let json = JsonLinesWriter::open(&path, 1 << 20, 1).unwrap();
    // Linux refuses UDP sends to port 0 locally: nothing leaves the host.
    let ipfix =
        IpfixExporter::new("127.0.0.1:0".parse().unwrap(), 1, Duration::from_secs(60)).unwrap();
    let mut exp = AccountingExporter::with_sinks(Some(json), Some(ipfix));
    exp.export(&[sample_record(0), sample_record(1), sample_record(2)]);
    assert_eq!(
        exp.counters(),
        AccountingCounters {
            exported: 0,
            failed: 3,
            export_errors: 1,
            lost: 0,
        }
    );
    let lines = std::fs::read_to_string(&path).unwrap().lines().count();
    assert_eq!(lines, 3);
}
