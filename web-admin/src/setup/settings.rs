//! The setup page's box settings (issue 17 §3) as edits of the
//! configuration document: network, host name, time zone, NTP servers,
//! the agency's name and numbers, SNMP access, the UPS and the backup
//! destination. No HTTP and no I/O here: a form in, the edited document
//! out, or the form field that is wrong. The loader checks the result
//! again when it is imported, and its refusals are mapped back to these
//! fields by [`field_of_key`].

use std::collections::BTreeMap;

use toml_edit::{value, Array, ArrayOfTables, DocumentMut, Item, Table};

use crate::i18n::{Lang, Text};

/// A refused field: its form name and what is wrong, in the user's
/// language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub field: &'static str,
    pub message: String,
}

/// The form's fields, in page order.
pub const FIELDS: [&str; 17] = [
    "port",
    "mode",
    "address",
    "gateway",
    "dns",
    "host_name",
    "time_zone",
    "ntp",
    "agency",
    "numbers",
    "snmp",
    "community",
    "v3_user",
    "v3_auth_password",
    "v3_priv_password",
    "ups",
    "backup",
];

const NOT_TOML: Text = Text {
    id: "Konfigurasi yang tersimpan tidak terbaca",
    en: "The stored configuration cannot be read",
};
const BAD_MODE: Text = Text {
    id: "pilih DHCP atau alamat statis",
    en: "choose DHCP or a static address",
};
const BAD_SNMP: Text = Text {
    id: "pilih tidak ada, komunitas, atau pengguna v3",
    en: "choose none, a community or a v3 user",
};
const BAD_UPS: Text = Text {
    id: "tulis nama@host (misalnya ups@127.0.0.1) atau kosongkan",
    en: "write name@host (like ups@127.0.0.1) or leave it empty",
};
const BAD_NUMBER: Text = Text {
    id: "nomor layanan hanya angka (misalnya 137)",
    en: "service numbers are digits only (like 137)",
};
const NO_TARGET: Text = Text {
    id: "belum ada alur panggilan untuk menjawab nomor ini; tambahkan di layar DID",
    en: "no call flow answers numbers yet; add one on the DID screen",
};

fn get<'a>(form: &'a BTreeMap<String, String>, k: &str) -> &'a str {
    form.get(k).map_or("", |v| v.trim())
}

/// A list typed with commas or spaces.
fn list(s: &str) -> Vec<String> {
    s.split([',', ' ', '\n', '\t'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn strings(items: &[String]) -> Array {
    items.iter().map(String::as_str).collect()
}

fn table<'a>(doc: &'a mut DocumentMut, name: &str) -> &'a mut Table {
    let item = doc.entry(name).or_insert(Item::Table(Table::new()));
    if !item.is_table() {
        // Not a table: a document the loader refuses anyway; replaced.
        *item = Item::Table(Table::new());
    }
    match item {
        Item::Table(t) => t,
        _ => unreachable!("made a table just above"),
    }
}

/// The document `text` with the form's settings written in.
pub fn edit(text: &str, form: &BTreeMap<String, String>, lang: Lang) -> Result<String, Refused> {
    let mut doc: DocumentMut = text.parse().map_err(|_| Refused {
        field: "host_name",
        message: lang.t(&NOT_TOML).into(),
    })?;
    let refuse = |field: &'static str, t: &Text| Refused {
        field,
        message: lang.t(t).into(),
    };

    // [system]
    let system = table(&mut doc, "system");
    let mut port = Table::new();
    if !get(form, "port").is_empty() {
        port["port"] = value(get(form, "port"));
    }
    match get(form, "mode") {
        "dhcp" | "" => {
            port["dhcp"] = value(true);
        }
        "static" => {
            port["dhcp"] = value(false);
            if !get(form, "address").is_empty() {
                port["address"] = value(get(form, "address"));
            }
            if !get(form, "gateway").is_empty() {
                port["gateway"] = value(get(form, "gateway"));
            }
        }
        _ => return Err(refuse("mode", &BAD_MODE)),
    }
    let dns = list(get(form, "dns"));
    if !dns.is_empty() {
        port["dns"] = value(strings(&dns));
    }
    let mut ports = ArrayOfTables::new();
    ports.push(port);
    system.insert("network", Item::ArrayOfTables(ports));
    for (key, field) in [("host_name", "host_name"), ("agency", "agency")] {
        match get(form, field) {
            "" => {
                system.remove(key);
            }
            v => {
                system[key] = value(v);
            }
        }
    }
    let zone = match get(form, "time_zone") {
        "" => dering_config::DEFAULT_TIME_ZONE,
        z => z,
    };
    system["time_zone"] = value(zone);
    system["ntp"] = value(strings(&list(get(form, "ntp"))));

    // The agency's numbers: the [[did]] set. A new number answers as the
    // first number did (its flow, queue or extension).
    let numbers = list(get(form, "numbers"));
    if numbers
        .iter()
        .any(|n| n.len() > 20 || !n.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(refuse("numbers", &BAD_NUMBER));
    }
    if !numbers.is_empty() {
        let old: Vec<Table> = doc
            .get("did")
            .and_then(Item::as_array_of_tables)
            .map(|a| a.iter().cloned().collect())
            .unwrap_or_default();
        let Some(first) = old.first().cloned() else {
            return Err(refuse("numbers", &NO_TARGET));
        };
        let mut dids = ArrayOfTables::new();
        for n in &numbers {
            let kept = old
                .iter()
                .find(|t| t.get("number").and_then(Item::as_str) == Some(n.as_str()));
            let mut t = kept.cloned().unwrap_or_else(|| first.clone());
            t["number"] = value(n.as_str());
            dids.push(t);
        }
        doc.insert("did", Item::ArrayOfTables(dids));
    }

    // [snmp]: who may read the box.
    let snmp_mode = get(form, "snmp");
    if doc.contains_table("snmp") || matches!(snmp_mode, "community" | "v3") {
        let snmp = table(&mut doc, "snmp");
        if !snmp.contains_key("agentx") {
            snmp["agentx"] = value("tcp:127.0.0.1:705");
        }
        for k in [
            "community",
            "v3_user",
            "v3_auth_password",
            "v3_priv_password",
        ] {
            snmp.remove(k);
        }
        match snmp_mode {
            "" | "none" => {}
            "community" => {
                snmp["community"] = value(get(form, "community"));
            }
            "v3" => {
                for k in ["v3_user", "v3_auth_password", "v3_priv_password"] {
                    snmp[k] = value(get(form, k));
                }
            }
            _ => return Err(refuse("snmp", &BAD_SNMP)),
        }
    } else if !matches!(snmp_mode, "" | "none") {
        return Err(refuse("snmp", &BAD_SNMP));
    }

    // [power]: the UPS as NUT names it, `name@host[:port]`, or none.
    match get(form, "ups") {
        "" | "none" => {
            doc.remove("power");
        }
        ups => {
            let Some((name, host)) = ups.split_once('@') else {
                return Err(refuse("ups", &BAD_UPS));
            };
            if name.is_empty() || host.is_empty() {
                return Err(refuse("ups", &BAD_UPS));
            }
            let upsd = if host
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
                && !host.starts_with('[')
                && host.matches(':').count() == 1
            {
                host.to_string()
            } else {
                format!("{host}:3493")
            };
            let power = table(&mut doc, "power");
            power["ups"] = value(name);
            power["upsd"] = value(upsd);
        }
    }

    // [backup]: the daily backup's destination, or none.
    match get(form, "backup") {
        "" => {
            doc.remove("backup");
        }
        to => {
            let backup = table(&mut doc, "backup");
            backup["destination"] = value(to);
        }
    }
    Ok(doc.to_string())
}

/// The form field a loader's refusal of `key` belongs to.
pub fn field_of_key(key: &str) -> &'static str {
    match key {
        "system.network.port" => "port",
        "system.network.address" => "address",
        "system.network.gateway" => "gateway",
        "system.network.dns" => "dns",
        "system.host_name" => "host_name",
        "system.time_zone" | "flows.utc_offset_minutes" => "time_zone",
        "system.ntp" => "ntp",
        "system.agency" => "agency",
        "snmp.community" => "community",
        "snmp.v3_user" => "v3_user",
        "snmp.v3_auth_password" => "v3_auth_password",
        "snmp.v3_priv_password" => "v3_priv_password",
        k if k.starts_with("power") => "ups",
        k if k.starts_with("backup") => "backup",
        k if k.starts_with("did") => "numbers",
        k if k.starts_with("snmp") => "snmp",
        _ => "host_name",
    }
}

/// The form's values as the current configuration has them, to fill the
/// page.
pub fn current(cfg: &dering_config::Config) -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        f.insert(k.to_string(), v);
    };
    let s = &cfg.system;
    if let Some(n) = s.network.first() {
        put("port", n.port.clone().unwrap_or_default());
        put("mode", if n.dhcp { "dhcp" } else { "static" }.into());
        put(
            "address",
            n.address.map(|a| a.to_string()).unwrap_or_default(),
        );
        put(
            "gateway",
            n.gateway.map(|a| a.to_string()).unwrap_or_default(),
        );
        put(
            "dns",
            n.dns
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        );
    } else {
        put("mode", "dhcp".into());
    }
    put("host_name", s.host_name.clone().unwrap_or_default());
    put("time_zone", s.time_zone.clone());
    put("ntp", s.ntp.join(", "));
    put("agency", s.agency.clone().unwrap_or_default());
    put(
        "numbers",
        cfg.dids
            .iter()
            .map(|d| d.number.clone())
            .collect::<Vec<_>>()
            .join(", "),
    );
    match cfg.snmp.as_ref().and_then(|s| s.access.as_ref()) {
        Some(dering_config::SnmpAccess::Community(c)) => {
            put("snmp", "community".into());
            put("community", c.clone());
        }
        Some(dering_config::SnmpAccess::V3 { user, .. }) => {
            put("snmp", "v3".into());
            put("v3_user", user.clone());
        }
        None => put("snmp", "none".into()),
    }
    put(
        "ups",
        cfg.power
            .as_ref()
            .map(|p| format!("{}@{}", p.ups, p.upsd))
            .unwrap_or_default(),
    );
    put(
        "backup",
        cfg.backup
            .as_ref()
            .map(|b| b.destination.display().to_string())
            .unwrap_or_default(),
    );
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::form;

    #[test]
    fn a_static_setup_is_written_where_the_loader_reads_it() {
        let text = edit(
            dering_config::DEFAULT_TOML,
            &form(&[
                ("port", "enp1s0"),
                ("mode", "static"),
                ("address", "192.0.2.10/24"),
                ("gateway", "192.0.2.1"),
                ("dns", "192.0.2.53, 192.0.2.54"),
                ("host_name", "pbx-jkt"),
                ("time_zone", "Asia/Jayapura"),
                ("ntp", "ntp.bmkg.go.id"),
                ("agency", "Ombudsman RI"),
                ("numbers", "137, 1500999"),
                ("snmp", "community"),
                ("community", "rahasia"),
                ("ups", "ups@192.0.2.5"),
                ("backup", "/media/cadangan"),
            ]),
            Lang::Id,
        )
        .expect("edited");
        let c = dering_config::Config::parse(&text, "t").expect("valid");
        assert_eq!(c.system.network[0].port.as_deref(), Some("enp1s0"));
        assert_eq!(c.system.time_zone, "Asia/Jayapura");
        assert_eq!(c.system.agency.as_deref(), Some("Ombudsman RI"));
        let numbers: Vec<&str> = c.dids.iter().map(|d| d.number.as_str()).collect();
        assert_eq!(numbers, ["137", "1500999"]);
        assert_eq!(
            c.dids[1].flow(),
            c.dids[0].flow(),
            "a new number answers as 137"
        );
        let p = c.power.expect("UPS");
        assert_eq!((p.ups.as_str(), p.upsd.as_str()), ("ups", "192.0.2.5:3493"));
        assert!(c.backup.is_some());
        let back = current(&dering_config::Config::parse(&text, "t").expect("valid"));
        assert_eq!(back["ups"], "ups@192.0.2.5:3493");
        assert_eq!(back["dns"], "192.0.2.53, 192.0.2.54");
    }

    #[test]
    fn bad_choices_name_their_field() {
        for (pairs, field) in [
            (vec![("mode", "ppp")], "mode"),
            (vec![("ups", "ups-without-host")], "ups"),
            (vec![("numbers", "13x")], "numbers"),
            (vec![("snmp", "v9")], "snmp"),
        ] {
            let e = edit(dering_config::DEFAULT_TOML, &form(&pairs), Lang::En).unwrap_err();
            assert_eq!(e.field, field, "{pairs:?}");
        }
    }
}
