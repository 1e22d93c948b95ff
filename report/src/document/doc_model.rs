//! A small document model (headings, paragraphs, lists, tables, charts) built once and rendered
//! twice: to Markdown for GitHub ([`crate::document::markdown`]) and to one self-contained HTML file
//! ([`crate::document::html`]).

/// One block of a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A heading of level 1–3.
    Heading(u8, String),
    /// A paragraph of plain text.
    Para(String),
    /// A bulleted list.
    List(Vec<String>),
    /// A table: header cells and rows.
    Table(Vec<String>, Vec<Vec<String>>),
    /// A chart: the SVG file name beside the document, its title and its SVG text.
    Chart {
        /// File name (`throughput.svg`).
        file: String,
        /// Alt text and caption.
        title: String,
        /// The SVG document.
        svg: String,
    },
    /// Preformatted text.
    Code(String),
}

/// A titled sequence of blocks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Doc {
    /// The document's title.
    pub title: String,
    /// Its content.
    pub blocks: Vec<Block>,
}

impl Doc {
    /// A new document.
    pub fn new(title: impl Into<String>) -> Self {
        Doc {
            title: title.into(),
            blocks: Vec::new(),
        }
    }

    /// Appends a block.
    pub fn push(&mut self, b: Block) -> &mut Self {
        self.blocks.push(b);
        self
    }

    /// The charts, as (file name, SVG).
    pub fn charts(&self) -> Vec<(&str, &str)> {
        self.blocks
            .iter()
            .filter_map(|b| match b {
                Block::Chart { file, svg, .. } => Some((file.as_str(), svg.as_str())),
                _ => None,
            })
            .collect()
    }
}
