//! Twilio's parameters: PascalCase names, form-encoded in a POST body (`+` and `%20` both a
//! space) or in the query string of a GET. A value that is not what its name needs is `400`
//! 60200 naming the parameter.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, header};

use super::error::TwilioError;

/// The parameters of a request, as given (a name given twice keeps its first value).
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(encoded: &[u8]) -> Params {
        Params(
            url::form_urlencoded::parse(encoded)
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect(),
        )
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(given, _)| given == name)
            .map(|(_, value)| value.as_str())
    }

    /// The first parameter whose name is not one of `known`.
    pub fn other_than(&self, known: &[&str]) -> Option<&str> {
        self.0
            .iter()
            .map(|(name, _)| name.as_str())
            .find(|name| !known.contains(name))
    }

    /// Whether any parameter's name starts with `prefix` (`Push.` names a whole feature).
    pub fn any_under(&self, prefix: &str) -> bool {
        self.0.iter().any(|(name, _)| name.starts_with(prefix))
    }

    pub fn integer(&self, name: &str) -> Result<Option<i64>, TwilioError> {
        self.text(name)
            .map(|value| {
                value
                    .trim()
                    .parse()
                    .map_err(|_| TwilioError::invalid(&format!("{name}: a whole number")))
            })
            .transpose()
    }

    /// `true` or `false`, as the SDKs send booleans.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, TwilioError> {
        self.text(name)
            .map(|value| match value.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(TwilioError::invalid(&format!("{name}: true or false"))),
            })
            .transpose()
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = TwilioError;

    async fn from_request(request: Request, state: &S) -> Result<Params, TwilioError> {
        if request.method() == Method::GET || request.method() == Method::DELETE {
            let query = request.uri().query().unwrap_or_default().to_owned();
            return Ok(Params::parse(query.as_bytes()));
        }
        let form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        if form.is_some_and(|essence| essence != "application/x-www-form-urlencoded") {
            return Err(TwilioError::invalid(
                "the body: application/x-www-form-urlencoded",
            ));
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|_| TwilioError::invalid("the body: too large or unreadable"))?;
        Ok(Params::parse(&body))
    }
}
