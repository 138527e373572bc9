//! Writes the frames of the shipped captures as seed inputs for the `decode` fuzz target:
//! `seed_corpus <captures dir> <corpus dir>`. Each input is the link-type selector byte the
//! target reads, then the frame. Reads the files with hhmon's own capture reader (libpcap,
//! gzip included), so no other tool is needed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use hhmon::capture::{FileSource, PacketSource};

/// The large captures repeat a few packet shapes thousands of times; their first frames
/// cover those shapes, and a smaller corpus keeps the fuzzer's start fast.
const MAX_PER_CAPTURE: usize = 1000;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [captures, corpus] = &args[..] else {
        eprintln!("usage: seed_corpus <captures dir> <corpus dir>");
        return ExitCode::FAILURE;
    };
    match seed(captures, corpus) {
        Ok(written) => {
            eprintln!("{written} seed inputs in {}", corpus.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("seed_corpus: {error}");
            ExitCode::FAILURE
        }
    }
}

fn seed(captures: &Path, corpus: &Path) -> Result<usize, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(corpus)?;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(captures)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.sort();
    let mut seen = HashSet::new();
    for path in paths.iter().filter(|p| is_capture(p)) {
        // Files libpcap refuses have no frames to give.
        let Ok(mut source) = FileSource::open(path) else {
            continue;
        };
        let Some(selector) = hhmon_fuzz::selector(source.link_type()) else {
            continue;
        };
        let stem = path.file_name().unwrap_or_default().to_string_lossy();
        for index in 0..MAX_PER_CAPTURE {
            let Ok(Some(packet)) = source.next_packet() else {
                break;
            };
            let input = [&[selector][..], packet.data].concat();
            if seen.insert(input.clone()) {
                std::fs::write(corpus.join(format!("{stem}-{index}")), input)?;
            }
        }
    }
    Ok(seen.len())
}

fn is_capture(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    [".pcap", ".pcapng", ".pcap.gz", ".pcapng.gz"]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}
