//! Reads the shipped Grafana dashboards (`dashboards/*.json`) for the tests: every panel's
//! PromQL, with Grafana's variables replaced the way Grafana would for a given query. Shared by
//! both test binaries; knows nothing of hhmon's metrics.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The `dashboards/` directory of the crate.
pub fn dashboards_dir() -> PathBuf {
    super::repo::path("dashboards")
}

/// Every dashboard file, sorted, with its parsed JSON.
pub fn dashboards() -> Vec<(String, Value)> {
    let mut found: Vec<(String, Value)> = std::fs::read_dir(dashboards_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, json)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(found.len() >= 2, "dashboards missing: {found:?}");
    found
}

/// Every panel, rows' nested panels included.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(panels: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in panels.as_array().into_iter().flatten() {
            out.push(panel);
            if let Some(nested) = panel.get("panels") {
                walk(nested, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// The values Grafana would put in for the dashboard's template variables by default: the
/// current value, or the "All" value (`allValue`) when "All" is selected.
pub fn variable_defaults(dashboard: &Value) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let name = variable["name"].as_str().unwrap().to_owned();
        if variable["type"] == "datasource" {
            continue;
        }
        let current = variable["current"]["value"].as_str().unwrap_or_default();
        let value = if current == "$__all" {
            variable["allValue"].as_str().unwrap_or(".*")
        } else {
            current
        };
        values.insert(name, value.to_owned());
    }
    values
}

/// `expr` with Grafana's built-in and template variables replaced. `step_seconds` is the
/// query step ($__interval); $__rate_interval follows Grafana's rule, the larger of
/// step + scrape interval and four scrape intervals.
pub fn substitute(
    expr: &str,
    variables: &BTreeMap<String, String>,
    step_seconds: u64,
    scrape_seconds: u64,
    range_seconds: u64,
) -> String {
    let rate_interval = (step_seconds + scrape_seconds).max(4 * scrape_seconds);
    let mut replacements: Vec<(String, String)> = vec![
        ("$__rate_interval".into(), format!("{rate_interval}s")),
        ("$__interval".into(), format!("{step_seconds}s")),
        ("$__range".into(), format!("{range_seconds}s")),
    ];
    for (name, value) in variables {
        replacements.push((format!("${{{name}}}"), value.clone()));
        replacements.push((format!("${name}"), value.clone()));
    }
    // Longest names first, so `$top` cannot eat the start of `$topology`.
    replacements.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    let mut expr = expr.to_owned();
    for (name, value) in replacements {
        expr = expr.replace(&name, &value);
    }
    expr
}
