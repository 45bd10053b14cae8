//! The destination policy for URLs a tenant sets (issue 12): webhook and Slack URLs that come
//! through the API are untrusted, so they may not reach the operator's own network — loopback,
//! link-local (cloud metadata services such as `169.254.169.254` and `fd00:ec2::254` included),
//! private and shared (carrier-grade NAT) ranges, and the addresses that are not unicast at all
//! — unless the operator allows a range in `[destinations] allow`.
//!
//! Two checks, both needed:
//! - [`DestinationPolicy::check_url`] when the URL is written (the API answers 422 naming the
//!   class) and again just before each send: a literal address (`http://10.0.0.1/`, also the
//!   spellings `http://0x7f.1/` or `http://[::ffff:127.0.0.1]/`, which the URL parser
//!   normalises) and the `localhost` names are refused without a lookup.
//! - [`GuardedResolver`], the resolver of the tenant HTTP client: a name is resolved at
//!   connect time and only the allowed addresses are handed to the connector, so a name that
//!   resolved to a public address when it was written and to `127.0.0.1` now (DNS rebinding)
//!   still cannot reach an internal service. A name with no allowed address fails with a
//!   [`Refusal`]; the channel reports that as a permanent failure.
//!
//! The tenant client never uses a proxy (a proxy would connect on the client's behalf, past
//! this check) and, like every Lookout HTTP client, never follows redirects.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

/// `[destinations]`: which otherwise refused ranges a tenant's URL may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DestinationPolicy {
    /// Ranges allowed although they are loopback, link-local or private, e.g.
    /// `["10.20.0.0/16"]` for an internal chat server the tenants may post to.
    #[serde(deserialize_with = "nets")]
    pub allow: Vec<IpNet>,
}

fn nets<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    let raw = Vec::<String>::deserialize(d)?;
    raw.iter()
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "invalid range {s:?}: expected an address or CIDR, e.g. \"10.20.0.0/16\""
                    ))
                })
        })
        .collect()
}

/// Why an address is not a public destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// `127.0.0.0/8`, `::1`, and the `localhost` names.
    Loopback,
    /// `169.254.0.0/16`, `fe80::/10`: cloud metadata services live here.
    LinkLocal,
    /// `10/8`, `172.16/12`, `192.168/16`, `fc00::/7` (and the deprecated `fec0::/10`).
    Private,
    /// `100.64.0.0/10`, carrier-grade NAT: private in practice.
    Shared,
    /// `0.0.0.0/8`, `::`: "this host".
    Unspecified,
    /// Multicast and broadcast.
    Multicast,
    /// Reserved, documentation and benchmarking ranges: nothing legitimate listens there.
    Reserved,
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressClass::Loopback => "a loopback address",
            AddressClass::LinkLocal => {
                "a link-local address (where cloud metadata services answer)"
            }
            AddressClass::Private => "a private address",
            AddressClass::Shared => "a shared (carrier-grade NAT) address",
            AddressClass::Unspecified => "an unspecified address",
            AddressClass::Multicast => "a multicast or broadcast address",
            AddressClass::Reserved => "a reserved address",
        })
    }
}

/// A destination the policy refuses: which host, which address, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "destination refused by the destination policy: {host} is {class}{}; an operator can allow a range with [destinations] allow",
    addr.map(|a| format!(" ({a})")).unwrap_or_default()
)]
pub struct Refusal {
    /// The host as written in the URL.
    pub host: String,
    /// The refused address (`None` for a name refused without a lookup, e.g. `localhost`).
    pub addr: Option<IpAddr>,
    /// Why.
    pub class: AddressClass,
}

/// A tenant URL that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlProblem {
    /// Not a URL, or not `http`/`https`, or with no host.
    #[error("{0}")]
    Malformed(String),
    /// The host is refused.
    #[error(transparent)]
    Refused(#[from] Refusal),
}

/// The class of `ip` when it is not a public unicast address; `None` for a public one.
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    let [a, b, c, _] = ip.octets();
    Some(if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_link_local() {
        AddressClass::LinkLocal
    } else if ip.is_private() {
        AddressClass::Private
    } else if a == 100 && (b & 0xc0) == 64 {
        AddressClass::Shared
    } else if a == 0 {
        AddressClass::Unspecified
    } else if ip.is_multicast() || ip.is_broadcast() {
        AddressClass::Multicast
    } else if a >= 240
        || (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 198 && (b & 0xfe) == 18)
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
    {
        AddressClass::Reserved
    } else {
        return None;
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    // Addresses that carry an IPv4 address reach it: judge the IPv4 address. `::ffff:a.b.c.d`
    // (mapped), `::a.b.c.d` (compatible, deprecated), `64:ff9b::/96` (NAT64), `2002::/16` (6to4).
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    if s[..6] == [0; 6] && !(s[6] == 0 && s[7] <= 1) {
        return classify_v4(embedded(s[6], s[7]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return classify_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return classify_v4(embedded(s[1], s[2]));
    }
    Some(if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_unspecified() {
        AddressClass::Unspecified
    } else if (s[0] & 0xffc0) == 0xfe80 {
        AddressClass::LinkLocal
    } else if (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfec0 {
        AddressClass::Private
    } else if ip.is_multicast() {
        AddressClass::Multicast
    } else if (s[0] == 0x2001 && s[1] == 0xdb8) || s[..4] == [0x100, 0, 0, 0] {
        AddressClass::Reserved
    } else {
        return None;
    })
}

/// True for `localhost` and its subdomains (RFC 6761: they resolve to loopback, always).
fn is_localhost_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

impl DestinationPolicy {
    /// `Err` when `addr` (of `host`) is refused and no `allow` range holds it.
    pub fn check_addr(&self, host: &str, addr: IpAddr) -> Result<(), Refusal> {
        let Some(class) = classify(addr) else {
            return Ok(());
        };
        // An IPv4 address written as IPv6 is allowed by an IPv4 range too.
        let as_v4 = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let allowed = self
            .allow
            .iter()
            .any(|net| net.contains(&addr) || as_v4.is_some_and(|v4| net.contains(&v4)));
        if allowed {
            Ok(())
        } else {
            Err(Refusal {
                host: host.to_owned(),
                addr: Some(addr),
                class,
            })
        }
    }

    /// Checks a tenant URL without a lookup: `http`/`https` with a host, no credentials, and
    /// a host that is neither a refused literal address nor a `localhost` name. A name is
    /// checked again, resolved, at connect time ([`GuardedResolver`]).
    pub fn check_url(&self, url: &str) -> Result<(), UrlProblem> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| UrlProblem::Malformed(format!("not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(UrlProblem::Malformed(format!(
                "scheme {:?}: expected http or https",
                parsed.scheme()
            )));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(UrlProblem::Malformed(
                "credentials in the URL: put them in the path or query the receiver expects".into(),
            ));
        }
        match parsed.host() {
            None => Err(UrlProblem::Malformed("no host".into())),
            Some(url::Host::Ipv4(ip)) => Ok(self.check_addr(&ip.to_string(), IpAddr::V4(ip))?),
            Some(url::Host::Ipv6(ip)) => Ok(self.check_addr(&format!("[{ip}]"), IpAddr::V6(ip))?),
            Some(url::Host::Domain(name)) => self.check_name(name).map_err(UrlProblem::from),
        }
    }

    /// `Err` for a `localhost` name, unless loopback is allowed.
    fn check_name(&self, name: &str) -> Result<(), Refusal> {
        if is_localhost_name(name) {
            let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
            return self.check_addr(name, loopback).map_err(|mut r| {
                r.addr = None;
                r
            });
        }
        Ok(())
    }

    /// The allowed addresses among `addrs` (of `host`), or the first refusal when none is.
    pub fn filter(&self, host: &str, addrs: &[IpAddr]) -> Result<Vec<IpAddr>, Refusal> {
        let mut allowed = Vec::new();
        let mut refusal = None;
        for &addr in addrs {
            match self.check_addr(host, addr) {
                Ok(()) => allowed.push(addr),
                Err(r) => {
                    refusal.get_or_insert(r);
                }
            }
        }
        match (allowed.is_empty(), refusal) {
            (true, Some(r)) => Err(r),
            _ => Ok(allowed),
        }
    }
}

/// Resolves a name to addresses: the system resolver, or a fixed table in tests.
pub type Lookup = Arc<
    dyn Fn(String) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>
        + Send
        + Sync,
>;

/// The tenant HTTP client's resolver: resolves at connect time and hands the connector only
/// the addresses the policy allows (see the module documentation).
#[derive(Clone)]
pub struct GuardedResolver {
    policy: Arc<DestinationPolicy>,
    lookup: Lookup,
}

impl fmt::Debug for GuardedResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedResolver")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl GuardedResolver {
    /// A resolver over the system's resolver.
    pub fn new(policy: Arc<DestinationPolicy>) -> GuardedResolver {
        let lookup: Lookup = Arc::new(|name: String| {
            Box::pin(async move {
                let addrs = tokio::net::lookup_host((name.as_str(), 0)).await?;
                Ok(addrs.map(|a| a.ip()).collect())
            })
        });
        GuardedResolver { policy, lookup }
    }

    /// A resolver over `lookup` (tests: a name that resolves to what the test says).
    pub fn with_lookup(policy: Arc<DestinationPolicy>, lookup: Lookup) -> GuardedResolver {
        GuardedResolver { policy, lookup }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let policy = Arc::clone(&self.policy);
        let lookup = Arc::clone(&self.lookup);
        Box::pin(async move {
            policy.check_name(&host)?;
            let addrs = lookup(host.clone()).await?;
            let allowed = policy.filter(&host, &addrs)?;
            let addrs: reqwest::dns::Addrs =
                Box::new(allowed.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The [`Refusal`] somewhere in `err`'s source chain, if the policy is why it failed.
pub fn refusal_in<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refusal> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<Refusal>() {
            return Some(r);
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> Option<AddressClass> {
        match DestinationPolicy::default().check_url(url) {
            Err(UrlProblem::Refused(r)) => Some(r.class),
            Err(UrlProblem::Malformed(m)) => panic!("{url}: malformed: {m}"),
            Ok(()) => None,
        }
    }

    #[test]
    fn every_forbidden_class_is_refused_however_it_is_spelled() {
        use AddressClass::*;
        let table = [
            ("http://127.0.0.1:8080/hook", Loopback),
            ("http://127.9.9.9/", Loopback),
            ("http://0x7f.1/", Loopback),
            ("http://2130706433/", Loopback),
            ("http://[::1]/", Loopback),
            ("http://[::ffff:127.0.0.1]/", Loopback),
            ("http://localhost:9/", Loopback),
            ("http://api.LOCALHOST./", Loopback),
            ("http://169.254.169.254/latest/meta-data/", LinkLocal),
            ("http://[::ffff:a9fe:a9fe]/", LinkLocal),
            ("http://[fe80::1]/", LinkLocal),
            ("http://10.1.2.3/", Private),
            ("http://172.16.0.1/", Private),
            ("http://172.31.255.255/", Private),
            ("http://192.168.1.1/", Private),
            ("http://[fd00:ec2::254]/", Private),
            ("http://[fc00::1]/", Private),
            ("http://[64:ff9b::a00:1]/", Private),
            ("http://[2002:c0a8:101::1]/", Private),
            ("http://100.64.0.1/", Shared),
            ("http://0.0.0.0/", Unspecified),
            ("http://[::]/", Unspecified),
            ("http://224.0.0.1/", Multicast),
            ("http://255.255.255.255/", Multicast),
            ("http://[ff02::1]/", Multicast),
            ("http://240.0.0.1/", Reserved),
            ("http://192.0.2.10/", Reserved),
        ];
        for (url, class) in table {
            assert_eq!(refused(url), Some(class), "{url}");
        }
    }

    #[test]
    fn public_addresses_and_names_pass() {
        for url in [
            "https://hooks.slack.com/services/T0/B0/x",
            "https://8.8.8.8/",
            "http://172.32.0.1/",
            "http://100.128.0.1/",
            "http://[2606:4700::1111]/",
            "https://example.com:8443/a?b=c",
        ] {
            assert_eq!(refused(url), None, "{url}");
        }
    }

    #[test]
    fn malformed_urls_are_named() {
        let p = DestinationPolicy::default();
        for url in [
            "ftp://example.com/",
            "not a url",
            "http://user:pw@example.com/",
        ] {
            assert!(
                matches!(p.check_url(url), Err(UrlProblem::Malformed(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn an_allowed_range_admits_only_itself() {
        let p: DestinationPolicy =
            serde_json::from_str(r#"{"allow": ["127.0.0.0/8", "10.20.0.0/16", "fd12::1"]}"#)
                .unwrap();
        assert_eq!(p.check_url("http://127.0.0.1:9/"), Ok(()));
        assert_eq!(p.check_url("http://[::ffff:127.0.0.1]:9/"), Ok(()));
        assert_eq!(p.check_url("http://localhost:9/"), Ok(()));
        assert_eq!(p.check_url("http://10.20.3.4/"), Ok(()));
        assert_eq!(p.check_url("http://[fd12::1]/"), Ok(()));
        assert!(p.check_url("http://10.21.0.1/").is_err());
        assert!(p.check_url("http://169.254.169.254/").is_err());
        let bad = serde_json::from_str::<DestinationPolicy>(r#"{"allow": ["10.0.0.0/33"]}"#)
            .unwrap_err()
            .to_string();
        assert!(bad.contains("10.0.0.0/33"), "{bad}");
    }

    #[test]
    fn a_name_resolving_to_both_keeps_only_the_public_address() {
        let p = DestinationPolicy::default();
        let public: IpAddr = "93.184.215.14".parse().unwrap();
        let private: IpAddr = "10.0.0.5".parse().unwrap();
        assert_eq!(p.filter("h", &[private, public]), Ok(vec![public]));
        let r = p.filter("h", &[private]).unwrap_err();
        assert_eq!(r.class, AddressClass::Private);
        assert!(
            r.to_string().contains("h is a private address (10.0.0.5)"),
            "{r}"
        );
    }
}
