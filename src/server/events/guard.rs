//! The guard on webhook URLs (server-side request forgery): an endpoint must be `https` and must
//! reach only public addresses — never loopback, private, link-local (cloud metadata at
//! 169.254.169.254), shared, multicast or reserved ones — checked when the endpoint is saved and
//! again at every connection, since a name's addresses can change between the two. Redirects
//! are never followed. `OTPGATE_WEBHOOKS_ALLOW_PRIVATE=true` lets `http` and private addresses
//! through, for endpoints on the operator's own network (and for tests).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use url::Url;

/// The longest URL an endpoint may have.
pub const MAX_URL_LEN: usize = 2_048;

/// What a look-up answers, some time later.
pub type Looking =
    std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;

/// Looks a host name up: its addresses.
pub type Lookup = Arc<dyn Fn(String) -> Looking + Send + Sync>;

/// The system's resolver.
pub fn system_lookup() -> Lookup {
    Arc::new(|host: String| {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|addr| addr.ip())
                .collect())
        })
    })
}

/// Whether an address is one anybody on the internet could reach: not loopback, private,
/// link-local, shared (carrier-grade NAT), documentation, benchmarking, multicast, reserved or
/// unspecified, nor such an IPv4 address inside an IPv6 one.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let private = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (RFC 6598)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking (RFC 2544)
        || a >= 240; // reserved
    !private
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let first = ip.segments()[0];
    let private = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local (fc00::/7)
        || (first & 0xffc0) == 0xfe80 // link-local (fe80::/10)
        || (first & 0xffc0) == 0xfec0 // site-local, deprecated (fec0::/10)
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || first == 0x0100 && ip.segments()[1..4] == [0, 0, 0]; // discard-only (100::/64)
    !private
}

/// The IPv4 address an IPv6 one carries: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::/96`), 6to4 (`2002:a.b.c.d::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..5] == [0; 5]
        && (s[5] == 0xffff || (s[5] == 0 && !ip.is_loopback() && !ip.is_unspecified()))
    {
        return Some(tail);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// The guard, with the operator's setting and a resolver.
#[derive(Clone)]
pub struct UrlGuard {
    allow_private: bool,
    lookup: Lookup,
}

impl std::fmt::Debug for UrlGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlGuard")
            .field("allow_private", &self.allow_private)
            .finish_non_exhaustive()
    }
}

impl UrlGuard {
    pub fn new(allow_private: bool) -> UrlGuard {
        UrlGuard::with_lookup(allow_private, system_lookup())
    }

    /// A guard that resolves names with `lookup` (tests give it names of their own).
    pub fn with_lookup(allow_private: bool, lookup: Lookup) -> UrlGuard {
        UrlGuard {
            allow_private,
            lookup,
        }
    }

    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// The URL's form, without resolving it: absolute, `https` (or `http` when private
    /// addresses are allowed), a host, no user name or password, no fragment, not too long, and
    /// not an IP address that is not public.
    pub fn check_form(&self, text: &str) -> Result<Url, String> {
        if text.len() > MAX_URL_LEN {
            return Err(format!("url: at most {MAX_URL_LEN} characters"));
        }
        let url = Url::parse(text).map_err(|e| format!("url: not an absolute URL ({e})"))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            "http" => {
                return Err(
                    "url: must be https (http only with OTPGATE_WEBHOOKS_ALLOW_PRIVATE)".into(),
                );
            }
            other => return Err(format!("url: must be https, not {other}")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "url: no user name or password in the URL; verify the signature instead".into(),
            );
        }
        if url.fragment().is_some() {
            return Err("url: no fragment (#…)".into());
        }
        match url.host() {
            None => return Err("url: no host".into()),
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip))?,
            Some(url::Host::Domain(_)) => {}
        }
        Ok(url)
    }

    fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        if self.allow_private || is_public(ip) {
            Ok(())
        } else {
            Err(format!(
                "url: {ip} is not a public address (OTPGATE_WEBHOOKS_ALLOW_PRIVATE allows it)"
            ))
        }
    }

    /// The addresses the URL's host may be reached at, now: every one it resolves to must be
    /// public (one private address among public ones refuses the name: which one a connection
    /// would take cannot be told in advance).
    pub async fn addresses(&self, url: &Url) -> Result<Vec<IpAddr>, String> {
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)).map(|()| vec![ip.into()]),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)).map(|()| vec![ip.into()]),
            Some(url::Host::Domain(name)) => self.resolve_name(name).await,
            None => Err("url: no host".into()),
        }
    }

    async fn resolve_name(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        let addresses = (self.lookup)(name.to_owned())
            .await
            .map_err(|e| format!("url: {name} does not resolve ({e})"))?;
        if addresses.is_empty() {
            return Err(format!("url: {name} has no address"));
        }
        for ip in &addresses {
            self.check_ip(*ip)
                .map_err(|_| format!("url: {name} resolves to {ip}, not a public address (OTPGATE_WEBHOOKS_ALLOW_PRIVATE allows it)"))?;
        }
        Ok(addresses)
    }

    /// Checks a URL whole: its form, then where its host resolves.
    pub async fn check(&self, text: &str) -> Result<Url, String> {
        let url = self.check_form(text)?;
        self.addresses(&url).await?;
        Ok(url)
    }
}

/// The guard as the HTTP client's resolver: every connection the client opens goes to an
/// address the guard allowed at that moment (URLs with an IP address skip resolvers: the worker
/// checks those itself before each request).
impl reqwest::dns::Resolve for UrlGuard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.clone();
        Box::pin(async move {
            let addresses = guard
                .resolve_name(name.as_str())
                .await
                .map_err(|reason| -> Box<dyn std::error::Error + Send + Sync> { reason.into() })?;
            let addrs: reqwest::dns::Addrs =
                Box::new(addresses.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup_of(table: &'static [(&'static str, &'static str)]) -> Lookup {
        Arc::new(move |host: String| {
            Box::pin(async move {
                let found: Vec<IpAddr> = table
                    .iter()
                    .filter(|(name, _)| *name == host)
                    .map(|(_, ip)| ip.parse().unwrap())
                    .collect();
                if found.is_empty() {
                    Err(std::io::Error::other("no such host"))
                } else {
                    Ok(found)
                }
            })
        })
    }

    const HOSTS: &[(&str, &str)] = &[
        ("hooks.example.com", "93.184.215.14"),
        ("internal.example.com", "10.0.0.1"),
        ("mixed.example.com", "93.184.215.14"),
        ("mixed.example.com", "192.168.1.20"),
        ("metadata.example.com", "169.254.169.254"),
        ("six.example.com", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"),
        ("mapped.example.com", "::ffff:127.0.0.1"),
    ];

    #[test]
    fn public_and_private_addresses_are_told_apart() {
        let public = [
            "93.184.215.14",
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
            "2a00:1450:4001:80b::200e",
        ];
        let private = [
            "127.0.0.1",
            "127.8.9.10",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.100.100.200",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "::10.0.0.1",
            "100::1",
        ];
        for ip in public {
            assert!(is_public(ip.parse().unwrap()), "{ip} is public");
        }
        for ip in private {
            assert!(!is_public(ip.parse().unwrap()), "{ip} is not public");
        }
    }

    #[tokio::test]
    async fn only_https_to_public_addresses_is_allowed_by_default() {
        let guard = UrlGuard::with_lookup(false, lookup_of(HOSTS));
        assert!(guard.check("https://hooks.example.com/otp").await.is_ok());
        assert!(guard.check("https://six.example.com/otp").await.is_ok());
        assert!(
            guard
                .check("https://93.184.215.14:8443/x?a=1")
                .await
                .is_ok()
        );
        let refused = [
            ("http://hooks.example.com/otp", "must be https"),
            ("https://127.0.0.1/otp", "127.0.0.1 is not a public address"),
            ("http://127.0.0.1/otp", "must be https"),
            (
                "https://169.254.169.254/latest/meta-data/",
                "169.254.169.254 is not a public",
            ),
            ("https://[::1]:8443/", "::1 is not a public address"),
            ("https://[::ffff:7f00:1]/", "is not a public address"),
            ("https://internal.example.com/", "resolves to 10.0.0.1"),
            ("https://mixed.example.com/", "resolves to 192.168.1.20"),
            (
                "https://metadata.example.com/",
                "resolves to 169.254.169.254",
            ),
            (
                "https://mapped.example.com/",
                "resolves to ::ffff:127.0.0.1",
            ),
            ("https://nowhere.example.com/", "does not resolve"),
            (
                "https://user:pass@hooks.example.com/",
                "no user name or password",
            ),
            ("https://hooks.example.com/#frag", "no fragment"),
            ("ftp://hooks.example.com/", "must be https, not ftp"),
            ("file:///etc/passwd", "must be https, not file"),
            ("hooks.example.com/otp", "not an absolute URL"),
            ("", "not an absolute URL"),
        ];
        for (url, reason) in refused {
            let error = guard.check(url).await.expect_err(url);
            assert!(error.contains(reason), "{url}: {error}");
        }
        let long = format!("https://hooks.example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(guard.check(&long).await.unwrap_err().contains("at most"));
    }

    #[tokio::test]
    async fn the_operator_may_allow_http_and_private_addresses() {
        let guard = UrlGuard::with_lookup(true, lookup_of(HOSTS));
        for url in [
            "http://127.0.0.1:8080/hooks",
            "https://internal.example.com/",
            "http://169.254.169.254/",
            "https://[::1]/",
        ] {
            assert!(guard.check(url).await.is_ok(), "{url}");
        }
        // Still refused: other schemes, credentials, names that do not resolve.
        assert!(guard.check("ftp://127.0.0.1/").await.is_err());
        assert!(guard.check("http://u:p@127.0.0.1/").await.is_err());
        assert!(guard.check("https://nowhere.example.com/").await.is_err());
    }

    #[tokio::test]
    async fn as_the_clients_resolver_it_answers_only_public_addresses() {
        use reqwest::dns::Resolve;
        let guard = UrlGuard::with_lookup(false, lookup_of(HOSTS));
        let name = |n: &str| n.parse::<reqwest::dns::Name>().unwrap();
        let found: Vec<_> = guard
            .resolve(name("hooks.example.com"))
            .await
            .expect("public")
            .collect();
        assert_eq!(
            found,
            vec!["93.184.215.14:0".parse::<SocketAddr>().unwrap()]
        );
        assert!(guard.resolve(name("internal.example.com")).await.is_err());
        assert!(guard.resolve(name("mixed.example.com")).await.is_err());
    }
}
