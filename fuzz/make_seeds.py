#!/usr/bin/env python3
"""Writes the hand-made seeds of fuzz/corpus/TARGET/ (run from anywhere).

The committed corpora are these seeds plus what `cargo fuzz cmin` kept of
the inputs the 5-minute runs found; the replay test runs every file.
"""
import gzip, hashlib, io, json, os, tarfile

tarfile.RECORDSIZE = 512  # no padding to 10 KiB: small seeds
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def tar(entries, fmt=tarfile.USTAR_FORMAT):
    """entries: (name, kind, payload) with kind file/dir/sym/hard."""
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
        for name, kind, payload in entries:
            i = tarfile.TarInfo(name)
            i.mtime = 0
            if kind == "file":
                i.size = len(payload)
                i.mode = 0o644
                t.addfile(i, io.BytesIO(payload))
                continue
            if kind == "dir":
                i.type, i.mode = tarfile.DIRTYPE, 0o755
            elif kind == "sym":
                i.type, i.linkname = tarfile.SYMTYPE, payload
            elif kind == "hard":
                i.type, i.linkname = tarfile.LNKTYPE, payload
            t.addfile(i)
    return b.getvalue()


def sha(b):
    return hashlib.sha256(b).hexdigest()


# image_reference
for n, r in enumerate(["busybox", "localhost:5000/a/b:1.0",
                       "docker.io/library/alpine@sha256:" + "a" * 64,
                       "Upper/Case:tag", "[::1]:5000/x:y"]):
    put("image_reference", f"{n}", r)

# dockerfile: the fixtures
fx = os.path.join(ROOT, "fixtures", "dockerfiles")
n = 0
for dirpath, _, files in sorted(os.walk(fx)):
    for f in sorted(files):
        if "ockerfile" in f:
            with open(os.path.join(dirpath, f), "rb") as fh:
                data = fh.read()
            if len(data) < 4096 and n < 8:
                put("dockerfile", f"{n}", data)
                n += 1
put("dockerfile", "heredoc", "FROM busybox\nRUN <<EOF\necho hi\nEOF\nCOPY <<A <<B /x/\na\nA\nb\nB\n")

# layer_apply: names starting with an odd byte apply in overlay mode
LAYER = [("etc", "dir", None), ("etc/hosts", "file", b"127.0.0.1 x\n"),
         ("etc/link", "sym", "hosts"), ("etc/hard", "hard", "etc/hosts")]
put("layer_apply", "plain", tar([("a", "dir", None)] + LAYER))
put("layer_apply", "whiteouts", tar([("a/.wh.gone", "file", b""), ("a/.wh..wh..opq", "file", b""),
                                      ("etc/", "dir", None)]))
put("layer_apply", "escape", tar([("b/../../sentinel/x", "file", b"out"),
                                   ("b", "sym", "../sentinel"), ("b/y", "file", b"through"),
                                   ("c", "hard", "/etc/passwd")]))
put("layer_apply", "pax", tar([("a" * 120 + "/f", "file", b"long")], tarfile.PAX_FORMAT))

# archive_load
def docker_archive(layer, extra=()):
    diff = "sha256:" + sha(layer)
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
    cname = sha(cfg) + ".json"
    man = json.dumps([{"Config": cname, "RepoTags": ["fuzz:1"],
                       "Layers": ["l1/layer.tar"]}]).encode()
    return tar([(cname, "file", cfg), ("l1/", "dir", None), ("l1/layer.tar", "file", layer),
                ("manifest.json", "file", man)] + list(extra))


def oci_archive(layer):
    gz = gzip.compress(layer, mtime=0)
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(layer)]}}).encode()
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": "sha256:" + sha(cfg), "size": len(cfg)},
                      "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                  "digest": "sha256:" + sha(gz), "size": len(gz)}]}).encode()
    idx = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + sha(man),
         "size": len(man), "annotations": {"io.containerd.image.name": "docker.io/library/fuzz:1",
                                           "org.opencontainers.image.ref.name": "1"}}]}).encode()
    return tar([("oci-layout", "file", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", "file", idx),
                ("blobs/sha256/" + sha(cfg), "file", cfg), ("blobs/sha256/" + sha(man), "file", man),
                ("blobs/sha256/" + sha(gz), "file", gz)])


small = tar([("hello", "file", b"hi\n")])
put("archive_load", "docker", docker_archive(small))
put("archive_load", "docker-gz", gzip.compress(docker_archive(small), mtime=0))
put("archive_load", "oci", oci_archive(small))
# The case: a layer with a hard link to /etc/passwd, refused by apply.
put("archive_load", "docker-hardlink-out", docker_archive(tar([("h", "hard", "/etc/passwd")])))
put("archive_load", "docker-escape", docker_archive(small, [("../sentinel/x", "file", b"out"),
                                                           ("up", "sym", "../sentinel")]))

# registry_http
D = b"hello"
d = "sha256:" + sha(D)
reqs = {
    "base": "GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n",
    "monolithic": f"POST /v2/a/b/blobs/uploads/?digest={d} HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                  f"GET /v2/a/b/blobs/{d} HTTP/1.1\r\nRange: bytes=1-3\r\n\r\n"
                  f"HEAD /v2/a/b/blobs/{d} HTTP/1.1\r\n\r\n",
    "chunked": "POST /v2/a/blobs/uploads/ HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
               "PATCH /v2/a/blobs/uploads/0123456789abcdef0123456789abcdef HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
               "Content-Range: 0-4\r\nExpect: 100-continue\r\n\r\n5;ext\r\nhello\r\n0\r\nT: 1\r\n\r\n"
               f"PUT /v2/a/blobs/uploads/0123456789abcdef0123456789abcdef?digest={d} HTTP/1.1\r\n"
               "Content-Length: 0\r\n\r\n"
               f"GET /v2/a/blobs/{d} HTTP/1.1\r\nRange: bytes=-2\r\n\r\n",
    "manifest": "PUT /v2/a/manifests/v1 HTTP/1.1\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n"
                "Content-Length: 2\r\n\r\n{}"
                "GET /v2/a/tags/list?n=1&last=a%20b HTTP/1.1\r\n\r\n"
                "GET /v2/_catalog?n=0 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                f"GET /v2/a/referrers/{d}?artifactType=x%2Fy HTTP/1.1\r\n\r\n"
                "DELETE /v2/a/manifests/v1 HTTP/1.1\r\nConnection: close\r\n\r\n",
}
for k, v in reqs.items():
    put("registry_http", k, v)

# lesson_file: two shipped lessons, with JSON and text output after a NUL
ls = os.path.join(ROOT, "lessons")
for n, folder in enumerate(sorted(os.listdir(ls))[:2]):
    with open(os.path.join(ls, folder, "lesson.toml"), "rb") as fh:
        put("lesson_file", f"{n}", fh.read() + b"\0" + b'[{"Id":"abc","Names":["/x"]}]')
put("lesson_file", "check", 'number = 1\ntitle = "t"\n[[step]]\nsay = "s"\nrun = "ps -a \'x y\'"\n'
    '[[exercise]]\ntask = "t"\n[[exercise.check]]\nwhat = "w"\nrun = "images --format json"\n'
    'pointer = "/0/RepoTags/0"\nequals = "a:1"\nlength = 3\ncontains = "a"\nhint = "h"\n'
    '\0[{"RepoTags":["a:1"]}]\n/tmp/.tmpAbC123/x 12.3ms sha256:' + "b" * 64 + "\n")

# api_route
for n, line in enumerate(["GET /v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D",
                          "POST /images/localhost:5001/app:1/push?tag=x",
                          "DELETE /v1.12/images/a/b:1?force=true",
                          "GET /v1.43/events?filters={\"type\":{\"container\":true}}",
                          "POST /exec/abc/start"]):
    put("api_route", f"{n}", line)
