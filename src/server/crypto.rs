//! Secrets and hashes: code HMACs under the server secret, hashes of keys and tokens, random
//! tokens and keys, and sealing of stored idempotent answers.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::engine::code::random_string;

type HmacSha256 = Hmac<Sha256>;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random characters after `sk_test_`/`sk_live_`: 32 base62 characters carry 190 bits.
const KEY_RANDOM_CHARS: usize = 32;
/// Characters of the random part kept as the key's public prefix.
const KEY_PREFIX_RANDOM_CHARS: usize = 8;

/// Keys derived from the server secret, one per purpose, so no two uses share a key.
#[derive(Clone)]
pub struct ServerKeys {
    code_key: [u8; 32],
    seal_key: [u8; 32],
    delivery_key: [u8; 32],
    receipt_key: [u8; 32],
    subject_key: [u8; 32],
    twilio_key: [u8; 32],
}

impl std::fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKeys([redacted])")
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        // Length-prefix each part so that no two different part lists hash alike.
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac
}

/// Where a code belongs: the same digits in another session, channel or request hash differently.
#[derive(Clone, Copy, Debug)]
pub enum CodeScope<'a> {
    SessionChannel {
        token_hash: &'a [u8],
        channel: &'a str,
    },
    SingleRequest {
        request_id: &'a str,
    },
}

impl ServerKeys {
    pub fn from_secret(secret: &[u8]) -> ServerKeys {
        let derive = |label: &str| -> [u8; 32] {
            hmac(secret, &[b"otpgate v1", label.as_bytes()])
                .finalize()
                .into_bytes()
                .into()
        };
        ServerKeys {
            code_key: derive("code hmac"),
            seal_key: derive("idempotency seal"),
            delivery_key: derive("delivery seal"),
            receipt_key: derive("receipt token"),
            subject_key: derive("limit subject"),
            twilio_key: derive("twilio session token"),
        }
    }

    fn code_mac(&self, scope: CodeScope<'_>, code: &str) -> HmacSha256 {
        match scope {
            CodeScope::SessionChannel {
                token_hash,
                channel,
            } => hmac(
                &self.code_key,
                &[b"session", token_hash, channel.as_bytes(), code.as_bytes()],
            ),
            CodeScope::SingleRequest { request_id } => hmac(
                &self.code_key,
                &[b"single", request_id.as_bytes(), code.as_bytes()],
            ),
        }
    }

    /// The session token of a Twilio-door verification, derived from its SID with the server
    /// key (32 bytes, base64url: a session token's shape). The door finds the session with it
    /// and never stores or shows it; knowing the SID, which is no secret, gives nothing.
    pub fn twilio_session_token(&self, verification_sid: &str) -> String {
        let mac = hmac(
            &self.twilio_key,
            &[b"verification", verification_sid.as_bytes()],
        );
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// HMAC-SHA-256 of a normalised code; the only form in which a code is stored.
    pub fn code_hash(&self, scope: CodeScope<'_>, code: &str) -> Vec<u8> {
        self.code_mac(scope, code).finalize().into_bytes().to_vec()
    }

    /// Constant-time comparison of a submitted (normalised) code with the stored hash.
    pub fn code_matches(&self, scope: CodeScope<'_>, code: &str, stored: &[u8]) -> bool {
        self.code_mac(scope, code).verify_slice(stored).is_ok()
    }

    /// Encrypts and authenticates `plaintext`, bound to `context`. Returns (nonce, ciphertext).
    pub fn seal(
        &self,
        rng: &mut impl RngCore,
        context: &[u8],
        plaintext: &[u8],
    ) -> (Vec<u8>, Vec<u8>) {
        let cipher = ChaCha20Poly1305::new(&self.seal_key.into());
        let mut nonce = [0u8; 12];
        rng.fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .expect("ChaCha20-Poly1305 encryption of a short message cannot fail");
        (nonce.to_vec(), sealed)
    }

    /// Opens what [`ServerKeys::seal`] produced; `None` if it was altered or sealed elsewhere.
    pub fn open(&self, context: &[u8], nonce: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if nonce.len() != 12 {
            return None;
        }
        ChaCha20Poly1305::new(&self.seal_key.into())
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: context,
                },
            )
            .ok()
    }
}

/// What a webhook signing secret is sealed to, so that no other sealed value opens as one.
const WEBHOOK_SECRET_CONTEXT: &[u8] = b"webhook signing secret";

/// What a queued code is sealed to: its session and channel, or its single-SMS request. A sealed
/// code copied onto another message does not open.
pub fn delivery_context(scope: CodeScope<'_>) -> Vec<u8> {
    match scope {
        CodeScope::SessionChannel {
            token_hash,
            channel,
        } => [
            b"delivery session:".as_slice(),
            token_hash,
            b":",
            channel.as_bytes(),
        ]
        .concat(),
        CodeScope::SingleRequest { request_id } => {
            [b"delivery single:".as_slice(), request_id.as_bytes()].concat()
        }
    }
}

impl ServerKeys {
    /// Seals a code for the delivery queue: nonce and ciphertext in one value.
    pub fn seal_code(&self, rng: &mut impl RngCore, scope: CodeScope<'_>, code: &str) -> Vec<u8> {
        let cipher = ChaCha20Poly1305::new(&self.delivery_key.into());
        let mut nonce = [0u8; 12];
        rng.fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: code.as_bytes(),
                    aad: &delivery_context(scope),
                },
            )
            .expect("ChaCha20-Poly1305 encryption of a short message cannot fail");
        [nonce.as_slice(), &sealed].concat()
    }

    /// Opens a code sealed by [`ServerKeys::seal_code`] for the same scope.
    pub fn open_code(&self, scope: CodeScope<'_>, sealed: &[u8]) -> Option<String> {
        let (nonce, ciphertext) = sealed.split_at_checked(12)?;
        let plain = ChaCha20Poly1305::new(&self.delivery_key.into())
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &delivery_context(scope),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok()
    }

    /// Seals a webhook endpoint's signing secret for storage: nonce and ciphertext in one value.
    pub fn seal_webhook_secret(&self, rng: &mut impl RngCore, secret: &[u8]) -> Vec<u8> {
        let (nonce, sealed) = self.seal(rng, WEBHOOK_SECRET_CONTEXT, secret);
        [nonce, sealed].concat()
    }

    /// Opens what [`ServerKeys::seal_webhook_secret`] sealed; `None` if it was altered or sealed
    /// under another server secret.
    pub fn open_webhook_secret(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        let (nonce, ciphertext) = sealed.split_at_checked(12)?;
        self.open(WEBHOOK_SECRET_CONTEXT, nonce, ciphertext)
    }

    /// The unguessable token a gateway's delivery report URL carries for one message:
    /// `<delivery id>-<MAC>`. Nothing is stored; the MAC proves otpgate made it.
    pub fn receipt_token(&self, delivery_id: i64) -> String {
        let mac = hmac(&self.receipt_key, &[b"dlr", &delivery_id.to_be_bytes()]).finalize();
        format!(
            "{delivery_id}-{}",
            URL_SAFE_NO_PAD.encode(&mac.into_bytes()[..18])
        )
    }

    /// The message a receipt token names, if otpgate made the token.
    pub fn receipt_delivery(&self, token: &str) -> Option<i64> {
        let (id, mac) = token.split_once('-')?;
        let id: i64 = id.parse().ok().filter(|id| *id > 0)?;
        let expected = self.receipt_token(id);
        let given = format!("{id}-{mac}");
        bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            given.as_bytes(),
        ))
        .then_some(id)
    }
}

/// Keyed hashes of what limits count (a destination, a number prefix, a client IP): the limit
/// tables can tell two subjects apart and count them, but not say who they are.
#[derive(Clone)]
pub struct Subjects {
    key: [u8; 32],
}

impl std::fmt::Debug for Subjects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subjects")
    }
}

impl Subjects {
    /// The hash of `value` in `scope` (`destination`, `prefix`, `ip`).
    pub fn of(&self, scope: &str, value: &str) -> Vec<u8> {
        let mac = hmac(&self.key, &[scope.as_bytes(), b":", value.as_bytes()]).finalize();
        mac.into_bytes()[..16].to_vec()
    }
}

impl ServerKeys {
    pub fn subjects(&self) -> Subjects {
        Subjects {
            key: self.subject_key,
        }
    }
}

/// SHA-256, for values that already carry ≥128 random bits (API keys, session tokens).
pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// A session token: 32 random bytes, base64url without padding (43 characters).
pub fn new_session_token(rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A session's public name: `ses_` and 16 random bytes in hex. Not a secret (it is answered by
/// send and status and shown to operators), and unrelated to the token, so knowing it grants
/// nothing.
pub fn new_session_id(rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    format!("ses_{}", hex::encode(bytes))
}

/// Whether `id` has the shape of a session's public name (checked before any look-up).
pub fn looks_like_session_id(id: &str) -> bool {
    id.len() == 36
        && id.starts_with("ses_")
        && id[4..]
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `token` has the shape of a session token: 43 base64url characters (256 bits, no
/// padding). Anything else names no session, so it is refused before any look-up and never
/// echoed into a header or a page.
pub fn looks_like_session_token(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A new Twilio-style SID: a two-letter `prefix` (`AC` an account, `VA` a service, `VE` a
/// verification, `VL` a send attempt) and 16 random bytes in lower-case hex: 34 characters.
pub fn new_sid(rng: &mut impl RngCore, prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// Whether `sid` has the shape of a SID with `prefix` as otpgate makes them (checked before
/// any look-up; anything else names nothing).
pub fn looks_like_sid(sid: &str, prefix: &str) -> bool {
    sid.len() == prefix.len() + 32
        && sid.starts_with(prefix)
        && sid[prefix.len()..]
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A new API key and its public prefix (`sk_test_Ab12Cd34`).
pub fn new_api_key(rng: &mut impl RngCore, test: bool) -> (String, String) {
    let kind = if test { "sk_test_" } else { "sk_live_" };
    let key = format!("{kind}{}", random_string(rng, BASE62, KEY_RANDOM_CHARS));
    let prefix = key[..kind.len() + KEY_PREFIX_RANDOM_CHARS].to_owned();
    (key, prefix)
}

/// Whether `key` has the shape of an otpgate key, so malformed ones skip the database.
pub fn looks_like_api_key(key: &str) -> bool {
    let random = key
        .strip_prefix("sk_test_")
        .or_else(|| key.strip_prefix("sk_live_"));
    random.is_some_and(|r| {
        r.len() == KEY_RANDOM_CHARS && r.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// A new admin token (`at_` and 32 base62 characters, 190 bits) and its public prefix.
pub fn new_admin_token(rng: &mut impl RngCore) -> (String, String) {
    let token = format!("at_{}", random_string(rng, BASE62, KEY_RANDOM_CHARS));
    let prefix = token[.."at_".len() + KEY_PREFIX_RANDOM_CHARS].to_owned();
    (token, prefix)
}

/// Whether `token` has the shape of an admin token, so malformed ones skip the database.
pub fn looks_like_admin_token(token: &str) -> bool {
    token.strip_prefix("at_").is_some_and(|r| {
        r.len() == KEY_RANDOM_CHARS && r.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

pub fn is_test_key(key: &str) -> bool {
    key.starts_with("sk_test_")
}

/// A fresh random secret for development, hex encoded.
pub fn new_secret_hex(rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn keys() -> ServerKeys {
        ServerKeys::from_secret(b"a test secret that is long enough")
    }

    #[test]
    fn code_hashes_depend_on_scope_and_secret() {
        let k = keys();
        let a = CodeScope::SessionChannel {
            token_hash: b"t1",
            channel: "sms",
        };
        let b = CodeScope::SessionChannel {
            token_hash: b"t1",
            channel: "email",
        };
        let c = CodeScope::SingleRequest { request_id: "t1" };
        let h = k.code_hash(a, "123456");
        assert_eq!(h.len(), 32);
        assert!(k.code_matches(a, "123456", &h));
        assert!(!k.code_matches(a, "123457", &h));
        assert!(!k.code_matches(b, "123456", &h));
        assert!(!k.code_matches(c, "123456", &h));
        assert!(!k.code_matches(a, "123456", &h[..31]));
        let other = ServerKeys::from_secret(b"another secret");
        assert!(!other.code_matches(a, "123456", &h));
        assert!(!h.windows(6).any(|w| w == b"123456"));
    }

    #[test]
    fn sealing_round_trips_and_detects_tampering() {
        let k = keys();
        let mut rng = StdRng::seed_from_u64(3);
        let (nonce, sealed) = k.seal(&mut rng, b"ctx", b"session token");
        assert_eq!(k.open(b"ctx", &nonce, &sealed).unwrap(), b"session token");
        assert!(k.open(b"other", &nonce, &sealed).is_none());
        let mut tampered = sealed.clone();
        tampered[0] ^= 1;
        assert!(k.open(b"ctx", &nonce, &tampered).is_none());
        assert!(k.open(b"ctx", &nonce[..11], &sealed).is_none());
    }

    #[test]
    fn keys_and_tokens_have_their_shapes() {
        let mut rng = StdRng::seed_from_u64(9);
        let (key, prefix) = new_api_key(&mut rng, true);
        assert!(key.starts_with("sk_test_") && key.len() == 40, "{key}");
        assert!(looks_like_api_key(&key));
        assert!(is_test_key(&key));
        assert_eq!(prefix, key[..16]);
        let (live, _) = new_api_key(&mut rng, false);
        assert!(live.starts_with("sk_live_") && looks_like_api_key(&live) && !is_test_key(&live));
        assert!(!looks_like_api_key("sk_test_short"));
        assert!(!looks_like_api_key(&format!("pk_test_{}", &key[8..])));
        let token = new_session_token(&mut rng);
        assert_eq!(token.len(), 43);
        assert!(looks_like_session_token(&token));
        for bad in [
            "",
            "\nLocation: x",
            &token[1..],
            &format!("{token}A"),
            &format!("{}\n", &token[1..]),
            &format!("{}=", &token[1..]),
            &format!("{}/", &token[1..]),
        ] {
            assert!(!looks_like_session_token(bad), "{bad:?}");
        }
        assert_eq!(new_secret_hex(&mut rng).len(), 64);
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;
        use rand::SeedableRng;

        proptest! {
            #[test]
            fn token_shape_checks_never_panic_and_only_pass_43_url_safe_characters(
                text in any::<String>(),
            ) {
                if looks_like_session_token(&text) {
                    prop_assert_eq!(text.len(), 43);
                    prop_assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
                }
            }

            #[test]
            fn every_token_otpgate_makes_has_the_shape_and_decodes_to_256_bits(seed in any::<u64>()) {
                let token = new_session_token(&mut rand::rngs::StdRng::seed_from_u64(seed));
                prop_assert!(looks_like_session_token(&token));
                prop_assert_eq!(URL_SAFE_NO_PAD.decode(&token).map(|b| b.len()), Ok(32));
            }

            #[test]
            fn api_key_checks_never_panic(text in any::<String>()) {
                let _ = looks_like_api_key(&text);
                let _ = is_test_key(&text);
            }
        }
    }

    #[test]
    fn sealed_codes_open_only_in_their_own_scope() {
        let keys = keys();
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let scope = CodeScope::SessionChannel {
            token_hash: b"token hash",
            channel: "sms",
        };
        let sealed = keys.seal_code(&mut rng, scope, "493817");
        assert!(!sealed.windows(6).any(|w| w == b"493817"), "never in clear");
        assert_eq!(keys.open_code(scope, &sealed).as_deref(), Some("493817"));
        let other = CodeScope::SessionChannel {
            token_hash: b"token hash",
            channel: "email",
        };
        assert_eq!(keys.open_code(other, &sealed), None);
        assert_eq!(
            keys.open_code(CodeScope::SingleRequest { request_id: "x" }, &sealed),
            None
        );
        let mut altered = sealed.clone();
        altered[20] ^= 1;
        assert_eq!(keys.open_code(scope, &altered), None);
        assert_eq!(keys.open_code(scope, &sealed[..8]), None);
        let elsewhere = ServerKeys::from_secret(b"another secret of enough length....");
        assert_eq!(elsewhere.open_code(scope, &sealed), None);
    }

    #[test]
    fn receipt_tokens_name_their_message_and_cannot_be_forged() {
        let keys = keys();
        let token = keys.receipt_token(42);
        assert!(token.starts_with("42-") && token.len() > 20, "{token}");
        assert_eq!(keys.receipt_delivery(&token), Some(42));
        let (_, mac) = token.split_once('-').unwrap();
        assert_eq!(keys.receipt_delivery(&format!("43-{mac}")), None);
        assert_eq!(keys.receipt_delivery("42-AAAAAAAAAAAAAAAAAAAAAAAA"), None);
        for junk in [
            "",
            "-",
            "42",
            "x-y",
            "-1-abc",
            "0-abc",
            "99999999999999999999-abc",
        ] {
            assert_eq!(keys.receipt_delivery(junk), None, "{junk}");
        }
        let elsewhere = ServerKeys::from_secret(b"another secret of enough length....");
        assert_eq!(elsewhere.receipt_delivery(&token), None);
    }
}
