//! JUnit XML of the gate: one test case per gated step × objective (name, measured value,
//! limit), so CI systems show the SLO gate as tests. A failed objective carries the reason; an
//! interrupted step fails every objective.

use std::io::{self, Write};

use crate::gate;
use crate::record::StepResult;
use crate::slo::Objective;

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// Writes the test suite `loadgen <command>` for `objectives` on `steps`.
pub fn write(
    mut out: impl Write,
    command: &str,
    objectives: &[Objective],
    steps: &[StepResult],
    until: Option<f64>,
) -> io::Result<()> {
    let mut cases = Vec::new();
    for s in steps.iter().filter(|s| gate::gated(s, until)) {
        for o in objectives {
            let (holds, measured) = gate::check(o, s);
            cases.push((s, o, holds, measured));
        }
    }
    let failures = cases.iter().filter(|c| !c.2).count();
    let time: f64 = steps.iter().map(|s| s.duration_s).sum();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="loadgen" tests="{}" failures="{failures}" time="{time:.3}">"#,
        cases.len()
    )?;
    writeln!(
        out,
        r#"  <testsuite name="loadgen {}" tests="{}" failures="{failures}" errors="0" skipped="0" time="{time:.3}">"#,
        escape(command),
        cases.len()
    )?;
    for (s, o, holds, measured) in &cases {
        let name = format!("step {} ({}): {}", s.step, gate::level_text(s), o.text);
        writeln!(
            out,
            r#"    <testcase classname="loadgen.slo" name="{}" time="{:.3}">"#,
            escape(&name),
            s.duration_s
        )?;
        writeln!(
            out,
            r#"      <properties><property name="measured" value="{}"/><property name="objective" value="{}"/></properties>"#,
            escape(measured),
            escape(&o.text)
        )?;
        if !holds {
            let msg = format!("{} failed, measured {}", o.text, measured);
            writeln!(
                out,
                r#"      <failure message="{}" type="slo">{}</failure>"#,
                escape(&msg),
                escape(&msg)
            )?;
        }
        writeln!(out, "    </testcase>")?;
    }
    writeln!(out, "  </testsuite>")?;
    writeln!(out, "</testsuites>")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn xml_special_characters_are_escaped() {
        assert_eq!(escape("p99<2s & \"x\""), "p99&lt;2s &amp; &quot;x&quot;");
    }
}
