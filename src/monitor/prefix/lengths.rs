//! The prefix lengths the views count, per address family: what `--ipv4-prefixes` and
//! `--ipv6-prefixes` accept. Knows nothing of counting.

use std::net::IpAddr;

/// Most lengths per address family.
pub const MAX_PREFIX_LENGTHS: usize = 8;

/// The prefix lengths the views count, per address family: sorted, without repeats, at most
/// [`MAX_PREFIX_LENGTHS`] each, none 0. A plain `Copy` value, so that the hot path reads them
/// without a pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixLengths {
    ipv4: [u8; MAX_PREFIX_LENGTHS],
    ipv4_count: u8,
    ipv6: [u8; MAX_PREFIX_LENGTHS],
    ipv6_count: u8,
}

/// Lengths that [`PrefixLengths::new`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixLengthsError {
    /// A length of 0 or beyond the family's bits.
    #[error("an {family} prefix length must lie in 1..={max}, not {length}")]
    OutOfRange {
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// The length given.
        length: u32,
        /// 32 or 128.
        max: u8,
    },
    /// More than [`MAX_PREFIX_LENGTHS`] lengths for one family.
    #[error("at most {MAX_PREFIX_LENGTHS} {family} prefix lengths, not {count}")]
    TooMany {
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// Distinct lengths given.
        count: usize,
    },
}

impl Default for PrefixLengths {
    /// /8, /16 and /24 for IPv4; /32, /48 and /64 for IPv6: an allocation, a site, a subnet.
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl PrefixLengths {
    /// No prefix views.
    pub const NONE: Self = Self {
        ipv4: [0; MAX_PREFIX_LENGTHS],
        ipv4_count: 0,
        ipv6: [0; MAX_PREFIX_LENGTHS],
        ipv6_count: 0,
    };

    /// The defaults: /8, /16, /24 and /32, /48, /64.
    pub const DEFAULT: Self = Self {
        ipv4: [8, 16, 24, 0, 0, 0, 0, 0],
        ipv4_count: 3,
        ipv6: [32, 48, 64, 0, 0, 0, 0, 0],
        ipv6_count: 3,
    };

    /// The lengths `ipv4` and `ipv6` (in any order, repeats ignored).
    ///
    /// # Errors
    ///
    /// [`PrefixLengthsError`] for a length of 0 or past the family's bits, or too many.
    pub fn new(ipv4: &[u32], ipv6: &[u32]) -> Result<Self, PrefixLengthsError> {
        let (ipv4, ipv4_count) = Self::family("IPv4", 32, ipv4)?;
        let (ipv6, ipv6_count) = Self::family("IPv6", 128, ipv6)?;
        Ok(Self {
            ipv4,
            ipv4_count,
            ipv6,
            ipv6_count,
        })
    }

    fn family(
        family: &'static str,
        max: u8,
        lengths: &[u32],
    ) -> Result<([u8; MAX_PREFIX_LENGTHS], u8), PrefixLengthsError> {
        let mut sorted = Vec::with_capacity(lengths.len());
        for &length in lengths {
            match u8::try_from(length) {
                Ok(valid @ 1..) if valid <= max => sorted.push(valid),
                _ => {
                    return Err(PrefixLengthsError::OutOfRange {
                        family,
                        length,
                        max,
                    })
                }
            }
        }
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() > MAX_PREFIX_LENGTHS {
            return Err(PrefixLengthsError::TooMany {
                family,
                count: sorted.len(),
            });
        }
        let mut fixed = [0; MAX_PREFIX_LENGTHS];
        fixed[..sorted.len()].copy_from_slice(&sorted);
        Ok((fixed, sorted.len() as u8))
    }

    /// The IPv4 lengths, shortest first.
    pub fn ipv4(&self) -> &[u8] {
        &self.ipv4[..usize::from(self.ipv4_count)]
    }

    /// The IPv6 lengths, shortest first.
    pub fn ipv6(&self) -> &[u8] {
        &self.ipv6[..usize::from(self.ipv6_count)]
    }

    /// The lengths of `address`'s family.
    #[inline]
    pub fn of(&self, address: &IpAddr) -> &[u8] {
        match address {
            IpAddr::V4(_) => self.ipv4(),
            IpAddr::V6(_) => self.ipv6(),
        }
    }

    /// Whether no prefix is counted.
    pub fn is_empty(&self) -> bool {
        self.ipv4_count == 0 && self.ipv6_count == 0
    }

    /// The most lengths of one family.
    pub fn most_per_family(&self) -> usize {
        usize::from(self.ipv4_count.max(self.ipv6_count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_sorted_deduplicated_and_checked() {
        let lengths = PrefixLengths::new(&[24, 8, 16, 8], &[64, 48]).unwrap();
        assert_eq!(lengths.ipv4(), [8, 16, 24]);
        assert_eq!(lengths.ipv6(), [48, 64]);
        assert_eq!(lengths.most_per_family(), 3);
        assert_eq!(
            PrefixLengths::new(&[8, 16, 24], &[32, 48, 64]),
            Ok(PrefixLengths::DEFAULT)
        );
        assert!(PrefixLengths::new(&[], &[]).unwrap().is_empty());
        assert_eq!(PrefixLengths::new(&[], &[]), Ok(PrefixLengths::NONE));
        for (ipv4, ipv6) in [
            (&[0][..], &[][..]),
            (&[33], &[]),
            (&[], &[129]),
            (&[], &[0]),
        ] {
            let error = PrefixLengths::new(ipv4, ipv6).unwrap_err();
            assert!(
                matches!(error, PrefixLengthsError::OutOfRange { .. }),
                "{error}"
            );
        }
        let many: Vec<u32> = (1..=9).collect();
        assert_eq!(
            PrefixLengths::new(&many, &[]),
            Err(PrefixLengthsError::TooMany {
                family: "IPv4",
                count: 9
            })
        );
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(PrefixLengths::DEFAULT.of(&v4), [8, 16, 24]);
        assert_eq!(PrefixLengths::DEFAULT.of(&v6), [32, 48, 64]);
    }
}
