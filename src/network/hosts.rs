//! Names: each container on a bridge network gets its own `/etc/hosts` and
//! `/etc/resolv.conf`, files in its directory bind-mounted over the
//! image's, as Docker does. The hosts file lists the container itself and
//! every peer that holds an address on one of its user-defined networks, by
//! name and `--network-alias`, plus its `--link` aliases (on the default
//! network, as with Docker, peers are known only through `--link`).
//!
//! Why files and not an embedded DNS server: a DNS server needs a process
//! that outlives every `run` (glassbox has no daemon) and a way into each
//! namespace; a file is plain to read (`cat /etc/hosts`), works with every
//! libc, including static busybox, and is exact as long as it is rewritten
//! when a container joins or leaves. Because the files are bind-mounted,
//! they are rewritten *in place* (same inode): a new file renamed over the
//! old one would not be seen through the existing mount.

use super::Endpoint;
use crate::error::IoContext;
use crate::store::container::State;
use crate::trace::{self, Kind};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The hosts file of a container directory.
pub fn hosts_path(dir: &Path) -> PathBuf {
    dir.join("hosts")
}

/// The resolv.conf of a container directory.
pub fn resolv_path(dir: &Path) -> PathBuf {
    dir.join("resolv.conf")
}

fn hostname_of(dir: &Path, st: &State) -> String {
    oci_spec::runtime::Spec::load(dir.join("config.json"))
        .ok()
        .and_then(|s| s.hostname().clone())
        .unwrap_or_else(|| st.id[..12].to_string())
}

/// The text of `me`'s hosts file, given every container of the root.
pub fn render(me: &State, my_dir: &Path, everyone: &[(PathBuf, State)]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "# /etc/hosts of container {}, written by glassbox.\n\
         # Rewritten in place whenever a container joins or leaves one of its networks.\n",
        me.name
    ));
    out.push_str("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    let host = hostname_of(my_dir, me);
    if let Some(first) = me.networks.first() {
        let mut names = vec![host.clone()];
        if me.name != host {
            names.push(me.name.clone());
        }
        out.push_str(&format!("{}\t{}\n", first.ip, names.join(" ")));
    }
    for ep in &me.networks {
        let mut peers: Vec<String> = Vec::new();
        for (_, other) in everyone {
            // Docker's rule: on the default network containers know each
            // other only through --link; user networks give names.
            if other.id == me.id || ep.network == super::DEFAULT_NETWORK {
                continue;
            }
            for o in other.networks.iter().filter(|o| o.network == ep.network) {
                let mut names = vec![other.name.clone()];
                names.extend(o.aliases.iter().filter(|a| **a != other.name).cloned());
                peers.push(format!("{}\t{}\n", o.ip, names.join(" ")));
            }
        }
        if !peers.is_empty() || !ep.aliases.is_empty() {
            out.push_str(&format!("# network {}\n", ep.network));
        }
        if !ep.aliases.is_empty() {
            out.push_str(&format!("{}\t{}\n", ep.ip, ep.aliases.join(" ")));
        }
        for p in peers {
            out.push_str(&p);
        }
        for link in &ep.links {
            let (target, alias) = link.split_once(':').unwrap_or((link, link));
            let found = everyone
                .iter()
                .find(|(_, s)| s.name == target || s.id == target)
                .and_then(|(_, s)| s.networks.iter().find(|o| o.network == ep.network));
            if let Some(o) = found {
                out.push_str(&format!("# --link {link}\n{}\t{alias} {target}\n", o.ip));
            }
        }
    }
    out
}

/// The resolv.conf text: no nameserver, since names come from the hosts
/// file and nothing is routed off the machine; rootless with slirp4netns,
/// its DNS forwarder, 10.0.2.3 (the keeper's way out reaches it).
pub fn resolv_conf() -> String {
    resolv_text(crate::rootless::has_uplink().then_some(crate::rootless::uplink::DNS))
}

fn resolv_text(dns: Option<std::net::Ipv4Addr>) -> String {
    match dns {
        None => "# /etc/resolv.conf written by glassbox.\n\
                 # Container names resolve through /etc/hosts; no DNS server runs and\n\
                 # nothing is routed off this machine, so no nameserver is listed.\n\
                 options ndots:0\n"
            .to_string(),
        Some(ip) => format!(
            "# /etc/resolv.conf written by glassbox (rootless).\n\
             # Container names resolve through /etc/hosts; other names go to\n\
             # slirp4netns's DNS forwarder, which asks the host's resolver.\n\
             nameserver {ip}\n\
             options ndots:0\n"
        ),
    }
}

/// Writes `path` in place: truncate and rewrite the same inode, so a
/// bind mount of it shows the new text.
fn write_in_place(path: &Path, text: &str) -> crate::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)
        .ctx(|| format!("opening {}", path.display()))?;
    f.write_all(text.as_bytes())
        .ctx(|| format!("writing {}", path.display()))
}

/// Writes the hosts file (and resolv.conf when missing) of one container
/// and says so in an event.
pub fn write_for(
    dir: &Path,
    st: &State,
    everyone: &[(PathBuf, State)],
    why: &str,
) -> crate::Result<()> {
    let text = render(st, dir, everyone);
    let path = hosts_path(dir);
    let entries = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    let s = trace::step(Kind::Network, "hosts", format!("/etc/hosts of {}", st.name))
        .field("container", &st.name)
        .field("path", path.display().to_string())
        .field("entries", entries)
        .field("reason", why)
        .field(
            "approach",
            "a hosts file per container, bind-mounted and rewritten in place; no DNS server",
        )
        .equivalent(format!("cat > {} (same inode)", path.display()))
        .syscall("open(O_WRONLY|O_TRUNC), write(2)")
        .announce()?;
    let r = write_in_place(&path, &text).and_then(|_| {
        let rp = resolv_path(dir);
        if rp.exists() {
            Ok(())
        } else {
            write_in_place(&rp, &resolv_conf())
        }
    });
    s.finish_with(r)?;
    Ok(())
}

/// Rewrites the hosts files of the containers that know `who` (a container
/// that joined or left `networks`): those sharing one of its user-defined
/// networks, and those with a `--link` to it. `who` itself is skipped.
pub fn refresh(
    everyone: &[(PathBuf, State)],
    networks: &[&Endpoint],
    who: (&str, &str),
    why: &str,
) -> crate::Result<()> {
    let (id, name) = who;
    for (dir, st) in everyone {
        if st.id == id || !hosts_path(dir).exists() {
            continue;
        }
        let shares = st.networks.iter().any(|e| {
            e.network != super::DEFAULT_NETWORK && networks.iter().any(|n| n.network == e.network)
        });
        let links = st.networks.iter().any(|e| {
            e.links.iter().any(|l| {
                let target = l.split(':').next().unwrap_or(l);
                target == name || target == id
            })
        });
        if shares || links {
            write_for(dir, st, everyone, why)?;
        }
    }
    Ok(())
}
