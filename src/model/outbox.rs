//! A message caught in the outbox, as the development pages show it.

use serde::{Deserialize, Serialize};

/// One caught message, as shown on the page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub tenant: String,
    pub test: bool,
    pub channel: String,
    pub to: String,
    /// `None` once the code is erased (used, replaced, expired or its session ended).
    pub code: Option<String>,
    pub body: String,
    pub sent_at: String,
}
