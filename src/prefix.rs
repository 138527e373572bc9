//! An IP prefix: a network address with its host bits cleared and a length, written in CIDR
//! notation (`10.1.2.0/24`, `2001:db8::/48`). The key of the prefix views, the `prefix` of
//! their report entries, and what `hhmon generate` aims its carpet bombing at. Plain data:
//! knows nothing of sketches, reports or packets.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A network: an address whose bits past `length` are zero, and the length. Ordered by
/// address (IPv4 before IPv6), then length, so that top lists break ties the same way
/// everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    address: IpAddr,
    length: u8,
}

/// Why a text is not a prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// No `/length`, or an address or length that does not parse.
    #[error("`{0}` is not a prefix in CIDR notation (address/length, like 203.0.113.0/24)")]
    Syntax(String),
    /// A length beyond the address's bits.
    #[error("`{text}`: the length must be at most {max}")]
    TooLong {
        /// The text given.
        text: String,
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
    /// Bits set past the length.
    #[error("`{text}` has host bits set; the network is {network}")]
    HostBits {
        /// The text given.
        text: String,
        /// The prefix with those bits cleared.
        network: Prefix,
    },
}

/// Bits of an address of `address`'s family.
pub fn address_bits(address: &IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

impl Prefix {
    /// The prefix of `length` bits that holds `address` (`length` capped at the address's
    /// bits). Cheap: a shift and a mask, no allocation.
    #[inline]
    pub fn of(address: &IpAddr, length: u8) -> Self {
        let length = length.min(address_bits(address));
        let address = match address {
            IpAddr::V4(v4) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(length)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(v4.to_bits() & mask))
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(length)).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(v6.to_bits() & mask))
            }
        };
        Self { address, length }
    }

    /// The network address (host bits zero).
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// The prefix length in bits.
    pub fn length(&self) -> u8 {
        self.length
    }

    /// Bits of an address of this prefix that are not the prefix's.
    pub fn host_bits(&self) -> u8 {
        address_bits(&self.address) - self.length
    }

    /// Whether `address` lies in this prefix.
    pub fn contains(&self, address: &IpAddr) -> bool {
        address_bits(address) == address_bits(&self.address)
            && Self::of(address, self.length) == *self
    }

    /// The `index`-th address of the prefix (taken modulo its size).
    pub fn nth(&self, index: u128) -> IpAddr {
        let host_mask = u128::MAX
            .checked_shr(128 - u32::from(self.host_bits()))
            .unwrap_or(0);
        let host = index & host_mask;
        match self.address {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(v4.to_bits() | host as u32)),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(v6.to_bits() | host)),
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.length)
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;

    /// Reads `address/length`; refuses host bits past the length rather than guess which
    /// network was meant.
    fn from_str(text: &str) -> Result<Self, PrefixError> {
        let syntax = || PrefixError::Syntax(text.to_owned());
        let (address, length) = text.split_once('/').ok_or_else(syntax)?;
        let address: IpAddr = address.parse().map_err(|_| syntax())?;
        let length: u8 = length.parse().map_err(|_| syntax())?;
        let max = address_bits(&address);
        if length > max {
            return Err(PrefixError::TooLong {
                text: text.to_owned(),
                max,
            });
        }
        let network = Self::of(&address, length);
        if network.address != address {
            return Err(PrefixError::HostBits {
                text: text.to_owned(),
                network,
            });
        }
        Ok(network)
    }
}

impl Serialize for Prefix {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Prefix {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn prefixes_mask_the_host_bits_and_print_in_cidr_notation() {
        for (addr, length, cidr) in [
            ("10.1.2.3", 24, "10.1.2.0/24"),
            ("10.1.2.3", 8, "10.0.0.0/8"),
            ("10.1.2.3", 0, "0.0.0.0/0"),
            ("10.1.2.3", 32, "10.1.2.3/32"),
            ("10.1.2.3", 40, "10.1.2.3/32"),
            ("2001:db8:1:2:3::4", 48, "2001:db8:1::/48"),
            ("2001:db8:1:2:3::4", 64, "2001:db8:1:2::/64"),
            ("2001:db8:1:2:3::4", 32, "2001:db8::/32"),
            ("2001:db8:1:2:3::4", 128, "2001:db8:1:2:3::4/128"),
        ] {
            let prefix = Prefix::of(&address(addr), length);
            assert_eq!(prefix.to_string(), cidr);
            assert_eq!(cidr.parse::<Prefix>().unwrap(), prefix);
            assert!(prefix.contains(&address(addr)), "{cidr}");
            let json = serde_json::to_string(&prefix).unwrap();
            assert_eq!(json, format!("\"{cidr}\""));
            assert_eq!(serde_json::from_str::<Prefix>(&json).unwrap(), prefix);
        }
        let net: Prefix = "10.1.2.0/24".parse().unwrap();
        assert!(!net.contains(&address("10.1.3.0")));
        assert!(!net.contains(&address("::a01:200")));
        assert_eq!(net.host_bits(), 8);
    }

    #[test]
    fn bad_prefixes_are_refused_with_the_reason() {
        for (text, error) in [
            ("10.1.2.0", PrefixError::Syntax("10.1.2.0".into())),
            ("10.1.2/24", PrefixError::Syntax("10.1.2/24".into())),
            ("10.1.2.0/x", PrefixError::Syntax("10.1.2.0/x".into())),
            (
                "10.1.2.0/33",
                PrefixError::TooLong {
                    text: "10.1.2.0/33".into(),
                    max: 32,
                },
            ),
            (
                "::/129",
                PrefixError::TooLong {
                    text: "::/129".into(),
                    max: 128,
                },
            ),
        ] {
            assert_eq!(text.parse::<Prefix>(), Err(error), "{text}");
        }
        let error = "10.1.2.3/24".parse::<Prefix>().unwrap_err();
        assert!(error.to_string().contains("10.1.2.0/24"), "{error}");
    }

    #[test]
    fn nth_walks_the_addresses_of_the_prefix() {
        let net: Prefix = "203.0.113.0/24".parse().unwrap();
        assert_eq!(net.nth(0), address("203.0.113.0"));
        assert_eq!(net.nth(255), address("203.0.113.255"));
        assert_eq!(net.nth(256), address("203.0.113.0"));
        let host: Prefix = "203.0.113.7/32".parse().unwrap();
        assert_eq!(host.nth(5), address("203.0.113.7"));
        let v6: Prefix = "2001:db8::/120".parse().unwrap();
        assert_eq!(v6.nth(0x1ff), address("2001:db8::ff"));
    }
}
