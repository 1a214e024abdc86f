//! Registry benchmark (filled in below).
fn main() {}
