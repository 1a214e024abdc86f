//! `exec`: a new process inside a running container. It joins the
//! container's cgroup and namespaces (`setns(2)` on `/proc/PID/ns/*`),
//! forks so the child lands in the PID namespace, takes the container's
//! environment, working directory and reduced privileges from its
//! config.json, and execs the command.

use super::RuntimeError;
use crate::store::container::{self, Status};
use crate::trace::{self, Kind};
use std::ffi::CString;

/// What `exec` may change of the container's process settings.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// Extra environment, `KEY=VALUE` (`-e`), over the container's.
    pub env: Vec<String>,
    /// The working directory (`-w`), else the container's.
    pub workdir: Option<String>,
    /// `USER[:GROUP]` (`-u`), names looked up in the container's own
    /// /etc/passwd and /etc/group; else the container's user.
    pub user: Option<String>,
    /// A pseudo-terminal (`-t`).
    pub tty: bool,
    /// The caller's stdin (`-i`); without it and `tty`, /dev/null.
    pub interactive: bool,
}

/// The environment variable naming a unix socket on which `exec -t` sends
/// the pty master on instead of serving the terminal itself (the daemon
/// sets it for `docker exec -it`).
pub const TTY_FORWARD_FD_ENV: &str = "GLASSBOX_TTY_FORWARD_FD";

/// Runs `cmd` in the container `key`; returns its exit code. The
/// journal gets `exec_create: CMD` and `exec_start: CMD` (moby's actions
/// carry the command) and `exec_die` with the exit code.
pub fn exec(
    root: &std::path::Path,
    key: &str,
    cmd: &[String],
    opts: &ExecOptions,
) -> crate::Result<i32> {
    let st = container::find(root, key).ok().map(|(_, st)| st);
    let line = cmd.join(" ");
    if let Some(st) = &st {
        if st.observed() == Status::Running {
            st.journal(root, &format!("exec_create: {line}"), &[]);
            st.journal(root, &format!("exec_start: {line}"), &[]);
        }
    }
    // This process joins the container's mount namespace: the journal is
    // opened while the store's path still leads to it.
    let journal = crate::store::journal::Opened::open(root);
    let r = exec_in_container(root, key, cmd, opts);
    if let (Some(st), Ok(code), Ok(mut j)) = (&st, &r, journal) {
        j.record(
            "container",
            "exec_die",
            &st.id,
            &[
                ("name", st.name.clone()),
                ("image", st.image.clone()),
                ("exitCode", code.to_string()),
            ],
        );
    }
    r
}

fn exec_in_container(
    root: &std::path::Path,
    key: &str,
    cmd: &[String],
    opts: &ExecOptions,
) -> crate::Result<i32> {
    let (env, tty, interactive) = (&opts.env, opts.tty, opts.interactive);
    let _p = trace::phase("exec");
    let (dir, st) = container::find(root, key)?;
    if st.observed() != Status::Running {
        return Err(RuntimeError::IllegalMove {
            name: st.name.clone(),
            state: st.observed().as_str(),
            verb: "exec'd into",
            hint: format!("start it first with `glassbox start {}`", st.name),
        }
        .into());
    }
    let pid = st.pid.unwrap_or(0);
    let forward_to = std::env::var(TTY_FORWARD_FD_ENV)
        .ok()
        .and_then(|v| v.parse::<i32>().ok());
    std::env::remove_var(TTY_FORWARD_FD_ENV);
    let session = if tty {
        Some(super::tty::Session::new()?)
    } else {
        None
    };
    let spec = oci_spec::runtime::Spec::load(dir.join("config.json"))
        .map_err(|e| RuntimeError::StartFailed(st.name.clone(), e.to_string()))?;
    // `-u` names are the container's own: read its /etc/passwd through
    // /proc/PID/root, the container's root as its PID 1 sees it.
    let merged = super::Lower {
        dir: std::path::PathBuf::from(format!("/proc/{pid}/root")),
        digest: format!("container {}", st.name),
    };
    let user = match &opts.user {
        Some(u) => {
            let ids = super::user::resolve(u, std::slice::from_ref(&merged))?;
            let (u, g) = ids.split_once(':').unwrap_or((&ids, "0"));
            Some((u.parse().unwrap_or(0), g.parse().unwrap_or(0)))
        }
        None => None,
    };
    let process = spec.process().clone().unwrap_or_default();
    let (uid, gid) = user.unwrap_or((process.user().uid(), process.user().gid()));
    // As dockerd: the exec's user gets its own supplementary groups, and
    // its own HOME unless the container's HOME was set by the image or -e
    // (glassbox's default is the container user's home). Read through
    // /proc/PID/root before joining the container's mount namespace, where
    // that path is not there.
    let (home, groups) = super::user::home_and_groups(uid, gid, std::slice::from_ref(&merged));
    let default_home = match user {
        Some(_) => {
            super::user::home_and_groups(
                process.user().uid(),
                process.user().gid(),
                std::slice::from_ref(&merged),
            )
            .0
        }
        None => home.clone(),
    };
    let cg = super::cgroup::Cgroup::new(super::cgroup::Layout::detect()?, &st.id);
    cg.join(&mut super::cgroup::HostFs, std::process::id() as i32)?;
    super::namespaces::join_all(pid, &super::namespaces::in_spec(&spec))?;
    let cwd = opts
        .workdir
        .clone()
        .unwrap_or_else(|| process.cwd().display().to_string());
    let mut envs = process.env().clone().unwrap_or_default();
    let home_env = format!("HOME={home}");
    match envs.iter_mut().find(|e| e.starts_with("HOME=")) {
        Some(h) if *h == format!("HOME={default_home}") => *h = home_env,
        Some(_) => {}
        None => envs.push(home_env),
    }
    for e in env {
        let k = e.split('=').next().unwrap_or(e);
        envs.retain(|x| x.split('=').next() != Some(k));
        envs.push(e.clone());
    }
    let path_var = envs
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/bin:/bin")
        .to_string();
    // SAFETY: the CLI is single-threaded, so the child may run Rust code
    // (allocation included) between fork and exec.
    match unsafe { nix::unistd::fork() }.map_err(|e| RuntimeError::Kernel {
        what: "fork".into(),
        errno: e,
    })? {
        nix::unistd::ForkResult::Child => {
            let code = (|| -> i32 {
                if let Err(e) = nix::unistd::chdir(cwd.as_str()) {
                    eprintln!("glassbox: cannot change to the working directory {cwd}: {e}");
                    return 126;
                }
                if let Some(t) = session.as_ref().map(|s| s.plan()) {
                    if let Err(e) = super::tty::open_in_container(t.sock, t.rows, t.cols) {
                        eprintln!("glassbox: {e}");
                        return 125;
                    }
                } else if !interactive {
                    super::init::stdin_from_null();
                }
                let program = match super::init::resolve(&cmd[0], &path_var) {
                    Ok(p) => p,
                    Err((c, why)) => {
                        eprintln!("glassbox: {why}");
                        return c;
                    }
                };
                if let Err(c) = super::init::drop_capabilities(&spec) {
                    return c;
                }
                // SAFETY: prctl with integer arguments.
                unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
                super::init::clean_slate_for_exec();
                let gids: Vec<nix::unistd::Gid> = groups
                    .iter()
                    .map(|g| nix::unistd::Gid::from_raw(*g))
                    .collect();
                let _ = nix::unistd::setgroups(&gids);
                let _ = nix::unistd::setgid(nix::unistd::Gid::from_raw(gid));
                let _ = nix::unistd::setuid(nix::unistd::Uid::from_raw(uid));
                let a: Vec<CString> = cmd
                    .iter()
                    .map(|x| CString::new(x.as_str()).unwrap_or_default())
                    .collect();
                let e: Vec<CString> = envs
                    .iter()
                    .map(|x| CString::new(x.as_str()).unwrap_or_default())
                    .collect();
                let p = CString::new(program.as_os_str().as_encoded_bytes()).unwrap_or_default();
                let err = nix::unistd::execve(&p, &a, &e).unwrap_err();
                eprintln!("glassbox: cannot execute {}: {err}", program.display());
                if err == nix::errno::Errno::ENOENT {
                    127
                } else {
                    126
                }
            })();
            std::process::exit(code);
        }
        nix::unistd::ForkResult::Parent { child } => {
            trace::fact(Kind::Process, "exec", cmd[0].clone())
                .field("args", cmd)
                .field("pid", child.as_raw())
                .info();
            if let Some(session) = session {
                let served = match forward_to {
                    Some(to) => {
                        trace::fact(Kind::Process, "tty_forward", cmd[0].clone())
                            .field("fd", to)
                            .syscall("recvmsg(SCM_RIGHTS), sendmsg(SCM_RIGHTS)")
                            .info();
                        session.forward(child, to)
                    }
                    None => session.serve(child),
                };
                return match served {
                    Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => Ok(c),
                    Ok(nix::sys::wait::WaitStatus::Signaled(_, s, _)) => Ok(128 + s as i32),
                    Ok(_) => Ok(1),
                    Err(e) => Err(RuntimeError::Kernel {
                        what: "serving the exec'd process's terminal".into(),
                        errno: e,
                    }
                    .into()),
                };
            }
            loop {
                match nix::sys::wait::waitpid(child, None) {
                    Err(nix::errno::Errno::EINTR) => continue,
                    Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => return Ok(c),
                    Ok(nix::sys::wait::WaitStatus::Signaled(_, s, _)) => return Ok(128 + s as i32),
                    Ok(_) => continue,
                    Err(e) => {
                        return Err(RuntimeError::Kernel {
                            what: "waiting for the exec'd process".into(),
                            errno: e,
                        }
                        .into())
                    }
                }
            }
        }
    }
}
