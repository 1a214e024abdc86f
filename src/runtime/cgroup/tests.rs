//! Unit tests of the cgroup writes, through a recorder instead of the
//! kernel: the v2 and v1 sequences can both be checked on any host.

use super::*;

/// Records every call instead of touching the kernel.
#[derive(Default)]
struct Recorder {
    calls: Vec<String>,
    /// What `cgroup.freeze` was last set to, for `cgroup.events`.
    freeze: String,
    /// Control files this kernel does not have.
    absent: Vec<&'static str>,
}

impl CgroupFs for Recorder {
    fn mkdir(&mut self, p: &Path) -> std::io::Result<()> {
        self.calls.push(format!("mkdir {}", p.display()));
        Ok(())
    }
    fn write(&mut self, p: &Path, value: &str) -> std::io::Result<()> {
        self.calls.push(format!("write {} {value}", p.display()));
        if p.ends_with("cgroup.freeze") {
            self.freeze = value.to_string();
        }
        Ok(())
    }
    fn read(&mut self, p: &Path) -> std::io::Result<String> {
        self.calls.push(format!("read {}", p.display()));
        if self.absent.iter().any(|f| p.ends_with(f)) {
            return Err(std::io::ErrorKind::NotFound.into());
        }
        if p.ends_with("cgroup.events") {
            return Ok(format!("populated 1\nfrozen {}\n", self.freeze));
        }
        Ok("oom 0\noom_kill 1\n".into())
    }
    fn rmdir(&mut self, p: &Path) -> std::io::Result<()> {
        self.calls.push(format!("rmdir {}", p.display()));
        Ok(())
    }
}

const HYBRID: &str = "35 25 0:30 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
36 25 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
37 25 0:32 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";

#[test]
fn hybrid_host_is_v1_and_unified_host_is_v2() {
    let l = Layout::from_mountinfo(HYBRID).unwrap();
    assert_eq!(l.version(), "v1");
    let v2 = "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
    assert_eq!(
        Layout::from_mountinfo(v2),
        Some(Layout::V2 {
            root: "/sys/fs/cgroup".into()
        })
    );
}

#[test]
fn v2_writes_enable_controllers_then_set_limits_join_and_remove() {
    let _c = trace::capture();
    let cg = Cgroup::new(Layout::V2 { root: "/cg".into() }, "abc");
    let mut fs = Recorder::default();
    let limits = Limits {
        memory: Some(64 << 20),
        cpus: Some(0.5),
        pids: Some(20),
    };
    cg.create(&mut fs, &limits).unwrap();
    cg.join(&mut fs, 42).unwrap();
    assert!(cg.oom_killed(&mut fs));
    cg.remove(&mut fs).unwrap();
    assert_eq!(
        fs.calls,
        [
            "mkdir /cg",
            "write /cg/cgroup.subtree_control +memory +cpu +pids",
            "mkdir /cg/glassbox",
            "write /cg/glassbox/cgroup.subtree_control +memory +cpu +pids",
            "mkdir /cg/glassbox/abc",
            "write /cg/glassbox/abc/memory.max 67108864",
            "read /cg/glassbox/abc/memory.swap.max",
            "write /cg/glassbox/abc/memory.swap.max 0",
            "write /cg/glassbox/abc/cpu.max 50000 100000",
            "write /cg/glassbox/abc/pids.max 20",
            "write /cg/glassbox/abc/cgroup.procs 42",
            "read /cg/glassbox/abc/memory.events",
            "rmdir /cg/glassbox/abc",
            "rmdir /cg/glassbox",
        ]
    );
}

#[test]
fn a_v2_kernel_without_swap_accounting_limits_memory_and_says_swap_is_not_limited() {
    let c = trace::capture();
    let cg = Cgroup::new(Layout::V2 { root: "/cg".into() }, "abc");
    let mut fs = Recorder {
        absent: vec!["memory.swap.max"],
        ..Default::default()
    };
    let limits = Limits {
        memory: Some(64 << 20),
        ..Default::default()
    };
    cg.create(&mut fs, &limits).unwrap();
    assert_eq!(
        fs.calls[4..],
        [
            "mkdir /cg/glassbox/abc",
            "write /cg/glassbox/abc/memory.max 67108864",
            "read /cg/glassbox/abc/memory.swap.max",
        ]
    );
    let events = c.events();
    let skip = events
        .iter()
        .find(|e| e.action == "skip")
        .expect("a cgroup.skip event");
    assert_eq!(skip.subject, "memory.swap.max");
    assert!(skip.fields["reason"]
        .as_str()
        .unwrap()
        .contains("no swap accounting"));
}

#[test]
fn pause_writes_cgroup_freeze_on_v2_and_freezer_state_on_v1() {
    let _c = trace::capture();
    let mut fs = Recorder::default();
    Cgroup::new(Layout::V2 { root: "/cg".into() }, "abc")
        .freeze(&mut fs, true)
        .unwrap();
    let v1 = Layout::V1 {
        controllers: vec![("freezer".into(), "/f".into())],
    };
    Cgroup::new(v1, "abc").freeze(&mut fs, false).unwrap();
    assert_eq!(
        fs.calls,
        [
            "write /cg/glassbox/abc/cgroup.freeze 1",
            "read /cg/glassbox/abc/cgroup.events",
            "write /f/glassbox/abc/freezer.state THAWED"
        ]
    );
}

#[test]
fn v1_writes_go_to_each_controller() {
    let _c = trace::capture();
    let cg = Cgroup::new(Layout::from_mountinfo(HYBRID).unwrap(), "abc");
    let mut fs = Recorder::default();
    cg.create(
        &mut fs,
        &Limits {
            memory: Some(64 << 20),
            cpus: None,
            pids: Some(5),
        },
    )
    .unwrap();
    assert_eq!(
        fs.calls,
        [
            "mkdir /sys/fs/cgroup/memory/glassbox/abc",
            "mkdir /sys/fs/cgroup/pids/glassbox/abc",
            "write /sys/fs/cgroup/memory/glassbox/abc/memory.limit_in_bytes 67108864",
            "write /sys/fs/cgroup/pids/glassbox/abc/pids.max 5",
        ]
    );
}

#[test]
fn memory_sizes_parse_like_docker() {
    assert_eq!(parse_memory("64m").unwrap(), 64 << 20);
    assert_eq!(parse_memory("1g").unwrap(), 1 << 30);
    assert!(matches!(
        parse_memory("1k"),
        Err(RuntimeError::MemoryTooSmall(_))
    ));
    assert!(matches!(
        parse_memory("lots"),
        Err(RuntimeError::BadMemory(_))
    ));
}

#[test]
fn a_rootless_glassbox_uses_the_topmost_delegated_ancestor_of_its_own_cgroup() {
    let mount = Path::new("/sys/fs/cgroup");
    let own = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/term.scope\n";
    let delegated =
        |p: &Path| p.starts_with("/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service");
    assert_eq!(
        delegated_root(mount, own, &delegated),
        Some(PathBuf::from(
            "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service"
        ))
    );
    // A login session's scope is not delegated: nothing to use.
    let session = "0::/user.slice/user-1000.slice/session-2.scope\n";
    assert_eq!(delegated_root(mount, session, &delegated), None);
    // The mount itself is never taken, even when everything is "owned".
    assert_eq!(
        delegated_root(mount, "0::/student/shell\n", &|_| true),
        Some(PathBuf::from("/sys/fs/cgroup/student"))
    );
}
