//! The JSON the widget's server functions speak: the same bytes as `server_fn`'s own `Json`,
//! but decoded from text (`serde_json::from_str`), as Leptos decodes an island's props. Every
//! type the widget decodes then has one JSON decoder in the WebAssembly instead of two (serde
//! monomorphises a decoder per reader: one for text, one for bytes).

use leptos::server_fn::codec::{JsonEncoding, Post};
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::Serialize;
use serde::de::{DeserializeOwned, Error as _};

/// `application/json`, decoded from UTF-8 text.
pub struct JsonTextEncoding;

impl ContentType for JsonTextEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonTextEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

/// Encoded exactly as `server_fn`'s own JSON.
impl<T: Serialize> Encodes<T> for JsonTextEncoding {
    type Error = <JsonEncoding as Encodes<T>>::Error;

    fn encode(value: &T) -> Result<Bytes, Self::Error> {
        <JsonEncoding as Encodes<T>>::encode(value)
    }
}

impl<T: DeserializeOwned> Decodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(serde_json::Error::custom)?;
        serde_json::from_str(text)
    }
}

/// Arguments and answers as JSON in the body of a `POST`.
pub type JsonText = Post<JsonTextEncoding>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CodeResult;

    #[test]
    fn round_trips_and_refuses_what_is_not_json_text() {
        let bytes = <JsonTextEncoding as Encodes<_>>::encode(&CodeResult::Throttled(60)).unwrap();
        assert_eq!(&bytes[..], br#"{"Throttled":60}"#);
        let back: CodeResult = <JsonTextEncoding as Decodes<_>>::decode(bytes).unwrap();
        assert_eq!(back, CodeResult::Throttled(60));
        let not_utf8 = Bytes::from_static(b"\"\xff\"");
        assert!(<JsonTextEncoding as Decodes<String>>::decode(not_utf8).is_err());
        let not_json = Bytes::from_static(b"{");
        assert!(<JsonTextEncoding as Decodes<CodeResult>>::decode(not_json).is_err());
    }
}
