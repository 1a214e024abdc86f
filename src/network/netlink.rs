//! A small synchronous rtnetlink client: the messages `ip link`, `ip addr`
//! and `ip route` send to the kernel, built with `netlink-packet-route` and
//! sent over a `netlink-sys` socket.
//!
//! Why these crates: `rtnetlink` would need an async runtime (tokio) for a
//! handful of request/acknowledge exchanges; `netlink-packet-route` gives
//! typed messages (links, veth peers, bridge ports, addresses, routes) and
//! `netlink-sys` a plain blocking socket, so every call below reads as the
//! one request it is.
//!
//! A socket belongs to the network namespace it was opened in.
//! [`Netlink::in_netns_of`] opens one inside a container's namespace from
//! a short-lived thread that `setns`es there; the socket keeps talking to
//! that namespace after the thread is gone.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

/// One link as the kernel lists it.
#[derive(Debug, Clone)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// `ip link set NAME alias …` text, if any.
    pub alias: Option<String>,
    /// The bridge it is a port of.
    pub controller: Option<u32>,
}

/// One IPv4 route of the main table.
#[derive(Debug, Clone)]
pub struct Route {
    /// Destination network.
    pub destination: Ipv4Addr,
    /// Prefix length.
    pub prefix: u8,
    /// Output interface.
    pub oif: Option<u32>,
}

/// An open rtnetlink socket.
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

impl Netlink {
    /// A socket in this process's network namespace.
    pub fn open() -> io::Result<Netlink> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Netlink { socket, seq: 0 })
    }

    /// A socket in the network namespace where glassbox keeps its bridges:
    /// the host's as root; rootless, the keeper's (see `crate::rootless`),
    /// the one network namespace the user's namespace lets it change.
    pub fn host() -> io::Result<Netlink> {
        match crate::rootless::engine_netns() {
            Some(ns) => Self::in_netns(ns),
            None => Self::open(),
        }
    }

    /// A socket in the network namespace of process `pid`.
    pub fn in_netns_of(pid: i32) -> io::Result<Netlink> {
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
        Self::in_netns(ns)
    }

    /// A socket in the network namespace `ns` (an open `/proc/PID/ns/net`).
    pub fn in_netns(ns: std::fs::File) -> io::Result<Netlink> {
        // setns(CLONE_NEWNET) changes only the calling thread; that thread
        // ends right after opening the socket, which stays in `ns`.
        std::thread::spawn(move || -> io::Result<Netlink> {
            let call = crate::kernel::setns_file(&ns, nix::sched::CloneFlags::CLONE_NEWNET);
            crate::kernel::Kernel::call(&mut crate::kernel::Host, &call)?;
            Netlink::open()
        })
        .join()
        .map_err(|_| io::Error::other("the netns thread panicked"))?
    }

    fn send(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq += 1;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut out = Vec::new();
        loop {
            let (data, _) = self.socket.recv_from_full()?;
            let mut offset = 0;
            while offset < data.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..])
                    .map_err(|e| io::Error::other(format!("bad netlink reply: {e}")))?;
                let len = reply.header.length as usize;
                if len == 0 {
                    return Err(io::Error::other("netlink reply of length 0"));
                }
                offset += len;
                if reply.header.sequence_number != self.seq {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::Error(e) if e.code.is_some() => return Err(e.to_io()),
                    NetlinkPayload::Error(_) if !dump => return Ok(out),
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::InnerMessage(m) => {
                        out.push(m);
                        if !dump && flags & NLM_F_ACK == 0 {
                            return Ok(out);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn change(&mut self, msg: RouteNetlinkMessage) -> io::Result<()> {
        self.send(msg, NLM_F_ACK).map(|_| ())
    }

    fn create(&mut self, msg: RouteNetlinkMessage) -> io::Result<()> {
        self.send(msg, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
            .map(|_| ())
    }

    /// Every link of the namespace.
    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        let msgs = self.send(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_of(l)),
                _ => None,
            })
            .collect())
    }

    /// The link called `name`, if there is one.
    pub fn link(&mut self, name: &str) -> io::Result<Option<Link>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.send(RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(msgs) => Ok(msgs.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_of(l)),
                _ => None,
            })),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn index(&mut self, name: &str) -> io::Result<u32> {
        self.link(name)?
            .map(|l| l.index)
            .ok_or_else(|| io::Error::other(format!("no link named {name}")))
    }

    /// `ip link add NAME type bridge`.
    pub fn add_bridge(&mut self, name: &str) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.create(RouteNetlinkMessage::NewLink(msg))
    }

    /// `ip link add HOST type veth peer name PEER address MAC netns PID`:
    /// the peer is made directly in the namespace `peer_ns` (an open
    /// `/proc/PID/ns/net`).
    pub fn add_veth(
        &mut self,
        host: &str,
        peer: &str,
        peer_mac: [u8; 6],
        peer_ns: &std::fs::File,
    ) -> io::Result<()> {
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.to_string()));
        p.attributes.push(LinkAttribute::Address(peer_mac.to_vec()));
        p.attributes
            .push(LinkAttribute::NetNsFd(peer_ns.as_raw_fd()));
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(host.to_string()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        self.create(RouteNetlinkMessage::NewLink(msg))
    }

    fn set(&mut self, name: &str, edit: impl FnOnce(&mut LinkMessage)) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = self.index(name)?;
        edit(&mut msg);
        self.change(RouteNetlinkMessage::SetLink(msg))
    }

    /// `ip link set NAME up`.
    pub fn set_up(&mut self, name: &str) -> io::Result<()> {
        self.set(name, |m| {
            m.header.flags = LinkFlags::Up;
            m.header.change_mask = LinkFlags::Up;
        })
    }

    /// `ip link set NAME master BRIDGE`.
    pub fn set_controller(&mut self, name: &str, bridge: &str) -> io::Result<()> {
        let b = self.index(bridge)?;
        self.set(name, |m| m.attributes.push(LinkAttribute::Controller(b)))
    }

    /// `ip link set NAME alias TEXT`.
    pub fn set_alias(&mut self, name: &str, alias: &str) -> io::Result<()> {
        let alias = alias.to_string();
        self.set(name, |m| m.attributes.push(LinkAttribute::IfAlias(alias)))
    }

    /// `ip link del NAME`.
    pub fn delete(&mut self, name: &str) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = self.index(name)?;
        self.change(RouteNetlinkMessage::DelLink(msg))
    }

    /// `ip addr add ADDR/PREFIX dev NAME`.
    pub fn add_address(&mut self, name: &str, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.index = self.index(name)?;
        msg.attributes
            .push(AddressAttribute::Local(IpAddr::V4(addr)));
        msg.attributes
            .push(AddressAttribute::Address(IpAddr::V4(addr)));
        let host_bits = if prefix >= 32 { 0 } else { u32::MAX >> prefix };
        msg.attributes
            .push(AddressAttribute::Broadcast(Ipv4Addr::from(
                u32::from(addr) | host_bits,
            )));
        self.create(RouteNetlinkMessage::NewAddress(msg))
    }

    /// `ip route add default via GATEWAY dev NAME`.
    pub fn add_default_route(&mut self, name: &str, gateway: Ipv4Addr) -> io::Result<()> {
        let oif = self.index(name)?;
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        msg.attributes.push(RouteAttribute::Oif(oif));
        self.create(RouteNetlinkMessage::NewRoute(msg))
    }

    /// The IPv4 routes of the main table (`ip -4 route`).
    pub fn routes(&mut self) -> io::Result<Vec<Route>> {
        let mut q = RouteMessage::default();
        q.header.address_family = AddressFamily::Inet;
        let msgs = self.send(RouteNetlinkMessage::GetRoute(q), NLM_F_DUMP)?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r)
                    if r.header.table == RouteHeader::RT_TABLE_MAIN =>
                {
                    let mut dst = Ipv4Addr::UNSPECIFIED;
                    let mut oif = None;
                    for a in &r.attributes {
                        match a {
                            RouteAttribute::Destination(RouteAddress::Inet(d)) => dst = *d,
                            RouteAttribute::Oif(i) => oif = Some(*i),
                            _ => {}
                        }
                    }
                    Some(Route {
                        destination: dst,
                        prefix: r.header.destination_prefix_length,
                        oif,
                    })
                }
                _ => None,
            })
            .collect())
    }
}

fn link_of(l: LinkMessage) -> Link {
    let mut out = Link {
        index: l.header.index,
        name: String::new(),
        alias: None,
        controller: None,
    };
    for a in l.attributes {
        match a {
            LinkAttribute::IfName(n) => out.name = n,
            LinkAttribute::IfAlias(a) => out.alias = Some(a),
            LinkAttribute::Controller(c) => out.controller = Some(c),
            _ => {}
        }
    }
    out
}
