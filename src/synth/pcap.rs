//! The pcap writer: a generator's packets as a little-endian nanosecond pcap (Ethernet),
//! optionally counted into a truth as they are written. Knows nothing of how packets are drawn
//! or built, nor of the file system (it writes to any `Write`).

use super::generator::Generator;
use super::truth::TruthCounter;
use std::io::Write;

/// Writes every packet of `generator` as a little-endian nanosecond pcap (Ethernet) to `out`,
/// counting each into `truth` when given. Returns the number of packets written.
///
/// # Errors
/// Whatever `out` returns.
pub fn write_pcap(
    generator: &mut Generator,
    out: &mut impl Write,
    mut truth: Option<&mut TruthCounter>,
) -> std::io::Result<u64> {
    let mut header = [0u8; 24];
    header[0..4].copy_from_slice(&0xa1b2_3c4du32.to_le_bytes()); // nanosecond timestamps
    header[4..6].copy_from_slice(&2u16.to_le_bytes());
    header[6..8].copy_from_slice(&4u16.to_le_bytes());
    header[16..20].copy_from_slice(&generator.config().snaplen.to_le_bytes());
    header[20..24].copy_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    out.write_all(&header)?;
    let mut written = 0;
    while let Some(packet) = generator.next_packet() {
        let seconds = packet.timestamp_nanos / 1_000_000_000;
        let mut record = [0u8; 16];
        record[0..4].copy_from_slice(&(seconds as u32).to_le_bytes());
        record[4..8]
            .copy_from_slice(&((packet.timestamp_nanos % 1_000_000_000) as u32).to_le_bytes());
        record[8..12].copy_from_slice(&(packet.data.len() as u32).to_le_bytes());
        record[12..16].copy_from_slice(&packet.wire_len.to_le_bytes());
        out.write_all(&record)?;
        out.write_all(packet.data)?;
        if let Some(truth) = truth.as_deref_mut() {
            truth.add(&packet);
        }
        written += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::super::tests::config;
    use super::super::SynthConfig;
    use super::*;

    #[test]
    fn the_seed_decides_everything() {
        let run = |seed| {
            let mut bytes = Vec::new();
            let mut generator = Generator::new(SynthConfig {
                seed,
                ..config(1_000)
            })
            .unwrap();
            write_pcap(&mut generator, &mut bytes, None).unwrap();
            bytes
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }
}
