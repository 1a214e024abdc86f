//! Placeholders for what a network makes differently on every run, for
//! the book's transcripts: the subnet a root's networks got depends on
//! which subnets were already taken on the host at that moment, and bridge
//! and veth names carry random ids.

use super::Network;
use std::net::Ipv4Addr;

/// Replaces, in `text`, the addresses inside `nets`' subnets with `<ip>`
/// (a network address followed by its prefix with `<subnet>`), their MACs
/// with `02:42:<ip>`, bridge names `gbx-…` with `gbx-<net-id>` and veth
/// names `gbxv…` with `gbxv<id>`.
pub fn redact(text: &str, nets: &[Network]) -> String {
    let mut text = text.to_string();
    for n in nets {
        if n.bridge.starts_with("gbx-") {
            text = text.replace(&n.bridge, "gbx-<net-id>");
        }
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let boundary = i == 0 || !(chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '.');
        if boundary
            && chars[i..].starts_with(&['0', '2', ':', '4', '2', ':'])
            && chars.len() >= i + 17
        {
            let mac: String = chars[i + 6..i + 17].iter().collect();
            if mac.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
                out.push_str("02:42:<ip>");
                i += 17;
                continue;
            }
        }
        if boundary && c.is_ascii_digit() {
            let run: String = chars[i..]
                .iter()
                .take_while(|c| c.is_ascii_digit() || **c == '.')
                .collect();
            let trimmed = run.trim_end_matches('.');
            if let Ok(ip) = trimmed.parse::<Ipv4Addr>() {
                if let Some(n) = nets.iter().find(|n| n.subnet.contains(ip)) {
                    let after = i + trimmed.chars().count();
                    let prefix = format!("/{}", n.subnet.prefix);
                    let rest: String = chars[after..].iter().take(prefix.len()).collect();
                    if ip == n.subnet.base && rest == prefix {
                        out.push_str("<subnet>");
                        i = after + prefix.len();
                    } else {
                        out.push_str("<ip>");
                        i = after;
                    }
                    continue;
                }
            }
            out.push_str(&run);
            i += run.chars().count();
            continue;
        }
        if boundary && chars[i..].starts_with(&['g', 'b', 'x', 'v']) && chars.len() >= i + 13 {
            let id: String = chars[i + 4..i + 13].iter().collect();
            if id.chars().all(|c| c.is_ascii_hexdigit()) {
                // A start that found its usual name still taken adds a
                // suffix (see `fresh_host_ends`): it is part of the name.
                let suffix = chars[i + 13..]
                    .iter()
                    .take(2)
                    .take_while(|c| c.is_ascii_hexdigit())
                    .count();
                out.push_str("gbxv<id>");
                i += 13 + suffix;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_macs_and_link_names_of_the_roots_networks_are_redacted() {
        let n = Network {
            name: "bridge".into(),
            id: "0".repeat(64),
            driver: "bridge".into(),
            bridge: "gbx-0123456789".into(),
            subnet: super::super::Subnet::parse("10.67.3.0/24").unwrap(),
            gateway: Some("10.67.3.1".parse().unwrap()),
            internal: false,
            created: String::new(),
        };
        let t = "bridge gbx-0123456789 10.67.3.0/24 via 10.67.3.1, 10.67.3.23/24 mac 02:42:0a:43:03:17 \
                 veth gbxv0123abcd0 host 192.0.2.2 v1.10.67.3.4 gbxv0123abcd0a up";
        assert_eq!(
            redact(t, &[n]),
            "bridge gbx-<net-id> <subnet> via <ip>, <ip>/24 mac 02:42:<ip> \
             veth gbxv<id> host 192.0.2.2 v1.10.67.3.4 gbxv<id> up"
        );
    }
}
