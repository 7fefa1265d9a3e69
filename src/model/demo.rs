//! A session the demo page started.

use serde::{Deserialize, Serialize};

/// A session started from the demo page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoSession {
    pub token: String,
    pub widget_url: String,
}
