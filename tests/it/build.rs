//! `glassbox build` end to end, on real stores: the fixture apps, byte
//! reproducibility across roots, the explained cache, COPY flags in the
//! layer's tar headers, ADD extraction, CMD/ENTRYPOINT in the config, and
//! the promise that a failed build moves no tag.

use crate::support::{assert_explained, Root};
use std::path::Path;

fn fixture(name: &str) -> String {
    format!("{}/fixtures/apps/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A temp context directory with `files` (path, content) and a Dockerfile.
pub(crate) fn context(dockerfile: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("Dockerfile"), dockerfile).unwrap();
    for (p, c) in files {
        let path = d.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, c).unwrap();
    }
    d
}

fn image_id(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("Successfully built "))
        .expect("a built image id")
        .to_string()
}

fn config(root: &Root, id: &str) -> serde_json::Value {
    let hex = id.strip_prefix("sha256:").unwrap();
    serde_json::from_slice(&std::fs::read(root.path().join("blobs/sha256").join(hex)).unwrap())
        .unwrap()
}

fn top_layer_entries(root: &Root, reference: &str) -> Vec<(String, u64, u64, u32, u64)> {
    let store = glassbox::store::Store::open(root.path()).unwrap();
    let img = store.resolve(reference).unwrap();
    let top = img.layers.last().unwrap();
    let blob = std::fs::File::open(store.blob_path(&top.digest).unwrap()).unwrap();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(blob));
    ar.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                e.path().unwrap().display().to_string(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.mode().unwrap(),
                h.mtime().unwrap(),
            )
        })
        .collect()
}

pub(crate) fn events_of<'a>(
    events: &'a [serde_json::Value],
    action: &str,
) -> Vec<&'a serde_json::Value> {
    events
        .iter()
        .filter(|e| e["kind"] == "build" && e["action"] == action)
        .collect()
}

#[test]
fn static_site_builds_and_a_rebuild_is_all_cache_hits() {
    let r = Root::new();
    r.ok(&["setup"]);
    let (out, events) = r.traced(&["build", "-t", "site:1", &fixture("static-site")]);
    assert_explained(&events);
    let id = image_id(&out);
    let cfg = config(&r, &id);
    assert_eq!(cfg["config"]["Cmd"][0], "httpd");
    assert!(cfg["config"]["ExposedPorts"]["80/tcp"].is_object());
    assert_eq!(cfg["created"], "1970-01-01T00:00:00Z");
    let layer = events_of(&events, "layer");
    assert_eq!(layer.len(), 1, "only COPY makes a layer");
    assert!(layer[0]["fields"]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p == "www/index.html"));
    assert_eq!(
        events_of(&events, "metadata").len(),
        2,
        "EXPOSE and CMD say why no layer"
    );
    let (out2, events2) = r.traced(&["build", "-t", "site:1", &fixture("static-site")]);
    assert_eq!(image_id(&out2), id);
    let cache = events_of(&events2, "cache");
    assert!(!cache.is_empty());
    assert!(cache.iter().all(|e| e["fields"]["result"] == "hit"));
    assert!(
        !events2
            .iter()
            .any(|e| e["kind"] == "layer" && e["action"] == "create"),
        "a cached rebuild packs nothing"
    );
}

#[test]
fn same_inputs_give_the_same_image_id_in_two_roots() {
    let (a, b) = (Root::new(), Root::new());
    a.ok(&["setup"]);
    b.ok(&["setup"]);
    let ia = image_id(&a.ok(&["build", "-t", "site:1", &fixture("static-site")]));
    let ib = image_id(&b.ok(&["build", "--no-cache", &fixture("static-site")]));
    assert_eq!(ia, ib);
}

#[test]
fn changing_one_source_file_makes_that_copy_miss_and_says_why() {
    let r = Root::new();
    let ctx = context(
        "FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\nCMD [\"/x\"]\n",
        &[("a.txt", "a"), ("b.txt", "b")],
    );
    let dir = ctx.path().to_str().unwrap();
    let first = image_id(&r.ok(&["build", "-t", "ab:1", dir]));
    std::fs::write(ctx.path().join("b.txt"), "B").unwrap();
    let (out, events) = r.traced(&["build", "-t", "ab:1", dir]);
    assert_ne!(image_id(&out), first);
    let cache = events_of(&events, "cache");
    assert_eq!(
        cache[0]["fields"]["result"], "hit",
        "COPY a.txt is unchanged"
    );
    assert_eq!(cache[1]["fields"]["result"], "miss");
    assert_eq!(
        cache[1]["fields"]["reason"],
        "COPY b.txt /b.txt: content of b.txt changed since the cached layer"
    );
}

#[test]
fn copy_chown_and_chmod_land_in_the_tar_headers() {
    let r = Root::new();
    let ctx = context(
        "FROM scratch\nCOPY --chown=1000:1001 --chmod=640 a.txt /app/a.txt\nCOPY b.txt /b.txt\n",
        &[("a.txt", "a"), ("b.txt", "b")],
    );
    r.ok(&["build", "-t", "own:1", ctx.path().to_str().unwrap()]);
    let store = glassbox::store::Store::open(r.path()).unwrap();
    let img = store.resolve("own:1").unwrap();
    let blob = std::fs::File::open(store.blob_path(&img.layers[0].digest).unwrap()).unwrap();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(blob));
    let entries: Vec<_> = ar
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                e.path().unwrap().display().to_string(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.mode().unwrap(),
                h.mtime().unwrap(),
            )
        })
        .collect();
    assert!(
        entries.contains(&("app/a.txt".into(), 1000, 1001, 0o640, 0)),
        "{entries:?}"
    );
    let b = top_layer_entries(&r, "own:1");
    assert_eq!(b.len(), 1);
    assert_eq!(
        (b[0].1, b[0].2, b[0].4),
        (0, 0, 0),
        "no --chown: owners 0:0, mtime SOURCE_DATE_EPOCH"
    );
}

#[test]
fn add_extracts_a_local_tar_gz() {
    let r = Root::new();
    let ctx = context("FROM scratch\nADD bundle.tar.gz /opt/\n", &[]);
    {
        let f = std::fs::File::create(ctx.path().join("bundle.tar.gz")).unwrap();
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
            f,
            flate2::Compression::default(),
        ));
        let mut h = tar::Header::new_ustar();
        h.set_size(5);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "hello/world.txt", &b"hello"[..])
            .unwrap();
        b.into_inner().unwrap().finish().unwrap();
    }
    r.ok(&["build", "-t", "add:1", ctx.path().to_str().unwrap()]);
    let names: Vec<String> = top_layer_entries(&r, "add:1")
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert!(
        names.contains(&"opt/hello/world.txt".to_string()),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.ends_with(".tar.gz")));
}

#[test]
fn cmd_and_entrypoint_combine_as_docker_documents() {
    let r = Root::new();
    let ctx = context(
        "FROM scratch AS base\nCMD [\"base-cmd\"]\n\
         FROM base AS reset\nENTRYPOINT [\"/bin/app\"]\n\
         FROM base AS both\nENTRYPOINT [\"/bin/app\"]\nCMD [\"--help\"]\n\
         FROM scratch AS shell\nENTRYPOINT exec app\nCMD run\n",
        &[],
    );
    let dir = ctx.path().to_str().unwrap();
    let cfg = |target: &str| {
        let out = r.ok(&["build", "--target", target, dir]);
        config(&r, &image_id(&out))["config"].clone()
    };
    let reset = cfg("reset");
    assert_eq!(reset["Entrypoint"], serde_json::json!(["/bin/app"]));
    assert!(
        reset.get("Cmd").is_none(),
        "ENTRYPOINT clears an inherited CMD: {reset}"
    );
    let both = cfg("both");
    assert_eq!(both["Cmd"], serde_json::json!(["--help"]));
    let shell = cfg("shell");
    assert_eq!(
        shell["Entrypoint"],
        serde_json::json!(["/bin/sh", "-c", "exec app"])
    );
    assert_eq!(shell["Cmd"], serde_json::json!(["/bin/sh", "-c", "run"]));
    assert_eq!(cfg("base")["Cmd"], serde_json::json!(["base-cmd"]));
}

#[test]
fn copy_from_an_earlier_stage_reads_through_an_overlay_view() {
    let r = Root::new();
    r.ok(&["setup"]);
    let ctx = context(
        "FROM busybox AS build\nWORKDIR /src\nCOPY page.txt .\n\
         FROM busybox\nCOPY --from=build /src/page.txt /www/index.html\n",
        &[("page.txt", "hi")],
    );
    let (_, events) = r.traced(&["build", "-t", "ms:1", ctx.path().to_str().unwrap()]);
    assert_explained(&events);
    let views = events_of(&events, "view");
    assert!(views.iter().any(|e| e["stage"] == "done"), "{views:?}");
    let names: Vec<String> = top_layer_entries(&r, "ms:1")
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(names, ["www", "www/index.html"]);
}

#[test]
fn a_failed_build_moves_no_tag_and_points_at_the_instruction() {
    let r = Root::new();
    let good = context("FROM scratch\nCOPY a.txt /a\n", &[("a.txt", "a")]);
    let id = image_id(&r.ok(&["build", "-t", "app:1", good.path().to_str().unwrap()]));
    let bad = context(
        "FROM scratch\nCOPY a.txt /a\nCOPY missing.txt /m\n",
        &[("a.txt", "A")],
    );
    let out = r.run(&["build", "-t", "app:1", bad.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Dockerfile:3:6"), "{err}");
    assert!(err.contains("not found in the build context"), "{err}");
    let store = glassbox::store::Store::open(r.path()).unwrap();
    assert_eq!(store.resolve("app:1").unwrap().id, id);
    let out = r.run(&["build", "-t", "other:1", bad.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(store.resolve("other:1").is_err());
}

#[test]
fn a_missing_base_image_says_to_run_setup() {
    let r = Root::new();
    let ctx = context("FROM busybox\nCMD [\"sh\"]\n", &[]);
    let out = r.run(&["build", ctx.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Dockerfile:1:6"), "{err}");
    assert!(err.contains("glassbox setup"), "{err}");
}

#[test]
fn build_trace_of_the_static_site_is_stable() {
    let r = Root::new();
    r.ok(&["setup"]);
    let (_, events) = r.traced(&["build", "-t", "site:1", &fixture("static-site")]);
    let lines: Vec<String> = events
        .iter()
        .filter(|e| e["phase"][0] == "build")
        .map(|e| {
            let mut f = e["fields"].clone();
            for k in ["source", "duration_us"] {
                f.as_object_mut().map(|m| m.remove(k));
            }
            format!(
                "{} {}.{} {} {}",
                e["stage"].as_str().unwrap_or(""),
                e["kind"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["subject"].as_str().unwrap(),
                f
            )
        })
        .collect();
    let text = lines.join("\n");
    let text = redact(&text, r.path());
    insta::assert_snapshot!("static_site_build_trace", text);
}

fn redact(text: &str, root: &Path) -> String {
    let mut out = text.replace(&root.display().to_string(), "[ROOT]");
    // Digests (and chain-id paths) depend on the host's busybox binary;
    // keep their places, drop the hex.
    let mut s = String::new();
    let mut rest = out.as_str();
    while let Some(i) = rest.find(|c: char| c.is_ascii_hexdigit()) {
        let run = rest[i..]
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(rest.len() - i);
        s.push_str(&rest[..i]);
        if run >= 64 {
            s.push_str("[hex]");
        } else {
            s.push_str(&rest[i..i + run]);
        }
        rest = &rest[i + run..];
    }
    s.push_str(rest);
    out = s;
    let mut s = String::new();
    let mut rest = out.as_str();
    while let Some(i) = rest.find("/tmp/.tmp") {
        s.push_str(&rest[..i]);
        s.push_str("/tmp/[tmp]");
        rest = rest[i + 9..].trim_start_matches(|c: char| c.is_ascii_alphanumeric());
    }
    s.push_str(rest);
    s
}

pub(crate) fn layer_names(root: &Root, reference: &str, index_from_top: usize) -> Vec<String> {
    let store = glassbox::store::Store::open(root.path()).unwrap();
    let img = store.resolve(reference).unwrap();
    let l = &img.layers[img.layers.len() - 1 - index_from_top];
    let blob = std::fs::File::open(store.blob_path(&l.digest).unwrap()).unwrap();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(blob));
    ar.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

#[test]
fn todo_and_multistage_fixtures_build_with_run_in_a_container() {
    let r = Root::new();
    r.ok(&["setup"]);
    let (_, events) = r.traced(&["build", "-t", "todo:1", &fixture("todo")]);
    assert_explained(&events);
    let run = events_of(&events, "run");
    assert_eq!(run[0]["fields"]["code"], 0);
    assert_eq!(
        layer_names(&r, "todo:1", 0),
        ["data", "data/todo.txt"],
        "the RUN layer holds exactly what the command made"
    );
    let (out, events) = r.traced(&["build", "-t", "ms:1", &fixture("multistage")]);
    assert_explained(&events);
    let cfg = config(&r, &image_id(&out));
    assert_eq!(cfg["config"]["Cmd"][0], "httpd");
    let names = layer_names(&r, "ms:1", 0);
    assert_eq!(names, ["www", "www/index.html"]);
}

#[test]
fn run_deleting_lower_files_leaves_whiteouts_in_its_layer() {
    let r = Root::new();
    r.ok(&["setup"]);
    let ctx = context(
        "FROM busybox\nCOPY a.txt b.txt /x/\nCOPY c.txt /y/c.txt\n\
         RUN rm /x/a.txt && rm -rf /y && mkdir /y && echo new > /y/d.txt\n",
        &[("a.txt", "a"), ("b.txt", "b"), ("c.txt", "c")],
    );
    let (_, events) = r.traced(&["build", "-t", "wh:1", ctx.path().to_str().unwrap()]);
    let names = layer_names(&r, "wh:1", 0);
    assert!(names.contains(&"x/.wh.a.txt".to_string()), "{names:?}");
    assert!(names.contains(&"y/.wh..wh..opq".to_string()), "{names:?}");
    assert!(names.contains(&"y/d.txt".to_string()), "{names:?}");
    let diff = events_of(&events, "diff");
    assert_eq!(diff[0]["fields"]["removed"], serde_json::json!(["x/a.txt"]));
}

#[test]
fn a_failing_run_shows_its_status_and_output_and_moves_no_tag() {
    let r = Root::new();
    r.ok(&["setup"]);
    let ctx = context("FROM busybox\nRUN echo about to fail && exit 3\n", &[]);
    let out = r.run(&["build", "-t", "bad:1", ctx.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("RUN exited with status 3"), "{err}");
    assert!(err.contains("about to fail"), "{err}");
    assert!(err.contains("Dockerfile:2:1"), "{err}");
    let store = glassbox::store::Store::open(r.path()).unwrap();
    assert!(store.resolve("bad:1").is_err());
    assert!(
        std::fs::read_dir(r.path().join("containers"))
            .map(|d| d.count())
            .unwrap_or(0)
            == 0,
        "the RUN container is removed"
    );
}

#[test]
fn a_changed_build_arg_makes_run_miss() {
    let r = Root::new();
    r.ok(&["setup"]);
    let ctx = context("FROM busybox\nARG V=1\nRUN echo $V > /v\n", &[]);
    let dir = ctx.path().to_str().unwrap();
    r.ok(&["build", "-t", "arg:1", dir]);
    let (_, events) = r.traced(&["build", "--build-arg", "V=2", "-t", "arg:2", dir]);
    let cache = events_of(&events, "cache");
    assert_eq!(cache[0]["fields"]["result"], "miss");
    assert!(
        cache[0]["fields"]["reason"]
            .as_str()
            .unwrap()
            .contains("an earlier step changed"),
        "{cache:?}"
    );
    let out = r.ok(&["run", "--rm", "arg:2", "cat", "/v"]);
    assert_eq!(out.trim(), "2");
    let out = r.run(&["build", "--build-arg", "NOPE=1", dir]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("build-args NOPE were not consumed"), "{err}");
}

#[test]
fn metadata_instructions_fill_the_config_and_workdir_makes_a_layer_only_when_missing() {
    let r = Root::new();
    r.ok(&["setup"]);
    let ctx = context(
        "FROM busybox\nARG WHO=world\nENV GREETING=\"hello ${WHO}\" MODE=dev\n\
         LABEL org.example.b=2 org.example.a=1\nUSER 1000:1000\nWORKDIR /tmp\nWORKDIR /app\n\
         WORKDIR sub\nVOLUME /data\nEXPOSE 8080/udp 80\nSTOPSIGNAL SIGINT\n\
         SHELL [\"/bin/sh\", \"-ec\"]\nHEALTHCHECK --interval=5s --retries=2 CMD wget -q localhost\n\
         ONBUILD COPY . /src\nCMD echo $GREETING\n",
        &[],
    );
    let (out, events) = r.traced(&[
        "build",
        "--build-arg",
        "WHO=class",
        ctx.path().to_str().unwrap(),
    ]);
    assert_explained(&events);
    let cfg = config(&r, &image_id(&out));
    let c = &cfg["config"];
    let env: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(env.contains(&"GREETING=hello class"), "{env:?}");
    assert!(env.contains(&"MODE=dev"));
    assert_eq!(
        c["Labels"],
        serde_json::json!({"org.example.a": "1", "org.example.b": "2"})
    );
    assert_eq!(c["User"], "1000:1000");
    assert_eq!(c["WorkingDir"], "/app/sub");
    assert!(c["Volumes"]["/data"].is_object());
    assert!(c["ExposedPorts"]["8080/udp"].is_object() && c["ExposedPorts"]["80/tcp"].is_object());
    assert_eq!(c["StopSignal"], "SIGINT");
    assert_eq!(
        c["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "wget -q localhost"])
    );
    assert_eq!(c["Healthcheck"]["Interval"], 5_000_000_000u64);
    assert_eq!(c["OnBuild"], serde_json::json!(["COPY . /src"]));
    assert_eq!(
        c["Cmd"],
        serde_json::json!(["/bin/sh", "-ec", "echo $GREETING"])
    );
    // WORKDIR /tmp exists in busybox; /app and /app/sub do not.
    let layers = events_of(&events, "layer");
    let made: Vec<&str> = layers
        .iter()
        .map(|e| e["fields"]["instruction"].as_str().unwrap())
        .collect();
    assert_eq!(made, ["WORKDIR /app", "WORKDIR /app/sub"]);
    let history = cfg["history"].as_array().unwrap();
    let empty = history.iter().filter(|h| h["empty_layer"] == true).count();
    assert_eq!(
        history.len() - empty,
        cfg["rootfs"]["diff_ids"].as_array().unwrap().len(),
        "one non-empty history entry per layer"
    );
}

#[test]
fn a_dockerfile_on_stdin_builds_without_a_context() {
    let r = Root::new();
    let mut child = r
        .cmd(&["build", "-t", "stdin:1", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"FROM scratch\nLABEL from=stdin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = image_id(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(config(&r, &id)["config"]["Labels"]["from"], "stdin");
}

#[test]
fn copy_of_an_ignored_file_points_at_the_dockerignore_line() {
    let r = Root::new();
    let ctx = context(
        "FROM scratch\nCOPY secret.env /\n",
        &[("secret.env", "x"), (".dockerignore", "# secrets\n*.env\n")],
    );
    let out = r.run(&["build", ctx.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Dockerfile:2:6"), "{err}");
    assert!(err.contains("excluded by .dockerignore line 2"), "{err}");
}

/// The content of `path` in the image, from the topmost layer that has it.
pub(crate) fn file_in_image(root: &Root, reference: &str, path: &str) -> Option<(String, u32)> {
    let store = glassbox::store::Store::open(root.path()).unwrap();
    let img = store.resolve(reference).unwrap();
    for l in img.layers.iter().rev() {
        let blob = std::fs::File::open(store.blob_path(&l.digest).unwrap()).unwrap();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(blob));
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().to_str() == Some(path) {
                let mode = e.header().mode().unwrap();
                let mut s = String::new();
                std::io::Read::read_to_string(&mut e, &mut s).unwrap();
                return Some((s, mode));
            }
        }
    }
    None
}

#[test]
fn heredocs_in_run_and_copy_work_as_buildkit_documents() {
    let r = Root::new();
    r.ok(&["setup"]);
    let ctx = context(
        "FROM busybox\nARG WHO=class\n\
         RUN <<EOF\necho one > /one\necho two > /two\nEOF\n\
         RUN <<EOF\n#!/bin/sh -e\necho \"script $0\" > /script\nEOF\n\
         RUN <<EOF sh -c 'cat > /greeting'\nhello\nEOF\n\
         COPY <<EOF /etc/motd\nhi \"$WHO\"\nEOF\n\
         COPY <<\"EOF\" /etc/raw\nhi $WHO\nEOF\n\
         COPY --chmod=600 <<notes /docs/\nread me\nnotes\n",
        &[],
    );
    let (_, events) = r.traced(&["build", "-t", "hd:1", ctx.path().to_str().unwrap()]);
    assert_explained(&events);
    let file = |p: &str| file_in_image(&r, "hd:1", p).unwrap_or_else(|| panic!("{p} missing"));
    assert_eq!(file("one").0, "one\n");
    assert_eq!(file("two").0, "two\n");
    assert_eq!(
        file("script").0,
        "script /dev/pipes/EOF\n",
        "a #! here-document runs as a file"
    );
    assert_eq!(file("greeting").0, "hello\n");
    assert_eq!(file("etc/motd"), ("hi \"class\"\n".to_string(), 0o644));
    assert_eq!(
        file("etc/raw").0,
        "hi $WHO\n",
        "a quoted delimiter expands nothing"
    );
    assert_eq!(file("docs/notes"), ("read me\n".to_string(), 0o600));
    for l in 0..6 {
        assert!(
            !layer_names(&r, "hd:1", l)
                .iter()
                .any(|n| n.starts_with("dev")),
            "the script's bind mount is not in any layer"
        );
    }
    // A rebuild hits the cache for every step, here-documents included.
    let (_, events) = r.traced(&["build", "-t", "hd:1", ctx.path().to_str().unwrap()]);
    assert!(events_of(&events, "cache")
        .iter()
        .all(|e| e["fields"]["result"] == "hit"));
}

#[test]
fn onbuild_triggers_run_in_the_child_in_order_and_are_not_inherited() {
    let r = Root::new();
    r.ok(&["setup"]);
    let base = context(
        "FROM busybox\nONBUILD RUN echo first > /order\nONBUILD COPY app.txt /app/\n\
         ONBUILD RUN cat /app/app.txt >> /order\n",
        &[],
    );
    let (_, events) = r.traced(&["build", "-t", "onbase:1", base.path().to_str().unwrap()]);
    assert!(
        events_of(&events, "onbuild").is_empty(),
        "triggers do not run in the image that declares them"
    );
    let child = context(
        "FROM onbase:1\nLABEL child=yes\n",
        &[("app.txt", "second\n")],
    );
    let (out, events) = r.traced(&["build", "-t", "onchild:1", child.path().to_str().unwrap()]);
    assert_explained(&events);
    let fired: Vec<&str> = events_of(&events, "onbuild")
        .iter()
        .map(|e| e["fields"]["trigger"].as_str().unwrap())
        .collect();
    assert_eq!(
        fired,
        [
            "RUN echo first > /order",
            "COPY app.txt /app/",
            "RUN cat /app/app.txt >> /order"
        ]
    );
    assert_eq!(
        file_in_image(&r, "onchild:1", "order").unwrap().0,
        "first\nsecond\n",
        "triggers ran in order, right after FROM"
    );
    let cfg = config(&r, &image_id(&out));
    assert!(cfg["config"]["OnBuild"].is_null(), "{}", cfg["config"]);
    let grandchild = context("FROM onchild:1\nLABEL grandchild=yes\n", &[]);
    let (_, events) = r.traced(&["build", grandchild.path().to_str().unwrap()]);
    assert!(events_of(&events, "onbuild").is_empty(), "not inherited");
    // A trigger that fails points at the FROM that brought it in.
    let bad = context("FROM onbase:1\n", &[]);
    let out = r.run(&["build", "-t", "nope:1", bad.path().to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("Dockerfile:1:6"), "{err}");
    assert!(
        err.contains("ONBUILD trigger `COPY app.txt /app/` of the base image failed"),
        "{err}"
    );
}

/// A tiny HTTP/1.0 file server on 127.0.0.1 for ADD URL tests: serves
/// `/files/hello.txt` with a Last-Modified header, 404 for anything else,
/// and counts requests. The thread ends with the test process.
fn serve_files() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("");
            let reply = if path == "/files/hello.txt" {
                "HTTP/1.0 200 OK\r\nContent-Length: 15\r\n\
                 Last-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\n\r\nhello from URL\n"
                    .to_string()
            } else {
                "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string()
            };
            let _ = conn.write_all(reply.as_bytes());
        }
    });
    (base, hits)
}

#[test]
fn add_downloads_a_url_checks_its_checksum_and_caches_by_content() {
    use std::sync::atomic::Ordering;
    let (base, hits) = serve_files();
    let r = Root::new();
    let sum = "sha256:".to_string() + &hex_sha256(b"hello from URL\n");
    let dockerfile = format!(
        "FROM scratch\nADD {base}/files/hello.txt /srv/\n\
         ADD --checksum={sum} {base}/files/hello.txt /srv/again.txt\n"
    );
    let ctx = context(&dockerfile, &[]);
    let dir = ctx.path().to_str().unwrap();
    let (_, events) = r.traced(&["build", "-t", "url:1", dir]);
    assert_explained(&events);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let entries = top_layer_entries(&r, "url:1");
    assert_eq!(entries[1].0, "srv/again.txt");
    assert_eq!(entries[1].3, 0o600, "downloads get mode 0600, as in Docker");
    assert_eq!(entries[1].4, 0, "mtime clamped to SOURCE_DATE_EPOCH (0)");
    assert_eq!(
        file_in_image(&r, "url:1", "srv/hello.txt").unwrap().0,
        "hello from URL\n"
    );
    // Rebuild: the plain ADD downloads again and hits on content; the
    // --checksum one hits without touching the network.
    let (_, events) = r.traced(&["build", "-t", "url:1", dir]);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert!(events_of(&events, "cache")
        .iter()
        .all(|e| e["fields"]["result"] == "hit"));
    // With a later SOURCE_DATE_EPOCH, Last-Modified shows through.
    let out = r
        .cmd(&["build", "--no-cache", "-t", "url:2", dir])
        .env("SOURCE_DATE_EPOCH", "2000000000")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(top_layer_entries(&r, "url:2")[1].4, 1_700_000_000);
    // A wrong checksum and a 404 are refused with the URL in the message.
    let bad = context(
        &format!(
            "FROM scratch\nADD --checksum=sha256:{} {base}/files/hello.txt /x\n",
            "0".repeat(64)
        ),
        &[],
    );
    let out = r.run(&["build", "-t", "bad:1", bad.path().to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("but --checksum says"), "{err}");
    let missing = context(&format!("FROM scratch\nADD {base}/nope.txt /x\n"), &[]);
    let out = r.run(&["build", missing.path().to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("answered 404"), "{err}");
    assert!(err.contains("Dockerfile:2:5"), "{err}");
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn run_output_is_streamed_while_the_command_runs() {
    let r = Root::new();
    r.ok(&["setup"]);
    let ctx = context(
        "FROM busybox\nRUN echo first && sleep 2 && echo second >&2\n",
        &[],
    );
    let (_, events) = r.traced(&["build", ctx.path().to_str().unwrap()]);
    assert_explained(&events);
    let output = events_of(&events, "output");
    let at = |text: &str| {
        output
            .iter()
            .find(|e| e["subject"] == text)
            .unwrap_or_else(|| panic!("no output event {text}: {output:?}"))["ts_us"]
            .as_u64()
            .unwrap()
    };
    let (first, second) = (at("first"), at("second"));
    assert!(
        second - first >= 1_500_000,
        "the first line came {} µs before the second: streamed, not batched",
        second - first
    );
    let exit = events
        .iter()
        .find(|e| e["kind"] == "process" && e["action"] == "exit")
        .unwrap();
    assert!(exit["ts_us"].as_u64().unwrap() >= second);
}

/// Kills, by PID, a RUN container's init left by a test that failed
/// before the sweep did it (only if the PID is still that container's).
struct InitGuard(Option<(i32, String)>);

impl Drop for InitGuard {
    fn drop(&mut self) {
        if let Some((pid, id)) = &self.0 {
            let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            if cg.contains(id.as_str()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(*pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

fn cgroup_dirs_named(id: &str) -> Vec<String> {
    let out = std::process::Command::new("find")
        .args(["/sys/fs/cgroup", "-maxdepth", "4", "-type", "d", "-name"])
        .arg(format!("*{id}*"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_killed_build_leaves_no_tag_and_the_next_build_sweeps_its_container() {
    let r = Root::new();
    r.ok(&["setup"]);
    let ctx = context(
        "FROM busybox\nRUN echo started && sleep 30 && echo never\n",
        &[],
    );
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = KillOnDrop(
        r.cmd(&["build", "-t", "killed:1", ctx.path().to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Wait until the RUN container is recorded as running (its init's PID
    // is in state.json), then give `sleep` a moment to start.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let running = |root: &Path| {
        std::fs::read_dir(root.join("containers"))
            .map(|d| {
                d.filter_map(|e| e.ok()).any(|e| {
                    std::fs::read_to_string(e.path().join("state.json"))
                        .map(|s| s.contains("\"running\""))
                        .unwrap_or(false)
                })
            })
            .unwrap_or(false)
    };
    while !running(r.path()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the RUN never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SIGKILL the build by its PID, mid-RUN.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let containers = r.path().join("containers");
    let left: Vec<_> = std::fs::read_dir(&containers)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        left.len(),
        1,
        "the killed build's RUN container is still there"
    );
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(left[0].join("state.json")).unwrap()).unwrap();
    let id = state["id"].as_str().unwrap().to_string();
    let pid = state["pid"].as_i64().unwrap() as i32;
    let _guard = InitGuard(Some((pid, id.clone())));
    assert!(
        !cgroup_dirs_named(&id).is_empty(),
        "its cgroup exists until swept"
    );
    let store = glassbox::store::Store::open(r.path()).unwrap();
    assert!(
        store.resolve("killed:1").is_err(),
        "a killed build sets no tag"
    );
    // The next build sweeps it up and says so.
    let other = context("FROM busybox\nLABEL next=yes\n", &[]);
    let (_, events) = r.traced(&["build", "-t", "next:1", other.path().to_str().unwrap()]);
    assert_explained(&events);
    let swept = events_of(&events, "sweep");
    assert_eq!(swept.len(), 1);
    assert_eq!(swept[0]["fields"]["id"], id.as_str());
    assert_eq!(std::fs::read_dir(&containers).unwrap().count(), 0);
    assert!(cgroup_dirs_named(&id).is_empty(), "cgroup removed");
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mountinfo.contains(&r.path().display().to_string()),
        "no mount under the root is left"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || !std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .unwrap_or_default()
                .contains(&id),
        "the container's init is gone"
    );
    // The store is consistent: the tag is absent, the same build now works.
    assert!(store.resolve("killed:1").is_err());
    assert!(store.resolve("next:1").is_ok());
    r.ok(&["images"]);
}

#[test]
fn run_mounts_a_cache_and_a_context_bind_and_chooses_its_network() {
    let r = Root::new();
    r.ok(&["setup"]);
    let ctx = context(
        "FROM busybox\n\
         RUN --mount=type=cache,target=/cache sh -c 'echo x >> /cache/log; wc -l < /cache/log > /count'\n\
         RUN --mount=type=bind,source=src,target=/src cp /src/a.txt /copied.txt\n\
         RUN --network=none sh -c 'wc -l < /proc/net/dev > /links-none'\n\
         RUN --network=host sh -c 'cut -d: -f1 /proc/net/dev > /links-host'\n",
        &[("src/a.txt", "from the context\n")],
    );
    let dir = ctx.path().to_str().unwrap();
    let (_, events) = r.traced(&["build", "-t", "mnt:1", dir]);
    assert_explained(&events);
    let file = |reference: &str, p: &str| file_in_image(&r, reference, p).unwrap().0;
    assert_eq!(file("mnt:1", "count").trim(), "1");
    assert_eq!(file("mnt:1", "copied.txt"), "from the context\n");
    assert_eq!(
        file("mnt:1", "links-none").trim(),
        "3",
        "only lo (plus two header lines)"
    );
    // Other tests add and remove their own bridges and veths (gbx*) while
    // this runs: compare the host's other interfaces only.
    let names = |text: &str| -> Vec<String> {
        text.lines()
            .skip(2)
            .map(|l| l.split(':').next().unwrap_or("").trim().to_string())
            .filter(|n| !n.is_empty() && !n.starts_with("gbx"))
            .collect()
    };
    let seen: Vec<String> = file("mnt:1", "links-host")
        .lines()
        .map(|l| l.trim().to_string())
        .collect();
    let here = names(&std::fs::read_to_string("/proc/net/dev").unwrap());
    assert!(here.len() > 1, "the host has more than lo: {here:?}");
    for n in &here {
        assert!(
            seen.contains(n),
            "--network=host sees the host's interface {n}: {seen:?}"
        );
    }
    for l in 0..4 {
        let names = layer_names(&r, "mnt:1", l);
        assert!(
            !names
                .iter()
                .any(|n| n.starts_with("cache/") || n.starts_with("src/")),
            "mounted content stays out of layers: {names:?}"
        );
    }
    // The cache mount keeps its data across builds; the bind's content is
    // part of the key.
    std::fs::write(ctx.path().join("src/a.txt"), "changed\n").unwrap();
    let (_, events) = r.traced(&["build", "-t", "mnt:2", dir]);
    let cache = events_of(&events, "cache");
    assert_eq!(cache[0]["fields"]["result"], "hit");
    assert_eq!(cache[1]["fields"]["result"], "miss");
    assert!(
        cache[1]["fields"]["reason"]
            .as_str()
            .unwrap()
            .contains("content of mount:src changed"),
        "{cache:?}"
    );
    assert_eq!(file("mnt:2", "copied.txt"), "changed\n");
    r.ok(&["build", "--no-cache", "-t", "mnt:3", dir]);
    assert_eq!(
        file("mnt:3", "count").trim(),
        "2",
        "the cache mount persisted"
    );
}
