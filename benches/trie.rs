//! Placeholder replaced by the trie benchmark.
fn main() {}
