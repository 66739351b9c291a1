//! MQTT topic filters (`+` one level, `#` the rest), as the mapping rules write them.

/// A validated topic filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicFilter {
    levels: Vec<Level>,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Level {
    Exact(String),
    /// `+`: exactly one level.
    One,
    /// `#`: this level and every one below (also none).
    Rest,
}

impl TopicFilter {
    /// Parses a filter; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<TopicFilter, String> {
        if text.is_empty() {
            return Err("topic filter is empty".into());
        }
        let parts: Vec<&str> = text.split('/').collect();
        let mut levels = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let level = match *part {
                "+" => Level::One,
                "#" if i + 1 == parts.len() => Level::Rest,
                "#" => {
                    return Err(format!("topic filter {text:?}: '#' must be the last level"));
                }
                p if p.contains(['+', '#']) => {
                    return Err(format!(
                        "topic filter {text:?}: '+' and '#' must stand alone in a level, found {p:?}"
                    ));
                }
                p => Level::Exact(p.to_owned()),
            };
            levels.push(level);
        }
        Ok(TopicFilter {
            levels,
            text: text.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `topic` (a concrete topic, no wildcards) matches. Topics starting with `$`
    /// match no filter that begins with a wildcard (MQTT 3.1.1, 4.7.2).
    pub fn matches(&self, topic: &str) -> bool {
        if topic.starts_with('$') && !matches!(self.levels.first(), Some(Level::Exact(_))) {
            return false;
        }
        let mut parts = topic.split('/');
        for level in &self.levels {
            match level {
                Level::Rest => return true,
                Level::One => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                Level::Exact(expected) => match parts.next() {
                    Some(p) if p == expected => {}
                    _ => return false,
                },
            }
        }
        parts.next().is_none()
    }

    /// Whether every topic that `other` matches is matched by this filter too: a device whose
    /// subscribe ACL is this filter may subscribe to `other`. `+` covers one level (a `+` of
    /// `other` too, not its `#`); `#` covers the rest, whatever it is. Topics starting with
    /// `$` are left out as in [`matches`](Self::matches): a filter beginning with a wildcard
    /// covers no filter that begins with `$`.
    pub fn covers(&self, other: &TopicFilter) -> bool {
        if matches!(other.levels.first(), Some(Level::Exact(l)) if l.starts_with('$'))
            && !matches!(self.levels.first(), Some(Level::Exact(_)))
        {
            return false;
        }
        let mut theirs = other.levels.iter();
        for mine in &self.levels {
            match (mine, theirs.next()) {
                (Level::Rest, _) => return true,
                (Level::One, Some(Level::One | Level::Exact(_))) => {}
                (Level::Exact(a), Some(Level::Exact(b))) if a == b => {}
                _ => return false,
            }
        }
        theirs.next().is_none()
    }

    /// The levels of `topic` that the `+` wildcards matched, in order (for naming the device
    /// from the topic, e.g. `plant/+/counter` → `["press-1"]`).
    pub fn captures<'t>(&self, topic: &'t str) -> Vec<&'t str> {
        topic
            .split('/')
            .zip(&self.levels)
            .filter(|(_, level)| matches!(level, Level::One))
            .map(|(part, _)| part)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(filter: &str, topic: &str, expect: bool) {
        let f = TopicFilter::parse(filter).unwrap();
        assert_eq!(f.matches(topic), expect, "{filter} vs {topic}");
    }

    #[test]
    fn matching() {
        check("a/b/c", "a/b/c", true);
        check("a/b/c", "a/b", false);
        check("a/b/c", "a/b/c/d", false);
        check("a/+/c", "a/x/c", true);
        check("a/+/c", "a/x/y/c", false);
        check("a/+", "a/", true);
        check("a/#", "a", true);
        check("a/#", "a/b/c", true);
        check("#", "anything/at/all", true);
        check("+/+", "a/b", true);
        check("+/+", "a", false);
        check("#", "$SYS/broker/load", false);
        check("$SYS/#", "$SYS/broker/load", true);
        check(
            "spBv1.0/+/DDATA/+/+",
            "spBv1.0/plant/DDATA/gw-1/press-1",
            true,
        );
    }

    #[test]
    fn bad_filters_say_why() {
        for (filter, why) in [
            ("", "empty"),
            ("a/#/c", "last level"),
            ("a/b+/c", "stand alone"),
            ("a/#x", "stand alone"),
        ] {
            let e = TopicFilter::parse(filter).unwrap_err();
            assert!(e.contains(why), "{filter}: {e}");
        }
    }

    #[test]
    fn covering_a_filter_means_matching_every_topic_it_matches() {
        let check = |acl: &str, wanted: &str, expect: bool| {
            let a = TopicFilter::parse(acl).unwrap();
            let w = TopicFilter::parse(wanted).unwrap();
            assert_eq!(a.covers(&w), expect, "{acl} covers {wanted}");
        };
        check("a/b", "a/b", true);
        check("a/b", "a/c", false);
        check("a/+", "a/b", true);
        check("a/+", "a/+", true);
        check("a/+", "a/#", false);
        check("a/b", "a/+", false);
        check("a/#", "a/b/c", true);
        check("a/#", "a/+/#", true);
        check("a/#", "a", true);
        check("a/#", "#", false);
        check("a/+/c", "a/b/c/d", false);
        check("a/b/c", "a/b", false);
        check("#", "anything/+/#", true);
        check("#", "$SYS/#", false);
        check("$SYS/#", "$SYS/broker", true);
    }

    #[test]
    fn captures_name_the_wildcard_levels() {
        let f = TopicFilter::parse("plant/+/line/+/count").unwrap();
        assert_eq!(f.captures("plant/p1/line/l2/count"), vec!["p1", "l2"]);
    }
}
