//! IP address management: IPv4 subnets (`10.66.0.0/16`), which addresses
//! of a network are handed out, and to whom.
//!
//! The allocations of a network live in `ROOT/networks/NAME.ipam.json`
//! (address → container id) and change only under the root's network lock
//! (see [`super::store::Lock`]), so two `run`s started at the same moment
//! can never get the same address: each reads the file, takes the lowest
//! free address and writes the file back before the other may look.

use super::NetworkError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// An IPv4 network: a base address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet {
    /// The network address (host bits zero).
    pub base: Ipv4Addr,
    /// Prefix length, 8..=30.
    pub prefix: u8,
}

impl Subnet {
    /// Parses `A.B.C.D/N`; the host bits must be zero.
    pub fn parse(s: &str) -> Result<Subnet, NetworkError> {
        let bad = || NetworkError::BadSubnet(s.to_string());
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let base: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&prefix) {
            return Err(bad());
        }
        let sn = Subnet { base, prefix };
        if u32::from(base) & !sn.mask() != 0 {
            return Err(bad());
        }
        Ok(sn)
    }

    /// The netmask as a number.
    pub fn mask(&self) -> u32 {
        u32::MAX << (32 - self.prefix as u32)
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.base)
    }

    /// Whether the two share any address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        let m = self.mask() & other.mask();
        u32::from(self.base) & m == u32::from(other.base) & m
    }

    /// The first usable address (Docker's and podman's default gateway).
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) + 1)
    }

    /// The broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) | !self.mask())
    }

    /// Whether `ip` may be given to a container or gateway: inside, and
    /// neither the network nor the broadcast address.
    pub fn usable(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && ip != self.base && ip != self.broadcast()
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

impl TryFrom<String> for Subnet {
    type Error = NetworkError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Subnet::parse(&s)
    }
}

impl From<Subnet> for String {
    fn from(s: Subnet) -> String {
        s.to_string()
    }
}

/// The addresses handed out on one network: address → container id.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Allocations {
    /// Who holds which address.
    pub addresses: BTreeMap<Ipv4Addr, String>,
}

impl Allocations {
    /// Gives `owner` the address `wanted`, or the lowest free one; the
    /// gateway, the network and the broadcast address are never handed out.
    pub fn allocate(
        &mut self,
        network: &str,
        subnet: Subnet,
        gateway: Option<Ipv4Addr>,
        owner: &str,
        wanted: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr, NetworkError> {
        let free = |ip: Ipv4Addr| {
            subnet.usable(ip) && Some(ip) != gateway && !self.addresses.contains_key(&ip)
        };
        let ip = match wanted {
            Some(ip) if !subnet.contains(ip) => {
                return Err(NetworkError::AddressOutside(ip, network.into(), subnet))
            }
            Some(ip) if !free(ip) => {
                return Err(NetworkError::AddressTaken {
                    ip,
                    network: network.into(),
                    holder: self
                        .addresses
                        .get(&ip)
                        .map(|o| o[..12.min(o.len())].to_string()),
                })
            }
            Some(ip) => ip,
            None => {
                let first = u32::from(subnet.base) + 1;
                let last = u32::from(subnet.broadcast());
                (first..last)
                    .map(Ipv4Addr::from)
                    .find(|ip| free(*ip))
                    .ok_or_else(|| NetworkError::Exhausted(network.into(), subnet))?
            }
        };
        self.addresses.insert(ip, owner.to_string());
        Ok(ip)
    }

    /// Returns every address `owner` holds to the pool; the addresses freed.
    pub fn release(&mut self, owner: &str) -> Vec<Ipv4Addr> {
        let gone: Vec<Ipv4Addr> = self
            .addresses
            .iter()
            .filter(|(_, o)| o.as_str() == owner)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in &gone {
            self.addresses.remove(ip);
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_compare() {
        let a = Subnet::parse("10.66.0.0/16").unwrap();
        assert!(a.contains("10.66.3.4".parse().unwrap()));
        assert!(!a.contains("10.67.0.1".parse().unwrap()));
        assert_eq!(a.first_host().to_string(), "10.66.0.1");
        assert_eq!(a.broadcast().to_string(), "10.66.255.255");
        assert!(a.overlaps(&Subnet::parse("10.66.7.0/24").unwrap()));
        assert!(!a.overlaps(&Subnet::parse("10.67.7.0/24").unwrap()));
        assert!(Subnet::parse("10.66.0.1/16").is_err());
        assert!(Subnet::parse("10.66.0.0").is_err());
        assert!(Subnet::parse("10.66.0.0/31").is_err());
    }

    #[test]
    fn addresses_are_never_handed_out_twice_and_come_back() {
        let s = Subnet::parse("10.1.2.0/29").unwrap();
        let gw = Some(s.first_host());
        let mut a = Allocations::default();
        let got: Vec<_> = (0..5)
            .map(|i| a.allocate("n", s, gw, &format!("c{i}"), None).unwrap())
            .collect();
        let names: Vec<String> = got.iter().map(|i| i.to_string()).collect();
        assert_eq!(
            names,
            ["10.1.2.2", "10.1.2.3", "10.1.2.4", "10.1.2.5", "10.1.2.6"]
        );
        assert!(matches!(
            a.allocate("n", s, gw, "c9", None),
            Err(NetworkError::Exhausted(..))
        ));
        assert_eq!(
            a.release("c1"),
            vec!["10.1.2.3".parse::<Ipv4Addr>().unwrap()]
        );
        assert_eq!(
            a.allocate("n", s, gw, "c9", None).unwrap().to_string(),
            "10.1.2.3"
        );
        assert!(matches!(
            a.allocate("n", s, gw, "c10", Some("10.1.2.2".parse().unwrap())),
            Err(NetworkError::AddressTaken { .. })
        ));
        assert!(matches!(
            a.allocate("n", s, gw, "c10", Some("10.9.9.9".parse().unwrap())),
            Err(NetworkError::AddressOutside(..))
        ));
    }
}
