//! Which peers may speak for the browser through `X-Forwarded-Host` and
//! `X-Forwarded-Proto`: only the reverse proxies the operator names (`--trusted-proxy`).
//! Any client can send those headers, so from anyone else they are ignored; otherwise a
//! page on another site could pass the dashboard's same-origin check by claiming to be it.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// An address or a network (`10.0.0.7`, `10.0.0.0/8`, `::1`, `fd00::/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyNet {
    address: IpAddr,
    prefix: u8,
}

impl FromStr for ProxyNet {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("'{text}' is not an IP address or network (10.0.0.0/8)"))?;
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= bits)
                .ok_or_else(|| format!("'{text}': the prefix must be 0 to {bits}"))?,
        };
        Ok(ProxyNet { address, prefix })
    }
}

impl ProxyNet {
    fn contains(self, ip: IpAddr) -> bool {
        let ip = match ip {
            // A v4 peer on a dual-stack socket shows up as ::ffff:a.b.c.d.
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                same_prefix(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                same_prefix(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn same_prefix(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let (whole, rest) = (usize::from(prefix / 8), prefix % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || (a[whole] ^ b[whole]) >> (8 - rest) == 0
}

/// The configured proxies; none by default.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(pub Vec<ProxyNet>);

impl TrustedProxies {
    /// Whether the request's peer is one of them (`None`: no peer known, not trusted).
    pub fn trust(&self, peer: Option<SocketAddr>) -> bool {
        peer.is_some_and(|peer| self.0.iter().any(|net| net.contains(peer.ip())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies(list.iter().map(|p| p.parse().expect("valid")).collect())
    }

    #[test]
    fn only_listed_peers_are_trusted() {
        let trusted = proxies(&["10.0.0.0/8", "192.168.1.7", "fd00::/8"]);
        let peer = |ip: &str| Some(SocketAddr::new(ip.parse().expect("ip"), 4000));
        assert!(trusted.trust(peer("10.200.3.4")));
        assert!(trusted.trust(peer("192.168.1.7")));
        assert!(trusted.trust(peer("::ffff:10.0.0.1")));
        assert!(trusted.trust(peer("fd12::1")));
        assert!(!trusted.trust(peer("192.168.1.8")));
        assert!(!trusted.trust(peer("11.0.0.1")));
        assert!(!trusted.trust(None));
        assert!(!TrustedProxies::default().trust(peer("127.0.0.1")));
        assert!(proxies(&["10.1.2.0/23"]).trust(peer("10.1.3.255")));
        assert!(!proxies(&["10.1.2.0/23"]).trust(peer("10.1.4.0")));
    }

    #[test]
    fn bad_entries_say_why() {
        assert!("10.0.0.0/33".parse::<ProxyNet>().is_err());
        assert!("proxy.local".parse::<ProxyNet>().is_err());
        assert_eq!("0.0.0.0/0".parse::<ProxyNet>().map(|n| n.prefix), Ok(0));
    }
}
