//! Who a caller is, for the queue (ACD-5, ACD-6): the priority they enter
//! with, from their number's class and a VIP list, and whether they are
//! blocked. Rules speak of normalised numbers, so `0812…`, `62812…` and
//! `+62 812…` are one caller.

use serde::Serialize;

use crate::numbers::{classify, normalise, NumberClass};

/// What happens to a blocked caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockAction {
    /// Answered busy (486).
    Busy,
    /// Played an announcement, then hung up.
    Announcement,
    /// Hung up at once.
    Hangup,
}

/// A blocklist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// One number (any written form).
    Number(String, BlockAction),
    /// Every number starting so (after normalising: `+6281`…).
    Prefix(String, BlockAction),
    /// Callers who withhold their number.
    Anonymous(BlockAction),
}

/// Priorities and blocklist of the box.
#[derive(Debug, Clone, Default)]
pub struct CallerRules {
    /// Priority by class: mobile, fixed, special, international, anonymous.
    pub mobile: i32,
    pub fixed: i32,
    pub other: i32,
    /// Listed numbers and their priority (VIP): they win over the class.
    pub vip: Vec<(String, i32)>,
    pub blocks: Vec<Block>,
    /// Length of the box's extensions.
    pub internal_len: usize,
}

/// The verdict on a caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallerVerdict {
    /// E.164 or as dialled; `None` when withheld.
    pub number: Option<String>,
    pub class: NumberClass,
    pub priority: i32,
    pub blocked: Option<BlockAction>,
}

impl CallerRules {
    pub fn judge(&self, caller: &str) -> CallerVerdict {
        let number = normalise(caller);
        let class = classify(caller, self.internal_len);
        let norm = |n: &str| normalise(n).unwrap_or_default();
        let blocked = self.blocks.iter().find_map(|b| match (b, &number) {
            (Block::Number(n, a), Some(num)) if norm(n) == *num => Some(*a),
            (Block::Prefix(p, a), Some(num)) if num.starts_with(&norm(p)) => Some(*a),
            (Block::Anonymous(a), None) => Some(*a),
            _ => None,
        });
        let vip = number
            .as_ref()
            .and_then(|num| self.vip.iter().find(|(v, _)| norm(v) == *num))
            .map(|(_, p)| *p);
        let priority = vip.unwrap_or(match class {
            NumberClass::Mobile => self.mobile,
            NumberClass::Fixed { .. } => self.fixed,
            _ => self.other,
        });
        CallerVerdict {
            number,
            class,
            priority,
            blocked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> CallerRules {
        CallerRules {
            mobile: 5,
            fixed: 0,
            other: 0,
            vip: vec![("021-3522-1234".into(), 9)],
            blocks: vec![
                Block::Number("0813 9999 0000".into(), BlockAction::Busy),
                Block::Prefix("+62899".into(), BlockAction::Announcement),
                Block::Anonymous(BlockAction::Hangup),
            ],
            internal_len: 4,
        }
    }

    #[test]
    fn mobile_over_fixed_and_vip_over_both() {
        let r = rules();
        assert_eq!(r.judge("081234567890").priority, 5);
        assert_eq!(r.judge("+62 21 555 1234").priority, 0);
        let vip = r.judge("622135221234");
        assert_eq!(
            (vip.priority, vip.class),
            (9, NumberClass::Fixed { area: 21 })
        );
        assert_eq!(vip.number.as_deref(), Some("+622135221234"));
        assert_eq!(r.judge("1001").priority, 0);
    }

    #[test]
    fn blocks_by_number_in_any_form_prefix_and_anonymous() {
        let r = rules();
        assert_eq!(r.judge("+6281399990000").blocked, Some(BlockAction::Busy));
        assert_eq!(r.judge("6281399990000").blocked, Some(BlockAction::Busy));
        assert_eq!(
            r.judge("0899 1234 5678").blocked,
            Some(BlockAction::Announcement)
        );
        assert_eq!(r.judge("anonymous").blocked, Some(BlockAction::Hangup));
        assert_eq!(r.judge("").blocked, Some(BlockAction::Hangup));
        assert_eq!(r.judge("081234567890").blocked, None);
    }
}
