//! The docs page (`/docs/`) in a real browser: Swagger UI's scripts render the server's document,
//! and a request sent from the page with a token reaches the server. These are also the
//! harness's own tests (`browser.rs`): typing, clicking, reading, both window sizes.

use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::Value;

use crate::browser::{Browser, Viewport, screenshots_dir};
use crate::helpers::{self, TestApp};

/// The document's title, which the page shows as its heading.
async fn document_title(app: &TestApp) -> String {
    let doc: Value = app
        .request(Method::GET, "/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    doc["info"]["title"].as_str().unwrap().to_owned()
}

/// `name` in the screenshots directory, else in `scratch`.
fn screenshot_path(scratch: &tempfile::TempDir, name: &str) -> PathBuf {
    screenshots_dir()
        .unwrap_or_else(|| scratch.path().to_owned())
        .join(name)
}

/// A PNG's width and height, from its IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let png = std::fs::read(path).unwrap();
    assert_eq!(
        &png[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[tokio::test]
#[ignore = "needs Debian's chromium and chromium-driver; CI installs them"]
async fn a_browser_sees_the_docs_page_rendered_from_the_document() {
    let app = helpers::spawn_app().await;
    let title = document_title(&app).await;
    let browser = Browser::start().await;

    browser.goto(&app.url("/docs")).await;

    assert_eq!(browser.current_url().await, app.url("/docs/"));
    // The heading exists only once the scripts have fetched `/openapi.json` and rendered it.
    let heading = browser.text_of(".swagger-ui .info .title").await;
    assert!(
        heading.starts_with(&title),
        "heading {heading:?}, title {title:?}"
    );
    assert!(
        browser
            .page_source()
            .await
            .contains("operations-users-get_me")
    );
    let scratch = tempfile::tempdir().unwrap();
    let shot = screenshot_path(&scratch, "docs.png");
    browser.screenshot(&shot).await;
    assert_eq!(png_size(&shot), (1280, 900), "a desktop-size screenshot");
    browser.close().await;
}

#[tokio::test]
#[ignore = "needs Debian's chromium and chromium-driver; CI installs them"]
async fn a_token_typed_into_the_docs_page_signs_its_requests_in() {
    let app = helpers::spawn_app().await;
    let (_, token) = app.register("mia@example.com").await;
    let browser = Browser::start().await;
    browser.goto(&app.url("/docs/")).await;

    browser.click(".auth-wrapper > .btn.authorize").await;
    browser
        .fill(
            ".dialog-ux .auth-container input",
            &format!("Token {token}"),
        )
        .await;
    browser
        .click(".dialog-ux .auth-btn-wrapper .authorize")
        .await;
    browser
        .click(".dialog-ux .auth-btn-wrapper .btn-done")
        .await;
    let me = "#operations-users-get_me";
    browser.click(&format!("{me} .opblock-summary")).await;
    browser.click(&format!("{me} .try-out__btn")).await;
    browser.click(&format!("{me} .btn.execute")).await;

    let status = browser
        .text_of(&format!(
            "{me} .live-responses-table .response .response-col_status"
        ))
        .await;
    assert!(status.starts_with("200"), "status {status:?}");
    let body = browser
        .text_of(&format!(
            "{me} .live-responses-table .response .response-col_description"
        ))
        .await;
    assert!(body.contains("mia@example.com"), "body {body:?}");
    browser.close().await;
}

#[tokio::test]
#[ignore = "needs Debian's chromium and chromium-driver; CI installs them"]
async fn a_phone_sees_the_docs_page_at_phone_width() {
    let app = helpers::spawn_app().await;
    let browser = Browser::start_with(Viewport::Phone).await;

    browser.goto(&app.url("/docs/")).await;

    browser.text_of(".swagger-ui .info .title").await;
    let scratch = tempfile::tempdir().unwrap();
    let shot = screenshot_path(&scratch, "docs-phone.png");
    browser.screenshot(&shot).await;
    // 390×844 CSS pixels at a device pixel ratio of 2.
    assert_eq!(png_size(&shot), (780, 1688), "a phone-size screenshot");
    browser.close().await;
}
