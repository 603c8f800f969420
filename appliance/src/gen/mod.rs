//! `tandem gen-pcap`: writes a synthetic workload of terminal → VIP frames
//! as a pcap file, for `net_pcap` (`rx_pcap=FILE,infinite_rx=1`) to replay
//! into Tandem or `dpdk-testpmd` in the benchmarks (`scripts/bench.sh`).
//!
//! The workload itself (terminals, flows, packet order, frame bytes) is in
//! `workload`; the file format in `pcap`.

pub mod pcap;
pub mod workload;

#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::BufWriter;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use workload::{Gtpu, Workload, START_US};

/// Arguments of `tandem gen-pcap`.
#[derive(Debug, Clone, clap::Args)]
pub struct GenArgs {
    /// The pcap file to write (classic format, Ethernet link type).
    #[arg(long)]
    pub out: PathBuf,
    /// Terminals (source addresses `terminal-base + 1` upwards).
    #[arg(long, default_value_t = 1000)]
    pub terminals: u32,
    /// Flows of each terminal (source ports 1024 upwards); each flow is a
    /// distinct 5-tuple.
    #[arg(long, default_value_t = 10)]
    pub flows_per_terminal: u32,
    /// Share of the flows that are UDP, in percent; the rest are TCP.
    #[arg(long, default_value_t = 0)]
    pub udp_percent: u8,
    /// Bytes of every frame, Ethernet header to the end, without FCS
    /// (64 to 1500). Data fills it; a SYN is padded.
    #[arg(long, default_value_t = 64)]
    pub frame_size: usize,
    /// Destination of every flow (a service's VIP).
    #[arg(long, default_value = "10.9.0.1")]
    pub vip: Ipv4Addr,
    /// Destination port of every flow (TCP and UDP alike).
    #[arg(long, default_value_t = 80)]
    pub vip_port: u16,
    /// Terminal `i` has address `terminal-base + 1 + i`.
    #[arg(long, default_value = "10.8.0.0")]
    pub terminal_base: Ipv4Addr,
    /// Encapsulate every frame in GTP-U, one TEID per terminal.
    #[arg(long)]
    pub gtpu: bool,
    /// GTP-U outer source (the base station).
    #[arg(long, default_value = "10.1.0.2")]
    pub gtpu_peer: Ipv4Addr,
    /// GTP-U outer destination (Tandem's access address).
    #[arg(long, default_value = "10.1.0.1")]
    pub gtpu_endpoint: Ipv4Addr,
    /// TEID of the first terminal; the others count up from it.
    #[arg(long, default_value_t = 0x1000)]
    pub teid_base: u32,
    /// Every packet opens its flow (a SYN or a first datagram): mostly new
    /// user sessions.
    #[arg(long)]
    pub churn: bool,
    /// Frames to write; the flows take turns. Default: two per flow (the
    /// opening packet and one data packet), or one per flow with --churn.
    #[arg(long)]
    pub packets: Option<u64>,
    /// Seed of the TCP initial sequence numbers and payload bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl GenArgs {
    /// The workload these arguments describe (not yet validated).
    pub fn workload(&self) -> Workload {
        let flows = u64::from(self.terminals) * u64::from(self.flows_per_terminal);
        Workload {
            terminals: self.terminals,
            flows_per_terminal: self.flows_per_terminal,
            udp_percent: self.udp_percent,
            frame_size: self.frame_size,
            vip: self.vip,
            vip_port: self.vip_port,
            terminal_base: self.terminal_base,
            gtpu: self.gtpu.then_some(Gtpu {
                peer: self.gtpu_peer,
                endpoint: self.gtpu_endpoint,
                teid_base: self.teid_base,
            }),
            churn: self.churn,
            packets: self
                .packets
                .unwrap_or(if self.churn { flows } else { flows * 2 }),
            seed: self.seed,
        }
    }
}

/// What a generated file holds, for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub frames: u64,
    pub bytes: u64,
    pub openings: u64,
    pub udp_frames: u64,
}

/// Writes every frame of `w` into `out`.
pub fn write_workload<W: std::io::Write>(
    w: &Workload,
    out: W,
) -> Result<(Summary, W), Box<dyn std::error::Error>> {
    w.validate()?;
    let mut pcap = pcap::PcapWriter::new(out)?;
    let mut s = Summary::default();
    for n in 0..w.packets {
        let frame = w.frame(n)?;
        let p = w.packet(n);
        pcap.write_frame(START_US + n, &frame)?;
        s.frames += 1;
        s.bytes += frame.len() as u64;
        s.openings += u64::from(p.opening);
        s.udp_frames += u64::from(p.flow.udp);
    }
    Ok((s, pcap.finish()?))
}

/// Runs `tandem gen-pcap`: 0 when the file is written, 2 for arguments
/// that describe no workload, 1 when the file cannot be written.
pub fn run(args: &GenArgs) -> ExitCode {
    let w = args.workload();
    if let Err(e) = w.validate() {
        eprintln!("tandem gen-pcap: {e}");
        return ExitCode::from(2);
    }
    let file = match File::create(&args.out) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("tandem gen-pcap: {}: {e}", args.out.display());
            return ExitCode::from(1);
        }
    };
    match write_workload(&w, BufWriter::with_capacity(1 << 20, file)) {
        Ok((s, _)) => {
            println!(
                "{}: {} frames of {} bytes, {} flows ({} terminals), {} opening frames, {} UDP frames{}",
                args.out.display(),
                s.frames,
                w.frame_size,
                w.flows().min(s.frames),
                w.terminals,
                s.openings,
                s.udp_frames,
                if w.gtpu.is_some() { ", GTP-U" } else { "" }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tandem gen-pcap: {}: {e}", args.out.display());
            ExitCode::from(1)
        }
    }
}
