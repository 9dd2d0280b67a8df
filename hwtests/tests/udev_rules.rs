//! `udev/60-dering.rules` (APP-3, issue 14): every line is udev syntax as
//! udev(7) describes it (Debian 12's udevadm has no `verify`, so the keys
//! and operators are checked here), the groups it hands devices to are
//! created by `dering.sysusers` (as `systemd-sysusers` itself reads it),
//! and the names it gives are the ones docs/systemd.md tells operators.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use hwtests::{require, workspace};

/// What a key may do, by udev(7): be matched, be assigned, or both; and
/// whether it takes `{attribute}`.
struct Key {
    name: &'static str,
    matches: bool,
    assigns: bool,
    braces: bool,
}

const fn key(name: &'static str, matches: bool, assigns: bool, braces: bool) -> Key {
    Key {
        name,
        matches,
        assigns,
        braces,
    }
}

/// udev(7)'s keys (systemd 252).
const KEYS: &[Key] = &[
    key("ACTION", true, false, false),
    key("DEVPATH", true, false, false),
    key("KERNEL", true, false, false),
    key("KERNELS", true, false, false),
    key("SUBSYSTEM", true, false, false),
    key("SUBSYSTEMS", true, false, false),
    key("DRIVER", true, false, false),
    key("DRIVERS", true, false, false),
    key("ATTRS", true, false, true),
    key("TAGS", true, false, false),
    key("CONST", true, false, true),
    key("TEST", true, false, true),
    key("PROGRAM", true, false, false),
    key("RESULT", true, false, false),
    key("NAME", true, true, false),
    key("SYMLINK", true, true, false),
    key("ATTR", true, true, true),
    key("SYSCTL", true, true, true),
    key("ENV", true, true, true),
    key("TAG", true, true, false),
    key("OWNER", false, true, false),
    key("GROUP", false, true, false),
    key("MODE", false, true, false),
    key("SECLABEL", false, true, true),
    key("RUN", false, true, true),
    key("LABEL", false, true, false),
    key("GOTO", false, true, false),
    key("IMPORT", false, true, true),
    key("OPTIONS", false, true, false),
];

/// One `KEY{attr}OP"value"` of a rule.
#[derive(Debug, PartialEq)]
struct Item {
    key: String,
    attr: Option<String>,
    op: String,
    value: String,
}

/// The items of one rule line, or why it is not udev syntax.
fn parse_rule(line: &str) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| !c.is_ascii_uppercase())
            .ok_or_else(|| format!("no operator after `{rest}`"))?;
        let name = &rest[..name_end];
        let k = KEYS
            .iter()
            .find(|k| k.name == name)
            .ok_or_else(|| format!("unknown key `{name}`"))?;
        rest = &rest[name_end..];
        let attr = match rest.strip_prefix('{') {
            Some(r) => {
                let close = r.find('}').ok_or("`{` without `}`")?;
                let a = &r[..close];
                if a.is_empty() {
                    return Err(format!("`{name}{{}}` names nothing"));
                }
                rest = &r[close + 1..];
                Some(a.to_string())
            }
            None => None,
        };
        if attr.is_some() != k.braces && !(name == "RUN" || name == "IMPORT") {
            return Err(format!(
                "`{name}` {} an attribute",
                if k.braces { "needs" } else { "takes no" }
            ));
        }
        let op = ["==", "!=", "+=", "-=", ":=", "="]
            .into_iter()
            .find(|op| rest.starts_with(op))
            .ok_or_else(|| format!("`{name}` without an operator"))?;
        let matching = op == "==" || op == "!=";
        if matching && !k.matches {
            return Err(format!("`{name}` cannot be matched"));
        }
        if !matching && !k.assigns {
            return Err(format!("`{name}` cannot be assigned"));
        }
        rest = rest[op.len()..]
            .strip_prefix('"')
            .ok_or_else(|| format!("`{name}{op}` value not in double quotes"))?;
        let close = rest
            .find('"')
            .ok_or_else(|| format!("`{name}` value not closed"))?;
        let value = rest[..close].to_string();
        rest = rest[close + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
            if rest.is_empty() {
                return Err("a comma ends the line".into());
            }
        } else if !rest.is_empty() {
            return Err(format!("`{rest}` does not follow a comma"));
        }
        items.push(Item {
            key: name.to_string(),
            attr,
            op: op.to_string(),
            value,
        });
    }
    Ok(items)
}

/// Every rule of `text` (comments and blank lines left out, `\`-continued
/// lines joined), with its line number, or the first line that is not
/// udev syntax. A rule must also match something or be a LABEL.
fn parse_rules(text: &str) -> Result<Vec<(usize, Vec<Item>)>, String> {
    let mut rules = Vec::new();
    let mut pending = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if pending.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(t);
        let items = parse_rule(&pending).map_err(|e| format!("line {}: {e}", i + 1))?;
        let only_label = items.len() == 1 && items[0].key == "LABEL";
        if !only_label && !items.iter().any(|it| it.op == "==" || it.op == "!=") {
            return Err(format!("line {}: a rule that matches nothing", i + 1));
        }
        rules.push((i + 1, items));
        pending.clear();
    }
    if pending.is_empty() {
        Ok(rules)
    } else {
        Err("the last line continues into nothing".into())
    }
}

fn rules_text() -> String {
    std::fs::read_to_string(workspace().join("udev/60-dering.rules")).unwrap()
}

fn values<'a>(rules: &'a [(usize, Vec<Item>)], key: &'a str) -> impl Iterator<Item = &'a str> {
    rules
        .iter()
        .flat_map(|(_, items)| items)
        .filter(move |it| it.key == key)
        .map(|it| it.value.as_str())
}

#[test]
fn every_line_is_udev_syntax_and_a_broken_one_is_not() {
    let rules = parse_rules(&rules_text()).unwrap_or_else(|e| panic!("60-dering.rules: {e}"));
    assert!(rules.len() >= 10, "{} rules", rules.len());
    // Every GOTO lands on a LABEL that follows it.
    for (line, items) in &rules {
        for target in items.iter().filter(|it| it.key == "GOTO") {
            assert!(
                rules.iter().any(|(l, its)| l > line
                    && its
                        .iter()
                        .any(|it| it.key == "LABEL" && it.value == target.value)),
                "line {line}: GOTO \"{}\" has no LABEL after it",
                target.value
            );
        }
    }
    // The check can fail: each of these is a mistake udev would refuse
    // or silently ignore.
    for bad in [
        "SUBSYSTEM=\"dahdi\", GROUP=\"dering\"",
        "SUBSYSTEM==\"dahdi\", GROUP==\"dering\"",
        "SUBSYSTEM==\"dahdi\", GRUOP=\"dering\"",
        "SUBSYSTEM==\"dahdi\", GROUP=dering",
        "SUBSYSTEM==\"dahdi\" GROUP=\"dering\"",
        "ATTR==\"x\", MODE=\"0660\"",
        "GROUP=\"dering\"",
        "SUBSYSTEM==\"tty\", SYMLINK+=\"dering-panel\",",
    ] {
        assert!(parse_rules(bad).is_err(), "taken as valid: {bad}");
    }
    assert_eq!(
        parse_rule("ATTRS{idVendor}==\"0403\", SYMLINK+=\"x\"").unwrap()[0],
        Item {
            key: "ATTRS".into(),
            attr: Some("idVendor".into()),
            op: "==".into(),
            value: "0403".into()
        }
    );
}

#[test]
fn the_rules_groups_are_created_by_the_sysusers_file() {
    require("systemd-sysusers");
    let rules = parse_rules(&rules_text()).unwrap();
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("etc")).unwrap();
    let out = Command::new("systemd-sysusers")
        .arg(format!("--root={}", root.path().display()))
        .arg("--dry-run")
        .arg(workspace().join("systemd-units/dering.sysusers"))
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    let mut groups: Vec<&str> = values(&rules, "GROUP").collect();
    groups.sort_unstable();
    groups.dedup();
    assert_eq!(groups, ["dering", "nut"]);
    for g in groups {
        assert!(
            said.contains(&format!("Creating group '{g}'")),
            "dering.sysusers does not create group {g}: {said}"
        );
    }
}

#[test]
fn the_names_the_rules_give_are_the_documented_ones() {
    let rules = parse_rules(&rules_text()).unwrap();
    let doc = std::fs::read_to_string(workspace().join("docs/systemd.md")).unwrap();
    let mut links: Vec<&str> = values(&rules, "SYMLINK").collect();
    links.sort_unstable();
    assert_eq!(links, ["dering-panel", "dering-ups"]);
    for l in links {
        assert!(
            doc.contains(&format!("/dev/{l}")),
            "docs/systemd.md must name /dev/{l}"
        );
    }
    // The unit udev asks for exists.
    let wants: Vec<&str> = rules
        .iter()
        .flat_map(|(_, items)| items)
        .filter(|it| it.key == "ENV" && it.attr.as_deref() == Some("SYSTEMD_WANTS"))
        .map(|it| it.value.as_str())
        .collect();
    assert_eq!(wants, ["dering-dahdi.service"]);
    for w in wants {
        assert!(workspace().join("systemd-units").join(w).exists(), "{w}");
    }
}
