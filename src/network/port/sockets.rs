//! Who holds a port: the kernel's socket tables (`/proc/net/tcp`,
//! `/proc/net/udp`, or `/proc/PID/net/...` for another network namespace)
//! and the processes whose descriptors point at those sockets — what
//! `ss -ltnup` prints, read the same way it does.

use super::spec::Proto;
use std::net::Ipv4Addr;
use std::path::Path;

/// One IPv4 socket from a `/proc/net/{tcp,udp}` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketEntry {
    /// Local address.
    pub local_ip: Ipv4Addr,
    /// Local port.
    pub local_port: u16,
    /// Remote address.
    pub remote_ip: Ipv4Addr,
    /// Remote port.
    pub remote_port: u16,
    /// The kernel's state number (0x0A = LISTEN for TCP, 0x07 = unconnected UDP).
    pub state: u8,
    /// The socket inode (`socket:[INODE]` in /proc/PID/fd).
    pub inode: u64,
    /// From the IPv6 table (`::` listens on IPv4 too, shown as 0.0.0.0).
    pub v6: bool,
}

impl SocketEntry {
    /// `0.0.0.0:80`, or `[::]:80` for an IPv6 socket.
    pub fn local(&self) -> String {
        if self.v6 && self.local_ip.is_unspecified() {
            format!("[::]:{}", self.local_port)
        } else {
            format!("{}:{}", self.local_ip, self.local_port)
        }
    }
}

impl SocketEntry {
    /// Whether this is a listening TCP socket or a bound, unconnected UDP one.
    pub fn is_listening(&self, proto: Proto) -> bool {
        match proto {
            Proto::Tcp => self.state == 0x0A,
            Proto::Udp => self.state == 0x07,
        }
    }
}

/// A process holding a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Its PID.
    pub pid: i32,
    /// Its command name (`/proc/PID/comm`).
    pub comm: String,
    /// Its command line, words joined by spaces.
    pub cmdline: String,
}

fn hex_addr(s: &str) -> Option<(Ipv4Addr, u16)> {
    let (a, p) = s.split_once(':')?;
    let p = u16::from_str_radix(p, 16).ok()?;
    if a.len() == 32 {
        // IPv6: four 32-bit words, each printed the same way as IPv4's.
        let mut b = [0u8; 16];
        for i in 0..4 {
            let w = u32::from_str_radix(&a[i * 8..i * 8 + 8], 16).ok()?;
            b[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
        }
        let v6 = std::net::Ipv6Addr::from(b);
        if v6.is_unspecified() {
            return Some((Ipv4Addr::UNSPECIFIED, p));
        }
        return Some((v6.to_ipv4_mapped()?, p));
    }
    let a = u32::from_str_radix(a, 16).ok()?;
    // The kernel prints the address's in-memory (network order) word as a
    // native number: its native bytes are the address's bytes.
    Some((Ipv4Addr::from(a.to_ne_bytes()), p))
}

/// Parses the text of a `/proc/net/tcp` or `/proc/net/udp` table.
pub fn parse_table(text: &str) -> Vec<SocketEntry> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (local_ip, local_port) = hex_addr(f.get(1)?)?;
            let (remote_ip, remote_port) = hex_addr(f.get(2)?)?;
            Some(SocketEntry {
                local_ip,
                local_port,
                remote_ip,
                remote_port,
                state: u8::from_str_radix(f.get(3)?, 16).ok()?,
                inode: f.get(9)?.parse().ok()?,
                v6: f.get(1)?.len() > 13,
            })
        })
        .collect()
}

/// The sockets of `proto` that can carry IPv4 (IPv4 ones, and IPv6 ones
/// on `::` or a v4-mapped address) in the network namespace of `pid` (or
/// this process's when `None`).
pub fn table(proto: Proto, pid: Option<i32>) -> Vec<SocketEntry> {
    let base = match pid {
        Some(p) => format!("/proc/{p}/net"),
        None => "/proc/net".to_string(),
    };
    let mut out = Vec::new();
    for suffix in ["", "6"] {
        if let Ok(t) = std::fs::read_to_string(format!("{base}/{}{suffix}", proto.as_str())) {
            out.extend(parse_table(&t));
        }
    }
    out
}

/// The listening sockets on `port` (any address) in this namespace.
pub fn listening_on(proto: Proto, port: u16) -> Vec<SocketEntry> {
    table(proto, None)
        .into_iter()
        .filter(|e| e.local_port == port && e.is_listening(proto))
        .collect()
}

/// The processes with a descriptor on socket `inode` (scans /proc/*/fd, as
/// `ss -p` does).
pub fn holders(inode: u64) -> Vec<Holder> {
    let want = format!("socket:[{inode}]");
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        let holds = fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == want.as_str()));
        if holds {
            out.push(describe(pid));
        }
    }
    out
}

/// The PID's command name and command line.
pub fn describe(pid: i32) -> Holder {
    let base = Path::new("/proc").join(pid.to_string());
    let comm = std::fs::read_to_string(base.join("comm"))
        .unwrap_or_default()
        .trim()
        .to_string();
    let cmdline = std::fs::read(base.join("cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|w| !w.is_empty())
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    Holder { pid, comm, cmdline }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_lines_parse() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n";
        let v = parse_table(text);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].local_ip, Ipv4Addr::LOCALHOST);
        assert_eq!(v[0].local_port, 8080);
        assert!(v[0].is_listening(Proto::Tcp));
        assert_eq!(v[0].inode, 12345);
        let six = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0\n";
        let v = parse_table(six);
        assert_eq!(v[0].local(), "[::]:80");
        assert!(v[0].v6 && v[0].is_listening(Proto::Tcp));
    }

    #[test]
    fn a_listener_of_this_process_is_found_with_its_holder() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let found = listening_on(Proto::Tcp, port);
        assert_eq!(found.len(), 1, "{found:?}");
        let who = holders(found[0].inode);
        assert!(
            who.iter().any(|h| h.pid == std::process::id() as i32),
            "{who:?}"
        );
    }
}
