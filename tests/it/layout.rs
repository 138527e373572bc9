//! The README's layout table against the tree: every path it names exists, and every module of
//! `src/` and every folder of the repository that holds code is in it, so the map a newcomer
//! reads is the tree they find.

use crate::util::repo;
use std::collections::BTreeSet;

/// The backticked paths of the layout table's first column.
fn listed() -> Vec<String> {
    let readme = std::fs::read_to_string(repo::path("README.md")).unwrap();
    let table = readme
        .split("## Layout")
        .nth(1)
        .expect("the README has a Layout section");
    table
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .filter_map(|line| line.split('|').nth(1))
        .flat_map(|cell| cell.split('`').skip(1).step_by(2).map(str::to_owned))
        .collect()
}

#[test]
fn every_path_the_readme_layout_names_exists() {
    let paths = listed();
    assert!(paths.len() >= 15, "{paths:?}");
    for path in paths {
        assert!(
            repo::path(&path).exists(),
            "README layout names {path}, not in the tree"
        );
    }
}

#[test]
fn every_module_of_src_and_every_code_folder_is_in_the_readme_layout() {
    let listed: BTreeSet<String> = listed()
        .into_iter()
        .map(|path| path.trim_end_matches('/').to_owned())
        .collect();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(repo::path("src")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let path = format!("src/{name}");
        if name != "lib.rs" && !listed.contains(&path) {
            missing.push(path);
        }
    }
    for folder in [
        "tests/it",
        "tests/system",
        "benches",
        "dashboards",
        "systemd",
        "captures",
    ] {
        if !listed.contains(folder) {
            missing.push(folder.to_owned());
        }
    }
    assert!(
        missing.is_empty(),
        "not in the README's layout: {missing:?}"
    );
}
