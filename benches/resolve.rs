//! Resolver benchmark (filled in by the resolver work).
fn main() {}
