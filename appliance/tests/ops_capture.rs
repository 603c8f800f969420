//! `dpdk-dumpcap` captures packets from a running `tandem`: Tandem
//! initialises DPDK's pdump support, so the capture tool, a secondary
//! process on the same file prefix, can attach to a port while traffic
//! flows through it. Secondary processes cannot attach to a `--no-huge`
//! primary, so this test reserves hugepages (and gives back what it took
//! at the end) and runs tandem with `no_huge: false`.
//!
//! The capture is on the access tap while a kernel terminal exchanges UDP
//! datagrams with a kernel server through tandem; the pcapng file must
//! hold the terminal's queries and the translated answers, and tandem must
//! run on and stop cleanly after the capture detached.
//!
//! Needs root, /dev/net/tun, hugepages and dpdk-dumpcap (Debian: dpdk).

mod common;

use common::ctl::Ctl;
use common::hugepages::HugePages;
use common::pcapng;
use common::tandem::{assert_clean_exit, Tandem};
use common::tapnet::{exchange, udp, TapNet};
use common::{file_prefix, tap, wait_until, Scratch};
use std::io::Read;
use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const IO_LIMIT: Duration = Duration::from_secs(10);
/// Packets dumpcap waits for before it ends by itself.
const CAPTURE_COUNT: u32 = 8;

/// A `dpdk-dumpcap` that never outlives the test.
struct Dumpcap {
    child: Option<Child>,
    log_path: std::path::PathBuf,
}

impl Dumpcap {
    fn start(
        prefix: &str,
        port: &str,
        file: &std::path::Path,
        log_path: &std::path::Path,
    ) -> Dumpcap {
        // Its stdout is buffered; its progress ("Packets captured: N",
        // once the capture is on) goes to stderr.
        let stderr = std::fs::File::create(log_path).expect("dumpcap log");
        let stdout = stderr.try_clone().expect("dumpcap log");
        let child = Command::new("dpdk-dumpcap")
            .arg(format!("--file-prefix={prefix}"))
            .args(["-p", "-i", port, "-c", &CAPTURE_COUNT.to_string(), "-w"])
            .arg(file)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run dpdk-dumpcap (Debian package dpdk): {e}"));
        Dumpcap {
            child: Some(child),
            log_path: log_path.to_path_buf(),
        }
    }

    fn said(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log_path) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// Its exit status once it has ended by itself.
    fn ended(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }
}

impl Drop for Dumpcap {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn dpdk_dumpcap_captures_a_running_instance() {
    assert!(
        tap::available(),
        "/dev/net/tun is missing: this test needs tap interfaces (run as root)"
    );
    let test = "capture";
    let scratch = Scratch::new(test);
    let prefix = file_prefix(test);
    // memory_mb 256 is 128 pages; dumpcap's own buffers come on top.
    let _pages = HugePages::reserve(256, &prefix);
    let socket = scratch.path("ctl.sock");
    let net = TapNet::new(80);
    let services = format!(
        r#"(name: "dns", vip: "{}", proto: Udp, port: 53, servers: [(addr: "{}", port: 5353)]),"#,
        net.vip(),
        net.server(0)
    );
    let mut tandem = Tandem::start(
        &scratch.dir,
        &prefix,
        &net.config(&prefix, false, &socket, &services, ""),
    );
    tandem.wait_running();
    assert!(
        !tandem
            .log()
            .contains("packet capture (dpdk-dumpcap) unavailable"),
        "{}",
        tandem.log()
    );
    let terminal = net.access(100);
    net.configure(&[terminal], &[net.server(0)]);
    let server = udp(net.server(0), 5353, Duration::from_millis(100));
    let client = udp(terminal, 0, IO_LIMIT);
    exchange(&client, &server, net.vip(), 53, b"before the capture");

    let file = scratch.path("access.pcapng");
    let mut dumpcap = Dumpcap::start(&prefix, "net_tap0", &file, &scratch.path("dumpcap.log"));
    assert!(
        wait_until(IO_LIMIT, || dumpcap.said().contains("Packets captured")
            || dumpcap.ended().is_some()),
        "dpdk-dumpcap did not start capturing: {}",
        dumpcap.said()
    );
    assert!(
        dumpcap.ended().is_none(),
        "dpdk-dumpcap could not attach to tandem: {}",
        dumpcap.said()
    );

    // Each exchange is a query in and an answer out on the access port.
    let mut i = 0;
    let status = loop {
        if let Some(status) = dumpcap.ended() {
            break status;
        }
        assert!(
            i < 100,
            "dumpcap never got {CAPTURE_COUNT} packets: {}",
            dumpcap.said()
        );
        exchange(
            &client,
            &server,
            net.vip(),
            53,
            format!("captured {i}").as_bytes(),
        );
        i += 1;
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "dumpcap: {}", dumpcap.said());

    let bytes = std::fs::read(&file).expect("the capture file");
    let capture = pcapng::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    // dumpcap names a net_tap port after its kernel interface.
    let access = capture
        .interfaces
        .iter()
        .position(|n| *n == net.access_iface())
        .unwrap_or_else(|| panic!("no access interface among {:?}", capture.interfaces))
        as u32;
    assert!(
        capture.packets.len() >= CAPTURE_COUNT as usize,
        "{} packets",
        capture.packets.len()
    );
    // The query as the terminal sent it (to the VIP, port 53) and the
    // answer as tandem translated it (from the VIP, port 53).
    let udp_ends = |f: &[u8]| -> Option<((Ipv4Addr, u16), (Ipv4Addr, u16))> {
        let ip = f.get(14..)?;
        let ihl = usize::from(ip.first()? & 0x0f) * 4;
        let l4 = ip.get(ihl..ihl + 4)?;
        let addr = |at: usize| {
            Some(Ipv4Addr::new(
                *ip.get(at)?,
                ip[at + 1],
                ip[at + 2],
                ip[at + 3],
            ))
        };
        Some((
            (addr(12)?, u16::from_be_bytes([l4[0], l4[1]])),
            (addr(16)?, u16::from_be_bytes([l4[2], l4[3]])),
        ))
    };
    let seen = |payload: &[u8]| -> Vec<((Ipv4Addr, u16), (Ipv4Addr, u16))> {
        capture
            .packets
            .iter()
            .filter(|p| p.interface == access && p.data.ends_with(payload))
            .filter_map(|p| udp_ends(&p.data))
            .collect()
    };
    let queries = seen(b"captured 0");
    assert!(
        queries
            .iter()
            .any(|&(src, dst)| src.0 == terminal && dst == (net.vip(), 53)),
        "no query from the terminal to the VIP: {queries:?}"
    );
    let answers = seen(b"answer to captured 0");
    assert!(
        answers
            .iter()
            .any(|&(src, dst)| src == (net.vip(), 53) && dst.0 == terminal),
        "no answer from the VIP to the terminal: {answers:?}"
    );
    if let Ok(out) = Command::new("tshark")
        .args(["-r"])
        .arg(&file)
        .args(["-c", "1"])
        .output()
    {
        assert!(
            out.status.success(),
            "tshark cannot read the capture: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The primary runs on after the secondary left.
    exchange(&client, &server, net.vip(), 53, b"after the capture");
    Ctl::new(&socket).ok(&["status"]);
    assert_clean_exit(&tandem.stop());
}
