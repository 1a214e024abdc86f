//! Checks on published and exposed ports, read from the kernel's socket
//! tables: the container's own (`/proc/PID/net/tcp{,6}`, its network
//! namespace seen through its PID 1) and the host's.

use super::{Finding, Subject};
use crate::network::port::sockets::{self, SocketEntry};
use crate::network::port::{Binding, Proto};
use crate::store::container::Status;

/// The port checks of one container.
pub(super) fn check(c: &Subject) -> Vec<Finding> {
    let mut out = Vec::new();
    let status = c.st.observed();
    let asked: Vec<&Binding> =
        c.st.ports
            .bindings
            .iter()
            .filter(|b| !b.ipv6_twin)
            .collect();
    match (status, c.st.pid) {
        (Status::Running, Some(pid)) => {
            let tcp: Vec<&Binding> = asked
                .iter()
                .copied()
                .filter(|b| b.proto == Proto::Tcp)
                .collect();
            if !tcp.is_empty() {
                let inside = settled_listeners(c, pid, &tcp);
                for b in tcp {
                    out.extend(listener(c, pid, b, &inside));
                }
            }
            out.extend(exposed(c));
        }
        (Status::Created | Status::Exited | Status::Dead, _) => {
            for b in &asked {
                out.extend(held(c, b));
            }
        }
        _ => {}
    }
    out
}

/// Reads one `/proc` socket table in as few `read(2)` calls as it can:
/// the kernel walks its whole socket hash for every read, whatever the
/// buffer's size, so small reads (std's first probes) cost milliseconds
/// each on a busy host.
fn read_table(path: &str) -> Vec<SocketEntry> {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0;
    while let Ok(n) = f.read(&mut buf[len..]) {
        if n == 0 {
            break;
        }
        len += n;
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
    }
    sockets::parse_table(&String::from_utf8_lossy(&buf[..len]))
}

/// The listening TCP sockets in the network namespace of `pid`: the IPv6
/// table first (a server on `[::]` takes IPv4 too), and the IPv4 table
/// only when some published port is not served on every address yet.
fn listening_inside(pid: i32, tcp: &[&Binding]) -> Vec<SocketEntry> {
    let listening = |v: Vec<SocketEntry>| {
        v.into_iter()
            .filter(|e| e.is_listening(Proto::Tcp))
            .collect::<Vec<_>>()
    };
    let mut out = listening(read_table(&format!("/proc/{pid}/net/tcp6")));
    let served = |out: &[SocketEntry], b: &Binding| {
        out.iter()
            .any(|e| e.local_port == b.container_port && !e.local_ip.is_loopback())
    };
    if !tcp.iter().all(|b| served(&out, b)) {
        let mut v4 = listening(read_table(&format!("/proc/{pid}/net/tcp")));
        v4.append(&mut out);
        out = v4;
    }
    out
}

/// A server started a moment ago may not listen yet: while the container
/// is younger than this and a published port has no listener at all, the
/// tables are read again.
const GRACE_MS: i64 = 2000;

/// The listeners inside, read again every 50 ms while the container is
/// younger than [`GRACE_MS`] and some published port has none.
fn settled_listeners(c: &Subject, pid: i32, tcp: &[&Binding]) -> Vec<SocketEntry> {
    let started =
        c.st.started_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    loop {
        let inside = listening_inside(pid, tcp);
        let all_heard = tcp
            .iter()
            .all(|b| inside.iter().any(|e| e.local_port == b.container_port));
        let young = started.is_some_and(|s| {
            (chrono::Utc::now() - s.with_timezone(&chrono::Utc)).num_milliseconds() < GRACE_MS
        });
        if all_heard || !young {
            return inside;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn tables(pid: i32) -> String {
    format!("/proc/{pid}/net/tcp{{,6}}")
}

fn fix_cmd(c: &Subject, rest: &str) -> String {
    format!(
        "glassbox rm -f {} && glassbox run -d --name {} {rest}",
        c.st.name, c.st.name
    )
}

/// The `-p` argument that publishes `b`'s host side (as it was asked for)
/// to `port` of the container.
fn publish_arg(b: &Binding, port: u16) -> String {
    match (b.host_ip.is_unspecified(), b.host_port_spec.is_empty()) {
        (true, true) => format!("{port}"),
        (true, false) => format!("{}:{port}", b.host_port_spec),
        (false, _) => format!("{}:{}:{port}", b.host_ip_text(), b.host_port_spec),
    }
}

/// What listens inside for one published TCP port.
fn listener(c: &Subject, pid: i32, b: &Binding, inside: &[SocketEntry]) -> Option<Finding> {
    let on_port: Vec<&SocketEntry> = inside
        .iter()
        .filter(|e| e.local_port == b.container_port)
        .collect();
    if on_port.iter().any(|e| !e.local_ip.is_loopback()) {
        return None;
    }
    let show = |v: &[&SocketEntry]| {
        v.iter()
            .map(|e| format!("{} LISTEN, socket:[{}]", e.local(), e.inode))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !on_port.is_empty() {
        return Some(Finding {
            code: "port_loopback",
            container: c.st.name.clone(),
            summary: format!(
                "port {} is published, but the server listens on {} inside: only the container itself can reach it",
                b.display(),
                on_port[0].local()
            ),
            evidence: vec![
                format!("{}: {}", tables(pid), show(&on_port)),
                format!(
                    "{}: the host side {} forwards to the container's bridge address, port {}, not to its 127.0.0.1",
                    c.dir.join("state.json").display(),
                    b.host_addr().map(|a| a.to_string()).unwrap_or_else(|| b.host_port_spec.clone()),
                    b.container_port
                ),
            ],
            fix: format!(
                "make the server listen on 0.0.0.0:{} (e.g. `httpd -p 0.0.0.0:{}`, `--host 0.0.0.0`), then: {}",
                b.container_port,
                b.container_port,
                fix_cmd(c, &format!("-p {} {} ...", publish_arg(b, b.container_port), c.st.image))
            ),
        });
    }
    let others: Vec<&SocketEntry> = inside
        .iter()
        .filter(|e| !e.local_ip.is_loopback())
        .collect();
    match others.first() {
        Some(e) => Some(Finding {
            code: "port_wrong",
            container: c.st.name.clone(),
            summary: format!(
                "port {} is published, but the server listens on port {} inside, not {}",
                b.display(),
                e.local_port,
                b.container_port
            ),
            evidence: vec![format!(
                "{}: nothing listens on port {}; listening: {}",
                tables(pid),
                b.container_port,
                show(&others)
            )],
            fix: fix_cmd(c, &format!("-p {} {} ...", publish_arg(b, e.local_port), c.st.image)),
        }),
        None => Some(Finding {
            code: "port_not_listening",
            container: c.st.name.clone(),
            summary: format!(
                "port {} is published, but nothing listens on port {} inside the container",
                b.display(),
                b.container_port
            ),
            evidence: vec![
                format!(
                    "{}: no listening TCP socket{}",
                    tables(pid),
                    if inside.is_empty() {
                        String::new()
                    } else {
                        format!(" but {}", show(&inside.iter().collect::<Vec<_>>()))
                    }
                ),
                format!(
                    "{}: PID 1 runs `{}`",
                    c.dir.join("config.json").display(),
                    super::shell_words(&super::command_of(c.dir))
                ),
            ],
            fix: format!(
                "start the server in the container (see `glassbox logs {}`), listening on 0.0.0.0:{}",
                c.st.name, b.container_port
            ),
        }),
    }
}

/// The image's EXPOSEd ports that `run` did not publish.
fn exposed(c: &Subject) -> Vec<Finding> {
    let bound: Vec<String> = c.st.ports.bindings.iter().map(|b| b.key()).collect();
    c.st
        .ports
        .exposed
        .iter()
        .filter(|e| !bound.contains(e))
        .map(|e| {
            let port = e.split('/').next().unwrap_or(e);
            Finding {
                code: "exposed_unpublished",
                container: c.st.name.clone(),
                summary: format!(
                    "the image {} EXPOSEs {e}, but the container publishes no host port for it: EXPOSE only documents",
                    c.st.image
                ),
                evidence: vec![format!(
                    "{}: ports.exposed has {e}, ports.bindings has {}",
                    c.dir.join("state.json").display(),
                    if bound.is_empty() { "none".to_string() } else { bound.join(", ") }
                )],
                fix: fix_cmd(c, &format!("-p 8080:{port} {}   # or -P for every EXPOSEd port", c.st.image)),
            }
        })
        .collect()
}

/// A published host port of a stopped container that another process of
/// the host holds now (its next start would fail).
fn held(c: &Subject, b: &Binding) -> Option<Finding> {
    let port = match b.candidates().as_slice() {
        [one] => *one,
        _ => return None,
    };
    let table = sockets::table(b.proto, None);
    let entry = table.iter().find(|e| {
        e.local_port == port
            && e.is_listening(b.proto)
            && (b.host_ip.is_unspecified()
                || e.local_ip.is_unspecified()
                || std::net::IpAddr::V4(e.local_ip) == b.host_ip)
    })?;
    let holder = sockets::holders(entry.inode).into_iter().next()?;
    // A container of this store: its supervisor (which forwards its
    // published ports) or its PID 1 (a server on `--network host`).
    let owner = c.all.iter().map(|(_, st)| st).find(|st| {
        st.id != c.st.id && (st.shim_pid == Some(holder.pid) || st.pid == Some(holder.pid))
    });
    let table_line = format!(
        "/proc/net/{}{{,6}}: {} LISTEN, socket:[{}]",
        b.proto.as_str(),
        entry.local(),
        entry.inode
    );
    let mut evidence = vec![table_line];
    let (holder_text, fix) = match owner {
        Some(o) => {
            let (role, short) = if o.shim_pid == Some(holder.pid) {
                (
                    "the supervisor that forwards its published ports",
                    "its supervisor",
                )
            } else {
                (
                    "its PID 1, on the host's network",
                    "its PID 1 on the host's network",
                )
            };
            evidence.push(format!(
                "/proc/{}/fd: holds socket:[{}]; pid {} is {role}: container {} ({})",
                holder.pid,
                entry.inode,
                holder.pid,
                o.name,
                &o.id[..o.id.len().min(12)]
            ));
            (
                format!("the container {} ({short}, pid {})", o.name, holder.pid),
                format!(
                    "glassbox stop {}   # then `glassbox start {}`; or publish another host port: {}",
                    o.name,
                    c.st.name,
                    fix_cmd(
                        c,
                        &format!("-p {}:{} {} ...", port + 1, b.container_port, c.st.image)
                    )
                ),
            )
        }
        None => {
            evidence.push(format!(
                "/proc/{}/fd: holds socket:[{}]; /proc/{}/comm: {}; cmdline: {}",
                holder.pid, entry.inode, holder.pid, holder.comm, holder.cmdline
            ));
            (
                format!("{} (pid {})", holder.comm, holder.pid),
                fix_cmd(
                    c,
                    &format!(
                        "-p {}:{} {} ...   # another host port (or stop pid {})",
                        port + 1,
                        b.container_port,
                        c.st.image,
                        holder.pid
                    ),
                ),
            )
        }
    };
    if let Some(err) = &c.st.error {
        evidence.push(format!(
            "{}: error: {err}",
            c.dir.join("state.json").display()
        ));
    }
    Some(Finding {
        code: "host_port_held",
        container: c.st.name.clone(),
        summary: format!(
            "it publishes host port {port}/{}, which {holder_text} holds now: it cannot start until that port is free",
            b.proto.as_str(),
        ),
        evidence,
        fix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::port::PortState;

    fn binding(spec: &str) -> Binding {
        PortState::from_args(
            &[spec.into()],
            false,
            vec![],
            crate::network::port::Driver::Proxy,
        )
        .unwrap()
        .bindings
        .remove(0)
    }

    #[test]
    fn the_fix_publishes_the_host_side_as_it_was_asked_for() {
        assert_eq!(
            publish_arg(&binding("127.0.0.1::80"), 8000),
            "127.0.0.1::8000"
        );
        assert_eq!(publish_arg(&binding("8080:80"), 8000), "8080:8000");
        assert_eq!(publish_arg(&binding("80"), 8000), "8000");
    }
}
