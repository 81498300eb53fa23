//! Which changes a resume allows: settings of the optimisation that do not change what is
//! fitted (learning rate, schedule, step count, checkpoint and stopping settings) may change
//! between a checkpoint and its resume; the model, data and loss may not.

use serde_json::Value;

/// One changed leaf of the resolved experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Dotted path (`optimization.adam.lr`).
    pub path: String,
    /// Value in the checkpoint (`None`: absent).
    pub old: Option<Value>,
    /// Value now.
    pub new: Option<Value>,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<Value>| v.as_ref().map_or("(absent)".to_string(), Value::to_string);
        write!(
            f,
            "{}: {} -> {}",
            self.path,
            show(&self.old),
            show(&self.new)
        )
    }
}

/// Leaves whose values differ between two resolved configurations, in path order.
pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    fn walk(path: String, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<Change>) {
        match (a, b) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(p, x.get(k), y.get(k), out);
                }
            }
            (a, b) if a != b => out.push(Change {
                path,
                old: a.cloned(),
                new: b.cloned(),
            }),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(String::new(), Some(old), Some(new), &mut out);
    out
}

/// Whether a resume may change the setting at `path`: under `optimization`, the learning
/// rate (any key `lr`/`learning_rate`), the schedule, the step count, `checkpoint_every`,
/// early stopping / `stop_within`, `restore_best` and thread counts.
pub fn allowed(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("optimization.") else {
        return false;
    };
    let last = rest.rsplit('.').next().unwrap_or(rest);
    let first = rest.split('.').next().unwrap_or(rest);
    matches!(last, "lr" | "learning_rate")
        || matches!(
            first,
            "schedule"
                | "steps"
                | "max_steps"
                | "checkpoint_every"
                | "early_stopping"
                | "stop_within"
                | "restore_best"
                | "threads"
        )
}

/// The changes between a checkpoint's configuration and the current one, split into
/// `(allowed, refused)`.
pub fn classify(old: &Value, new: &Value) -> (Vec<Change>, Vec<Change>) {
    diff(old, new).into_iter().partition(|c| allowed(&c.path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn learning_rate_and_steps_are_allowed_the_model_is_not() {
        let old = json!({"model": {"a": 1.0}, "optimization": {"adam": {"lr": 0.1}, "steps": 10,
            "loss": "l2", "schedule": {"kind": "cosine"}}});
        let new = json!({"model": {"a": 2.0}, "optimization": {"adam": {"lr": 0.01}, "steps": 20,
            "loss": "l1"}});
        let (ok, bad) = classify(&old, &new);
        let ok: Vec<String> = ok.iter().map(|c| c.path.clone()).collect();
        let bad: Vec<String> = bad.iter().map(|c| c.path.clone()).collect();
        assert_eq!(
            ok,
            [
                "optimization.adam.lr",
                "optimization.schedule",
                "optimization.steps"
            ]
        );
        assert_eq!(bad, ["model.a", "optimization.loss"]);
        assert_eq!(diff(&old, &new)[0].to_string(), "model.a: 1.0 -> 2.0");
        assert!(diff(&old, &old).is_empty());
    }
}
