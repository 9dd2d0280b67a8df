//! Spoken numbers from prompt pieces (queue position, expected wait:
//! ACD-4), in Bahasa Indonesia and English. The pieces are prompts named
//! `n0`…, `belas`, `puluh`, `ratus`, `seratus` (id) and `n0`…`n19`,
//! `n20`…`n90`, `hundred` (en); `tools/make-prompts` makes them.

/// A prompt language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Id,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Id => "id",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "id" => Some(Lang::Id),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

/// The prompt names that say `n` (0–999; larger numbers are said as 999,
/// which no queue position or wait in minutes reaches).
pub fn number(lang: Lang, n: u32) -> Vec<String> {
    let n = n.min(999);
    let mut out = Vec::new();
    match lang {
        Lang::Id => id(n, &mut out),
        Lang::En => en(n, &mut out),
    }
    out
}

fn id(n: u32, out: &mut Vec<String>) {
    let word = |k: u32| format!("n{k}");
    match n {
        0..=11 => out.push(word(n)),
        12..=19 => {
            out.push(word(n - 10));
            out.push("belas".into());
        }
        20..=99 => {
            out.push(word(n / 10));
            out.push("puluh".into());
            if !n.is_multiple_of(10) {
                id(n % 10, out);
            }
        }
        _ => {
            if n / 100 == 1 {
                out.push("seratus".into());
            } else {
                out.push(word(n / 100));
                out.push("ratus".into());
            }
            if !n.is_multiple_of(100) {
                id(n % 100, out);
            }
        }
    }
}

fn en(n: u32, out: &mut Vec<String>) {
    match n {
        0..=19 => out.push(format!("n{n}")),
        20..=99 => {
            out.push(format!("n{}", n / 10 * 10));
            if !n.is_multiple_of(10) {
                out.push(format!("n{}", n % 10));
            }
        }
        _ => {
            out.push(format!("n{}", n / 100));
            out.push("hundred".into());
            if !n.is_multiple_of(100) {
                en(n % 100, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn say(lang: Lang, n: u32) -> String {
        number(lang, n).join(" ")
    }

    #[test]
    fn indonesian_numbers() {
        assert_eq!(say(Lang::Id, 0), "n0");
        assert_eq!(say(Lang::Id, 11), "n11");
        assert_eq!(say(Lang::Id, 17), "n7 belas");
        assert_eq!(say(Lang::Id, 20), "n2 puluh");
        assert_eq!(say(Lang::Id, 45), "n4 puluh n5");
        assert_eq!(say(Lang::Id, 100), "seratus");
        assert_eq!(say(Lang::Id, 115), "seratus n5 belas");
        assert_eq!(say(Lang::Id, 310), "n3 ratus n10");
        assert_eq!(say(Lang::Id, 5000), "n9 ratus n9 puluh n9");
    }

    #[test]
    fn english_numbers() {
        assert_eq!(say(Lang::En, 13), "n13");
        assert_eq!(say(Lang::En, 40), "n40");
        assert_eq!(say(Lang::En, 42), "n40 n2");
        assert_eq!(say(Lang::En, 100), "n1 hundred");
        assert_eq!(say(Lang::En, 219), "n2 hundred n19");
    }

    #[test]
    fn every_piece_exists_in_the_shipped_prompts() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../prompts");
        for lang in [Lang::Id, Lang::En] {
            for n in 0..=999 {
                for p in number(lang, n) {
                    let f = root.join(lang.code()).join(format!("{p}.wav"));
                    assert!(f.exists(), "{} for {n}", f.display());
                }
            }
        }
    }
}
