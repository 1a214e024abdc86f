//! RUN --mount beyond bind and cache, on this host's kernel: a tmpfs with
//! a size, a bind of another stage's files (`from=`), writable binds whose
//! writes are discarded, secrets that never reach a layer, the history,
//! the config, the cache or the trace, and an ssh agent socket. No mount
//! leaves a mount point in a layer or a mount on the host.

use crate::build::{context, events_of, file_in_image, layer_names};
use crate::support::{assert_explained, Root};
use std::path::Path;

fn mounts_under(root: &Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&root.display().to_string()))
        .map(str::to_string)
        .collect()
}

fn all_layer_names(r: &Root, reference: &str) -> Vec<String> {
    let store = glassbox::store::Store::open(r.path()).unwrap();
    let n = store.resolve(reference).unwrap().layers.len();
    (0..n).flat_map(|i| layer_names(r, reference, i)).collect()
}

#[test]
fn tmpfs_from_and_rw_binds_work_and_leave_nothing_behind() {
    let r = Root::new();
    r.ok(&["setup"]);
    let ctx = context(
        "FROM busybox AS tools\n\
         RUN mkdir -p /out && echo built > /out/artifact\n\
         FROM busybox\n\
         RUN --mount=type=tmpfs,target=/scratch,size=1m sh -c 'echo x > /scratch/f && grep \" /scratch \" /proc/mounts | cut -d\" \" -f3 > /scratch-type && df -k /scratch | tail -1 | awk \"{print \\$2}\" > /scratch-size'\n\
         RUN --mount=type=bind,from=tools,source=/out,target=/mnt/tools cp /mnt/tools/artifact /artifact\n\
         RUN --mount=type=bind,source=src,target=/src,rw sh -c 'echo changed > /src/a.txt && cat /src/a.txt > /rw-saw'\n\
         RUN --mount=type=bind,from=tools,source=/out,target=/mnt/tools,rw sh -c 'rm /mnt/tools/artifact && ls /mnt/tools | wc -l > /rw-from'\n\
         RUN --mount=type=bind,from=tools,source=/out,target=/mnt/tools ls /mnt/tools > /from-again\n\
         RUN --mount=type=bind,from=busybox,source=/bin/busybox,target=/opt/busybox /opt/busybox echo ran > /from-image\n\
         RUN --mount=type=bind,source=src/a.txt,target=/a.txt,rw sh -c 'echo more >> /a.txt && cat /a.txt > /rw-file'\n",
        &[("src/a.txt", "original\n")],
    );
    let dir = ctx.path().to_str().unwrap();
    let (_, events) = r.traced(&["build", "-t", "m:1", dir]);
    assert_explained(&events);
    let file = |p: &str| {
        file_in_image(&r, "m:1", p)
            .unwrap_or_else(|| panic!("{p} missing"))
            .0
    };
    assert_eq!(file("scratch-type").trim(), "tmpfs");
    assert_eq!(
        file("scratch-size").trim(),
        "1024",
        "size=1m is the tmpfs's limit"
    );
    assert_eq!(
        file("artifact"),
        "built\n",
        "from= binds the other stage's files"
    );
    assert_eq!(file("rw-saw"), "changed\n", "a rw bind takes writes");
    assert_eq!(
        std::fs::read_to_string(ctx.path().join("src/a.txt")).unwrap(),
        "original\n",
        "and discards them: the context is untouched"
    );
    assert_eq!(file("rw-from").trim(), "0");
    assert_eq!(
        file("from-again").trim(),
        "artifact",
        "the stage is untouched too"
    );
    assert_eq!(
        file("from-image").trim(),
        "ran",
        "from= an image in the store"
    );
    assert_eq!(file("rw-file"), "original\nmore\n", "a rw bind of one file");
    assert_eq!(
        std::fs::read_to_string(ctx.path().join("src/a.txt")).unwrap(),
        "original\n"
    );
    let names = all_layer_names(&r, "m:1");
    for gone in [
        "scratch",
        "scratch/f",
        "mnt",
        "mnt/tools",
        "src",
        "src/a.txt",
        "opt/busybox",
        "a.txt",
    ] {
        assert!(
            !names.iter().any(|n| n.trim_end_matches('/') == gone),
            "{gone} is a mount point or mounted content, not layer content: {names:?}"
        );
    }
    let mounts = events_of(&events, "mount");
    assert!(mounts.len() >= 5, "each mount is an event: {mounts:?}");
    assert!(mounts_under(r.path()).is_empty(), "no host mount is left");
    let work = r.path().join("build-cache/work");
    assert_eq!(std::fs::read_dir(&work).map(|d| d.count()).unwrap_or(0), 0);
}

const SECRET: &str = "s3cr3t-glassbox-TEST-value";

/// Every file under `dir` (gzip blobs decompressed) that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let md = std::fs::symlink_metadata(&p).unwrap();
            if md.is_dir() {
                stack.push(p);
                continue;
            }
            if !md.is_file() {
                continue;
            }
            let mut bytes = std::fs::read(&p).unwrap_or_default();
            if bytes.starts_with(&[0x1f, 0x8b]) {
                let mut out = Vec::new();
                use std::io::Read;
                if flate2::read::GzDecoder::new(&bytes[..])
                    .read_to_end(&mut out)
                    .is_ok()
                {
                    bytes = out;
                }
            }
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}

#[test]
fn a_secret_is_readable_in_its_run_and_nowhere_else() {
    let r = Root::new();
    r.ok(&["setup"]);
    let secret_dir = tempfile::tempdir().unwrap();
    let secret_file = secret_dir.path().join("token");
    std::fs::write(&secret_file, SECRET).unwrap();
    let ctx = context(
        "FROM busybox\n\
         RUN --mount=type=secret,id=token sh -c 'sha256sum < /run/secrets/token > /token-sum; stat -c %a /run/secrets/token > /token-mode'\n\
         RUN --mount=type=secret,id=api,target=/etc/api-key,required sha256sum /etc/api-key > /api-sum\n\
         RUN --mount=type=secret,id=absent sh -c 'test -e /run/secrets/absent && echo yes > /absent || echo no > /absent'\n\
         RUN --mount=type=secret,id=token,mode=0444,uid=1,gid=2 stat -c '%a %u %g' /run/secrets/token > /token-stat\n",
        &[],
    );
    let dir = ctx.path().to_str().unwrap();
    let token = format!("id=token,src={}", secret_file.display());
    let trace = r.path().join("secret-trace.jsonl");
    // Builds with both secrets, tagged `tag`; returns the raw trace and its
    // events.
    let build = |tag: &str| {
        let out = r
            .cmd(&[
                "--trace",
                "json",
                "--trace-file",
                trace.to_str().unwrap(),
                "build",
                "-t",
                tag,
                "--secret",
                &token,
                "--secret",
                "id=api,env=GB_TEST_API",
                dir,
            ])
            .env("GB_TEST_API", SECRET)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&trace).unwrap();
        std::fs::remove_file(&trace).unwrap();
        let events = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect::<Vec<_>>();
        (text, events)
    };
    let (trace_text, events) = build("s:1");
    assert!(
        !trace_text.contains(SECRET),
        "the trace never shows the value"
    );
    assert_explained(&events);
    let sum = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(SECRET.as_bytes()))
    };
    let file = |p: &str| {
        file_in_image(&r, "s:1", p)
            .unwrap_or_else(|| panic!("{p} missing"))
            .0
    };
    assert!(
        file("token-sum").starts_with(&sum),
        "the RUN read the file's secret"
    );
    assert_eq!(file("token-mode").trim(), "400");
    assert_eq!(file("token-stat").trim(), "444 1 2", "mode, uid and gid");
    assert!(
        file("api-sum").starts_with(&sum),
        "the RUN read the env secret"
    );
    assert_eq!(file("absent").trim(), "no", "a secret not given is skipped");
    assert!(events_of(&events, "mount")
        .iter()
        .any(|e| e["fields"]["skipped"]
            .as_str()
            .is_some_and(|s| s.contains("absent"))));
    // Not in any layer, blob (config, history, manifest), cache record or
    // anything else in the root; no mount point left in a layer.
    assert_eq!(
        files_containing(r.path(), SECRET.as_bytes()),
        Vec::<String>::new()
    );
    let names = all_layer_names(&r, "s:1");
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("run/secrets") || n.starts_with("etc/api-key")),
        "{names:?}"
    );
    assert!(
        mounts_under(r.path()).is_empty(),
        "the secret's tmpfs is gone"
    );
    // The same secret hits the cache; another value reruns its step and
    // says why, without showing either value.
    let rebuild = |value: &str| {
        std::fs::write(&secret_file, value).unwrap();
        let (t, events) = build("s:2");
        assert!(!t.contains(value));
        events
    };
    let again = rebuild(SECRET);
    assert!(events_of(&again, "cache")
        .iter()
        .all(|e| e["fields"]["result"] == "hit"));
    let changed = rebuild("another-value");
    let cache = events_of(&changed, "cache");
    assert_eq!(cache[0]["fields"]["result"], "miss");
    assert!(
        cache[0]["fields"]["reason"]
            .as_str()
            .unwrap()
            .contains("content of secret:token changed"),
        "{cache:?}"
    );
    // A required secret the build was not given is an error at its line.
    let out = r.run(&["build", "--secret", &token, dir]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("requires the secret 'api'") && err.contains("Dockerfile:3:"),
        "{err}"
    );
}

#[test]
fn an_ssh_agent_socket_is_forwarded_and_a_missing_one_is_a_clear_error() {
    let r = Root::new();
    r.ok(&["setup"]);
    let agent_dir = tempfile::tempdir().unwrap();
    let sock = agent_dir.path().join("agent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let ctx = context(
        "FROM busybox\n\
         RUN --mount=type=ssh sh -c 'test -S \"$SSH_AUTH_SOCK\" && echo \"$SSH_AUTH_SOCK\" > /agent'\n",
        &[],
    );
    let dir = ctx.path().to_str().unwrap();
    let out = r
        .cmd(&["build", "-t", "ssh:1", "--ssh", "default", dir])
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        file_in_image(&r, "ssh:1", "agent").unwrap().0,
        "/run/buildkit/ssh_agent.0\n",
        "the socket is bound and SSH_AUTH_SOCK points at it"
    );
    assert!(!all_layer_names(&r, "ssh:1")
        .iter()
        .any(|n| n.starts_with("run/buildkit")));
    let out = r
        .cmd(&["build", "--ssh", "default", dir])
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no ssh agent: SSH_AUTH_SOCK is not set"),
        "{err}"
    );
}
