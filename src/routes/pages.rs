//! DRF's `PageNumberPagination` for every list: `?page=N` (1-based), an optional `?page_size=`,
//! and the `count` / `next` / `previous` / `results` envelope with absolute links on
//! `KITCHEN_API_PUBLIC_URL`.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::public_url::PublicUrl;

/// One page of a list, newest or first items first as the list defines.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub count: i64,
    /// Absolute URL of the next page (on `KITCHEN_API_PUBLIC_URL`), or null.
    pub next: Option<String>,
    /// Absolute URL of the previous page (on `KITCHEN_API_PUBLIC_URL`), or null.
    pub previous: Option<String>,
    pub results: Vec<T>,
}

/// The page a request asks for.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    number: i64,
    size: i64,
    /// Whether the client chose the size, so the links keep it.
    size_chosen: bool,
}

/// How a list's pages are sized.
#[derive(Debug, Clone, Copy)]
pub struct PageSizes {
    pub default: i64,
    /// `None`: the size is fixed and `page_size` is ignored.
    pub max: Option<i64>,
}

impl PageRequest {
    /// Reads `page` and `page_size` from a query; a page that is not a positive integer is
    /// DRF's 404 `Invalid page.`, a bad size falls back to the default.
    pub fn from_query(query: &HashMap<String, String>, sizes: PageSizes) -> Result<Self, ApiError> {
        let number = match query.get("page") {
            None => 1,
            Some(p) => p
                .parse::<i64>()
                .ok()
                .filter(|p| *p >= 1)
                .ok_or_else(invalid_page)?,
        };
        let chosen = sizes.max.and_then(|max| {
            query.get("page_size").map(|s| {
                s.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .map(|n| n.min(max))
            })
        });
        Ok(Self {
            number,
            size: chosen.flatten().unwrap_or(sizes.default),
            size_chosen: chosen.is_some(),
        })
    }

    pub fn limit(self) -> i64 {
        self.size
    }

    pub fn offset(self) -> i64 {
        (self.number - 1).saturating_mul(self.size)
    }

    /// The answer: `results` of `count` items in all, with links to the neighbouring pages of
    /// `path` that keep the `filters` (pairs whose value is empty are left out). A page past
    /// the end is `Invalid page.`, as in DRF.
    pub fn page<T>(
        self,
        count: i64,
        results: Vec<T>,
        public_url: &PublicUrl,
        path: &str,
        filters: &[(&str, &str)],
    ) -> Result<Page<T>, ApiError> {
        if self.number > 1 && results.is_empty() {
            return Err(invalid_page());
        }
        let size = self.size.to_string();
        let link = |number: i64| {
            let number = number.to_string();
            let mut pairs = vec![("page", number.as_str())];
            if self.size_chosen {
                pairs.push(("page_size", &size));
            }
            pairs.extend(filters.iter().filter(|(_, v)| !v.is_empty()));
            let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
            public_url.join(&format!("{path}?{query}"))
        };
        Ok(Page {
            count,
            next: (self.offset() + self.size < count).then(|| link(self.number + 1)),
            previous: (self.number > 1).then(|| link(self.number - 1)),
            results,
        })
    }

    /// The page number, for the audit log.
    pub fn number(self) -> i64 {
        self.number
    }
}

fn invalid_page() -> ApiError {
    ApiError::NotFoundDetail("Invalid page.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &[(&str, &str)], sizes: PageSizes) -> Result<PageRequest, ApiError> {
        let query = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        PageRequest::from_query(&query, sizes)
    }

    const SIZES: PageSizes = PageSizes {
        default: 20,
        max: Some(100),
    };

    #[test]
    fn links_keep_the_filters_and_a_chosen_size_but_not_empty_filters() {
        let url: PublicUrl = "https://api.example.com".parse().unwrap();
        let page = request(&[("page", "2"), ("page_size", "500")], SIZES).unwrap();
        assert_eq!((page.limit(), page.offset()), (100, 100));
        let filters = [("search", "a b"), ("user_id", "")];
        let page = page.page(250, vec![1], &url, "/users/", &filters).unwrap();
        assert_eq!(
            page.next.as_deref(),
            Some("https://api.example.com/users/?page=3&page_size=100&search=a+b")
        );
        assert_eq!(
            page.previous.as_deref(),
            Some("https://api.example.com/users/?page=1&page_size=100&search=a+b")
        );
    }

    #[test]
    fn a_fixed_size_ignores_page_size_and_bad_pages_are_invalid() {
        let fixed = PageSizes {
            default: 100,
            max: None,
        };
        let page = request(&[("page_size", "5")], fixed).unwrap();
        assert_eq!(page.limit(), 100);
        for bad in ["0", "-1", "x", ""] {
            assert!(request(&[("page", bad)], fixed).is_err(), "{bad}");
        }
        let url: PublicUrl = "http://127.0.0.1:1".parse().unwrap();
        let past_the_end = request(&[("page", "3")], fixed).unwrap();
        assert!(
            past_the_end
                .page::<i64>(10, vec![], &url, "/x/", &[])
                .is_err()
        );
    }
}
