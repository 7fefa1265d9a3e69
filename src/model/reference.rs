//! The API reference as the reference page shows it: endpoints, their fields and answers.

use serde::{Deserialize, Serialize};

/// One endpoint, summarised for reading.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointDoc {
    pub method: String,
    pub path: String,
    pub tag: String,
    pub summary: String,
    pub description: String,
    pub fields: Vec<FieldDoc>,
    pub request_example: Option<String>,
    pub responses: Vec<ResponseDoc>,
}

/// One field of a request body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDoc {
    pub name: String,
    pub kind: String,
    pub required: bool,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseDoc {
    pub status: String,
    pub description: String,
}
