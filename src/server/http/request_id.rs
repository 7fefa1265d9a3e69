//! Every request's ID: the `X-Request-Id` a trusted proxy sent (one of `OTPGATE_TRUSTED_PROXIES`),
//! else one made here. It is returned in the answer's `X-Request-Id`, named in the request's log
//! lines (the `http` span) and recorded in the audit entries the request writes.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use crate::server::state::AppState;

/// The header that carries it, both ways.
pub const HEADER: &str = "x-request-id";

/// This request's ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Who the audit log says made a change through this request: `actor`, from the request's
/// client address, under its request ID.
pub fn caller(
    actor: crate::server::store::Actor,
    parts: &axum::http::request::Parts,
) -> crate::server::store::Caller {
    crate::server::store::Caller {
        actor,
        ip: parts
            .extensions
            .get::<super::client_ip::ClientIp>()
            .and_then(|super::client_ip::ClientIp(ip)| ip.map(|ip| ip.to_string())),
        request_id: parts
            .extensions
            .get::<RequestId>()
            .map(|RequestId(id)| id.clone()),
    }
}

/// A forwarded ID is believed only if it looks like one: 1 to 128 visible ASCII characters.
fn acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Gives the request its ID (before the trace span is made, which names it) and the answer its
/// header.
pub async fn request_id(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let trusted = peer.is_some_and(|ip| state.trusted_proxies.iter().any(|net| net.contains(ip)));
    let forwarded = request
        .headers()
        .get(HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| trusted && acceptable(id))
        .map(str::to_owned);
    let id = forwarded.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

/// The trace span of a request: its route pattern (never the raw URI, so tokens in paths stay
/// out of logs), its method and its ID.
pub fn span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("-", axum::extract::MatchedPath::as_str)
        .to_owned();
    let id = request
        .extensions()
        .get::<RequestId>()
        .map_or("-", |id| id.0.as_str())
        .to_owned();
    tracing::info_span!("http", method = %request.method(), route, request_id = id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_short_ids_are_believed() {
        assert!(acceptable("req-7f3a"));
        assert!(acceptable(&"a".repeat(128)));
        for bad in ["", "with space", "tab\there", "é", &"a".repeat(129)] {
            assert!(!acceptable(bad), "{bad:?}");
        }
    }
}
