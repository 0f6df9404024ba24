//! Printing: JSON for scripts, aligned plain-text tables for people.
//!
//! Text for people goes through [`say!`]: what it prints comes partly from data (prompts,
//! answers, names, notes, file names), and data must not drive the terminal. Control
//! characters other than new line and tab, and the bidirectional overrides that can make text
//! read differently from what it is, are printed as escapes (`\u{1b}`). JSON output is
//! escaped by the JSON writer.

use std::borrow::Cow;

use serde::Serialize;

/// `println!` for text that may hold data: control characters are shown as escapes.
macro_rules! say {
    () => { println!() };
    ($($arg:tt)*) => {
        println!("{}", $crate::output::escape_controls(&format!($($arg)*)))
    };
}
pub(crate) use say;

/// `text` with every character that could steer a terminal written as a `\u{…}` escape.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    let steers = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(steers) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if steers(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints rows under a header, each column padded to its widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        say!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// A ratio as a short figure, or "n/a" when it is undefined.
pub fn figure(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.3}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_bidi_overrides_are_escaped_and_text_is_kept() {
        assert_eq!(
            escape_controls("red \u{1b}[31mtext\u{7}\r\nnext\tcol \u{202e}abc \u{9b}2J"),
            "red \\u{1b}[31mtext\\u{7}\\u{d}\nnext\tcol \\u{202e}abc \\u{9b}2J"
        );
        assert!(matches!(escape_controls("plain é 中文"), Cow::Borrowed(_)));
    }
}
