//! gaffer's own TOML files (rule files, the kind registry): parsing them with errors that
//! name the file, the 1-based line and the key.

use serde::de::DeserializeOwned;
use std::ops::Range;

/// A malformed TOML file: the file, the line and (for a bad value) the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FileError {
    /// The file is not valid TOML or does not follow the schema.
    #[error("{file}:{line}: {message}")]
    Syntax {
        /// The file (e.g. `cc.toml`).
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A value is wrong: a bad regex, an unknown status, an empty field.
    #[error("{file}:{line}: key `{key}`: {message}")]
    Value {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// The key holding the bad value, e.g. `rule[3].patterns`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// The 1-based line of byte `offset` in `text` (the last line past the end).
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// One file being read: its name and text, for errors that point into it.
pub(crate) struct Source<'a> {
    /// The file's name in errors.
    pub file: &'a str,
    /// Its text, where spans point.
    pub text: &'a str,
}

impl Source<'_> {
    /// Deserializes the whole file; a TOML or schema error names its line.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, FileError> {
        toml::from_str(self.text).map_err(|e| FileError::Syntax {
            file: self.file.to_string(),
            line: e.span().map(|s| self.line(s.start)).unwrap_or(1),
            message: e.message().to_string(),
        })
    }

    /// The 1-based line of byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        line_of(self.text, offset)
    }

    /// A bad value at `span` under `key`.
    pub fn value_err(&self, span: Range<usize>, key: &str, message: String) -> FileError {
        FileError::Value {
            file: self.file.to_string(),
            line: self.line(span.start),
            key: key.to_string(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_count_from_one_and_clamp_past_the_end() {
        let text = "a = 1\nb = 2\n";
        assert_eq!(line_of(text, 0), 1);
        assert_eq!(line_of(text, 6), 2);
        assert_eq!(line_of(text, 999), 3);
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let src = Source {
            file: "x.toml",
            text: "a = 1\nb = \n",
        };
        let err = src.parse::<toml::Value>().unwrap_err();
        assert!(
            matches!(&err, FileError::Syntax { file, line: 2, .. } if file == "x.toml"),
            "{err:?}"
        );
        let err = src.value_err(6..7, "b", "bad".into());
        assert_eq!(err.to_string(), "x.toml:2: key `b`: bad");
    }
}
