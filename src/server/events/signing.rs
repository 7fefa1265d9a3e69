//! Standard Webhooks v1 signatures: the secret's form (`whsec_` and the base64 of its random
//! bytes) and the `webhook-signature` header (`v1,` and the base64 of HMAC-SHA256 over
//! `{id}.{timestamp}.{body}`, one per live secret, separated by spaces).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Random bytes in a new signing secret (the specification allows 24 to 64).
pub const SECRET_BYTES: usize = 32;

const PREFIX: &str = "whsec_";

/// A new signing secret: as shown once to the operator (`whsec_…`), and its bytes, which are
/// what is sealed and stored.
pub fn new_secret(rng: &mut impl rand::RngCore) -> (String, Vec<u8>) {
    let mut bytes = vec![0u8; SECRET_BYTES];
    rng.fill_bytes(&mut bytes);
    (shown(&bytes), bytes)
}

/// A secret's bytes as the operator sees them: `whsec_` and their base64.
pub fn shown(bytes: &[u8]) -> String {
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

/// One signature: `v1,` and the base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}`.
pub fn signature(secret: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header: a signature with each live secret, the newest first.
pub fn signature_header<'a>(
    secrets: impl IntoIterator<Item = &'a [u8]>,
    id: &str,
    timestamp: i64,
    body: &str,
) -> String {
    secrets
        .into_iter()
        .map(|secret| signature(secret, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification (and of its reference libraries'
    /// tests): this secret, ID, timestamp and body give this signature.
    #[test]
    fn the_specifications_example_signs_as_published() {
        let secret = STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .expect("base64");
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn two_live_secrets_give_two_signatures_newest_first() {
        let (new, old) = (
            b"new secret bytes".as_slice(),
            b"old secret bytes".as_slice(),
        );
        let header = signature_header([new, old], "msg_1", 1_800_000_000, "{}");
        let parts: Vec<_> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], signature(new, "msg_1", 1_800_000_000, "{}"));
        assert_eq!(parts[1], signature(old, "msg_1", 1_800_000_000, "{}"));
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
    }

    #[test]
    fn a_new_secret_is_whsec_and_the_base64_of_its_32_bytes() {
        let (text, bytes) = new_secret(&mut rand::rng());
        assert_eq!(bytes.len(), SECRET_BYTES);
        let encoded = text.strip_prefix("whsec_").expect("prefix");
        assert_eq!(STANDARD.decode(encoded).unwrap(), bytes);
        assert_ne!(new_secret(&mut rand::rng()).1, bytes);
    }
}
