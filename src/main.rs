//! The `glassbox` binary: parse the command line, install the sinks,
//! dispatch, and print the error chain once on failure. Under the name
//! `glassbox-runc` it speaks runc's command line instead.

fn main() {
    // Invoked as `glassbox-runc` (a symlink), glassbox is an OCI runtime.
    let argv0 = std::env::args_os().next().unwrap_or_default();
    // Rootless glassbox's keeper of the user namespace (see rootless).
    if std::env::args_os().nth(1).as_deref()
        == Some(std::ffi::OsStr::new(glassbox::rootless::KEEPER_ARG))
    {
        std::process::exit(glassbox::rootless::keeper_main());
    }
    if glassbox::cli::runc_cmd::invoked_as_runtime(&argv0) {
        std::process::exit(glassbox::cli::runc_cmd::main());
    }
    std::process::exit(glassbox::cli::main());
}
