//! CSRF protection for every dashboard form: a token derived from a secret
//! the browser holds in an HTTP-only cookie (the session token once signed
//! in; a sign-in cookie before), sent back in a hidden field. Another site
//! can make the browser send the cookie, never read it, so it cannot write
//! the field. Compared in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The hidden form field's name.
pub const FIELD: &str = "csrf";
/// The cookie that carries the secret of the sign-in forms (before a
/// session exists).
pub const SIGN_IN_COOKIE: &str = "pg_signin";

/// The form token for `secret`.
pub fn token(secret: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(b"promptgate dashboard form");
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `presented` is the form token of `secret`.
pub fn verify(secret: &str, presented: Option<&str>) -> bool {
    let Some(presented) = presented else {
        return false;
    };
    let Ok(presented) = hex::decode(presented) else {
        return false;
    };
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(b"promptgate dashboard form");
    mac.verify_slice(&presented).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_of_the_same_secret_passes() {
        let good = token("secret-a");
        assert!(verify("secret-a", Some(&good)));
        assert!(!verify("secret-b", Some(&good)));
        assert!(!verify("secret-a", None));
        assert!(!verify("secret-a", Some("")));
        assert!(!verify("secret-a", Some("not hex")));
        assert!(!verify("secret-a", Some(&good[..32])));
    }
}
