//! The verification engine: pure domain rules with no I/O, no clock and no global RNG.
//!
//! Every decision otpgate makes about a code (is it well formed, does it count an attempt, is the
//! session verified, locked or expired, may a channel be resent) lives here. Callers pass in the
//! current time and the random source, so each rule is unit-tested with a fixed clock and a seeded
//! RNG. The module compiles for the server and for WASM, so the widget shares these types.

pub mod channel;
pub mod code;
pub mod delivery;
pub mod fallback;
pub mod limits;
pub mod policy;
pub mod session;
pub mod single;
pub mod sms;
pub mod webhook;

pub use channel::Channel;
pub use policy::{RequestedLimits, SessionLimits, SessionSpec, SpecError, VerificationMode};
pub use session::{
    ChannelOutcome, ChannelState, ResendError, Session, SessionError, SessionStatus, VerifyOutcome,
};

/// Seconds since the Unix epoch. The engine works at second resolution because that is the
/// resolution of every time the API shows (`expires_at` is RFC 3339 without fractions).
pub type UnixSeconds = i64;
