//! The `mocks` binary (command-line surface comes next).
fn main() {}
