//! Renders a [`Doc`] as one self-contained HTML file: charts inline as SVG, styles inline, and no
//! reference to anything outside the file, so it opens offline.

use crate::document::doc_model::{Block, Doc};

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The SVG as an inline element: no XML declaration, no namespace URL (inline SVG in HTML5 needs
/// none, and the file then names no address at all).
pub fn inline_svg(svg: &str) -> String {
    let start = svg.find("<svg").unwrap_or(0);
    svg[start..].replace(" xmlns=\"http://www.w3.org/2000/svg\"", "")
}

const STYLE: &str = "body{font-family:sans-serif;max-width:980px;margin:2em auto;padding:0 1em;\
color:#222}table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;padding:2px 6px;\
text-align:right}th{background:#eee}figure{margin:1em 0}pre{background:#f4f4f4;padding:8px;\
overflow-x:auto}";

/// The HTML text.
pub fn render(doc: &Doc) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&doc.title),
        escape(&doc.title)
    );
    for b in &doc.blocks {
        match b {
            Block::Heading(level, text) => {
                let l = (*level + 1).clamp(2, 6);
                out += &format!("<h{l}>{}</h{l}>\n", escape(text));
            }
            Block::Para(text) => out += &format!("<p>{}</p>\n", escape(text)),
            Block::List(items) => {
                out += "<ul>\n";
                for i in items {
                    out += &format!("<li>{}</li>\n", escape(i));
                }
                out += "</ul>\n";
            }
            Block::Table(head, rows) => {
                out += "<table>\n<tr>";
                for h in head {
                    out += &format!("<th>{}</th>", escape(h));
                }
                out += "</tr>\n";
                for r in rows {
                    out += "<tr>";
                    for c in r {
                        out += &format!("<td>{}</td>", escape(c));
                    }
                    out += "</tr>\n";
                }
                out += "</table>\n";
            }
            Block::Chart { title, svg, .. } => {
                out += &format!(
                    "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>\n",
                    inline_svg(svg),
                    escape(title)
                );
            }
            Block::Code(text) => out += &format!("<pre>{}</pre>\n", escape(text)),
        }
    }
    out += "</body>\n</html>\n";
    out
}
