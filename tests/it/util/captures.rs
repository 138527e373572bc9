//! The manifest of the shipped captures (`captures/`): every file, and how libpcap reads it
//! (whole, damaged part-way with the reason libpcap gives, or refused outright). Tests that walk
//! every capture take the list and the expected outcome from here, so a capture added without
//! a row fails the suite instead of going unchecked. Knows nothing of hhmon.

/// How libpcap reads a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// Every record.
    Whole,
    /// The records before the damage, then an error naming `reason`.
    Damaged {
        /// A few words of libpcap's error.
        reason: &'static str,
    },
    /// Nothing: libpcap refuses the file with an error naming `reason`.
    Refused {
        /// A few words of libpcap's error.
        reason: &'static str,
        /// Why, and what tshark makes of the file instead.
        why: &'static str,
    },
}

impl Reading {
    /// The words libpcap's error must hold, for a file it does not read whole.
    pub fn error(self) -> Option<&'static str> {
        match self {
            Reading::Whole => None,
            Reading::Damaged { reason } | Reading::Refused { reason, .. } => Some(reason),
        }
    }

    /// The exit status of `hhmon replay` on this file alone: every input read, some read in
    /// part, none read.
    pub fn exit_status(self) -> i32 {
        match self {
            Reading::Whole => 0,
            Reading::Damaged { .. } => 2,
            Reading::Refused { .. } => 1,
        }
    }
}

/// One shipped capture.
#[derive(Clone, Copy, Debug)]
pub struct Capture {
    /// The file name in `captures/`.
    pub name: &'static str,
    /// How libpcap reads it.
    pub reading: Reading,
}

const fn whole(name: &'static str) -> Capture {
    Capture {
        name,
        reading: Reading::Whole,
    }
}

const fn damaged(name: &'static str, reason: &'static str) -> Capture {
    Capture {
        name,
        reading: Reading::Damaged { reason },
    }
}

/// Every file in `captures/` but its README, in name order.
const MANIFEST: &[Capture] = &[
    whole("big-endian-micro.pcap"),
    damaged("damaged-records.pcap", "truncated dump file"),
    whole("ddos-reflection-synack.pcap"),
    whole("ddos-synflood-spoofed.pcap"),
    whole("dhcp-nanosecond.pcap"),
    whole("dlt-ipv4-tcp-badsegments.pcap"),
    whole("dlt-null-loopback.pcap"),
    whole("dns.pcap"),
    whole("esp.pcap"),
    whole("geneve.pcap"),
    whole("gnutella-p2p.pcap"),
    whole("gre-erspan.pcap"),
    whole("gre.pcap"),
    whole("icmpv6-echo.pcap"),
    whole("ip4-fragments-large.pcap"),
    whole("ip6-fragments-large.pcap"),
    whole("ipv4-udp-fragmented.pcap"),
    whole("ipv6-gtp6.pcap"),
    whole("ipv6-udp-fragmented.pcap"),
    whole("linux-sll-smb.pcap"),
    whole("linux-sll2-ipv6.pcap"),
    whole("linux-sll2.pcap"),
    whole("many-protocols.pcap"),
    whole("mixed-vlan-mpls.pcap"),
    whole("modified-pcap-magic.pcap"),
    whole("nanosecond-big-endian.pcap"),
    whole("pcapng-big-endian.pcapng"),
    whole("pcapng-le-multiblock.pcapng"),
    Capture {
        name: "pcapng-no-idb.pcapng",
        reading: Reading::Refused {
            reason: "no Interface Description Blocks",
            why: "a pcapng section without an interface description has no link type, so \
                  libpcap refuses the file; tshark shows its custom blocks as four frames of \
                  data, none of them IP",
        },
    },
    whole("pppoe-ipv6.pcap"),
    whole("pppoe-teredo-home-router.pcap"),
    whole("qinq-nonip.pcap"),
    whole("raw-ip-tencent-games.pcap"),
    whole("tcp-sack.pcap"),
    damaged("truncated-last-record.pcap", "truncated dump file"),
    whole("vlan-gre-4over6.pcap"),
    whole("vlan-icmp.pcap"),
    whole("vxlan.pcap"),
    whole("wifi-radiotap.pcap.gz"),
    whole("wireshark-samples-mixed.pcapng"),
];

/// Every shipped packet capture, in name order; fails the test if `captures/` holds other files
/// than the manifest names. Subdirectories (`flow-telemetry/`) hold captures of other kinds.
pub fn all() -> &'static [Capture] {
    let mut shipped: Vec<String> = std::fs::read_dir(super::repo::path("captures"))
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().unwrap().is_file())
        .map(|entry| entry.file_name().into_string().unwrap())
        .filter(|name| name != "README.md")
        .collect();
    shipped.sort();
    let listed: Vec<&str> = MANIFEST.iter().map(|capture| capture.name).collect();
    assert_eq!(shipped, listed, "captures/ and the test manifest differ");
    MANIFEST
}

/// How libpcap reads the shipped capture `name`; `None` for a file that is not shipped.
pub fn reading(name: &str) -> Option<Reading> {
    MANIFEST
        .iter()
        .find(|capture| capture.name == name)
        .map(|capture| capture.reading)
}
