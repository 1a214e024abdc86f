//! Credentials: `glassbox login` checks a user name and password against
//! the registry's `/v2/` and keeps them in `auth.json` in the user's config
//! directory (`$XDG_CONFIG_HOME/glassbox/auth.json`, else
//! `~/.config/glassbox/auth.json`), in Docker's format
//! (`{"auths": {"HOST": {"auth": base64("user:password")}}}`), mode 0600.
//! `glassbox logout` removes the entry. Push and pull read it.

use super::http::{Client, Credentials, Request};
use super::RegistryError;
use crate::trace::{self, Kind};
use crate::Result;
use base64::Engine as _;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

/// Where the credentials file lives.
pub fn auth_file() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".config")
        });
    base.join("glassbox").join("auth.json")
}

fn file_error(reason: impl Into<String>) -> RegistryError {
    RegistryError::AuthFile {
        path: auth_file().display().to_string(),
        reason: reason.into(),
    }
}

fn read_file() -> Result<serde_json::Value> {
    let path = auth_file();
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            file_error(format!("it is not valid JSON ({e}); fix or remove it")).into()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(serde_json::json!({"auths": {}})),
        Err(e) => Err(file_error(e.to_string()).into()),
    }
}

fn write_file(v: &serde_json::Value) -> Result<()> {
    let path = auth_file();
    let dir = path.parent().expect("auth.json has a parent");
    std::fs::create_dir_all(dir).map_err(|e| file_error(format!("creating its directory: {e}")))?;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    let tmp = dir.join(format!(".auth.json.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(v).expect("json"))?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        file_error(e.to_string()).into()
    })
}

/// The credentials `glassbox login` stored for registry `host`, if any.
pub fn stored_credentials(host: &str) -> Result<Option<Credentials>> {
    let v = read_file()?;
    let Some(auth) = v
        .get("auths")
        .and_then(|a| a.get(host))
        .and_then(|e| e.get("auth"))
        .and_then(|a| a.as_str())
    else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| file_error(format!("the entry for {host} is not base64 of user:password; run `glassbox logout {host}` and log in again")))?;
    let (u, p) = decoded.split_once(':').ok_or_else(|| {
        file_error(format!(
            "the entry for {host} has no ':' between user and password"
        ))
    })?;
    Ok(Some(Credentials {
        username: u.to_string(),
        password: p.to_string(),
    }))
}

/// Checks `creds` against `host`'s `/v2/` (answering a basic or bearer
/// challenge) and, when the registry accepts them, stores them.
pub fn login(host: &str, creds: Credentials) -> Result<PathBuf> {
    let _p = trace::phase("login");
    let client = Client::with_credentials(host, Some(creds.clone()));
    let resp = client.exchange(Request::new("ping", "GET", "/v2/").expect(&[200, 401]))?;
    if resp.status() == 401 {
        return Err(client.unauthorized().into());
    }
    let path = auth_file();
    let s = trace::step(Kind::Registry, "login", host.to_string())
        .field("registry", host)
        .field("user", &creds.username)
        .field("file", path.display().to_string())
        .equivalent(format!(
            "echo '{{\"auths\":{{\"{host}\":{{\"auth\":\"'$(printf %s USER:PASSWORD | base64)'\"}}}}}}' > {}; chmod 600 {}",
            path.display(),
            path.display()
        ))
        .announce()?;
    let r = read_file().and_then(|mut v| {
        if !v.get("auths").is_some_and(|a| a.is_object()) {
            v["auths"] = serde_json::json!({});
        }
        v["auths"][host] = serde_json::json!({"auth": creds.encoded()});
        write_file(&v)
    });
    s.finish_with(r)?;
    Ok(path)
}

/// Removes the stored credentials of `host`; false when there were none.
pub fn logout(host: &str) -> Result<bool> {
    let path = auth_file();
    let mut v = read_file()?;
    let removed = v
        .get_mut("auths")
        .and_then(|a| a.as_object_mut())
        .and_then(|a| a.remove(host))
        .is_some();
    let s = trace::step(Kind::Registry, "logout", host.to_string())
        .field("registry", host)
        .field("file", path.display().to_string())
        .field("removed", removed)
        .equivalent(format!("jq 'del(.auths[\"{host}\"])' {}", path.display()))
        .announce()?;
    let r = if removed { write_file(&v) } else { Ok(()) };
    s.finish_with(r)?;
    Ok(removed)
}
