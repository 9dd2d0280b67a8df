//! The difference between two versions of a flow, node by node: which
//! nodes were added or removed, and for each node in both which fields
//! changed (before and after). Fields are compared as the document's JSON
//! (what `publish-flow` stores), so a new kind of node or field needs no
//! change here.

use std::collections::BTreeSet;

use dering_flow::Flow;
use serde::Serialize;
use serde_json::Value;

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FieldChange {
    pub field: String,
    /// Absent (`null`) when the field is new.
    #[schema(value_type = Object, nullable)]
    pub before: Value,
    /// Absent (`null`) when the field went away.
    #[schema(value_type = Object, nullable)]
    pub after: Value,
}

/// A node present in both versions whose fields differ.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct NodeChange {
    pub node: String,
    pub fields: Vec<FieldChange>,
}

/// What changed from `before` to `after`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Diff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<NodeChange>,
    /// Fields of the flow itself (`start`, `language`).
    pub flow: Vec<FieldChange>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.flow.is_empty()
    }
}

/// Compares two versions of a flow.
pub fn diff(before: &Flow, after: &Flow) -> Diff {
    let mut d = Diff::default();
    for id in after.nodes.keys() {
        if !before.nodes.contains_key(id) {
            d.added.push(id.clone());
        }
    }
    for (id, old) in &before.nodes {
        let Some(new) = after.nodes.get(id) else {
            d.removed.push(id.clone());
            continue;
        };
        let fields = fields(
            &serde_json::to_value(old).unwrap_or(Value::Null),
            &serde_json::to_value(new).unwrap_or(Value::Null),
        );
        if !fields.is_empty() {
            d.changed.push(NodeChange {
                node: id.clone(),
                fields,
            });
        }
    }
    let (mut b, mut a) = (
        serde_json::to_value(before).unwrap_or(Value::Null),
        serde_json::to_value(after).unwrap_or(Value::Null),
    );
    for v in [&mut b, &mut a] {
        if let Value::Object(m) = v {
            m.remove("nodes");
        }
    }
    d.flow = fields(&b, &a);
    d
}

/// The top-level fields of two JSON objects that differ.
fn fields(before: &Value, after: &Value) -> Vec<FieldChange> {
    let empty = serde_json::Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    keys.into_iter()
        .filter(|k| b.get(*k) != a.get(*k))
        .map(|k| FieldChange {
            field: k.clone(),
            before: b.get(k).cloned().unwrap_or(Value::Null),
            after: a.get(k).cloned().unwrap_or(Value::Null),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is the failure report

    use super::*;
    use serde_json::json;

    #[test]
    fn a_version_against_itself_has_no_difference() {
        assert!(diff(&Flow::demo(), &Flow::demo()).is_empty());
    }

    #[test]
    fn added_removed_and_changed_nodes_are_named_with_their_fields() {
        let before = Flow::demo();
        // Key 1 now rings an officer and the information line moves to
        // key 3; "closed" is gone (closed hours hang up), "survey" is new.
        let text = before
            .to_json()
            .replace(
                "\"1\": \"information\"",
                "\"1\": \"officer\", \"3\": \"information\"",
            )
            .replace("\"closed\": \"closed\"", "\"closed\": \"survey\"");
        let mut after = Flow::from_json(&text).unwrap();
        after.nodes.remove("closed");
        after.nodes.insert(
            "survey".into(),
            dering_flow::Node::Play {
                prompts: vec!["goodbye".into()],
                next: "hangup".into(),
            },
        );
        after.language = dering_media::speech::Lang::En;

        let d = diff(&before, &after);
        assert_eq!(d.added, vec!["survey"]);
        assert_eq!(d.removed, vec!["closed"]);
        let changed: Vec<&str> = d.changed.iter().map(|c| c.node.as_str()).collect();
        assert_eq!(changed, vec!["hours", "menu"], "{d:?}");
        let menu = &d.changed[1];
        assert_eq!(
            menu.fields,
            vec![FieldChange {
                field: "choices".into(),
                before: json!({"1": "information", "2": "officer", "9": "language"}),
                after: json!({"1": "officer", "2": "officer", "3": "information", "9": "language"}),
            }]
        );
        assert_eq!(d.changed[0].fields[0].field, "closed");
        assert_eq!(
            d.flow,
            vec![FieldChange {
                field: "language".into(),
                before: json!("id"),
                after: json!("en"),
            }]
        );
    }

    #[test]
    fn a_node_whose_type_changed_shows_the_fields_that_came_and_went() {
        let before = Flow::demo();
        let mut after = Flow::demo();
        after
            .nodes
            .insert("ring".into(), dering_flow::Node::Hangup {});
        let d = diff(&before, &after);
        assert_eq!(d.changed.len(), 1);
        let f: Vec<(&str, bool)> = d.changed[0]
            .fields
            .iter()
            .map(|f| (f.field.as_str(), f.after.is_null()))
            .collect();
        assert_eq!(
            f,
            vec![("members", true), ("on_fail", true), ("type", false)]
        );
    }
}
