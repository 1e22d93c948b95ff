//! Replays the committed seed corpus through the fuzz target's checks on stable, without
//! libFuzzer, so CI catches a seed that breaks an invariant and a corpus that stopped reaching
//! the answers it was written for.

use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn seed_corpus_keeps_every_invariant_and_reaches_every_answer() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/analyze_body");
    let mut statuses = BTreeSet::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/analyze_body exists") {
        let path = entry.expect("readable entry").path();
        let data = std::fs::read(&path).expect("readable seed");
        statuses.extend(
            capacity_lab_fuzz::check_analyze_body(&data)
                .into_iter()
                .map(|s| s.as_u16()),
        );
        files += 1;
    }
    assert!(files >= 10, "only {files} seeds in {}", dir.display());
    // Accepted, malformed, too large (tight settings), wrong content type (first line), wrong shape.
    assert_eq!(
        statuses,
        BTreeSet::from([200, 400, 413, 415, 422]),
        "the seeds' answers"
    );
}
