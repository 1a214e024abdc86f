//! The `glassbox` binary: parse the command line, install the sinks,
//! dispatch, and print the error chain once on failure.

fn main() {
    std::process::exit(glassbox::cli::main());
}
