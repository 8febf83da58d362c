//! Prometheus text exposition (format 0.0.4): metric families, each with
//! its HELP and TYPE lines and its samples. What a family is (its type and
//! help) comes from a catalogue; the renderer only supplies values.

use std::fmt::{Display, Write as _};

/// A metric family's name, type (`counter`, `gauge`) and help text.
pub(crate) type Catalogue = [(&'static str, &'static str, &'static str)];

/// The text being written.
#[derive(Debug)]
pub(crate) struct Exposition {
    catalogue: &'static Catalogue,
    out: String,
}

impl Exposition {
    /// Writes families of `catalogue`.
    pub(crate) fn new(catalogue: &'static Catalogue) -> Exposition {
        Exposition {
            catalogue,
            out: String::new(),
        }
    }

    /// The HELP and TYPE lines of the catalogue's family `name`; its
    /// samples follow.
    pub(crate) fn family(&mut self, name: &'static str) -> Family<'_> {
        let (kind, help) = self
            .catalogue
            .iter()
            .find(|(n, ..)| *n == name)
            .map_or(("untyped", ""), |(_, kind, help)| (*kind, *help));
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        Family {
            out: &mut self.out,
            name,
        }
    }

    /// The text.
    pub(crate) fn finish(self) -> String {
        self.out
    }
}

/// One family's samples.
#[derive(Debug)]
pub(crate) struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

impl Family<'_> {
    /// The family's one unlabelled sample.
    pub(crate) fn value(mut self, value: impl Display) {
        self.sample("", value);
    }

    /// A sample per value of `label`.
    pub(crate) fn by(mut self, label: &str, samples: &[(&str, u64)]) {
        for (key, value) in samples {
            self.sample(&format!("{{{label}=\"{key}\"}}"), value);
        }
    }

    /// A sample with its labels written as they are (`{a="1",b="2"}`).
    pub(crate) fn sample(&mut self, labels: &str, value: impl Display) {
        let _ = writeln!(self.out, "{}{labels} {value}", self.name);
    }
}

/// Whether every family of `catalogue` is typed and helped (for the tests
/// of the catalogues).
#[cfg(test)]
pub(crate) fn well_formed(catalogue: &Catalogue) -> bool {
    catalogue.iter().all(|(name, kind, help)| {
        !name.is_empty() && matches!(*kind, "counter" | "gauge") && !help.is_empty()
    })
}
