//! The image config a stage is building, kept as JSON so the Docker
//! extensions OCI does not define (`Healthcheck`, `OnBuild`, `Shell`)
//! survive, and so the bytes are stable: maps are rebuilt in key order on
//! every change, so the same Dockerfile gives the same config digest.

use serde_json::{json, Map, Value};

/// The config of one stage: the image config JSON plus the history.
#[derive(Debug, Clone)]
pub struct ConfigState {
    /// The whole image config (`architecture`, `os`, `config`, `rootfs`,
    /// `history`, `created`).
    pub json: Value,
    /// Whether this stage set CMD itself (ENTRYPOINT resets an inherited CMD).
    pub cmd_set_here: bool,
}

/// The `created` time: `SOURCE_DATE_EPOCH` (default 0) as RFC 3339.
pub fn created_time() -> String {
    let epoch = crate::image::pack::source_date_epoch() as i64;
    chrono::DateTime::from_timestamp(epoch, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn sorted(map: &Map<String, Value>) -> Value {
    let mut pairs: Vec<_> = map.iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

impl ConfigState {
    /// The config of `FROM scratch`: no layers, no settings.
    pub fn scratch() -> Self {
        ConfigState {
            json: json!({
                "architecture": host_arch(),
                "os": "linux",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": []},
                "history": [],
            }),
            cmd_set_here: false,
        }
    }

    /// The config inherited from a base image's config blob.
    pub fn from_base(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let mut json: Value = serde_json::from_slice(bytes)?;
        if !json["config"].is_object() {
            json["config"] = json!({});
        }
        if !json["history"].is_array() {
            json["history"] = json!([]);
        }
        Ok(ConfigState {
            json,
            cmd_set_here: false,
        })
    }

    fn cfg(&mut self) -> &mut Map<String, Value> {
        self.json["config"]
            .as_object_mut()
            .expect("config is an object")
    }

    /// The environment as `(name, value)` pairs.
    pub fn env(&self) -> Vec<(String, String)> {
        self.json["config"]["Env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str()?.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A string field of `config` (`User`, `WorkingDir`, ...).
    pub fn get_str(&self, field: &str) -> Option<String> {
        self.json["config"][field].as_str().map(str::to_string)
    }

    /// A string-list field of `config` (`Cmd`, `Entrypoint`, `Shell`).
    pub fn get_list(&self, field: &str) -> Option<Vec<String>> {
        self.json["config"][field].as_array().map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
    }

    /// Sets (or, with `Value::Null`, removes) a field of `config`.
    pub fn set(&mut self, field: &str, value: Value) {
        if value.is_null() {
            self.cfg().remove(field);
        } else {
            self.cfg().insert(field.to_string(), value);
        }
        let c = sorted(self.cfg());
        self.json["config"] = c;
    }

    /// Sets one environment variable, keeping the order of the others.
    pub fn set_env(&mut self, name: &str, value: &str) {
        let mut env: Vec<(String, String)> = self.env();
        match env.iter_mut().find(|(k, _)| k == name) {
            Some(e) => e.1 = value.to_string(),
            None => env.push((name.to_string(), value.to_string())),
        }
        let list: Vec<Value> = env.iter().map(|(k, v)| json!(format!("{k}={v}"))).collect();
        self.set("Env", Value::Array(list));
    }

    /// Adds a key to an object-valued field (`Labels` with a value,
    /// `ExposedPorts` / `Volumes` with `{}`), keys kept sorted.
    pub fn insert_into(&mut self, field: &str, key: &str, value: Value) {
        let mut m = self.json["config"][field]
            .as_object()
            .cloned()
            .unwrap_or_default();
        m.insert(key.to_string(), value);
        self.set(field, sorted(&m));
    }

    /// Appends a history entry (`empty_layer` when no layer was made).
    pub fn push_history(&mut self, created_by: &str, empty_layer: bool) {
        let mut h = json!({
            "created": created_time(),
            "created_by": created_by,
            "comment": "glassbox build",
        });
        if empty_layer {
            h["empty_layer"] = json!(true);
        }
        self.json["history"]
            .as_array_mut()
            .expect("history is an array")
            .push(h);
    }

    /// Appends a layer's diff_id to `rootfs.diff_ids`.
    pub fn push_diff_id(&mut self, diff_id: &str) {
        self.json["rootfs"]["diff_ids"]
            .as_array_mut()
            .expect("diff_ids is an array")
            .push(json!(diff_id));
    }

    /// The config bytes to store, with `created` set from `SOURCE_DATE_EPOCH`.
    pub fn finish(&self) -> Vec<u8> {
        let mut j = self.json.clone();
        j["created"] = json!(created_time());
        let top = sorted(j.as_object().expect("config is an object"));
        serde_json::to_vec(&top).expect("a config serialises")
    }
}

/// Parses a Docker duration (`30s`, `1m30s`, `500ms`, `2h`) into nanoseconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let mut total: f64 = 0.0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Some(total as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_stay_sorted_and_env_keeps_order() {
        let mut c = ConfigState::scratch();
        c.insert_into("Labels", "z", json!("1"));
        c.insert_into("Labels", "a", json!("2"));
        c.set_env("B", "1");
        c.set_env("A", "2");
        c.set_env("B", "3");
        let keys: Vec<_> = c.json["config"]["Labels"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, ["a", "z"]);
        assert_eq!(c.json["config"]["Env"], json!(["B=3", "A=2"]));
    }

    #[test]
    fn durations_parse_like_docker() {
        assert_eq!(parse_duration("30s"), Some(30_000_000_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("x"), None);
    }
}
