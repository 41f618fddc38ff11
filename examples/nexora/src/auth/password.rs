//! Password hashing with argon2id (the crate's recommended defaults, PHC string format).
//! Hashing is CPU-heavy, so the async wrappers run it on the blocking pool.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::OnceLock;

pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2 hashes any password with default params").to_string()
}

pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

pub async fn hash_async(password: String) -> String {
    tokio::task::spawn_blocking(move || hash(&password)).await.expect("hashing does not panic")
}

/// Verifies against `phc`, or against a throwaway hash when the user does not exist, so
/// both cases take the same time and a login form does not reveal which names exist.
pub async fn verify_async(password: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || match phc {
        Some(phc) => verify(&password, &phc),
        None => {
            static DUMMY: OnceLock<String> = OnceLock::new();
            verify(&password, DUMMY.get_or_init(|| hash("not a real password")));
            false
        }
    })
    .await
    .expect("verifying does not panic")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let phc = hash("correct horse");
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify("correct horse", &phc));
        assert!(!verify("wrong horse", &phc));
        assert!(!verify("correct horse", "not a phc string"));
    }
}
