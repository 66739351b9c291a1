//! Whose customers, contacts, deals, quotations and orders someone sees and changes: a
//! salesperson their own, a sales manager their team's (everyone whose manager they are, and
//! theirs, down the line), head office and planning all (`crm.all.read`), and an
//! administrator changes all.
//!
//! The store applies a scope in its queries (`owner IN (...)`); a record outside it answers
//! 404, as a record of another plant does. Pure: no I/O.

use std::collections::{BTreeSet, HashMap};

/// How far down a manager's line is followed (a longer chain, or a cycle, stops there).
pub const MAX_TEAM_DEPTH: usize = 16;

/// Whose records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SalesScope {
    All,
    /// The owners (logins) whose records are in scope.
    Owners(BTreeSet<String>),
}

impl SalesScope {
    pub fn allows(&self, owner: &str) -> bool {
        match self {
            SalesScope::All => true,
            SalesScope::Owners(owners) => owners.contains(owner),
        }
    }

    /// The owners to filter by, `None` for all.
    pub fn owners(&self) -> Option<Vec<String>> {
        match self {
            SalesScope::All => None,
            SalesScope::Owners(owners) => Some(owners.iter().cloned().collect()),
        }
    }
}

/// `login` and everyone below them: the users whose manager is `login`, theirs, and so on,
/// at most [`MAX_TEAM_DEPTH`] levels (a cycle in the managers ends it).
pub fn team_of<'a>(
    login: &str,
    managers: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> BTreeSet<String> {
    let mut reports: HashMap<&str, Vec<&str>> = HashMap::new();
    for (user, manager) in managers {
        if let Some(manager) = manager {
            reports.entry(manager).or_default().push(user);
        }
    }
    let mut team = BTreeSet::from([login.to_owned()]);
    let mut level = vec![login];
    for _ in 0..MAX_TEAM_DEPTH {
        let mut next = Vec::new();
        for boss in level {
            for &user in reports.get(boss).into_iter().flatten() {
                if team.insert(user.to_owned()) {
                    next.push(user);
                }
            }
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    team
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manager_sees_their_line_down_and_nobody_elses() {
        let users = [
            ("wang.gm", None),
            ("chen.mgr", Some("wang.gm")),
            ("li.sales", Some("chen.mgr")),
            ("zhao.sales", Some("chen.mgr")),
            ("sun.junior", Some("li.sales")),
            ("zhou.other", Some("wang.gm")),
        ];
        let team = team_of("chen.mgr", users);
        assert_eq!(
            team.into_iter().collect::<Vec<_>>(),
            ["chen.mgr", "li.sales", "sun.junior", "zhao.sales"]
        );
        assert_eq!(team_of("sun.junior", users).len(), 1);
        assert_eq!(team_of("wang.gm", users).len(), 6);
        assert_eq!(team_of("nobody", users).len(), 1);
        let scope = SalesScope::Owners(team_of("li.sales", users));
        assert!(scope.allows("sun.junior") && scope.allows("li.sales"));
        assert!(!scope.allows("zhao.sales"));
        assert!(SalesScope::All.allows("anyone"));
        assert_eq!(SalesScope::All.owners(), None);
    }

    #[test]
    fn a_cycle_of_managers_ends() {
        let users = [("a", Some("b")), ("b", Some("a"))];
        assert_eq!(team_of("a", users).len(), 2);
        // A chain longer than the depth stops there.
        let names: Vec<String> = (0..40).map(|i| format!("u{i}")).collect();
        let chain: Vec<(&str, Option<&str>)> = (0..40)
            .map(|i| (names[i].as_str(), (i > 0).then(|| names[i - 1].as_str())))
            .collect();
        assert_eq!(team_of("u0", chain).len(), MAX_TEAM_DEPTH + 1);
    }
}
