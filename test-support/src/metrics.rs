//! Reading the server's `/metrics` text in assertions.

/// The `confer_tcp_closed_early_total` sample for `reason` (panics, with
/// the whole text, when it is missing).
pub fn closed_early(metrics: &str, reason: &str) -> u64 {
    let key = format!("confer_tcp_closed_early_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(key.as_str()))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{reason} missing: {metrics}"))
}

/// Asserts that the server's `/metrics` text has every one of `samples`
/// (the whole text on failure).
pub async fn assert_has(server: &crate::TestServer, samples: &[&str]) {
    let metrics = server.http_get("/metrics").await;
    for sample in samples {
        assert!(metrics.contains(sample), "{sample} missing: {metrics}");
    }
}

/// One sample of a Prometheus text exposition: its name, its labels in
/// order and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's name (`_total`, `_bucket`, ... included).
    pub name: String,
    /// Its labels, as written.
    pub labels: Vec<(String, String)>,
    /// Its value.
    pub value: f64,
}

impl Sample {
    /// The value of `label`, if the sample has it.
    pub fn label(&self, label: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == label)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a Prometheus text exposition (format 0.0.4) strictly: every
/// line is a `# HELP`/`# TYPE` comment or a sample `name{k="v",...} value`
/// whose family was typed before; panics naming the first line that is
/// not.
pub fn parse(text: &str) -> Vec<Sample> {
    let mut typed: Vec<(String, String)> = Vec::new();
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let (kind, name) = (parts.next(), parts.next());
            match (kind, name, parts.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    let known = ["counter", "gauge", "histogram", "summary", "untyped"];
                    assert!(known.contains(&kind), "unknown type in {line:?}");
                    typed.push((name.to_owned(), kind.to_owned()));
                }
                (Some("HELP"), Some(_), _) => {}
                _ => panic!("not a HELP or TYPE comment: {line:?}"),
            }
            continue;
        }
        let sample = parse_sample(line).unwrap_or_else(|| panic!("not a sample: {line:?}"));
        let family = typed
            .iter()
            .rev()
            .find(|(name, kind)| {
                let suffixes: &[&str] = match kind.as_str() {
                    "histogram" => &["_bucket", "_sum", "_count"],
                    "counter" => &["_total", ""],
                    _ => &[""],
                };
                suffixes
                    .iter()
                    .any(|s| sample.name.strip_suffix(s) == Some(name.as_str()))
            })
            .unwrap_or_else(|| panic!("sample of no typed family: {line:?}"));
        if family.1 == "histogram" && sample.name.ends_with("_bucket") {
            assert!(sample.label("le").is_some(), "bucket without le: {line:?}");
        }
        samples.push(sample);
    }
    samples
}

fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = &line[..name_end];
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !name_ok {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner;
        while !rest.starts_with('}') {
            let eq = rest.find("=\"")?;
            let key = rest[..eq].to_owned();
            rest = &rest[eq + 2..];
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        c @ ('\\' | '"') => value.push(c),
                        _ => return None,
                    },
                    (_, c) => value.push(c),
                }
            };
            labels.push((key, value));
            rest = &rest[end + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
        rest = &rest[1..];
    }
    let value = rest.strip_prefix(' ')?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_families_labels_and_histograms() {
        let text = "# HELP a_total A.\n# TYPE a counter\na_total{x=\"1\",y=\"q\\\"\"} 2\n\
                    # TYPE h histogram\nh_bucket{le=\"+Inf\"} 3\nh_sum 0.5\nh_count 3\n";
        let samples = parse(text);
        assert_eq!(samples.len(), 4);
        assert_eq!(samples[0].label("y"), Some("q\""));
        assert_eq!(samples[0].value, 2.0);
        assert_eq!(samples[3].name, "h_count");
    }

    #[test]
    #[should_panic(expected = "no typed family")]
    fn an_untyped_sample_is_refused() {
        parse("b 1\n");
    }
}
