//! The generated attack trace of the prefix tests: Zipf background traffic, a carpet bombing
//! of [`CARPET`] (20% of the packets, a little to every address) and, if asked, a botnet in
//! [`BOTNET_PREFIXES`] source /24s (16%), written by `hhmon generate`.

use std::path::{Path, PathBuf};

use super::hhmon::hhmon;

/// The carpet-bombed destination prefix.
pub const CARPET: &str = "203.0.113.0/24";
/// The botnet's source /24s, each carrying 4% of the packets.
pub const BOTNET_PREFIXES: u32 = 4;

/// Writes `dir/attacks.pcap`: `packets` packets (100 000 per second of trace time) over
/// `flows` background flows with the carpet bombing and, with `botnet`, the botnet; returns
/// its path.
pub fn attack_trace(dir: &Path, packets: u32, flows: u32, botnet: bool) -> PathBuf {
    let pcap = dir.join("attacks.pcap");
    let mut generate = hhmon(["generate", "--packets", &packets.to_string()])
        .args(["--flows", &flows.to_string()])
        .args(["--carpet-bomb", CARPET, "--carpet-share", "0.2"]);
    if botnet {
        generate = generate
            .args(["--botnet", &BOTNET_PREFIXES.to_string()])
            .args(["--botnet-share", "0.16"]);
    }
    generate.arg("--out").arg(&pcap).output().succeeded();
    pcap
}
