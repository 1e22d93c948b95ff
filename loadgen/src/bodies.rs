//! `--bodies FILE` (and `bodies = "…"` on a scenario's `[[request]]`): varied request bodies
//! from a JSON Lines file, one body per line, as vLLM's and guidellm's datasets, k6's
//! SharedArray and vegeta's targets files feed a load test. The file is read and checked once
//! (each line valid JSON, named by its line number when not); the bodies are kept as shared
//! bytes, and each send only picks an index: in file order, cycling (`sequential`: every line
//! once per pass), or at random (`random`: the k-th send's line is a hash of `--seed` and k, so a
//! seed reproduces the draw without a shared RNG).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// How each send picks its body among the file's lines.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BodiesOrder {
    /// In file order, cycling: every line is sent once per pass.
    #[default]
    Sequential,
    /// A line drawn uniformly at random per send, from `--seed`.
    Random,
}

/// Why a bodies file cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BodiesError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// No non-blank line.
    #[error("{path} has no bodies: expected JSON Lines, one request body per line")]
    Empty {
        /// The file.
        path: String,
    },
    /// A line is not one JSON value.
    #[error("{path}: line {line} is not valid JSON: {reason}")]
    Line {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What the parser said.
        reason: String,
    },
}

/// The bodies of one file, checked, with what the JSON summary records of it.
#[derive(Debug)]
pub struct BodySet {
    /// The file as given (relative paths of a scenario resolved against the scenario's folder).
    pub path: PathBuf,
    /// SHA-256 of the file's bytes, lower-case hex: which dataset a run sent.
    pub sha256: String,
    /// One body per non-blank line, in file order, each exactly as written.
    pub bodies: Vec<Bytes>,
    /// How sends pick among them.
    pub order: BodiesOrder,
    /// Seed of the random order.
    seed: u64,
    /// Sends that picked a body so far (every run on this set continues the count).
    sent: AtomicU64,
}

impl BodySet {
    /// Reads and checks `path`: every non-blank line must be one JSON value.
    pub fn load(path: &Path, order: BodiesOrder, seed: u64) -> Result<BodySet, BodiesError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| BodiesError::Read {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let sha256 = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let bytes = Bytes::from(bytes);
        let mut bodies = Vec::new();
        let mut start = 0;
        for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
            let end = start + line.len();
            let range = start..end;
            start = end + 1;
            let text = line.strip_suffix(b"\r").unwrap_or(line);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(text) {
                return Err(BodiesError::Line {
                    path: shown,
                    line: i + 1,
                    reason: e.to_string(),
                });
            }
            // A slice of the file's buffer: no copy per body.
            bodies.push(bytes.slice(range.start..range.start + text.len()));
        }
        if bodies.is_empty() {
            return Err(BodiesError::Empty { path: shown });
        }
        Ok(BodySet {
            path: path.to_path_buf(),
            sha256,
            bodies,
            order,
            seed,
            sent: AtomicU64::new(0),
        })
    }

    /// The body index of the next send: one atomic increment and, in random order, a hash.
    pub fn pick(&self) -> usize {
        let k = self.sent.fetch_add(1, Ordering::Relaxed);
        pick_index(self.order, self.seed, k, self.bodies.len())
    }
}

/// The body index of the `k`-th send (0-based) among `n` bodies.
pub fn pick_index(order: BodiesOrder, seed: u64, k: u64, n: usize) -> usize {
    let n64 = n as u64;
    match order {
        BodiesOrder::Sequential => (k % n64) as usize,
        BodiesOrder::Random => {
            // splitmix64 of (seed, k); `n` is far below 2^64, so the modulo bias is negligible.
            let mut z = seed ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) % n64) as usize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile_path::TempPath {
        tempfile_path::write(text)
    }

    /// A file in the temp folder, removed on drop.
    mod tempfile_path {
        use std::path::PathBuf;

        pub struct TempPath(pub PathBuf);

        impl Drop for TempPath {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }

        pub fn write(text: &str) -> TempPath {
            use std::sync::atomic::{AtomicU64, Ordering};
            static N: AtomicU64 = AtomicU64::new(0);
            let path = std::env::temp_dir().join(format!(
                "loadgen-bodies-{}-{}.jsonl",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&path, text).unwrap();
            TempPath(path)
        }
    }

    #[test]
    fn lines_become_bodies_exactly_as_written_blank_lines_skipped() {
        let f = file("{\"query\":\"a\"}\n\n  \r\n{\"query\": \"b\"}\r\n[1]");
        let set = BodySet::load(&f.0, BodiesOrder::Sequential, 0).unwrap();
        let got: Vec<&[u8]> = set.bodies.iter().map(|b| b.as_ref()).collect();
        assert_eq!(
            got,
            [&b"{\"query\":\"a\"}"[..], b"{\"query\": \"b\"}", b"[1]"]
        );
    }

    #[test]
    fn the_sha256_is_of_the_files_bytes() {
        let f = file("\"abc\"\n");
        let set = BodySet::load(&f.0, BodiesOrder::Sequential, 0).unwrap();
        // printf '"abc"\n' | sha256sum
        assert_eq!(
            set.sha256,
            "a4fb58ab9e76dcf8d9b2638c78dc2ba08b72447170604684d3f1adfb9842f950"
        );
    }

    #[test]
    fn a_bad_line_is_named_by_its_number() {
        let f = file("{\"query\":\"a\"}\n{\"query\":\"b\"}\n{not json}\n");
        let e = BodySet::load(&f.0, BodiesOrder::Sequential, 0).unwrap_err();
        assert!(matches!(e, BodiesError::Line { line: 3, .. }), "{e}");
        assert!(e.to_string().contains("line 3 is not valid JSON"), "{e}");
    }

    #[test]
    fn an_empty_or_missing_file_is_refused() {
        let f = file("\n \n");
        assert!(matches!(
            BodySet::load(&f.0, BodiesOrder::Sequential, 0),
            Err(BodiesError::Empty { .. })
        ));
        let missing = std::env::temp_dir().join("loadgen-no-such-bodies.jsonl");
        assert!(matches!(
            BodySet::load(&missing, BodiesOrder::Sequential, 0),
            Err(BodiesError::Read { .. })
        ));
    }

    #[test]
    fn sequential_order_sends_every_line_once_per_pass() {
        let n = 7;
        for pass in 0..3u64 {
            let mut seen: Vec<usize> = (0..n as u64)
                .map(|k| pick_index(BodiesOrder::Sequential, 1, pass * n as u64 + k, n))
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn random_order_is_reproducible_by_seed_and_covers_the_lines() {
        let draw = |seed| -> Vec<usize> {
            (0..1000)
                .map(|k| pick_index(BodiesOrder::Random, seed, k, 10))
                .collect()
        };
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
        let mut counts = [0u32; 10];
        draw(42).into_iter().for_each(|i| counts[i] += 1);
        // Each of 10 lines about 100 times in 1000 draws; 60..140 is beyond 4 sigma.
        assert!(counts.iter().all(|&c| (60..140).contains(&c)), "{counts:?}");
    }
}
