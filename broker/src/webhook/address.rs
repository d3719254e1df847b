//! Where webhooks may go: never to the co-op's own network. A URL's host
//! is checked when it is set and every address it resolves to is checked
//! again when a request connects (the HTTP client resolves names only
//! through `GuardedResolver`), so a name that later points inside is
//! refused at the moment it would be used.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether a request may go to `ip`: only to public unicast addresses, and
/// to loopback ones when insecure webhooks are allowed (development).
pub fn permitted(ip: IpAddr, allow_loopback: bool) -> bool {
    match ip {
        IpAddr::V4(ip) => permitted_v4(ip, allow_loopback),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(mapped) => permitted_v4(mapped, allow_loopback),
            None => permitted_v6(ip, allow_loopback),
        },
    }
}

fn permitted_v4(ip: Ipv4Addr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    let [first, second, ..] = ip.octets();
    let shared = first == 100 && (64..128).contains(&second); // RFC 6598
    let benchmarking = first == 198 && (second & 0xfe) == 18; // RFC 2544
    let reserved = first >= 240; // RFC 1112, and the broadcast address
    !(ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_documentation()
        || first == 0
        || shared
        || benchmarking
        || reserved)
}

fn permitted_v6(ip: Ipv6Addr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    let [first, second, ..] = ip.segments();
    let unique_local = (first & 0xfe00) == 0xfc00; // fc00::/7
    let link_local = (first & 0xffc0) == 0xfe80; // fe80::/10
    let site_local = (first & 0xffc0) == 0xfec0; // fec0::/10, deprecated
    let documentation = first == 0x2001 && second == 0x0db8;
    // IPv4 inside IPv6: NAT64 (64:ff9b::/96), 6to4 (2002::/16) and the
    // deprecated IPv4-compatible form (::a.b.c.d) can reach IPv4 hosts.
    let embeds_v4 = first == 0x0064 && second == 0xff9b || first == 0x2002 || first == 0;
    !(ip.is_unspecified()
        || ip.is_multicast()
        || unique_local
        || link_local
        || site_local
        || documentation
        || embeds_v4)
}

/// Why a webhook's address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("the host does not resolve")]
    Unresolved,
    #[error("the host resolves to a private, loopback or link-local address")]
    Internal,
}

/// Resolves `host` and refuses it when any address it has is not
/// permitted (one refused address refuses the name: the client could
/// pick any of them).
pub async fn resolve(host: &str, allow_loopback: bool) -> Result<Vec<SocketAddr>, AddressError> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|_| AddressError::Unresolved)?
        .collect();
    if addresses.is_empty() {
        return Err(AddressError::Unresolved);
    }
    if addresses
        .iter()
        .any(|address| !permitted(address.ip(), allow_loopback))
    {
        return Err(AddressError::Internal);
    }
    Ok(addresses)
}

/// The HTTP client's only resolver: `resolve`, at connect time.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_loopback: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let addresses = resolve(name.as_str(), allow_loopback).await?;
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Checks a URL's host: an address literal against `permitted`, a name by
/// resolving it.
pub async fn check_url(url: &url::Url, allow_loopback: bool) -> Result<(), AddressError> {
    match url.host() {
        Some(url::Host::Ipv4(ip)) if permitted(IpAddr::V4(ip), allow_loopback) => Ok(()),
        Some(url::Host::Ipv6(ip)) if permitted(IpAddr::V6(ip), allow_loopback) => Ok(()),
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => Err(AddressError::Internal),
        Some(url::Host::Domain(name)) => resolve(name, allow_loopback).await.map(drop),
        None => Err(AddressError::Unresolved),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_refused_and_public_ones_permitted() {
        for refused in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "::10.0.0.1",
        ] {
            assert!(!permitted(ip(refused), true), "{refused}");
        }
        for public in [
            "93.184.215.14",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert!(permitted(ip(public), false), "{public}");
        }
    }

    #[test]
    fn loopback_only_when_allowed() {
        for loopback in ["127.0.0.1", "127.255.0.1", "::1", "::ffff:127.0.0.1"] {
            assert!(!permitted(ip(loopback), false), "{loopback}");
            assert!(permitted(ip(loopback), true), "{loopback}");
        }
    }

    #[tokio::test]
    async fn names_are_checked_by_what_they_resolve_to() {
        assert_eq!(
            resolve("localhost", false).await,
            Err(AddressError::Internal)
        );
        assert!(resolve("localhost", true).await.is_ok());
        let literal = url::Url::parse("https://169.254.169.254/hook").unwrap();
        assert_eq!(check_url(&literal, true).await, Err(AddressError::Internal));
        let named = url::Url::parse("https://localhost:8443/hook").unwrap();
        assert_eq!(check_url(&named, false).await, Err(AddressError::Internal));
    }
}
