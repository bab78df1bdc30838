//! The client's address, for per-address throttling. `X-Forwarded-For` is believed only when
//! the connection comes from a configured proxy; otherwise anyone could pick their own address
//! and escape every per-address limit.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::state::AppState;

/// The address a request comes from, after trusted proxies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        Ok(ClientIp(resolve(
            peer,
            &forwarded,
            &state.config.trusted_proxies,
        )))
    }
}

/// Walks `X-Forwarded-For` from the right (the entry our own proxy added) and stops at the first
/// address that is not one of our proxies. Unparseable entries end the walk there.
pub fn resolve(peer: IpAddr, forwarded: &str, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut client = peer;
    for entry in forwarded
        .rsplit(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        match entry.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !trusted.contains(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_ignored_from_an_untrusted_peer() {
        assert_eq!(
            resolve(ip("203.0.113.9"), "1.2.3.4", &[ip("10.0.0.1")]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_rightmost_untrusted_entry_is_the_client() {
        let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
        assert_eq!(
            resolve(ip("10.0.0.1"), "6.6.6.6, 1.2.3.4, 10.0.0.2", &trusted),
            ip("1.2.3.4")
        );
        assert_eq!(resolve(ip("10.0.0.1"), "", &trusted), ip("10.0.0.1"));
        assert_eq!(
            resolve(ip("10.0.0.1"), "garbage, 1.2.3.4", &trusted),
            ip("1.2.3.4")
        );
    }
}
