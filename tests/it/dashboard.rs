//! The Grafana dashboard (charts/llm-sidecar/dashboards/llm-sidecar.json) and the Prometheus
//! rules (manifests/prometheus-rules.yaml, the chart's rules with their default values) as
//! files: the dashboard is a Grafana dashboard Grafana will load with any Prometheus data source,
//! and every alert says what to check and links a runbook section that exists and has a unit
//! test. `monitoring.rs` runs both against a real Prometheus with the helpers here.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Oldest schema version we accept: Grafana 10 writes 38 and later.
const MIN_SCHEMA_VERSION: u64 = 38;
/// How every panel and query names its data source: the dashboard's `datasource` variable.
const DATASOURCE_UID: &str = "${datasource}";
/// What a panel's description and an alert's annotations need before they help anyone.
const MIN_TEXT: usize = 20;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The dashboard JSON.
pub fn dashboard() -> Value {
    let path = repo("charts/llm-sidecar/dashboards/llm-sidecar.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The rules file, as JSON.
pub fn rules() -> Value {
    let text = std::fs::read_to_string(repo("manifests/prometheus-rules.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

/// Every rule of every group.
pub fn each_rule(rules: &Value) -> Vec<&Value> {
    rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect()
}

/// Every panel, rows included, and the panels a collapsed row holds.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        out.push(panel);
        out.extend(panel["panels"].as_array().into_iter().flatten());
    }
    out
}

/// A panel's queries.
pub fn exprs(panel: &Value) -> Vec<&str> {
    panel["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["expr"].as_str())
        .collect()
}

/// The template variables a query refers to (`$name`, `${name}`, `[[name]]`), without Grafana's
/// own (`$__range`, `$__rate_interval`, …).
pub fn variables_in(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = expr.as_bytes();
    let word = |from: usize| {
        expr[from..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<String>()
    };
    for (i, b) in bytes.iter().enumerate() {
        let name = match b {
            b'$' if bytes.get(i + 1) == Some(&b'{') => word(i + 2),
            b'$' => word(i + 1),
            b'[' if bytes.get(i + 1) == Some(&b'[') => word(i + 2),
            _ => continue,
        };
        if !name.is_empty() && !name.starts_with("__") {
            out.insert(name);
        }
    }
    out
}

/// `expr` with each `$name` / `${name}` replaced by its value in `values`.
pub fn substitute(expr: &str, values: &[(&str, &str)]) -> String {
    // Longest names first, so `$__range` is not read as `$__rate…`'s prefix or the reverse.
    let mut sorted = values.to_vec();
    sorted.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    sorted.iter().fold(expr.to_owned(), |text, (name, value)| {
        text.replace(&format!("${{{name}}}"), value)
            .replace(&format!("${name}"), value)
    })
}

/// The dashboard's variables by name.
fn variables(dashboard: &Value) -> Vec<&Value> {
    dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .collect()
}

/// The query of a `query` variable (`label_values(…)`).
pub fn variable_query(variable: &Value) -> Option<&str> {
    variable["query"]["query"]
        .as_str()
        .or_else(|| variable["query"].as_str())
}

fn uses_datasource_variable(datasource: &Value) -> bool {
    datasource["type"] == "prometheus" && datasource["uid"] == DATASOURCE_UID
}

#[test]
fn the_dashboard_is_a_grafana_dashboard_on_a_datasource_variable() {
    let dashboard = dashboard();
    let version = dashboard["schemaVersion"].as_u64().unwrap_or(0);
    assert!(version >= MIN_SCHEMA_VERSION, "schemaVersion {version}");
    for key in ["uid", "title"] {
        assert!(
            dashboard[key].as_str().is_some_and(|s| !s.is_empty()),
            "{key}"
        );
    }
    let variables = variables(&dashboard);
    let names: HashSet<&str> = variables
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(names.len(), variables.len(), "variable names repeat");
    let source = variables
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(
        (&source["type"], &source["query"]),
        (&Value::from("datasource"), &Value::from("prometheus"))
    );
    for name in ["namespace", "pod", "model", "team"] {
        assert!(names.contains(name), "no {name} variable");
    }

    let mut check = Check::default();
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        if !uses_datasource_variable(&variable["datasource"]) {
            check.problem(format!(
                "variable {} has its own data source",
                variable["name"]
            ));
        }
        let query = variable_query(variable).unwrap_or_default();
        check.referenced.extend(variables_in(query));
    }
    let mut ids = HashSet::new();
    for panel in panels(&dashboard) {
        if !ids.insert(panel["id"].as_u64().expect("a numeric panel id")) {
            check.problem(format!(
                "panel id {} repeats ({})",
                panel["id"], panel["title"]
            ));
        }
        check.panel(panel);
    }
    for name in &check.referenced {
        if !names.contains(name.as_str()) {
            check
                .problems
                .push(format!("${name} is used but not defined"));
        }
    }
    assert!(check.problems.is_empty(), "{}", check.problems.join("\n"));
}

/// What the dashboard check found so far.
#[derive(Default)]
struct Check {
    problems: Vec<String>,
    /// Variables the queries use.
    referenced: BTreeSet<String>,
}

impl Check {
    fn problem(&mut self, text: String) {
        self.problems.push(text);
    }

    /// One panel: on the grid; unless a row, on the datasource variable, described, and with
    /// queries under distinct refIds.
    fn panel(&mut self, panel: &Value) {
        let title = panel["title"].as_str().unwrap_or_default();
        let grid = &panel["gridPos"];
        let (x, w) = (grid["x"].as_u64(), grid["w"].as_u64());
        if !matches!((x, w), (Some(x), Some(w)) if w > 0 && x + w <= 24)
            || grid["h"].as_u64().is_none()
        {
            self.problem(format!("{title}: gridPos {grid}"));
        }
        if panel["type"] == "row" {
            return;
        }
        if !uses_datasource_variable(&panel["datasource"]) {
            self.problem(format!("{title}: datasource {}", panel["datasource"]));
        }
        if panel["description"]
            .as_str()
            .is_none_or(|d| d.len() < MIN_TEXT)
        {
            self.problem(format!("{title}: no description"));
        }
        let targets = panel["targets"].as_array().cloned().unwrap_or_default();
        let ref_ids: HashSet<_> = targets.iter().map(|t| t["refId"].clone()).collect();
        if targets.is_empty() || ref_ids.len() != targets.len() {
            self.problem(format!("{title}: no targets, or refIds repeat"));
        }
        for target in &targets {
            if !uses_datasource_variable(&target["datasource"]) {
                self.problem(format!(
                    "{title}: a target's datasource {}",
                    target["datasource"]
                ));
            }
            match target["expr"].as_str() {
                Some(expr) if !expr.trim().is_empty() => self.referenced.extend(variables_in(expr)),
                _ => self.problem(format!("{title}: a target without a query")),
            }
        }
    }
}

#[test]
fn the_variable_scanner_finds_every_spelling_and_skips_grafanas_own() {
    let found = variables_in(r#"rate(x{a=~"$ns", b="${pod}", c="[[team]]"}[$__rate_interval])"#);
    assert_eq!(
        found,
        BTreeSet::from(["ns".into(), "pod".into(), "team".into()])
    );
    let text = substitute(
        "x{a=~\"$pod\"}[$__range] ${pod}",
        &[("pod", "p"), ("__range", "1h")],
    );
    assert_eq!(text, "x{a=~\"p\"}[1h] p");
}

/// GitHub's anchor of a Markdown heading.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The runbook's `## ` sections: (anchor, body).
fn runbook_sections() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo("docs/runbook.md")).unwrap();
    text.split("\n## ")
        .skip(1)
        .map(|section| {
            let (heading, body) = section.split_once('\n').unwrap_or((section, ""));
            (anchor(heading), body.to_owned())
        })
        .collect()
}

/// Alert names the promtool unit tests (tests/prometheus/) evaluate.
fn unit_tested_alerts() -> HashSet<String> {
    let dir = repo("tests/prometheus");
    let mut out = HashSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines() {
            if let Some(name) = line.trim().strip_prefix("alertname:") {
                out.insert(name.trim().to_owned());
            }
        }
    }
    out
}

#[test]
fn every_alert_says_what_to_check_links_its_runbook_section_and_is_unit_tested() {
    let rules = rules();
    let sections = runbook_sections();
    let tested = unit_tested_alerts();
    let alerts: Vec<&Value> = each_rule(&rules)
        .into_iter()
        .filter(|r| r["alert"].is_string())
        .collect();
    assert!(alerts.len() >= 8, "{} alerts", alerts.len());
    let mut problems = Vec::new();
    for alert in alerts {
        let name = alert["alert"].as_str().unwrap();
        problems.extend(
            annotation_problems(alert)
                .into_iter()
                .map(|p| format!("{name}: {p}")),
        );
        let url = alert["annotations"]["runbook_url"]
            .as_str()
            .unwrap_or_default();
        let (page, fragment) = url.split_once('#').unwrap_or((url, ""));
        if !page.ends_with("docs/runbook.md") || fragment != name.to_lowercase() {
            problems.push(format!("{name}: runbook_url {url:?} is not its section"));
        }
        match sections.iter().find(|(a, _)| a == fragment) {
            None => problems.push(format!(
                "{name}: docs/runbook.md has no section #{fragment}"
            )),
            Some((_, body)) => {
                for part in ["Meaning", "Impact", "What to check", "How to fix"] {
                    if !body.contains(&format!("**{part}**")) {
                        problems.push(format!("{name}: its runbook section lacks **{part}**"));
                    }
                }
            }
        }
        if !tested.contains(name) {
            problems.push(format!(
                "{name}: no promtool unit test in tests/prometheus/"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// What an alert's labels and annotations lack: a severity, a summary, a description that says
/// what to check.
fn annotation_problems(alert: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if !matches!(
        alert["labels"]["severity"].as_str(),
        Some("critical" | "warning")
    ) {
        problems.push("severity".to_owned());
    }
    for key in ["summary", "description"] {
        if alert["annotations"][key]
            .as_str()
            .is_none_or(|t| t.len() < MIN_TEXT)
        {
            problems.push(format!("no {key}"));
        }
    }
    let description = alert["annotations"]["description"]
        .as_str()
        .unwrap_or_default();
    if !description.to_lowercase().contains("check") {
        problems.push("the description does not say what to check".to_owned());
    }
    problems
}
