//! A tiny network server for benchmarks and tests, run *inside* a container
//! (`glassbox __bench-sink`, the glassbox binary bind-mounted in): busybox
//! cannot saturate a link, and its `nc` has no UDP.
//!
//! - TCP sink: every connection is read to its end (the bytes are
//!   discarded); then the server writes the byte count as a decimal line and
//!   closes. A client measures throughput by sending N bytes, half-closing,
//!   and reading the count; a connection with no bytes is one "connect".
//! - UDP echo: every datagram goes back to its sender.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};

fn serve_conn(mut s: TcpStream) {
    let mut buf = vec![0u8; 256 << 10];
    let mut total: u64 = 0;
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
    }
    let _ = writeln!(s, "{total}");
}

/// Serves a TCP sink on `tcp` and a UDP echo on `udp` (either optional)
/// until killed.
pub fn serve(tcp: Option<u16>, udp: Option<u16>) -> std::io::Result<()> {
    let mut threads = Vec::new();
    if let Some(p) = udp {
        let u = UdpSocket::bind(("0.0.0.0", p))?;
        threads.push(std::thread::spawn(move || {
            let mut b = vec![0u8; 65536];
            while let Ok((n, from)) = u.recv_from(&mut b) {
                let _ = u.send_to(&b[..n], from);
            }
        }));
    }
    if let Some(p) = tcp {
        let l = TcpListener::bind(("0.0.0.0", p))?;
        for s in l.incoming().flatten() {
            std::thread::spawn(move || serve_conn(s));
        }
    }
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}
