//! Validation of a flow document for the editor: the very check
//! `publish-flow` runs (`dering_flow::Flow::validate`, with the box's
//! prompts), its messages sorted onto the nodes they name so the editor
//! can show each one on its node. Nothing is re-implemented here: a rule
//! added to the validator shows up in the editor unchanged.

use std::collections::BTreeMap;

use dering_flow::Flow;
use dering_media::speech::Lang;
use serde::Serialize;

/// The validator's verdict, keyed for the editor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Checked {
    /// Whether the document would be published.
    pub valid: bool,
    /// Problems of the whole flow (its name, its start, a document that
    /// does not parse).
    pub flow: Vec<String>,
    /// Problems by node id.
    pub nodes: BTreeMap<String, Vec<String>>,
}

/// Parses `document` and runs the publish validator on it;
/// `has_prompt(lang, name)` is the box's prompt library.
pub fn check(document: &str, has_prompt: impl Fn(Lang, &str) -> bool) -> (Option<Flow>, Checked) {
    let flow = match Flow::from_json(document) {
        Ok(f) => f,
        Err(e) => {
            let checked = Checked {
                valid: false,
                flow: vec![format!("the document is not a flow: {e}")],
                nodes: BTreeMap::new(),
            };
            return (None, checked);
        }
    };
    let checked = check_flow(&flow, has_prompt);
    (Some(flow), checked)
}

/// Runs the publish validator on a parsed flow.
pub fn check_flow(flow: &Flow, has_prompt: impl Fn(Lang, &str) -> bool) -> Checked {
    let mut checked = Checked {
        valid: true,
        ..Checked::default()
    };
    if let Err(invalid) = flow.validate(has_prompt) {
        checked.valid = false;
        for problem in invalid.problems {
            let owners = owners(flow, &problem);
            if owners.is_empty() {
                checked.flow.push(problem);
            } else {
                for n in owners {
                    checked.nodes.entry(n).or_default().push(problem.clone());
                }
            }
        }
    }
    checked
}

/// The nodes a validator message is about. The validator names a node
/// as "node `id`" at the start of its message, and lists unreachable
/// nodes each in backquotes after "unreachable from `start`: "; matching
/// against the flow's own ids (longest first) keeps an id holding a
/// backquote or a comma from being cut in two.
fn owners(flow: &Flow, problem: &str) -> Vec<String> {
    let mut ids: Vec<&String> = flow.nodes.keys().collect();
    ids.sort_by_key(|id| std::cmp::Reverse(id.len()));
    if let Some(rest) = problem.strip_prefix("node `") {
        return ids
            .into_iter()
            .find(|id| {
                rest.strip_prefix(id.as_str())
                    .is_some_and(|r| r.starts_with('`'))
            })
            .map(|id| vec![id.clone()])
            .unwrap_or_default();
    }
    let head = format!("unreachable from `{}`: ", flow.start);
    if let Some(list) = problem.strip_prefix(&head) {
        let mut found: Vec<String> = flow
            .nodes
            .keys()
            .filter(|id| list.contains(&format!("`{id}`")))
            .cloned()
            .collect();
        found.sort();
        return found;
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is the failure report

    use super::*;

    fn demo_with(edit: impl FnOnce(&mut Flow)) -> Flow {
        let mut f = Flow::demo();
        edit(&mut f);
        f
    }

    #[test]
    fn the_demo_flow_is_valid_with_the_built_in_prompts() {
        let prompts = dering_media::prompts::Prompts::builtin().unwrap();
        let c = check_flow(&Flow::demo(), |l, p| prompts.contains(l, p));
        assert_eq!(
            c,
            Checked {
                valid: true,
                ..Checked::default()
            }
        );
    }

    #[test]
    fn each_message_lands_on_the_node_it_names() {
        // The menu's key 1 points nowhere, the greeting plays a prompt
        // that does not exist, and "information" (only reached by key 1)
        // becomes unreachable.
        let f = demo_with(|f| {
            if let Some(dering_flow::Node::Menu { choices, .. }) = f.nodes.get_mut("menu") {
                choices.insert('1', "nowhere".into());
            }
            if let Some(dering_flow::Node::Play { prompts, .. }) = f.nodes.get_mut("greeting") {
                prompts.push("no_such_prompt".into());
            }
        });
        let c = check_flow(&f, |_, p| p != "no_such_prompt");
        assert!(!c.valid);
        assert_eq!(c.flow, Vec::<String>::new(), "{c:?}");
        assert_eq!(
            c.nodes.keys().map(String::as_str).collect::<Vec<_>>(),
            vec!["greeting", "information", "menu"],
            "{c:?}"
        );
        assert_eq!(
            c.nodes["menu"],
            vec!["node `menu` choice 1 → `nowhere`: no such node"]
        );
        assert_eq!(c.nodes["greeting"].len(), 2, "both languages: {c:?}");
        assert!(c.nodes["greeting"][0].contains("`no_such_prompt`"), "{c:?}");
        assert_eq!(
            c.nodes["information"],
            vec!["unreachable from `hours`: `information`"]
        );
    }

    #[test]
    fn a_node_id_that_prefixes_another_is_not_confused_with_it() {
        let f = Flow::from_json(
            r#"{"name":"t","start":"a","nodes":{
                "a":   {"type":"play","prompts":[],"next":"a b"},
                "a b": {"type":"ring_group","members":[],"on_fail":"a"},
                "x, y":{"type":"hangup"}}}"#,
        )
        .unwrap();
        let c = check_flow(&f, |_, _| true);
        assert_eq!(
            c.nodes["a b"],
            vec!["node `a b`: a ring group without members"]
        );
        assert!(!c.nodes.contains_key("a"), "{c:?}");
        assert_eq!(c.nodes["x, y"], vec!["unreachable from `a`: `x, y`"]);
    }

    #[test]
    fn problems_of_the_whole_flow_and_unparsable_documents_are_the_flow_s() {
        let f =
            Flow::from_json(r#"{"name":" ","start":"b","nodes":{"a":{"type":"hangup"}}}"#).unwrap();
        let c = check_flow(&f, |_, _| true);
        assert!(
            c.flow.contains(&"the flow has no name".to_string()),
            "{c:?}"
        );
        assert!(
            c.flow
                .contains(&"start node `b` does not exist".to_string()),
            "{c:?}"
        );
        let (parsed, c) = check(
            r#"{"name":"t","start":"a","nodes":{"a":{"type":"fax"}}}"#,
            |_, _| true,
        );
        assert!(parsed.is_none());
        assert!(!c.valid);
        assert!(c.flow[0].starts_with("the document is not a flow"), "{c:?}");
    }
}
