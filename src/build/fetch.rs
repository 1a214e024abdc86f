//! ADD from an http(s) URL: download the file with a small HTTP client
//! (ureq), hash it while writing, check `--checksum=sha256:…`, and give it
//! the mtime of the `Last-Modified` header as Docker does. The layer packer
//! then clamps every mtime to SOURCE_DATE_EPOCH (default 0), so the layer is
//! reproducible whatever the server says; with a later SOURCE_DATE_EPOCH
//! the server's time shows through. The cache key is the file's content
//! hash (or the `--checksum`, which lets a rebuild hit the cache without
//! downloading at all). The file gets mode 0600, as Docker gives remote
//! files, unless `--chmod`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::trace::{self, Kind};

/// A downloaded file.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Where it was written.
    pub path: PathBuf,
    /// `sha256:` of its bytes.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// `Last-Modified`, as seconds since the epoch, when the server sent it.
    pub last_modified: Option<i64>,
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered with an error status.
    #[error("GET {url} answered {status} {text}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// Its reason phrase.
        text: String,
    },
    /// No answer (connection refused, DNS, TLS, timeout).
    #[error("GET {url} failed: {reason}")]
    Transport {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The bytes do not have the digest `--checksum` promised.
    #[error("{url} has digest {got}, but --checksum says {want}")]
    Checksum {
        /// The URL.
        url: String,
        /// The digest asked for.
        want: String,
        /// The digest of what came.
        got: String,
    },
    /// Writing the file failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Whether an ADD source is a URL to download.
pub fn is_url(src: &str) -> bool {
    src.starts_with("http://") || src.starts_with("https://")
}

/// The file name a URL gives when ADD's destination is a directory: the
/// last segment of its path (query and fragment left out).
pub fn file_name(url: &str) -> Option<String> {
    let no_scheme = url.split_once("://").map(|x| x.1).unwrap_or(url);
    let path = no_scheme.split(['?', '#']).next().unwrap_or("");
    let (_, path) = path.split_once('/')?;
    let last = path.rsplit('/').next().unwrap_or("");
    (!last.is_empty() && last != "." && last != "..").then(|| last.to_string())
}

/// Checks a `--checksum` value: `sha256:` and 64 hex digits.
pub fn parse_checksum(v: &str) -> Option<String> {
    let hex = v.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("sha256:{}", hex.to_ascii_lowercase()))
}

/// Downloads `url` to `dir/name`, checking `checksum` when given.
pub fn fetch(
    url: &str,
    dir: &Path,
    name: &str,
    checksum: Option<&str>,
) -> Result<Fetched, FetchError> {
    let path = dir.join(name);
    let mut s = trace::step(Kind::Build, "fetch", url.to_string())
        .field("url", url)
        .field("checksum", checksum.unwrap_or(""))
        .equivalent(format!("curl -fsSL -o {} {url}", path.display()))
        .announce()
        .map_err(|e| FetchError::Transport {
            url: url.into(),
            reason: e.to_string(),
        })?;
    let r = download(url, &path, checksum);
    match &r {
        Ok(f) => {
            s.field("digest", &f.digest)
                .field("size", f.size)
                .field("last_modified", f.last_modified);
            s.done();
        }
        Err(e) => s.failed(e),
    }
    r
}

fn download(url: &str, path: &Path, checksum: Option<&str>) -> Result<Fetched, FetchError> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(300))
        .redirects(5)
        .build();
    let resp = match agent.get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(status, r)) => {
            return Err(FetchError::Status {
                url: url.into(),
                status,
                text: r.status_text().to_string(),
            })
        }
        Err(e) => {
            return Err(FetchError::Transport {
                url: url.into(),
                reason: e.to_string(),
            })
        }
    };
    let last_modified = resp
        .header("Last-Modified")
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
        .map(|t| t.timestamp());
    let io = |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut out = std::fs::File::create(path).map_err(io)?;
    let mut reader = resp.into_reader();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(FetchError::Transport {
                    url: url.into(),
                    reason: e.to_string(),
                })
            }
        };
        h.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(io)?;
        size += n as u64;
    }
    out.sync_all().map_err(io)?;
    let digest = format!("sha256:{}", hex::encode(h.finalize()));
    if let Some(want) = checksum {
        if want != digest {
            return Err(FetchError::Checksum {
                url: url.into(),
                want: want.into(),
                got: digest,
            });
        }
    }
    if let Some(t) = last_modified {
        let tv = nix::sys::time::TimeSpec::new(t, 0);
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            path,
            &tv,
            &tv,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| io(std::io::Error::from(e)))?;
    }
    Ok(Fetched {
        path: path.to_path_buf(),
        digest,
        size,
        last_modified,
    })
}

/// ADD's URL sources, downloaded (or waiting to be, when `--checksum`
/// already gives the cache key) into a directory of their own.
pub(super) struct UrlSources {
    /// Where the files go.
    pub(super) dir: super::sweep::TempDir,
    /// (URL, file name, content digest or checksum).
    pub(super) files: Vec<(String, String, String)>,
    /// Downloads still to do (only with `--checksum`).
    pending: Vec<(String, String)>,
}

impl UrlSources {
    /// Downloads what is still pending, checking `checksum`.
    pub(super) fn download_pending(&self, checksum: Option<&str>) -> Result<(), FetchError> {
        for (url, name) in &self.pending {
            let f = fetch(url, self.dir.path(), name, checksum)?;
            set_remote_mode(&f.path)?;
        }
        Ok(())
    }
}

/// Docker gives downloaded files mode 0600 (before `--chmod`).
fn set_remote_mode(path: &Path) -> Result<(), FetchError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
        FetchError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

impl super::exec::Builder<'_> {
    /// Checks ADD's URL sources and downloads them now, unless a
    /// `--checksum` lets the cache decide first. `None` when there are none.
    pub(super) fn url_sources(
        &self,
        urls: &[(String, usize)],
        others: &[(String, usize)],
        heredocs: &[(String, String, usize)],
        from: bool,
        checksum: Option<&(String, usize)>,
        dest: &str,
    ) -> crate::Result<Option<UrlSources>> {
        if urls.is_empty() {
            if let Some((_, pos)) = checksum {
                return Err(self.err(
                    *pos,
                    "ChecksumLocal",
                    "--checksum applies only to ADD of a URL".into(),
                    Some(
                        "a file from the context is already hashed for the cache; drop the flag"
                            .into(),
                    ),
                ));
            }
            return Ok(None);
        }
        let pos = urls[0].1;
        if !others.is_empty() || !heredocs.is_empty() || from {
            return Err(self.err(
                pos,
                "AddUrlMixed",
                "ADD mixes a URL with other sources".into(),
                Some("use one ADD per URL and COPY for local files".into()),
            ));
        }
        if checksum.is_some() && urls.len() > 1 {
            return Err(self.err(
                pos,
                "ChecksumMany",
                "--checksum needs exactly one URL".into(),
                Some("split the ADD into one instruction per URL".into()),
            ));
        }
        if urls.len() > 1 && !dest.ends_with('/') {
            return Err(self.err(
                pos,
                "CopyDestination",
                format!(
                    "when adding more than one source, the destination '{dest}' must end with '/'"
                ),
                None,
            ));
        }
        let dir = self.store.tempdir()?;
        let mut out = UrlSources {
            dir,
            files: Vec::new(),
            pending: Vec::new(),
        };
        for (url, upos) in urls {
            let name = match file_name(url) {
                Some(n) => n,
                None if !dest.ends_with('/') => "download".to_string(),
                None => {
                    return Err(self.err(
                        *upos,
                        "AddUrlName",
                        format!("{url} has no file name to use in the directory {dest}"),
                        Some("give a file path as the destination (ADD URL /path/file)".into()),
                    ))
                }
            };
            match checksum {
                Some((c, _)) => {
                    out.files.push((url.clone(), name.clone(), c.clone()));
                    out.pending.push((url.clone(), name));
                }
                None => {
                    let f = fetch(url, out.dir.path(), &name, None)
                        .and_then(|f| set_remote_mode(&f.path).map(|_| f))
                        .map_err(|e| {
                            self.err(
                                *upos,
                                "AddUrl",
                                e.to_string(),
                                Some("check the URL with `wget -S -O- URL`; glassbox downloads from the host's network".into()),
                            )
                        })?;
                    out.files.push((url.clone(), name, f.digest));
                }
            }
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_url_path() {
        assert_eq!(
            file_name("http://127.0.0.1:8080/files/app.tar.gz?x=1").as_deref(),
            Some("app.tar.gz")
        );
        assert_eq!(file_name("https://example.org/"), None);
        assert_eq!(file_name("https://example.org"), None);
    }

    #[test]
    fn checksums_need_sha256_and_64_hex_digits() {
        let h = "A".repeat(64);
        assert_eq!(
            parse_checksum(&format!("sha256:{h}")),
            Some(format!("sha256:{}", "a".repeat(64)))
        );
        assert_eq!(parse_checksum("md5:abc"), None);
        assert_eq!(parse_checksum("sha256:abc"), None);
    }
}
