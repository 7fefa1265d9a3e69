//! What pages and server functions say to each other about the service as a whole: the errors
//! a page shows, the service check, and whether development pages exist.

use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// What went wrong in a server function, as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum PageError {
    #[error("This page is only available in development mode.")]
    DevelopmentOnly,
    #[error("This verification link is not valid.")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error("The service is unavailable right now. Please try again.")]
    Unavailable,
    #[error("The request did not reach the service: {0}")]
    Transport(String),
}

impl FromServerFnError for PageError {
    // Decoded from text like every answer the widget reads (see `codec`).
    type Encoder = super::JsonTextEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        PageError::Transport(value.to_string())
    }
}

/// The service's version and mode, after checking that the database answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub version: String,
    pub mode: String,
}

/// Whether the server runs in development mode, so the start page links the pages that exist
/// only there (the demo and the outbox).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevelopmentMode(pub bool);
