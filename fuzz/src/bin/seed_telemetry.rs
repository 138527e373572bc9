//! Writes seed inputs for a flow-telemetry fuzz target from the shipped exports:
//! `seed_telemetry <flow-telemetry captures dir> <file name prefix> <corpus dir>`.
//!
//! Each input is a selector byte of 0 (the targets' default options), then the UDP payload of
//! one frame of a capture whose name starts with the prefix (`sflow-` for the `sflow` target),
//! read with hhmon's own capture reader and `hhmon::telemetry::udp_payload`.

use std::path::PathBuf;
use std::process::ExitCode;

use hhmon::capture::{FileSource, PacketSource};
use hhmon::telemetry::udp_payload;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [captures, prefix, corpus] = &args[..] else {
        eprintln!("usage: seed_telemetry <captures dir> <file name prefix> <corpus dir>");
        return ExitCode::FAILURE;
    };
    match seed(&PathBuf::from(captures), prefix, &PathBuf::from(corpus)) {
        Ok(written) => {
            eprintln!("{written} seed inputs in {corpus}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("seed_telemetry: {error}");
            ExitCode::FAILURE
        }
    }
}

fn seed(
    captures: &PathBuf,
    prefix: &str,
    corpus: &PathBuf,
) -> Result<usize, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(corpus)?;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(captures)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.retain(|path| {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        name.starts_with(prefix) && name.ends_with(".pcap")
    });
    paths.sort();
    let mut written = 0;
    for path in &paths {
        let mut source = FileSource::open(path)?;
        let link = source.link_type();
        let stem = path.file_name().unwrap_or_default().to_string_lossy();
        let mut index = 0;
        while let Ok(Some(packet)) = source.next_packet() {
            if let Some((_, payload)) = udp_payload(link, packet.data) {
                std::fs::write(
                    corpus.join(format!("{stem}-{index}")),
                    [&[0u8][..], payload].concat(),
                )?;
                written += 1;
            }
            index += 1;
        }
    }
    Ok(written)
}
