//! Variables: bytes a script named with `let`, `--set`, `repeat --as`, or
//! captured from the network (`--as`, a pattern's named group).
//!
//! A value is bytes, never text: a captured reply holding `\`, `'`, `$`,
//! NUL or invalid UTF-8 goes back out exactly as it came. Whether a value
//! was captured decides how `--stable` shows it: a captured value differs
//! from run to run, so the transcript shows `<NAME>` in its place.

use rustc_hash::FxHashMap;

/// One variable's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub bytes: Vec<u8>,
    /// Received from the network (shown as `<NAME>` under `--stable`).
    pub captured: bool,
}

/// The session's variables.
#[derive(Debug, Default)]
pub struct Variables {
    values: FxHashMap<String, Value>,
}

impl Variables {
    /// A value the script wrote (`let`, `--set`, a counter): shown as it is.
    pub fn set(&mut self, name: &str, bytes: Vec<u8>) {
        self.insert(name, bytes, false);
    }

    /// A value received from the network: a placeholder under `--stable`.
    pub fn capture(&mut self, name: &str, bytes: Vec<u8>) {
        self.insert(name, bytes, true);
    }

    fn insert(&mut self, name: &str, bytes: Vec<u8>, captured: bool) {
        match self.values.get_mut(name) {
            // Reuse the name's allocation: a counter is set on every turn.
            Some(value) => *value = Value { bytes, captured },
            None => {
                self.values
                    .insert(name.to_string(), Value { bytes, captured });
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// The names that have a value, sorted (for the shell's completion).
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.values.keys().cloned().collect();
        names.sort_unstable();
        names
    }
}

/// What `sendline` ends a line with (`newline lf|crlf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineEnding {
    #[default]
    Lf,
    CrLf,
}

impl LineEnding {
    pub fn bytes(self) -> &'static [u8] {
        match self {
            LineEnding::Lf => b"\n",
            LineEnding::CrLf => b"\r\n",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_bytes_and_remember_where_they_came_from() {
        let mut vars = Variables::default();
        vars.set("crlf", b"\r\n".to_vec());
        vars.capture("id", vec![0xff, 0, b'$']);
        assert_eq!(vars.get("crlf").unwrap().bytes, b"\r\n");
        assert!(!vars.get("crlf").unwrap().captured);
        assert_eq!(vars.get("id").unwrap().bytes, [0xff, 0, b'$']);
        assert!(vars.get("id").unwrap().captured);
        vars.set("id", b"1".to_vec());
        assert!(!vars.get("id").unwrap().captured);
        assert_eq!(vars.names(), ["crlf", "id"]);
    }
}
