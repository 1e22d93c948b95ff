//! What the report writes: `summary.json`, the findings, the document model and its Markdown
//! and HTML renderings, the charts, the output directory, and `compare`. The top layer; only
//! the pipeline ([`crate::analysis`]) and `lib.rs` import it.

pub mod analysed;
pub mod charts;
pub mod compare;
pub mod doc_model;
pub mod findings;
pub mod html;
pub mod markdown;
pub mod open_doc;
pub mod out_dir;
pub mod report_doc;
pub mod summary;
