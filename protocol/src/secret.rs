//! [`Secret`]: a credential held in memory (a token, a password) that never shows in `Debug`
//! output, logs or panics.
//!
//! Not a wire type: it has no `Serialize`, so a secret cannot end up in JSON by accident. It
//! lives here because edge and central both hold secrets and this is the one crate both use.

use serde::{Deserialize, Deserializer};

/// A token or password. `Debug` prints `Secret(***)`; there is no `Display`; the text is
/// reached only through [`Secret::expose`], at the one place that sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    /// The secret's text, for the call that needs it (an `Authorization` header, a login).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in characters, for checks that must not print the secret.
    pub fn char_count(&self) -> usize {
        self.0.chars().count()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<String> for Secret {
    fn from(text: String) -> Secret {
        Secret(text)
    }
}

impl From<&str> for Secret {
    fn from(text: &str) -> Secret {
        Secret(text.to_owned())
    }
}

/// Read from a plain string, as configuration files hold it.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_text() {
        let s = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{:?}", Some(&s)), "Some(Secret(***))");
        assert_eq!(format!("{s:#?}"), "Secret(***)");
        assert_eq!(s.expose(), "hunter2-very-secret");
        assert_eq!(s.char_count(), 19);
    }

    #[test]
    fn reads_from_a_string() {
        #[derive(Deserialize)]
        struct C {
            password: Secret,
        }
        let c: C = serde_json::from_str(r#"{"password":"p4ss"}"#).unwrap();
        assert_eq!(c.password.expose(), "p4ss");
    }
}
