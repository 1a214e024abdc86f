//! The `http` check: an HTTP GET from the host, the way a student checks a
//! published port with `wget -qO- http://127.0.0.1:8090/`. Only loopback
//! addresses are fetched: lessons never talk to anything off the machine.

use super::Ran;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// GETs `url` (`http://127.0.0.1:PORT/PATH`); the body is the output and
/// the status is 0 for a 2xx answer, 1 for any other answer or failure.
pub fn get(url: &str) -> Ran {
    match fetch(url) {
        Ok((code, body)) => Ran {
            status: if (200..300).contains(&code) { 0 } else { 1 },
            stdout: if (200..300).contains(&code) {
                body
            } else {
                format!("HTTP {code}: {body}")
            },
        },
        Err(e) => Ran {
            status: 1,
            stdout: e,
        },
    }
}

fn fetch(url: &str) -> Result<(u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url} is not an http:// URL"))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let hostport = hostport.replace("localhost", "127.0.0.1");
    let addr: SocketAddr = if hostport.contains(':') {
        hostport.parse()
    } else {
        format!("{hostport}:80").parse()
    }
    .map_err(|_| format!("{url} does not name an address and port"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{url} is not on 127.0.0.1; lessons only fetch from this host"
        ));
    }
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n").as_bytes())
        .map_err(|e| format!("cannot send to {addr}: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .map_err(|e| format!("no answer from {addr}: {e}"))?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    if text.is_empty() {
        return Err(format!("{addr} closed the connection without an answer"));
    }
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("{addr} did not answer HTTP"))?;
    Ok((code, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_on_loopback_is_fetched_and_others_are_refused() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut b = [0u8; 512];
            let _ = c.read(&mut b);
            c.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nopen\n")
                .unwrap();
        });
        let r = get(&format!("http://127.0.0.1:{port}/"));
        assert_eq!((r.status, r.stdout.as_str()), (0, "open\n"));
        assert_eq!(get("http://10.0.0.1:80/").status, 1);
        let gone = get(&format!("http://127.0.0.1:{}/", free_port()));
        assert!(gone.stdout.contains("cannot connect"), "{}", gone.stdout);
    }

    fn free_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }
}
