//! Callers' numbers are personal data: at `info` and above they are logged
//! redacted; the full number is in the call record and at `debug`.

/// Keeps the first four and the last two characters of a number and masks
/// the rest: `081234567890` becomes `0812******90`. Short numbers
/// (extensions, service numbers such as 137) are kept whole.
pub fn number(n: &str) -> String {
    let chars: Vec<char> = n.chars().collect();
    if chars.len() <= 6 {
        return n.to_string();
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < 4 || i >= chars.len() - 2 {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_middle_of_long_numbers_only() {
        assert_eq!(number("081234567890"), "0812******90");
        assert_eq!(number("+6281234567890"), "+628********90");
        assert_eq!(number("1001"), "1001");
        assert_eq!(number("137"), "137");
        assert_eq!(number(""), "");
    }
}
