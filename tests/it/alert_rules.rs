//! The shipped Prometheus alert rules (`dashboards/alerts/`) checked by the real promtool:
//! `promtool check rules` for syntax and PromQL, `promtool test rules` for the unit tests that
//! show every alert firing on one sensor and silent on another. promtool must be installed
//! (scripts/install-deps.sh --test): a missing promtool fails the test.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::util::repo;

fn alerts_dir() -> PathBuf {
    repo::path("dashboards/alerts")
}

fn promtool(args: &[&str]) -> Output {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(alerts_dir())
        .output()
        .unwrap_or_else(|e| panic!("promtool must be installed to run this test: {e}"));
    assert!(
        output.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The alert names in the rules file, in order.
fn alert_names(rules: &str) -> Vec<String> {
    rules
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- alert: "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn promtool_accepts_the_rules() {
    let rules = std::fs::read_to_string(alerts_dir().join("hhmon.rules.yml")).unwrap();
    let names = alert_names(&rules);
    assert_eq!(
        names,
        [
            "HhmonDown",
            "HhmonAbsent",
            "HhmonCaptureDrops",
            "HhmonHeavyDestination",
            "HhmonHeavySource",
            "HhmonDistinctSourcesSpike",
            "HhmonCarpetBombing",
            "HhmonSuddenHeavyHitter",
            "HhmonSnapshotWriteErrors",
            "HhmonExportWriteErrors",
            "HhmonCollectorSocketDrops",
            "HhmonExporterSilent"
        ]
    );
    let output = promtool(&["check", "rules", "hhmon.rules.yml"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("SUCCESS: {} rules found", names.len())),
        "{stdout}"
    );
}

#[test]
fn promtool_unit_tests_pass_and_every_alert_is_shown_firing_and_silent() {
    let output = promtool(&["test", "rules", "hhmon.rules.test.yml"]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("SUCCESS"));

    let rules = std::fs::read_to_string(alerts_dir().join("hhmon.rules.yml")).unwrap();
    let tests = std::fs::read_to_string(alerts_dir().join("hhmon.rules.test.yml")).unwrap();
    let lines: Vec<&str> = tests.lines().map(str::trim).collect();
    for name in alert_names(&rules) {
        // Each `alertname: X` is followed by its expectation: `exp_alerts: []` (silent) or
        // `exp_alerts:` and a list (firing).
        let expectations: Vec<&str> = lines
            .windows(2)
            .filter(|pair| pair[0] == format!("alertname: {name}"))
            .map(|pair| pair[1])
            .collect();
        assert!(
            expectations.contains(&"exp_alerts: []"),
            "{name} is never shown silent"
        );
        assert!(
            expectations.contains(&"exp_alerts:"),
            "{name} is never shown firing"
        );
    }
}
