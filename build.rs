//! Embeds every explanation template under src/explain/templates/ into the
//! binary, so that adding a template needs no Rust.

use std::fmt::Write;

fn main() {
    let dir = std::path::Path::new("src/explain/templates");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("src/explain/templates exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .collect();
    names.sort();
    let mut out = String::from(
        "/// (kind.action, template source), sorted.\npub static TEMPLATES: &[(&str, &str)] = &[\n",
    );
    for n in &names {
        println!("cargo:rerun-if-changed={}/{}", dir.display(), n);
        let key = n.trim_end_matches(".md");
        let path = std::fs::canonicalize(dir.join(n)).expect("template readable");
        writeln!(
            out,
            "    ({key:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("templates.rs");
    std::fs::write(dest, out).unwrap();
}
