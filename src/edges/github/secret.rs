//! A string that must never be printed: tokens, private keys, webhook secrets.

use std::fmt;

/// Holds a secret value. `Debug` and `Display` print `***`, so a secret
/// that ends up in a log line, an error or a `{:?}` of a config struct
/// leaks nothing. Read it only where it is sent: [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_itself() {
        let secret = Secret::new("ghp_abcdef123456");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(format!("{secret}"), "***");
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            token: Secret,
        }
        let printed = format!(
            "{:?}",
            Holder {
                token: secret.clone()
            }
        );
        assert!(!printed.contains("ghp_"), "{printed}");
        assert_eq!(secret.expose(), "ghp_abcdef123456");
    }
}
