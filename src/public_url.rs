//! `KITCHEN_API_PUBLIC_URL`: where clients reach the API, for the absolute links in its answers
//! (the staff list's `next` / `previous`). Links are never built from a request's `Host`
//! header: the client chooses it, and a forged one would make the answers link to another site
//! (for a shared cache to keep, or for a staff member's browser to follow).

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// An `http(s)` base URL with a host, maybe a path, and no query, fragment or credentials;
/// kept without its trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    pub fn listening_on(addr: SocketAddr) -> Self {
        Self(format!("http://{addr}"))
    }

    pub fn join(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.0)
    }
}

impl FromStr for PublicUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text.trim())
            .map_err(|e| format!("{text:?} is not a URL like https://api.example.com ({e})"))?;
        let refuse = |why: &str| Err(format!("{text:?} {why}"));
        if !matches!(url.scheme(), "http" | "https") {
            return refuse("must start with http:// or https://");
        }
        if url.host_str().is_none_or(str::is_empty) {
            return refuse("must name a host");
        }
        if url.query().is_some() || url.fragment().is_some() {
            return refuse("must have no query (?…) or fragment (#…)");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return refuse("must not carry a user name or password");
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::PublicUrl;

    #[test]
    fn http_and_https_urls_with_a_host_are_accepted_without_their_trailing_slash() {
        for (given, kept) in [
            ("https://api.example.com", "https://api.example.com"),
            ("https://API.example.com/", "https://api.example.com"),
            ("http://10.0.0.5:8000", "http://10.0.0.5:8000"),
            (
                "https://example.com/kitchen/",
                "https://example.com/kitchen",
            ),
            ("http://[::1]:8000", "http://[::1]:8000"),
        ] {
            let url: PublicUrl = given.parse().unwrap();
            assert_eq!(url.to_string(), kept);
            assert_eq!(url.join("/users/?page=2"), format!("{kept}/users/?page=2"));
        }
        assert_eq!(
            PublicUrl::listening_on("127.0.0.1:8000".parse().unwrap()).to_string(),
            "http://127.0.0.1:8000"
        );
    }

    #[test]
    fn other_schemes_queries_fragments_credentials_and_non_urls_are_refused() {
        for bad in [
            "ftp://example.com",
            "javascript:alert(1)",
            "https://example.com/?a=1",
            "https://example.com/?",
            "https://example.com/#top",
            "https://user:secret@example.com",
            "api.example.com",
            "",
            "https://",
        ] {
            assert!(bad.parse::<PublicUrl>().is_err(), "{bad}");
        }
    }
}
