//! Renders a [`Doc`] as GitHub Markdown; charts become image links to the SVG files beside it.

use crate::document::doc_model::{Block, Doc};

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The Markdown text.
pub fn render(doc: &Doc) -> String {
    let mut out = format!("# {}\n\n", doc.title);
    for b in &doc.blocks {
        match b {
            Block::Heading(level, text) => {
                out += &format!("{} {text}\n\n", "#".repeat(usize::from(*level).clamp(1, 6)))
            }
            Block::Para(text) => out += &format!("{text}\n\n"),
            Block::List(items) => {
                for i in items {
                    out += &format!("- {i}\n");
                }
                out += "\n";
            }
            Block::Table(head, rows) => {
                out += &format!(
                    "| {} |\n",
                    head.iter().map(|h| cell(h)).collect::<Vec<_>>().join(" | ")
                );
                out += &format!("|{}\n", "---|".repeat(head.len()));
                for r in rows {
                    out += &format!(
                        "| {} |\n",
                        r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")
                    );
                }
                out += "\n";
            }
            Block::Chart { file, title, .. } => out += &format!("![{title}]({file})\n\n"),
            Block::Code(text) => out += &format!("```\n{text}\n```\n\n"),
        }
    }
    out
}
