//! Strict YAML experiment parsing with file/line errors and `--set` overrides.
//!
//! Every config struct uses `#[serde(deny_unknown_fields)]`, so a misspelt field is an error
//! that names the file, the line and the field and lists the valid names (serde's message).
//! `--set a.b.c=value` overrides are applied to the parsed YAML tree and validated by the same
//! deserialisation, so they obey exactly the same schema as the file.

use anyhow::{Result, anyhow, bail};
use serde::de::DeserializeOwned;
use serde_yaml_ng::{Mapping, Value};
use std::path::Path;

/// Splits `a.b.c=value` into its path and value.
pub fn split_override(spec: &str) -> Result<(Vec<String>, &str)> {
    let Some((path, value)) = spec.split_once('=') else {
        bail!("--set {spec}: expected field.path=value");
    };
    let path: Vec<String> = path
        .trim()
        .split('.')
        .map(|s| s.trim().to_string())
        .collect();
    if path.iter().any(|p| p.is_empty()) {
        bail!("--set {spec}: empty component in field path");
    }
    Ok((path, value))
}

/// Applies one override to a YAML tree, creating intermediate mappings as needed.
fn apply_override(root: &mut Value, spec: &str) -> Result<()> {
    let (path, raw) = split_override(spec)?;
    let value: Value = serde_yaml_ng::from_str(raw)
        .map_err(|e| anyhow!("--set {spec}: value is not valid YAML: {e}"))?;
    let mut node = root;
    for (k, key) in path.iter().enumerate() {
        if !node.is_mapping() {
            if node.is_null() {
                *node = Value::Mapping(Mapping::new());
            } else {
                bail!("--set {spec}: `{}` is not a section", path[..k].join("."));
            }
        }
        let map = node.as_mapping_mut().expect("checked above");
        let key = Value::String(key.clone());
        if !map.contains_key(&key) {
            map.insert(key.clone(), Value::Null);
        }
        node = map.get_mut(&key).expect("inserted above");
    }
    *node = value;
    Ok(())
}

/// serde's message for a value that fits no form of an untagged enum names the Rust type; say
/// which forms the field takes instead.
fn explain(msg: String) -> String {
    const FORMS: [(&str, &str); 3] = [
        (
            "untagged enum Value",
            "invalid value: expected a number, or a list of one number per region",
        ),
        (
            "untagged enum SpeedCfg",
            "invalid value for connectivity.conduction_speed: expected a number (mm/ms) or \
             {value, free, low, high}",
        ),
        (
            "untagged enum ColdValue",
            "invalid value for initial_conditions.value: expected a number or \
             {state variable: number}",
        ),
    ];
    for (ty, text) in FORMS {
        let pattern = format!("data did not match any variant of {ty}");
        if msg.contains(&pattern) {
            return msg.replace(&pattern, text);
        }
    }
    msg
}

fn describe(path: &Path, e: &serde_yaml_ng::Error) -> String {
    match e.location() {
        Some(loc) => {
            // serde_yaml appends " at line L column C"; the location leads our message instead.
            let msg = explain(e.to_string());
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            format!("{}:{}:{}: {msg}", path.display(), loc.line(), loc.column())
        }
        None => format!("{}: {}", path.display(), explain(e.to_string())),
    }
}

/// Parses `text` (the file at `path`) into `T`, then applies `--set` overrides.
pub fn parse_experiment<T: DeserializeOwned>(
    path: &Path,
    text: &str,
    overrides: &[String],
) -> Result<T> {
    let from_file: Result<T, _> = serde_yaml_ng::from_str(text);
    if overrides.is_empty() {
        return from_file.map_err(|e| anyhow!(describe(path, &e)));
    }
    let mut tree: Value = serde_yaml_ng::from_str(text).map_err(|e| anyhow!(describe(path, &e)))?;
    for spec in overrides {
        apply_override(&mut tree, spec)?;
    }
    serde_yaml_ng::from_value(tree).map_err(|e| match from_file {
        Err(file_err) => anyhow!(describe(path, &file_err)),
        Ok(_) => anyhow!(
            "{} with --set {}: {}",
            path.display(),
            overrides.join(" --set "),
            explain(e.to_string())
        ),
    })
}

/// The YAML tree of `text` with overrides applied (for writing the resolved configuration).
pub fn resolved_tree(path: &Path, text: &str, overrides: &[String]) -> Result<Value> {
    let mut tree: Value = serde_yaml_ng::from_str(text).map_err(|e| anyhow!(describe(path, &e)))?;
    for spec in overrides {
        apply_override(&mut tree, spec)?;
    }
    Ok(tree)
}

/// Reads `model.name` from an experiment, to pick the system that runs it.
pub fn model_name(path: &Path, text: &str) -> Result<String> {
    let tree: Value = serde_yaml_ng::from_str(text).map_err(|e| anyhow!(describe(path, &e)))?;
    tree.get("model")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| anyhow!("{}: missing `model: {{name: ...}}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        dt: f64,
        #[serde(default)]
        seed: u64,
    }
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        integration: Inner,
    }

    #[test]
    fn unknown_field_names_file_line_and_choices() {
        let text = "integration:\n  dt: 1.0\n  sed: 3\n";
        let e = parse_experiment::<Outer>(Path::new("x.yaml"), text, &[])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.yaml:3:"), "{e}");
        assert!(
            e.contains("unknown field `sed`") && e.contains("`seed`"),
            "{e}"
        );
    }

    #[test]
    fn overrides_apply_and_validate() {
        let text = "integration:\n  dt: 1.0\n";
        let o: Outer =
            parse_experiment(Path::new("x.yaml"), text, &["integration.seed=7".into()]).unwrap();
        assert_eq!(o.integration, Inner { dt: 1.0, seed: 7 });
        let e = parse_experiment::<Outer>(Path::new("x.yaml"), text, &["integration.dtt=2".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `dtt`"), "{e}");
        let e =
            parse_experiment::<Outer>(Path::new("x.yaml"), text, &["integration.dt=abc".into()])
                .unwrap_err()
                .to_string();
        assert!(e.contains("invalid type"), "{e}");
        assert!(
            parse_experiment::<Outer>(Path::new("x.yaml"), text, &["nonsense".into()]).is_err()
        );
    }
}
