//! The tab-separated text form of snapshots and undo logs: one record per line, fields
//! separated by tabs, with `\\`, `\t` and `\n` escaped inside fields.

use std::path::Path;

use crate::error::{Error, Result};

/// Escapes a field so that it holds no tab, newline or bare backslash.
pub(crate) fn escape(field: &str, out: &mut String) {
    for c in field.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Undoes [`escape`]; `None` on a dangling or unknown escape.
pub(crate) fn unescape(field: &str) -> Option<String> {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            '\\' => '\\',
            't' => '\t',
            'n' => '\n',
            _ => return None,
        });
    }
    Some(out)
}

/// Appends one record: escaped fields joined by tabs, then a newline.
pub(crate) fn record(out: &mut String, fields: &[&str]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        escape(f, out);
    }
    out.push('\n');
}

/// The records of a text: (line number, unescaped fields), skipping blank lines and `#`
/// comments. A bad escape is an [`Error::Syntax`] naming `file` and the line.
pub(crate) fn records<'a>(
    file: &'a str,
    text: &'a str,
) -> impl Iterator<Item = Result<(usize, Vec<String>)>> + 'a {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(move |(i, line)| {
            line.split('\t')
                .map(|f| {
                    unescape(f).ok_or_else(|| Error::Syntax {
                        file: file.to_owned(),
                        line: i + 1,
                        reason: format!("bad escape in field {f:?}"),
                    })
                })
                .collect::<Result<Vec<_>>>()
                .map(|fields| (i + 1, fields))
        })
}

/// Writes `text` to `path` atomically: a temporary file beside it, then a rename.
pub(crate) fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let file_error = |source| Error::File {
        op: "write",
        path: path.to_owned(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, text).map_err(file_error)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        file_error(e)
    })
}

/// Reads a whole file.
pub(crate) fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::File {
        op: "read",
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_round_trips() {
        for s in [
            "",
            "a\tb",
            "x\\ny",
            "line\nbreak",
            "\\",
            "4096\t131072\t6291456",
        ] {
            let mut e = String::new();
            escape(s, &mut e);
            assert!(!e.contains('\t') && !e.contains('\n'));
            assert_eq!(unescape(&e).as_deref(), Some(s));
        }
        assert_eq!(unescape("bad\\"), None);
        assert_eq!(unescape("bad\\x"), None);
    }
}
