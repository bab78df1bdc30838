//! The staff console in a real browser (headless Chromium through chromedriver, see
//! browser.rs): a staff member signs in with TOTP, finds a user, signs them out of all
//! sessions and deactivates them, and the user's token is refused; a plain user cannot sign
//! in; a hostile name shows as text; a passkey made in the browser signs its owner in with the
//! sign-in page's button. With `KITCHEN_SCREENSHOTS_DIR=docs/console` each page is
//! saved there (the README's console section shows them).

use std::path::PathBuf;

use crate::browser::{Browser, Viewport, screenshots_dir};
use crate::helpers::{GOOD_PASSWORD, TestApp, spawn_app, spawn_app_on_port};
use crate::totp::{now_code, with_totp};

const HOSTILE: &str = "<img src=x onerror=alert(1)>";

/// Saves a screenshot of the page as `name` where screenshots are kept, else in `scratch`.
async fn shoot(browser: &Browser, scratch: &tempfile::TempDir, name: &str) {
    let path: PathBuf = screenshots_dir()
        .unwrap_or_else(|| scratch.path().to_owned())
        .join(name);
    browser.screenshot(&path).await;
}

/// Waits (10 s at most) until the browser is on a URL that ends with `suffix`: a click returns
/// before the page it leads to has loaded.
async fn wait_for_url(browser: &Browser, suffix: &str) {
    for _ in 0..100 {
        if browser.current_url().await.ends_with(suffix) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("never reached {suffix}: at {}", browser.current_url().await);
}

async fn sign_in(browser: &Browser, app: &TestApp, email: &str) {
    browser.goto(&app.url("/console/sign-in")).await;
    browser.fill("#email", email).await;
    browser.fill("#password", GOOD_PASSWORD).await;
    browser.click("#sign-in").await;
}

#[tokio::test]
#[ignore = "needs Debian's chromium and chromium-driver; CI installs them"]
async fn staff_sign_in_with_totp_find_a_user_sign_them_out_and_deactivate_them() {
    let app = spawn_app().await;
    let scratch = tempfile::tempdir().unwrap();
    let (staff, _, secret, _) = with_totp(&app, "support@example.com").await;
    app.execute(&format!(
        "UPDATE users SET is_staff = TRUE WHERE id = {staff}"
    ))
    .await;
    let (customer, token) = app.register("ada@example.com").await;
    let name = serde_json::json!({"name": HOSTILE, "bio": "Loves jollof rice."});
    let res = app.update_me(reqwest::Method::PATCH, &token, &name).await;
    assert_eq!(res.status(), 200);
    for n in 0..3 {
        app.register(&format!("cook{n}@example.com")).await;
    }

    let browser = Browser::start().await;
    browser.goto(&app.url("/console")).await;
    wait_for_url(&browser, "/console/sign-in").await;
    shoot(&browser, &scratch, "sign-in.png").await;
    sign_in(&browser, &app, "support@example.com").await;
    wait_for_url(&browser, "/console/sign-in/code").await;
    shoot(&browser, &scratch, "second-factor.png").await;
    browser.fill("#code", &now_code(&app, &secret)).await;
    browser.click("#verify").await;
    wait_for_url(&browser, "/console/users").await;
    shoot(&browser, &scratch, "users.png").await;

    // Find the user: the hostile name is text in the list, not an element.
    browser.fill("#q", "ada").await;
    browser.click("#search").await;
    wait_for_url(&browser, "/console/users?q=ada").await;
    let list = browser.page_source().await;
    assert!(list.contains("ada@example.com"));
    assert!(!list.contains("cook0@example.com"));
    assert!(
        !list.contains("<img src=\"x\""),
        "the name became an element"
    );
    let cell = browser.text_of("tbody tr td:nth-child(2)").await;
    assert_eq!(cell, HOSTILE);
    browser.click("tbody tr td a").await;
    wait_for_url(&browser, &format!("/console/users/{customer}")).await;
    shoot(&browser, &scratch, "user.png").await;

    browser.click("#sign-out-all").await;
    wait_for_url(&browser, "?done=signed-out").await;
    assert_eq!(
        browser.text_of(".done").await,
        "Signed out of every session."
    );
    assert_eq!(app.get_me(&token).await.status(), 401);
    browser.click("#deactivate").await;
    wait_for_url(&browser, "?done=deactivated").await;
    assert_eq!(
        browser.text_of(".done").await,
        "Deactivated: the account can no longer sign in."
    );
    assert!(browser.page_source().await.contains("no (deactivated)"));
    let login = app
        .post_json(
            "/token/",
            &serde_json::json!({"email": "ada@example.com", "password": GOOD_PASSWORD}),
        )
        .await;
    assert_eq!(login.status(), 400);

    browser
        .goto(&app.url(&format!("/console/events?user={customer}")))
        .await;
    let events = browser.page_source().await;
    assert!(events.contains("tokens_revoked") && events.contains("staff_updated_user"));
    shoot(&browser, &scratch, "events.png").await;
    browser.close().await;

    // The same pages at a phone's width.
    let phone = Browser::start_with(Viewport::Phone).await;
    sign_in(&phone, &app, "support@example.com").await;
    phone.fill("#code", &now_code_after(&app, &secret)).await;
    phone.click("#verify").await;
    wait_for_url(&phone, "/console/users").await;
    shoot(&phone, &scratch, "users-phone.png").await;
    phone.close().await;
}

/// A code for the next step (the one the first sign-in used is taken).
fn now_code_after(app: &TestApp, secret: &str) -> String {
    app.clock
        .set(app.clock.now_for_tests() + chrono::TimeDelta::seconds(30));
    now_code(app, secret)
}

#[tokio::test]
#[ignore = "needs Debian's chromium and chromium-driver; CI installs them"]
async fn a_plain_user_cannot_sign_in_to_the_console() {
    let app = spawn_app().await;
    app.register("plain@example.com").await;
    let browser = Browser::start().await;
    sign_in(&browser, &app, "plain@example.com").await;
    wait_for_url(&browser, "/console/sign-in").await;
    assert_eq!(
        browser.text_of(".error").await,
        "Unable to sign in with these credentials."
    );
    browser.goto(&app.url("/console/users")).await;
    wait_for_url(&browser, "/console/sign-in").await;
    browser.close().await;
}

/// Makes a passkey in the page with the creation options of `/users/me/passkeys/options/`, and
/// answers the credential as the API takes it (or `{error}`). Chromium reads and writes the
/// JSON forms itself (`parseCreationOptionsFromJSON`, `toJSON`).
const CREATE_PASSKEY: &str = r#"
const [options, done] = arguments;
const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
navigator.credentials.create({ publicKey }).then(
  (credential) => done(credential.toJSON()),
  (e) => done({ error: String(e) }),
);
"#;

#[tokio::test]
#[ignore = "needs Debian's chromium and chromium-driver; CI installs them"]
async fn a_staff_member_signs_in_with_the_passkey_button() {
    // Passkeys need a domain: the browser talks to the server as localhost.
    let app = spawn_app_on_port(|c, port| {
        c.webauthn_origins = vec![format!("http://localhost:{port}")];
    })
    .await;
    let site = format!("http://localhost:{}", app.addr.port());
    let (staff, token) = app.register("support@example.com").await;
    app.execute(&format!(
        "UPDATE users SET is_staff = TRUE WHERE id = {staff}"
    ))
    .await;

    let browser = Browser::start().await;
    browser.add_virtual_authenticator().await;
    browser.goto(&format!("{site}/console/sign-in")).await;
    // The passkey is made in this browser through the API's routes, as the app's web page would.
    let password = serde_json::json!({"password": GOOD_PASSWORD});
    let res = app
        .send_as(
            reqwest::Method::POST,
            "/users/me/passkeys/options/",
            &token,
            Some(&password),
        )
        .await;
    assert_eq!(res.status(), 200);
    let options: serde_json::Value = res.json().await.unwrap();
    let made = browser
        .run_async(CREATE_PASSKEY, vec![options["publicKey"].clone()])
        .await;
    assert!(made.get("error").is_none(), "{made}");
    let body =
        serde_json::json!({"ticket": options["ticket"], "credential": made, "name": "Laptop"});
    let res = app
        .send_as(
            reqwest::Method::POST,
            "/users/me/passkeys/",
            &token,
            Some(&body),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());

    // No email, no password: the button, and the authenticator's answer.
    browser.goto(&format!("{site}/console/sign-in")).await;
    browser.click("#passkey-button").await;
    wait_for_url(&browser, "/console/users").await;
    assert!(browser.page_source().await.contains("support@example.com"));
    let events = format!(
        "SELECT count(*) FROM security_events WHERE kind = 'login_succeeded' \
         AND user_id = {staff} AND detail = 'console passkey'"
    );
    assert_eq!(app.scalar_i64(&events).await, 1);
    browser.close().await;
}
