//! Reads the sample lines of a Prometheus text exposition, for the tests that check hhmon's
//! metrics by value (promtool checks the format itself). The library's unit tests keep their
//! own copy, since they cannot reach this directory. Knows nothing of hhmon's metric names.

use std::collections::BTreeMap;

/// One sample: metric name, labels, value.
pub type Sample = (String, BTreeMap<String, String>, f64);

/// The sample lines of `text` (hhmon's label values hold no quotes, commas or braces).
pub fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                None => (series, BTreeMap::new()),
                Some((name, rest)) => {
                    let labels = rest
                        .strip_suffix('}')
                        .unwrap()
                        .split(',')
                        .map(|pair| {
                            let (key, value) = pair.split_once('=').unwrap();
                            (key.to_owned(), value.trim_matches('"').to_owned())
                        })
                        .collect();
                    (name, labels)
                }
            };
            (name.to_owned(), labels, value.parse().unwrap())
        })
        .collect()
}
