//! The value parsers of single flags: shares, speeds, exponents, durations and listen
//! addresses, each refusing what its flag cannot mean with a message clap shows next to the
//! flag. Knows nothing of other flags or of the configuration the values end up in.

use super::args::PrefixLengthList;
use crate::prefix::Prefix;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

pub(super) fn parse_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err("expected a share between 0 and 1".into()),
    }
}

/// The share of `--hhh-share`: a fraction above 0 and at most 1 (`0.05`), or a percentage
/// (`5%`).
pub(super) fn parse_hhh_share(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let share = match text.strip_suffix('%') {
        Some(percent) => percent
            .trim_end()
            .parse::<f64>()
            .map(|percent| percent / 100.0),
        None => text.parse::<f64>(),
    };
    match share {
        Ok(share) if crate::report::is_hierarchical_share(share) => Ok(share),
        _ => Err("expected a share above 0 and at most 1, e.g. 0.05 or 5%".into()),
    }
}

/// Prefix lengths of one address family as `--ipv4-prefixes` and `--ipv6-prefixes` take
/// them: comma-separated, each in `1..=MAX` (32 or 128); `none` (or `0`) for none.
pub(super) fn parse_prefix_lengths<const MAX: u32>(text: &str) -> Result<PrefixLengthList, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("none") || text == "0" || text.is_empty() {
        return Ok(PrefixLengthList(Vec::new()));
    }
    let mut lengths = Vec::new();
    for part in text.split(',') {
        match part.trim().parse::<u32>() {
            Ok(length) if (1..=MAX).contains(&length) => lengths.push(length),
            _ => {
                return Err(format!(
                    "expected lengths in 1..={MAX} separated by commas, or `none`; not `{part}`"
                ))
            }
        }
    }
    lengths.sort_unstable();
    lengths.dedup();
    if lengths.len() > crate::monitor::MAX_PREFIX_LENGTHS {
        return Err(format!(
            "at most {} lengths",
            crate::monitor::MAX_PREFIX_LENGTHS
        ));
    }
    Ok(PrefixLengthList(lengths))
}

/// A prefix in CIDR notation, as `generate --carpet-bomb` takes it.
pub(super) fn parse_prefix(text: &str) -> Result<Prefix, String> {
    text.parse()
        .map_err(|error: crate::prefix::PrefixError| error.to_string())
}

pub(super) fn parse_speed(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(speed) if speed.is_finite() && speed > 0.0 => Ok(speed),
        _ => Err("expected a finite number above 0".into()),
    }
}

pub(super) fn parse_exponent(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(exponent) if exponent.is_finite() && exponent >= 0.0 => Ok(exponent),
        _ => Err("expected a finite number >= 0".into()),
    }
}

pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| e.to_string())
}

pub(super) fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}

pub(super) fn parse_export_roll(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if !crate::sinks::export::is_valid_roll(duration) {
        return Err("must be a whole number of seconds that divides a day (1h, 10m, 1d)".into());
    }
    Ok(duration)
}

/// An address, or a bare port on 127.0.0.1: metrics stay on loopback unless asked otherwise.
pub(super) fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    text.parse()
        .map_err(|_| "expected ADDRESS:PORT (e.g. 127.0.0.1:9750) or a port".to_owned())
}

/// Where to receive datagrams: ADDRESS:PORT, or a bare port on every address (IPv6 and IPv4).
pub(super) fn parse_udp_listen(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)));
    }
    text.parse()
        .map_err(|_| "expected ADDRESS:PORT (e.g. 0.0.0.0:6343, [::]:2055) or a port".to_owned())
}

/// A sensor name: 1 to 64 letters, digits, `.`, `_` or `-`, so that it can name a directory
/// of a partitioned export and a metric label as it is.
pub(super) fn parse_sensor(text: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if (1..=MAX_SENSOR_LEN).contains(&text.len()) && text.chars().all(allowed) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "expected 1 to {MAX_SENSOR_LEN} letters, digits, '.', '_' or '-' (e.g. edge-fra-1)"
        ))
    }
}

/// The longest sensor name.
const MAX_SENSOR_LEN: usize = 64;

/// The default sensor name: the host name, with any character a sensor name cannot hold
/// replaced by `_` (and `unknown` should the system not tell).
pub(super) fn host_name() -> String {
    let name = nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .unwrap_or_default();
    let cleaned: String = name
        .chars()
        .take(MAX_SENSOR_LEN)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "unknown".to_owned()
    } else {
        cleaned
    }
}

/// Where `hhmon top --connect` finds a running hhmon: `HOST:PORT` (a name, an IPv4 address or
/// a bracketed IPv6 one), or a bare port on 127.0.0.1, as `--listen` takes it.
pub(super) fn parse_connect(text: &str) -> Result<String, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(format!("{}:{port}", Ipv4Addr::LOCALHOST));
    }
    let usage = || "expected HOST:PORT (e.g. 127.0.0.1:9750) or a port".to_owned();
    let (host, port) = text.rsplit_once(':').ok_or_else(usage)?;
    let bracketed = host.starts_with('[') && host.ends_with(']');
    let plain = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if port.parse::<u16>().is_err() || !(bracketed || plain) {
        return Err(usage());
    }
    Ok(text.to_owned())
}

pub(super) fn parse_whole_seconds(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration.as_secs() == 0 || duration.subsec_nanos() != 0 {
        return Err("must be a whole number of seconds, at least 1s".into());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::super::tests::replay;
    use super::{host_name, parse_connect, parse_hhh_share, parse_sensor};

    #[test]
    fn a_bare_port_listens_on_loopback() {
        let config = replay(&["--listen", "9750", "a"]).unwrap();
        assert_eq!(config.sinks.listen, Some("127.0.0.1:9750".parse().unwrap()));
        let config = replay(&["--listen", "[::]:9750", "a"]).unwrap();
        assert_eq!(config.sinks.listen, Some("[::]:9750".parse().unwrap()));
    }

    #[test]
    fn connect_takes_a_host_and_port_or_a_bare_port_on_loopback() {
        assert_eq!(parse_connect("9750").unwrap(), "127.0.0.1:9750");
        for good in ["127.0.0.1:9750", "sensor-1.example:80", "[::1]:9750"] {
            assert_eq!(parse_connect(good).unwrap(), good);
        }
        for bad in [
            "",
            "nowhere",
            ":9750",
            "host:",
            "host:99999",
            "::1:9750",
            "a b:1",
            "h/x:1",
        ] {
            assert!(parse_connect(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_hhh_share_is_a_fraction_above_0_or_a_percentage() {
        for (text, share) in [
            ("0.05", 0.05),
            ("0.03", 0.03),
            ("1", 1.0),
            ("5%", 0.05),
            ("2.5 %", 0.025),
            ("100%", 1.0),
            ("1e-3", 0.001),
        ] {
            assert_eq!(parse_hhh_share(text), Ok(share), "{text}");
        }
        for bad in [
            "", "0", "0%", "-0.05", "-5%", "1.5", "150%", "NaN", "nan%", "inf", "x", "5%%", "%",
        ] {
            let error = parse_hhh_share(bad).unwrap_err();
            assert!(error.contains("above 0 and at most 1"), "{bad}: {error}");
        }
    }

    #[test]
    fn sensor_names_are_path_and_label_safe() {
        assert_eq!(
            parse_sensor("edge-fra-1.example_2"),
            Ok("edge-fra-1.example_2".into())
        );
        for bad in ["", "a/b", "../x", "a b", "é", &"x".repeat(65)] {
            assert!(parse_sensor(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_sensor(&host_name()), Ok(host_name()));
    }
}
