//! The Python helpers an exported program may carry, each keeping one
//! sockrepl behaviour that plain `socket` calls do not (one deadline per
//! command, framed receives that take no byte too many, ...).
//!
//! Their source is `helpers.py`, one section per helper headed by
//! `#: NAME imports=... needs=...`; a program gets only the sections it
//! uses and those they need, in the file's order, and only their imports.

use std::collections::BTreeSet;
use std::sync::OnceLock;

const SOURCE: &str = include_str!("helpers.py");

/// The fixed test certificate and key a program writes for `${tls.cert}`
/// and `tls --with`/`--server` (the standard library cannot make one).
const CERT: &str = include_str!("test-cert.pem");

/// One helper section.
#[derive(Debug)]
pub struct Helper {
    pub name: String,
    pub imports: Vec<String>,
    pub needs: Vec<String>,
    pub source: String,
    /// The functions and globals it defines.
    pub defines: Vec<String>,
}

/// Every helper, in the file's order.
pub fn all() -> &'static [Helper] {
    static ALL: OnceLock<Vec<Helper>> = OnceLock::new();
    ALL.get_or_init(|| parse(SOURCE))
}

fn parse(source: &str) -> Vec<Helper> {
    let mut helpers: Vec<Helper> = Vec::new();
    for line in source.lines() {
        if let Some(header) = line.strip_prefix("#: ") {
            let mut words = header.split_whitespace();
            let name = words.next().unwrap_or_default().to_string();
            let mut helper = Helper {
                name,
                imports: Vec::new(),
                needs: Vec::new(),
                source: String::new(),
                defines: Vec::new(),
            };
            for word in words {
                let list = |v: &str| v.split(',').map(str::to_string).collect::<Vec<_>>();
                if let Some(v) = word.strip_prefix("imports=") {
                    helper.imports = list(v);
                } else if let Some(v) = word.strip_prefix("needs=") {
                    helper.needs = list(v);
                }
            }
            helpers.push(helper);
            continue;
        }
        let Some(helper) = helpers.last_mut() else {
            continue;
        };
        if let Some(rest) = line.strip_prefix("def ") {
            helper
                .defines
                .push(rest.split('(').next().unwrap_or_default().to_string());
        } else if let Some((name, _)) = line.split_once(" = ") {
            if !name.starts_with(' ') {
                helper.defines.push(name.to_string());
            }
        }
        helper
            .source
            .push_str(&line.replace("@CERT@", CERT.trim_end()));
        helper.source.push('\n');
    }
    for helper in &mut helpers {
        let trimmed = helper.source.trim().to_string();
        helper.source = trimmed;
    }
    helpers
}

/// Every name some helper defines: no handle may take one.
pub fn defined_names() -> impl Iterator<Item = String> {
    all().iter().flat_map(|h| h.defines.iter().cloned())
}

/// The helpers `used` needs, themselves included, in the file's order.
pub fn closure(used: &BTreeSet<&str>) -> Vec<&'static Helper> {
    let mut wanted: BTreeSet<String> = used.iter().map(|s| s.to_string()).collect();
    loop {
        let more: Vec<String> = all()
            .iter()
            .filter(|h| wanted.contains(&h.name))
            .flat_map(|h| h.needs.iter().cloned())
            .filter(|n| !wanted.contains(n))
            .collect();
        if more.is_empty() {
            break;
        }
        wanted.extend(more);
    }
    all().iter().filter(|h| wanted.contains(&h.name)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_need_and_import_is_known() {
        let names: Vec<&str> = all().iter().map(|h| h.name.as_str()).collect();
        for helper in all() {
            assert!(!helper.source.is_empty(), "{}", helper.name);
            for need in &helper.needs {
                assert!(
                    names.contains(&need.as_str()),
                    "{} needs {need}",
                    helper.name
                );
            }
            for import in &helper.imports {
                assert!(
                    super::super::python::modules().any(|m| m == import),
                    "{} imports {import}",
                    helper.name
                );
            }
        }
        assert!(defined_names().any(|n| n == "expect_re"));
        assert!(defined_names().any(|n| n == "HELD"));
    }
}
