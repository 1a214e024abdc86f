//! Parsing `-p` exactly as Docker does:
//! `[IP:][HOSTPORT:]CONTAINERPORT[/PROTO]`, where either port may be a range
//! (`8000-8010`), an empty host port means "any free one" (an ephemeral
//! port chosen by the kernel), and the protocol is `tcp` (the default) or
//! `udp`. One `-p` may expand to several [`Binding`]s. The IP may be IPv6
//! in brackets (`[::1]:8080:80`); with no IP at all the proxy driver also
//! publishes on `[::]`, as Docker does ([`Binding::ipv6_twin`]).

use super::PortError;
pub use crate::store::container::{Binding, Proto};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

impl Proto {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }

    /// Parses `tcp` / `udp` (any case).
    pub fn parse(s: &str) -> Result<Proto, PortError> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" | "" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            other => Err(PortError::BadSpec {
                spec: s.to_string(),
                why: format!("protocol {other:?} is not supported; use tcp or udp"),
            }),
        }
    }
}

impl Binding {
    /// `80/tcp`: the key Docker uses for a container port.
    pub fn key(&self) -> String {
        format!("{}/{}", self.container_port, self.proto.as_str())
    }

    /// The host ports this binding may use, first choice first; empty when
    /// any free port will do.
    pub fn candidates(&self) -> Vec<u16> {
        match parse_range(&self.host_port_spec) {
            Ok(Some((a, b))) => (a..=b).collect(),
            _ => Vec::new(),
        }
    }

    /// `0.0.0.0:8080->80/tcp` or `[::]:8080->80/tcp`, as `docker ps` shows
    /// it (the asked-for port before it is bound).
    pub fn display(&self) -> String {
        let host = match self.host_port {
            Some(p) => p.to_string(),
            None => self.host_port_spec.clone(),
        };
        format!("{}:{}->{}", self.host_ip_text(), host, self.key())
    }

    /// The host address as it stands before `:PORT`: `0.0.0.0`, or `[::]`
    /// for IPv6.
    pub fn host_ip_text(&self) -> String {
        match self.host_ip {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
        }
    }

    /// `0.0.0.0:8080` or `[::]:8080`: the bound host address, once bound.
    pub fn host_addr(&self) -> Option<SocketAddr> {
        self.host_port.map(|p| SocketAddr::new(self.host_ip, p))
    }

    /// The `[::]` twin of a binding on every IPv4 address (`-p 8080:80`).
    pub fn twin(&self) -> Binding {
        Binding {
            host_ip: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            host_port: None,
            ipv6_twin: true,
            ..self.clone()
        }
    }
}

/// Parses `A` or `A-B` (empty = `None`).
fn parse_range(s: &str) -> Result<Option<(u16, u16)>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    let port = |p: &str| -> Result<u16, String> {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{p:?} is not a port number (1-65535)")),
        }
    };
    match s.split_once('-') {
        None => {
            let p = port(s)?;
            Ok(Some((p, p)))
        }
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            if b < a {
                return Err(format!("the range {s:?} ends before it starts"));
            }
            Ok(Some((a, b)))
        }
    }
}

/// Parses one `-p` argument into its bindings.
pub fn parse(spec: &str) -> Result<Vec<Binding>, PortError> {
    let bad = |why: String| PortError::BadSpec {
        spec: spec.to_string(),
        why,
    };
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (
            r,
            Proto::parse(p)
                .map_err(|_| bad(format!("protocol {p:?} is not supported; use tcp or udp")))?,
        ),
        None => (spec, Proto::Tcp),
    };
    // An IPv6 address comes in brackets (`[::1]:8080:80`); what follows
    // it has the IPv4 form's shape.
    let (v6, rest) = match rest.strip_prefix('[') {
        Some(r) => {
            let (ip, after) = r
                .split_once(']')
                .ok_or_else(|| bad("the IPv6 address has no closing ']'".into()))?;
            let after = after
                .strip_prefix(':')
                .ok_or_else(|| bad("expected [IPV6]:[HOSTPORT:]CONTAINERPORT[/tcp|/udp]".into()))?;
            let ip = ip
                .parse::<Ipv6Addr>()
                .map_err(|_| bad(format!("{ip:?} is not an IPv6 address")))?;
            (Some(ip), after)
        }
        None => (None, rest),
    };
    // IP:HOST:CONTAINER, HOST:CONTAINER or CONTAINER. An IPv4 address has
    // no colons, so splitting from the right is unambiguous.
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match (v6, parts.as_slice()) {
        (None, [c]) => ("", "", *c),
        (None, [h, c]) | (Some(_), [h, c]) => ("", *h, *c),
        (None, [ip, h, c]) => (*ip, *h, *c),
        _ => {
            return Err(bad(
                "expected [IP:][HOSTPORT:]CONTAINERPORT[/tcp|/udp]".into()
            ))
        }
    };
    let host_ip = match v6 {
        Some(a) => IpAddr::V6(a),
        None if ip.is_empty() => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        None => IpAddr::V4(
            ip.parse::<Ipv4Addr>()
                .map_err(|_| bad(format!("{ip:?} is not an IPv4 address")))?,
        ),
    };
    let container = parse_range(container)
        .map_err(bad)?
        .ok_or_else(|| bad("the container port is missing".into()))?;
    let host_range = parse_range(host).map_err(bad)?;
    let n = (container.1 - container.0) as usize + 1;
    let mut out = Vec::with_capacity(n);
    for (i, cport) in (container.0..=container.1).enumerate() {
        let host_port_spec = match host_range {
            None => String::new(),
            // A single container port may take any free port of a host range.
            Some((a, b)) if n == 1 && a != b => format!("{a}-{b}"),
            Some((a, b)) => {
                let span = (b - a) as usize + 1;
                if span != n {
                    return Err(bad(format!(
                        "the host range has {span} ports but the container range has {n}"
                    )));
                }
                (a + i as u16).to_string()
            }
        };
        out.push(Binding {
            proto,
            container_port: cport,
            host_ip,
            host_port_spec,
            host_port: None,
            ipv6_twin: false,
        });
    }
    Ok(out)
}

/// The bindings of `-P`: every port the image EXPOSEs (`80/tcp`, `53/udp`,
/// `8080`), each on an ephemeral host port on every address.
pub fn publish_all(exposed: &[String]) -> Result<Vec<Binding>, PortError> {
    let mut out = Vec::new();
    for e in exposed {
        for mut b in parse(e)? {
            b.host_port_spec.clear();
            out.push(b);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Binding {
        let mut v = parse(s).unwrap();
        assert_eq!(v.len(), 1, "{s}");
        v.remove(0)
    }

    #[test]
    fn the_forms_docker_accepts() {
        let b = one("80");
        assert_eq!(
            (b.container_port, b.proto, b.host_port_spec.as_str()),
            (80, Proto::Tcp, "")
        );
        assert_eq!(b.host_ip, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert!(!b.ipv6_twin);
        let b = one("8080:80");
        assert_eq!((b.container_port, b.host_port_spec.as_str()), (80, "8080"));
        let b = one("127.0.0.1:5353:53/udp");
        assert_eq!(b.host_ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(
            (b.container_port, b.proto, b.host_port_spec.as_str()),
            (53, Proto::Udp, "5353")
        );
        let b = one("127.0.0.1::80");
        assert_eq!(
            (b.host_ip, b.host_port_spec.as_str()),
            (IpAddr::V4(Ipv4Addr::LOCALHOST), "")
        );
        assert_eq!(one("8080:80/TCP").proto, Proto::Tcp);
        assert_eq!(one("8080:80").display(), "0.0.0.0:8080->80/tcp");
        assert_eq!(one("8080:80").twin().display(), "[::]:8080->80/tcp");
        let b = one("[::1]:8080:80/udp");
        assert_eq!(b.host_ip, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(
            (b.host_port_spec.as_str(), b.container_port, b.proto),
            ("8080", 80, Proto::Udp)
        );
        assert_eq!(b.display(), "[::1]:8080->80/udp");
        assert_eq!(one("[::]::80").host_port_spec, "");
    }

    #[test]
    fn ranges_pair_up_or_pick_one_free_port() {
        let v = parse("8000-8002:80-82").unwrap();
        let pairs: Vec<_> = v
            .iter()
            .map(|b| (b.host_port_spec.clone(), b.container_port))
            .collect();
        assert_eq!(
            pairs,
            [
                ("8000".into(), 80),
                ("8001".into(), 81),
                ("8002".into(), 82)
            ]
        );
        let b = one("8000-8010:80");
        assert_eq!(b.candidates(), (8000..=8010).collect::<Vec<_>>());
        assert_eq!(parse("80-81").unwrap().len(), 2);
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (s, why) in [
            ("8000-8001:80-82", "host range has 2 ports"),
            ("80/sctp", "sctp"),
            ("x:80", "not a port"),
            ("0", "not a port"),
            ("70000", "not a port"),
            ("999.1.1.1:80:80", "not an IPv4"),
            ("[::1:80:80", "closing"),
            ("[::g]:80:80", "not an IPv6"),
            ("[::1]80:80", "expected"),
            ("1:2:3:4", "expected"),
            ("", "missing"),
            ("90-80:90-80", "ends before"),
        ] {
            let e = parse(s).unwrap_err().to_string();
            assert!(e.contains(why), "{s}: {e}");
        }
    }

    #[test]
    fn publish_all_takes_the_exposed_ports() {
        let v = publish_all(&["80/tcp".into(), "53/udp".into()]).unwrap();
        assert_eq!(
            v.iter().map(Binding::key).collect::<Vec<_>>(),
            ["80/tcp", "53/udp"]
        );
        assert!(v.iter().all(|b| b.host_port_spec.is_empty()));
    }
}
