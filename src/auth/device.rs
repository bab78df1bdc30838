//! The device a request comes from, as far as the service may know it: the client address
//! (after trusted proxies) and the `User-Agent`. Notices name it by a user agent family and a
//! client network, never a full address, and a sign-in is from a new device when the account
//! has not used that pair before. Nothing here asks a third party.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;

use super::ClientIp;
use crate::error::ApiError;
use crate::state::AppState;

/// A user agent names at most this many characters of its family.
const MAX_FAMILY_CHARS: usize = 60;
/// IPv4 clients are grouped by /24, IPv6 clients by /48 (a site).
const V4_PREFIX: u8 = 24;
const V6_PREFIX: u8 = 48;

/// Where a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

impl FromRequestParts<AppState> for Device {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        Ok(Device {
            ip,
            user_agent: user_agent(&parts.headers),
        })
    }
}

/// The `User-Agent` as stored with a session: control characters dropped, 256 characters at
/// most, `None` when absent or empty.
pub fn user_agent(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get(USER_AGENT)?;
    let text = String::from_utf8_lossy(raw.as_bytes());
    let text: String = text.chars().filter(|c| !c.is_control()).take(256).collect();
    (!text.is_empty()).then_some(text)
}

impl Device {
    pub fn new(ip: IpAddr, user_agent: Option<&str>) -> Self {
        Device {
            ip,
            user_agent: user_agent.map(str::to_owned),
        }
    }

    /// The browser or app and its system, as people name them: `Chrome on Android`, `Safari on
    /// iPhone`; for an app's own agent (`RayversKitchen/2.3 (iOS 17)`) its first product name.
    /// Versions are left out, so an update is not a new device.
    pub fn family(&self) -> String {
        let Some(agent) = self.user_agent.as_deref() else {
            return "Unknown device".to_owned();
        };
        let parsed = woothee::parser::Parser::new().parse(agent);
        let known = |s: &str| !s.is_empty() && s != woothee::woothee::VALUE_UNKNOWN;
        let family = match parsed {
            Some(r) if known(r.name) && known(r.os) => format!("{} on {}", r.name, r.os),
            Some(r) if known(r.name) => r.name.to_owned(),
            _ => product(agent),
        };
        let family: String = family.chars().take(MAX_FAMILY_CHARS).collect();
        if family.trim().is_empty() {
            "Unknown device".to_owned()
        } else {
            family
        }
    }

    /// The client network: the address with its host part cleared, as `203.0.113.0/24` or
    /// `2001:db8:1::/48` (an IPv4 address mapped into IPv6 counts as IPv4).
    pub fn network(&self) -> String {
        match self.ip.to_canonical() {
            IpAddr::V4(v4) => {
                let mask = u32::MAX << (32 - V4_PREFIX);
                let net = std::net::Ipv4Addr::from(u32::from(v4) & mask);
                format!("{net}/{V4_PREFIX}")
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX << (128 - V6_PREFIX);
                let net = std::net::Ipv6Addr::from(u128::from(v6) & mask);
                format!("{net}/{V6_PREFIX}")
            }
        }
    }
}

/// The first product name of a user agent (`okhttp/4.12` → `okhttp`).
fn product(agent: &str) -> String {
    agent
        .split(|c: char| c == '/' || c.is_whitespace() || c == '(')
        .find(|s| !s.is_empty())
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(ip: &str, agent: Option<&str>) -> Device {
        Device::new(ip.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])), agent)
    }

    #[test]
    fn families_name_browser_and_system_without_versions() {
        let chrome = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like \
                      Gecko) Chrome/126.0.0.0 Mobile Safari/537.36";
        let newer = chrome.replace("126.0.0.0", "127.0.6533.2");
        let family = device("192.0.2.1", Some(chrome)).family();
        assert!(family.contains("Chrome"), "{family}");
        assert!(family.contains("Android"), "{family}");
        assert_eq!(family, device("192.0.2.1", Some(&newer)).family());
        assert_eq!(
            device("192.0.2.1", Some("RayversKitchen/2.3 (iPhone; iOS 17.1)")).family(),
            "RayversKitchen"
        );
        assert_eq!(
            device("192.0.2.1", Some("okhttp/4.12.0")).family(),
            "okhttp"
        );
        assert_eq!(device("192.0.2.1", None).family(), "Unknown device");
        assert_eq!(device("192.0.2.1", Some("   ")).family(), "Unknown device");
        let long = "x".repeat(300);
        assert_eq!(
            device("192.0.2.1", Some(&long)).family().chars().count(),
            60
        );
    }

    #[test]
    fn networks_clear_the_host_part() {
        assert_eq!(device("203.0.113.77", None).network(), "203.0.113.0/24");
        assert_eq!(
            device("::ffff:203.0.113.77", None).network(),
            "203.0.113.0/24"
        );
        assert_eq!(
            device("2001:db8:1:2:3:4:5:6", None).network(),
            "2001:db8:1::/48"
        );
    }
}
