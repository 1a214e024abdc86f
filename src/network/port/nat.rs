//! `--port-driver nat`: publishing by rewriting packets instead of copying
//! bytes. glassbox keeps its rules in a table of its own, `table ip
//! glassbox`, and never touches another table. Per published port:
//!
//! - `prerouting` (packets arriving from outside this host) and `output`
//!   (packets this host sends itself, curl on 127.0.0.1 included): a packet
//!   to HOSTPORT on a local address gets its destination rewritten (DNAT) to
//!   `container_ip:port`; conntrack rewrites the answers back.
//! - `postrouting`: a packet that came from 127.0.0.1 and now leaves through
//!   the bridge gets the bridge's address as its source (masquerade), or the
//!   container would answer to its own loopback. The kernel only lets such a
//!   packet onto the bridge at all when `route_localnet` is on there; it is
//!   turned on with the first rule and restored when the last rule goes.
//!
//! Every rule carries the comment `glassbox <ID12> ...`, so a container's
//! rules are found (by handle) and deleted without touching anyone else's.

use super::spec::{Binding, Proto};
use super::PortError;
use crate::trace::{self, Kind};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The nft table glassbox owns.
pub const TABLE: &str = "ip glassbox";

/// Where the value `route_localnet` had before glassbox changed it is kept
/// (one file per bridge; /run is emptied at boot, as sysctls are).
fn saved_dir() -> PathBuf {
    PathBuf::from("/run/glassbox-nat")
}

/// One rule: its chain and its text (`nft add rule ip glassbox CHAIN TEXT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// prerouting, output or postrouting.
    pub chain: &'static str,
    /// The rule as nft prints it.
    pub text: String,
}

/// The comment that marks a container's rules.
pub fn tag(id: &str) -> String {
    format!("glassbox {}", &id[..id.len().min(12)])
}

/// The rules that publish `bindings` of container `id` at `target`, whose
/// network is the bridge `bridge`.
pub fn rules(id: &str, bindings: &[Binding], target: Ipv4Addr, bridge: &str) -> Vec<Rule> {
    let mut out = Vec::new();
    for b in bindings {
        let Some(hp) = b.host_port else { continue };
        // `table ip` holds IPv4 rules only.
        if b.host_ip.is_ipv6() {
            continue;
        }
        let p = b.proto.as_str();
        let comment = format!("{} {}:{}->{}", tag(id), b.host_ip, hp, b.key());
        let dst = if b.host_ip.is_unspecified() {
            "fib daddr type local".to_string()
        } else {
            format!("ip daddr {}", b.host_ip)
        };
        let dnat = format!(
            "{dst} {p} dport {hp} dnat to {target}:{} comment \"{comment}\"",
            b.container_port
        );
        out.push(Rule {
            chain: "prerouting",
            text: dnat.clone(),
        });
        out.push(Rule {
            chain: "output",
            text: dnat,
        });
        if b.host_ip.is_unspecified() || b.host_ip.is_loopback() {
            out.push(Rule {
                chain: "postrouting",
                text: format!(
                    "ip saddr 127.0.0.0/8 oifname \"{bridge}\" ip daddr {target} {p} dport {} masquerade comment \"{comment}\"",
                    b.container_port
                ),
            });
        }
    }
    out
}

/// The nft script that makes the table and chains (if missing) and adds
/// `rules`: one transaction, applied whole or not at all.
pub fn add_script(rules: &[Rule]) -> String {
    let mut s = String::from(
        "table ip glassbox {\n\
         \tchain prerouting { type nat hook prerouting priority dstnat; policy accept; }\n\
         \tchain output { type nat hook output priority -100; policy accept; }\n\
         \tchain postrouting { type nat hook postrouting priority srcnat; policy accept; }\n\
         }\n",
    );
    for r in rules {
        s.push_str(&format!("add rule {TABLE} {} {}\n", r.chain, r.text));
    }
    s
}

fn nft(args: &[&str], stdin: Option<&str>) -> Result<String, PortError> {
    let mut cmd = Command::new("nft");
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            PortError::NftMissing
        } else {
            PortError::Nft {
                what: format!("nft {}", args.join(" ")),
                why: e.to_string(),
            }
        }
    })?;
    if let (Some(text), Some(mut w)) = (stdin, child.stdin.take()) {
        let _ = w.write_all(text.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| PortError::Nft {
        what: format!("nft {}", args.join(" ")),
        why: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(PortError::Nft {
            what: format!("nft {}", args.join(" ")),
            why: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Checks a script without applying it (`nft -c -f -`).
pub fn check_script(script: &str) -> Result<(), PortError> {
    nft(&["-c", "-f", "-"], Some(script)).map(|_| ())
}

/// The table as `nft list table ip glassbox` prints it (`None` when it does
/// not exist).
pub fn list_table() -> Option<String> {
    nft(&["list", "table", "ip", "glassbox"], None).ok()
}

/// Serialises changes to the table and the saved sysctl across glassbox
/// processes.
fn lock() -> Option<std::fs::File> {
    let _ = std::fs::create_dir_all(saved_dir());
    let f = std::fs::File::create(saved_dir().join("lock")).ok()?;
    f.lock().ok()?;
    Some(f)
}

fn localnet_path(bridge: &str) -> PathBuf {
    PathBuf::from(format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"))
}

/// Installs the DNAT rules of container `id`; every rule is an event.
pub fn install(
    id: &str,
    bindings: &[Binding],
    target: Ipv4Addr,
    bridge: &str,
) -> Result<Vec<Rule>, PortError> {
    let rules = rules(id, bindings, target, bridge);
    if rules.is_empty() {
        return Ok(rules);
    }
    let _l = lock();
    let hairpin = rules.iter().any(|r| r.chain == "postrouting");
    if hairpin {
        enable_localnet(bridge)?;
    }
    let mut s = trace::step(Kind::Port, "dnat", format!("container {}", &id[..12]))
        .field("table", TABLE)
        .field(
            "rules",
            rules
                .iter()
                .map(|r| format!("{} {}", r.chain, r.text))
                .collect::<Vec<_>>(),
        )
        .field("target", target.to_string())
        .field("bridge", bridge)
        .field(
            "ipv6",
            "not published: the nat driver writes IPv4 rules only (table ip glassbox); the proxy driver also answers on [::]",
        )
        .equivalent("nft list table ip glassbox")
        .syscall("netlink(NFNL_SUBSYS_NFTABLES)")
        .announce()?;
    let r = nft(&["-f", "-"], Some(&add_script(&rules)));
    if r.is_err() && hairpin {
        drop(_l);
        let _ = remove(id, bridge);
    }
    s.field(
        "ports",
        bindings.iter().map(Binding::display).collect::<Vec<_>>(),
    );
    s.finish_with(r)?;
    Ok(rules)
}

fn enable_localnet(bridge: &str) -> Result<(), PortError> {
    let path = localnet_path(bridge);
    let old = std::fs::read_to_string(&path)
        .map(|s| s.trim().to_string())
        .map_err(|e| PortError::Nft {
            what: format!("reading {}", path.display()),
            why: e.to_string(),
        })?;
    if old == "1" {
        return Ok(());
    }
    let s = trace::step(Kind::Port, "route_localnet", format!("bridge {bridge}"))
        .field("path", path.display().to_string())
        .field("was", &old)
        .field("now", "1")
        .equivalent(format!("sysctl -w net.ipv4.conf.{bridge}.route_localnet=1"))
        .announce()?;
    let saved = saved_dir().join(format!("route_localnet.{bridge}"));
    let r = std::fs::write(&saved, &old)
        .and_then(|_| std::fs::write(&path, "1"))
        .map_err(|e| PortError::Nft {
            what: format!("writing {}", path.display()),
            why: e.to_string(),
        });
    s.finish_with(r)
}

fn restore_localnet() {
    let Ok(dir) = std::fs::read_dir(saved_dir()) else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(bridge) = name.strip_prefix("route_localnet.") else {
            continue;
        };
        let old = std::fs::read_to_string(e.path()).unwrap_or_else(|_| "0".into());
        let path = localnet_path(bridge);
        if path.exists() {
            let _ = trace::cleanup(Kind::Port, "route_localnet", format!("bridge {bridge}"))
                .field("path", path.display().to_string())
                .field("was", "1")
                .field("now", old.trim())
                .equivalent(format!(
                    "sysctl -w net.ipv4.conf.{bridge}.route_localnet={}",
                    old.trim()
                ))
                .announce()
                .map(|s| s.finish_with(std::fs::write(&path, old.trim())));
        }
        let _ = std::fs::remove_file(e.path());
    }
}

/// A rule read back from the table: its chain, handle and comment.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The chain.
    pub chain: String,
    /// nft's handle (what `delete rule` takes).
    pub handle: u64,
    /// The comment.
    pub comment: String,
}

/// The rules in glassbox's table (empty when it does not exist).
pub fn installed() -> Vec<Installed> {
    let Ok(json) = nft(&["-j", "-a", "list", "table", "ip", "glassbox"], None) else {
        return Vec::new();
    };
    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    v["nftables"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|o| {
                    let r = o.get("rule")?;
                    Some(Installed {
                        chain: r["chain"].as_str()?.to_string(),
                        handle: r["handle"].as_u64()?,
                        comment: r["comment"].as_str().unwrap_or_default().to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether container `id` has rules in the table now.
pub fn has_rules(id: &str) -> bool {
    let t = tag(id);
    installed()
        .iter()
        .any(|r| r.comment == t || r.comment.starts_with(&format!("{t} ")))
}

/// Deletes every rule of container `id`; when the table is left empty it
/// goes too, and `route_localnet` gets its old value back. Safe to call
/// when there is nothing to remove.
pub fn remove(id: &str, bridge: &str) -> Result<usize, PortError> {
    let _l = lock();
    let all = installed();
    let t = tag(id);
    let mine: Vec<&Installed> = all
        .iter()
        .filter(|r| r.comment == t || r.comment.starts_with(&format!("{t} ")))
        .collect();
    let mut n = 0;
    if !mine.is_empty() {
        let script: String = mine
            .iter()
            .map(|r| format!("delete rule {TABLE} {} handle {}\n", r.chain, r.handle))
            .collect();
        let s = trace::cleanup(Kind::Port, "unpublish", format!("container {}", &id[..12]))
            .field("driver", "nat")
            .field("table", TABLE)
            .field(
                "rules",
                mine.iter().map(|r| r.comment.clone()).collect::<Vec<_>>(),
            )
            .equivalent(format!(
                "nft delete rule {TABLE} {} handle {}",
                mine[0].chain, mine[0].handle
            ))
            .announce()?;
        s.finish_with(nft(&["-f", "-"], Some(&script)))?;
        n = mine.len();
    }
    if all.len() == n && (n > 0 || list_table().is_some()) {
        let s = trace::cleanup(Kind::Port, "unpublish", "table ip glassbox")
            .field("driver", "nat")
            .field("table", TABLE)
            .equivalent("nft delete table ip glassbox")
            .announce()?;
        s.finish_with(nft(&["delete", "table", "ip", "glassbox"], None))?;
        restore_localnet();
    }
    let _ = bridge;
    Ok(n)
}

/// The rules that publish host port `port` (for `explain port`), each as
/// `CHAIN: RULE` read back from `nft list table ip glassbox`.
pub fn rules_for_port(port: u16, proto: Proto) -> Vec<String> {
    let needle = format!(":{port}->");
    let suffix = format!("/{}\"", proto.as_str());
    let mut chain = String::new();
    let mut out = Vec::new();
    for line in list_table().unwrap_or_default().lines().map(str::trim) {
        if let Some(c) = line.strip_prefix("chain ") {
            chain = c.trim_end_matches(" {").to_string();
        } else if line.contains(&needle) && line.ends_with(&suffix) {
            out.push(format!("{chain}: {line}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(spec: &str, host: u16) -> Binding {
        let mut b = super::super::spec::parse(spec).unwrap().remove(0);
        b.host_port = Some(host);
        b
    }

    #[test]
    fn rules_dnat_both_ways_and_masquerade_localhost() {
        let id = "0123456789abcdef";
        let r = rules(
            id,
            &[
                binding("8080:80", 8080),
                binding("127.0.0.1:5353:53/udp", 5353),
            ],
            Ipv4Addr::new(10, 88, 0, 2),
            "gbx0",
        );
        let text: Vec<String> = r
            .iter()
            .map(|r| format!("{}: {}", r.chain, r.text))
            .collect();
        insta::assert_snapshot!(text.join("\n"), @r#"
        prerouting: fib daddr type local tcp dport 8080 dnat to 10.88.0.2:80 comment "glassbox 0123456789ab 0.0.0.0:8080->80/tcp"
        output: fib daddr type local tcp dport 8080 dnat to 10.88.0.2:80 comment "glassbox 0123456789ab 0.0.0.0:8080->80/tcp"
        postrouting: ip saddr 127.0.0.0/8 oifname "gbx0" ip daddr 10.88.0.2 tcp dport 80 masquerade comment "glassbox 0123456789ab 0.0.0.0:8080->80/tcp"
        prerouting: ip daddr 127.0.0.1 udp dport 5353 dnat to 10.88.0.2:53 comment "glassbox 0123456789ab 127.0.0.1:5353->53/udp"
        output: ip daddr 127.0.0.1 udp dport 5353 dnat to 10.88.0.2:53 comment "glassbox 0123456789ab 127.0.0.1:5353->53/udp"
        postrouting: ip saddr 127.0.0.0/8 oifname "gbx0" ip daddr 10.88.0.2 udp dport 53 masquerade comment "glassbox 0123456789ab 127.0.0.1:5353->53/udp"
        "#);
    }

    #[test]
    fn the_script_is_valid_nft() {
        if Command::new("nft").arg("--version").output().is_err() {
            eprintln!("nft is not installed; skipping the syntax check");
            return;
        }
        let r = rules(
            "0123456789abcdef",
            &[binding("8080:80", 8080), binding("5353:53/udp", 5353)],
            Ipv4Addr::new(10, 88, 0, 2),
            "gbx0",
        );
        check_script(&add_script(&r)).unwrap();
    }
}
