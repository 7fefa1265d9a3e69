//! The client's IP address, for the limits of the widget's doors: the connection's peer, or,
//! when the peer is a configured trusted proxy, the address that proxy says it forwarded for.
//! `X-Forwarded-For` from anyone else changes nothing, so a forged header cannot reset a limit.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;

use crate::server::config::ProxyNet;
use crate::server::state::AppState;

/// The client's address as resolved for this request; `None` when the server does not know
/// the connection's peer (a router driven without a listener, as in some tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

/// One `X-Forwarded-For` entry: an address, perhaps with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`).
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// The client behind `peer`: the peer itself unless it is trusted; otherwise the right-most
/// address in `X-Forwarded-For` that is not a trusted proxy (each trusted hop appends the
/// address it saw, so everything left of the first untrusted one could be forged). A header
/// that cannot be read stops the walk at the last address that could.
pub fn resolve(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[ProxyNet]) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        match forwarded_address(entry) {
            Some(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            None => break,
        }
    }
    Some(client)
}

/// Resolves every request's client IP once, for whichever door needs it.
pub async fn client_ip(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let ip = resolve(peer, request.headers(), &state.trusted_proxies);
    request.extensions_mut().insert(ClientIp(ip));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(
                "x-forwarded-for",
                value.parse().expect("a valid header value"),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    fn nets(list: &str) -> Vec<ProxyNet> {
        crate::engine::limits::list_setting::parse(list).expect("networks")
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let forged = headers(&["198.51.100.1"]);
        assert_eq!(
            resolve(Some(ip("203.0.113.9")), &forged, &[]),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            resolve(Some(ip("203.0.113.9")), &forged, &nets("10.0.0.0/8")),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(resolve(None, &forged, &nets("10.0.0.0/8")), None);
    }

    #[test]
    fn a_trusted_proxy_names_the_right_most_untrusted_address() {
        let trusted = nets("10.0.0.0/8, 127.0.0.1");
        // The client forged the first entry; the proxy appended what it saw.
        let chain = headers(&["1.1.1.1, 203.0.113.7", "10.0.0.2"]);
        assert_eq!(
            resolve(Some(ip("127.0.0.1")), &chain, &trusted),
            Some(ip("203.0.113.7"))
        );
        // Ports and IPv6 brackets are read.
        let ported = headers(&["[2001:db8::5]:4711"]);
        assert_eq!(
            resolve(Some(ip("10.1.2.3")), &ported, &trusted),
            Some(ip("2001:db8::5"))
        );
        // No header, or one that cannot be read: the last address that could be.
        assert_eq!(
            resolve(Some(ip("10.1.2.3")), &HeaderMap::new(), &trusted),
            Some(ip("10.1.2.3"))
        );
        let garbage = headers(&["203.0.113.7, not-an-address, 10.0.0.9"]);
        assert_eq!(
            resolve(Some(ip("10.1.2.3")), &garbage, &trusted),
            Some(ip("10.0.0.9"))
        );
    }
}
