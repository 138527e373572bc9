//! The shipped Grafana dashboards and provisioning files are well formed for provisioning:
//! stable `uid`s, a recent `schemaVersion`, the data source chosen through a `datasource`
//! variable on every panel and query (no `__inputs`, which only the import dialog resolves),
//! and a PromQL query on every panel. Whether each query returns data is checked against a
//! real Prometheus in the system tests (`tests/system/e2e_prometheus.rs`).

use serde_json::{json, Value};
use std::collections::BTreeSet;

use crate::util::dashboards::{dashboards, dashboards_dir, panels, substitute, variable_defaults};

#[test]
fn dashboards_are_provisionable_and_use_the_datasource_variable() {
    let datasource = json!({"type": "prometheus", "uid": "${datasource}"});
    let mut uids = BTreeSet::new();
    for (name, dashboard) in dashboards() {
        let uid = dashboard["uid"].as_str().unwrap_or_default();
        assert_eq!(format!("{uid}.json"), name, "the uid is the file name");
        assert!(
            uid.len() <= 40,
            "{name}: Grafana uids are at most 40 characters"
        );
        assert!(uids.insert(uid.to_owned()), "{name}: uid {uid} twice");
        let schema = dashboard["schemaVersion"].as_u64().unwrap_or_default();
        assert!(schema >= 39, "{name}: schemaVersion {schema}");
        assert!(dashboard.get("__inputs").is_none(), "{name}: __inputs");
        assert!(dashboard.get("id").is_none_or(Value::is_null), "{name}: id");
        let text = serde_json::to_string(&dashboard).unwrap();
        assert!(
            !text.contains("${DS_"),
            "{name}: an import-time data source"
        );

        let variables = dashboard["templating"]["list"].as_array().unwrap();
        let source = variables
            .iter()
            .find(|v| v["name"] == "datasource")
            .unwrap_or_else(|| panic!("{name}: no datasource variable"));
        assert_eq!(source["type"], "datasource", "{name}");
        assert_eq!(source["query"], "prometheus", "{name}");
        for variable in variables.iter().filter(|v| v["type"] == "query") {
            assert_eq!(variable["datasource"], datasource, "{name}: {variable}");
        }

        let all = panels(&dashboard);
        assert!(all.len() >= 6, "{name}: {} panels", all.len());
        let mut ids = BTreeSet::new();
        let mut titles = BTreeSet::new();
        for panel in all {
            let title = panel["title"].as_str().unwrap_or_default();
            assert!(!title.is_empty(), "{name}: a panel without a title");
            assert!(titles.insert(title), "{name}: two panels titled {title}");
            assert!(
                ids.insert(panel["id"].as_u64().unwrap()),
                "{name}: {title} id"
            );
            assert_eq!(panel["datasource"], datasource, "{name}: {title}");
            let grid = &panel["gridPos"];
            let (x, w) = (grid["x"].as_u64().unwrap(), grid["w"].as_u64().unwrap());
            assert!(
                x + w <= 24 && grid["h"].as_u64().unwrap() > 0,
                "{name}: {title}"
            );
            let targets = panel["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{name}: {title} has no query");
            for target in targets {
                assert_eq!(target["datasource"], datasource, "{name}: {title}");
                let expr = target["expr"].as_str().unwrap_or_default();
                assert!(expr.contains("hhmon_"), "{name}: {title}: {expr}");
                // Every variable used is defined (or Grafana's own).
                let substituted = substitute(expr, &variable_defaults(&dashboard), 1, 1, 60);
                assert!(!substituted.contains('$'), "{name}: {title}: {substituted}");
            }
        }
        // Links between the dashboards go to uids that exist.
        for link in dashboard["links"].as_array().into_iter().flatten() {
            let url = link["url"].as_str().unwrap();
            let target = url.strip_prefix("/d/").unwrap().split('/').next().unwrap();
            let file = dashboards_dir().join(format!("{target}.json"));
            assert!(file.is_file(), "{name}: link to {target}");
        }
    }
}

#[test]
fn provisioning_points_grafana_at_file_dashboards_and_prometheus() {
    let dir = dashboards_dir().join("provisioning");
    let providers = std::fs::read_to_string(dir.join("dashboards.yml")).unwrap();
    for line in [
        "apiVersion: 1",
        "type: file",
        "path: /var/lib/grafana/dashboards/hhmon",
    ] {
        assert!(providers.lines().any(|l| l.trim() == line), "{line}");
    }
    let sources = std::fs::read_to_string(dir.join("datasources.yml")).unwrap();
    for line in ["apiVersion: 1", "type: prometheus"] {
        assert!(
            sources
                .lines()
                .any(|l| l.trim().trim_start_matches("- ") == line),
            "{line}"
        );
    }
}
