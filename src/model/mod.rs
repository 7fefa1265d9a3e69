//! The types the pages and the server exchange (both targets): what the widget shows, the
//! errors pages show, outbox items, the demo session, the API reference, and language
//! negotiation. No server or UI code lives here, so both sides depend on it and not on each other.

mod codec;
mod demo;
mod language;
mod outbox;
mod page;
mod reference;
mod widget;

pub use codec::{JsonText, JsonTextEncoding};
pub use demo::DemoSession;
pub use language::{Forms, LANGUAGES, PluralRule, fill, language_of, negotiate};
pub use outbox::OutboxItem;
pub use page::{DevelopmentMode, PageError, ServiceInfo};
pub use reference::{EndpointDoc, FieldDoc, ResponseDoc};
pub use widget::{
    CodeAnswer, CodeResult, PageOptions, Preloaded, ResendAnswer, WidgetChannel, WidgetSession,
};
