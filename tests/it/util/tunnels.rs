//! The innermost IP five-tuple tshark's own dissectors reach through tunnels, the reference for
//! hhmon's `--decap`: read from the same tshark rows as the outermost key (`tshark`). Knows
//! nothing of hhmon's decoder.

use hhmon::decode::FlowKey;

use super::tshark::TsharkPacket;

/// The layers tshark names for the tunnels `--decap` opens (IP in IP is an IP layer directly
/// inside another; ERSPAN, PPTP and MPLS ride on GRE).
const TUNNEL_LAYERS: &[&str] = &[
    "ip", "ipv6", "gre", "vxlan", "geneve", "gtp", "l2tp", "teredo",
];

impl TsharkPacket {
    /// The innermost IP layer tshark keyed, by its index in the row's layers: the last IP layer
    /// before any ICMP layer, stopping at the first whose addresses it could not read.
    fn innermost(&self) -> Option<(usize, FlowKey)> {
        let row = self.row();
        row.ip_layers()
            .into_iter()
            .map_while(|at| row.key(at).map(|key| (at, key)))
            .last()
    }

    /// The innermost IP five-tuple; `None` when the outermost IP layer is missing or unread.
    pub fn inner_key(&self) -> Option<FlowKey> {
        self.innermost().map(|(_, key)| key)
    }

    /// The IP layer of `inner_key` carries a tunnel whose packet tshark could not key: a
    /// tunnel layer (`TUNNEL_LAYERS`) follows it, before any ICMP layer, with no IP layer
    /// keyed behind it (ARP over VXLAN, L2TP control, a cut inner header). hhmon's `--decap`
    /// counts these packets as decapsulation fallbacks.
    pub fn tunnel_unopened(&self) -> bool {
        let layers = self.row().layers;
        self.innermost().is_some_and(|(at, _)| {
            layers[at + 1..]
                .iter()
                .take_while(|layer| !layer.starts_with("icmp"))
                .any(|layer| TUNNEL_LAYERS.contains(layer))
        })
    }
}
