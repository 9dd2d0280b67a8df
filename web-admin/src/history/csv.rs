//! CSV as spreadsheets open it (RFC 4180, CRLF). A cell that starts with
//! `=`, `+`, `-`, `@`, tab or CR gets a leading `'`: a caller's display
//! name is typed by whoever calls, and must not become a formula in the
//! supervisor's spreadsheet (CSV injection).

/// One record as a CRLF-terminated line.
pub fn line<S: AsRef<str>>(cells: &[S]) -> String {
    let mut out = String::new();
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        cell(&mut out, c.as_ref());
    }
    out.push_str("\r\n");
    out
}

fn cell(out: &mut String, v: &str) {
    let guarded = v.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quoted = guarded || v.contains([',', '"', '\n', '\r']);
    if quoted {
        out.push('"');
    }
    if guarded {
        out.push('\'');
    }
    for ch in v.chars() {
        if ch == '"' {
            out.push('"');
        }
        out.push(ch);
    }
    if quoted {
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_what_needs_quoting_and_defuses_formulas() {
        assert_eq!(line(&["a", "b c", ""]), "a,b c,\r\n");
        assert_eq!(
            line(&["x,y", "say \"hi\""]),
            "\"x,y\",\"say \"\"hi\"\"\"\r\n"
        );
        assert_eq!(
            line(&["=HYPERLINK(\"x\")"]),
            "\"'=HYPERLINK(\"\"x\"\")\"\r\n"
        );
        assert_eq!(line(&["+62811", "-1"]), "\"'+62811\",\"'-1\"\r\n");
    }
}
