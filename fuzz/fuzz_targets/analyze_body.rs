//! libFuzzer target: arbitrary bytes as an `/analyze` body (and, through its first line, as a
//! content type). The invariants live in the crate's library, so the seed corpus is replayed on
//! stable by `cargo test` as well.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    capacity_lab_fuzz::check_analyze_body(data);
});
