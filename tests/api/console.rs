//! The staff console over HTTP (SPEC 4, issue 31): sign-in for staff only (and its second
//! factor), the pages, and every action refused without a CSRF token, from another origin, or
//! by a staff member against a superuser, with nothing changed. A small cookie-keeping client
//! plays the browser; tests/api/console_browser.rs drives a real one.

use std::collections::HashMap;

use chrono::TimeDelta;
use reqwest::{Method, Response, StatusCode};
use serde_json::json;

use crate::helpers::{GOOD_PASSWORD, TestApp, spawn_app, spawn_app_with};

/// A browser-like client: keeps the console's cookies and sends its own `Origin`.
pub struct Console<'a> {
    app: &'a TestApp,
    cookies: HashMap<String, String>,
    pub origin: String,
}

impl<'a> Console<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        let origin = app.url("");
        Self {
            app,
            cookies: HashMap::new(),
            origin,
        }
    }

    fn keep_cookies(&mut self, res: &Response) {
        for value in res.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || text.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(&mut self, path: &str) -> Response {
        let res = self
            .app
            .request(Method::GET, path)
            .header("Cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep_cookies(&res);
        res
    }

    /// The page's text, after a GET that must answer 200.
    pub async fn page(&mut self, path: &str) -> String {
        let res = self.get(path).await;
        assert_eq!(res.status(), 200, "GET {path}");
        res.text().await.unwrap()
    }

    pub async fn post_from(
        &mut self,
        origin: Option<&str>,
        path: &str,
        form: &[(&str, &str)],
    ) -> Response {
        let mut request = self
            .app
            .request(Method::POST, path)
            .header("Cookie", self.cookie_header())
            .form(form);
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        let res = request.send().await.unwrap();
        self.keep_cookies(&res);
        res
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Response {
        let origin = self.origin.clone();
        self.post_from(Some(&origin), path, form).await
    }

    /// Signs in with the password; the answer (a 303 on success).
    pub async fn sign_in(&mut self, email: &str, password: &str) -> Response {
        let page = self.page("/console/sign-in").await;
        let csrf = csrf_in(&page);
        self.post(
            "/console/sign-in",
            &[("email", email), ("password", password), ("csrf", &csrf)],
        )
        .await
    }

    /// The CSRF token of the forms on `path`.
    pub async fn csrf_of(&mut self, path: &str) -> String {
        csrf_in(&self.page(path).await)
    }
}

/// The value of the first `csrf` input of a page.
pub fn csrf_in(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("a csrf field") + marker.len();
    let end = start + page[start..].find('"').unwrap();
    page[start..end].to_owned()
}

fn location(res: &Response) -> String {
    res.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Registers `email` and gives it the flags (`is_staff`, `is_superuser`).
pub async fn staff_member(app: &TestApp, email: &str, flags: &str) -> (i64, String) {
    let (id, token) = app.register(email).await;
    app.execute(&format!("UPDATE users SET {flags} WHERE id = {id}"))
        .await;
    (id, token)
}

#[tokio::test]
async fn staff_sign_in_find_a_user_sign_them_out_and_deactivate_them() {
    let app = spawn_app().await;
    let (support, _) = staff_member(&app, "support@example.com", "is_staff = TRUE").await;
    let (customer, customer_token) = app.register("customer@example.com").await;
    let mut console = Console::new(&app);
    let res = console.sign_in("support@example.com", GOOD_PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/console/users");

    let list = console.page("/console/users?q=CUST").await;
    assert!(list.contains("customer@example.com"), "{list}");
    let support_link = format!("href=\"/console/users/{support}\"");
    assert!(!list.contains(&support_link), "only the match");
    // The customer's session is in use (and so in the session cache) when staff end it.
    assert_eq!(app.get_me(&customer_token).await.status(), 200);
    let user_path = format!("/console/users/{customer}");
    let page = console.page(&user_path).await;
    assert!(page.contains("Sign out of all sessions"));
    let csrf = csrf_in(&page);

    let res = console
        .post(&format!("{user_path}/sessions/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("{user_path}?done=signed-out"));
    assert_eq!(app.get_me(&customer_token).await.status(), 401);
    let page = console.page(&location(&res)).await;
    assert!(page.contains("Signed out of every session."));

    let res = console
        .post(
            &format!("{user_path}/active"),
            &[("csrf", &csrf), ("active", "false")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let login = app
        .post_json(
            "/token/",
            &json!({"email": "customer@example.com", "password": GOOD_PASSWORD}),
        )
        .await;
    assert_eq!(login.status(), 400);
    let events = console
        .page("/console/events?kind=staff_updated_user")
        .await;
    assert!(
        events.contains("is_active: true -&#62; false")
            || events.contains("is_active: true -&gt; false"),
        "{events}"
    );

    // Signing out ends the session: the pages send to the sign-in page again.
    let csrf = console.csrf_of("/console/users").await;
    let res = console.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 303);
    let res = console.get("/console/users").await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/console/sign-in");
}

#[tokio::test]
async fn a_plain_user_is_refused_with_the_wrong_passwords_answer() {
    let app = spawn_app().await;
    app.register("plain@example.com").await;
    let mut console = Console::new(&app);
    let plain = console.sign_in("plain@example.com", GOOD_PASSWORD).await;
    assert_eq!(plain.status(), 400);
    let plain = plain.text().await.unwrap();
    let mut other = Console::new(&app);
    let wrong = other
        .sign_in("plain@example.com", "not the password at all")
        .await;
    assert_eq!(wrong.status(), 400);
    let wrong = wrong.text().await.unwrap();
    let message = "Unable to sign in with these credentials.";
    assert!(plain.contains(message) && wrong.contains(message));
    assert!(
        !console
            .cookies
            .keys()
            .any(|k| k.ends_with("kitchen-console"))
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM console_sessions")
            .await,
        0
    );
    let failed = app
        .scalar_i64(
            "SELECT count(*) FROM security_events WHERE kind = 'login_failed' \
             AND detail = 'not staff (console)'",
        )
        .await;
    assert_eq!(failed, 1);
}

#[tokio::test]
async fn staff_with_totp_sign_in_with_a_code() {
    let app = spawn_app().await;
    let (id, _, secret, _) = crate::totp::with_totp(&app, "totp.staff@example.com").await;
    app.execute(&format!("UPDATE users SET is_staff = TRUE WHERE id = {id}"))
        .await;
    let mut console = Console::new(&app);
    let res = console
        .sign_in("totp.staff@example.com", GOOD_PASSWORD)
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/console/sign-in/code");
    // Not signed in yet.
    assert_eq!(console.get("/console/users").await.status(), 303);
    let page = console.page("/console/sign-in/code").await;
    let csrf = csrf_in(&page);
    let res = console
        .post(
            "/console/sign-in/code",
            &[("code", "000000"), ("csrf", &csrf)],
        )
        .await;
    let wrong_status = res.status();
    let code = crate::totp::now_code(&app, &secret);
    if code != "000000" {
        assert_eq!(wrong_status, 400);
    }
    let res = console
        .post("/console/sign-in/code", &[("code", &code), ("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/console/users");
    assert_eq!(console.get("/console/users").await.status(), 200);
    let detail = app
        .scalar_i64(
            "SELECT count(*) FROM security_events WHERE kind = 'login_succeeded' \
             AND detail = 'console totp'",
        )
        .await;
    assert_eq!(detail, 1);
}

#[tokio::test]
async fn the_session_cookie_is_http_only_strict_and_the_pages_have_a_strict_policy() {
    let app = spawn_app().await;
    staff_member(&app, "support@example.com", "is_staff = TRUE").await;
    let mut console = Console::new(&app);
    let res = console.sign_in("support@example.com", GOOD_PASSWORD).await;
    let cookies: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("kitchen-console="))
        .expect("the session cookie");
    assert!(session.contains("HttpOnly"));
    assert!(session.contains("SameSite=Strict"));
    assert!(session.contains("Path=/"));
    // Loopback http: no Secure (the browser would drop it), no __Host- prefix.
    assert!(!session.contains("Secure"));
    let res = console.get("/console/users").await;
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let css = console.get("/console/static/console.css").await;
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

#[tokio::test]
async fn behind_an_https_public_url_the_cookie_is_secure_and_host_prefixed() {
    let app =
        spawn_app_with(|c| c.public_url = Some("https://api.example.com".parse().unwrap())).await;
    staff_member(&app, "support@example.com", "is_staff = TRUE").await;
    let mut console = Console::new(&app);
    console.origin = "https://api.example.com".to_owned();
    let res = console.sign_in("support@example.com", GOOD_PASSWORD).await;
    assert_eq!(res.status(), 303);
    let session = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-kitchen-console="))
        .expect("a __Host- session cookie");
    assert!(session.contains("; Secure"));
}

#[tokio::test]
async fn every_action_without_csrf_or_from_another_origin_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    staff_member(&app, "support@example.com", "is_staff = TRUE").await;
    let (customer, token) = app.register("customer@example.com").await;
    let mut console = Console::new(&app);
    console.sign_in("support@example.com", GOOD_PASSWORD).await;
    let user_path = format!("/console/users/{customer}");
    let csrf = console.csrf_of(&user_path).await;
    let session_id = app
        .scalar_i64(&format!("SELECT id FROM tokens WHERE user_id = {customer}"))
        .await;
    let actions: Vec<(String, Vec<(&str, &str)>)> = vec![
        (format!("{user_path}/active"), vec![("active", "false")]),
        (format!("{user_path}/sessions/revoke"), vec![]),
        (format!("{user_path}/sessions/{session_id}/revoke"), vec![]),
        (format!("{user_path}/verification"), vec![]),
        (format!("{user_path}/second-factors/remove"), vec![]),
        (
            format!("{user_path}/role"),
            vec![("flag", "is_staff"), ("value", "true")],
        ),
        ("/console/sign-out".to_owned(), vec![]),
    ];
    for (path, fields) in &actions {
        let wrong_csrf = "x".repeat(csrf.len());
        let cases: [(Option<&str>, Option<&str>); 5] = [
            (Some(&console.origin.clone()), None),
            (Some(&console.origin.clone()), Some(wrong_csrf.as_str())),
            (Some("http://evil.example"), Some(csrf.as_str())),
            (Some("null"), Some(csrf.as_str())),
            (None, Some(csrf.as_str())),
        ];
        for (origin, sent) in cases {
            let mut form = fields.clone();
            if let Some(sent) = sent {
                form.push(("csrf", sent));
            }
            let origin = origin.map(str::to_owned);
            let res = console.post_from(origin.as_deref(), path, &form).await;
            assert_eq!(res.status(), 403, "{path} from {origin:?} with {sent:?}");
        }
    }
    // Nothing changed: the customer is active, signed in, unverified code not mailed.
    assert_eq!(app.get_me(&token).await.status(), 200);
    assert_eq!(
        console.get("/console/users").await.status(),
        200,
        "still signed in"
    );
    let staffed = app
        .scalar_i64(&format!(
            "SELECT count(*) FROM users WHERE id = {customer} AND is_staff"
        ))
        .await;
    assert_eq!(staffed, 0);
    // The sign-in form itself: another origin is refused.
    let mut stranger = Console::new(&app);
    let page = stranger.page("/console/sign-in").await;
    let csrf = csrf_in(&page);
    let form = [
        ("email", "support@example.com"),
        ("password", GOOD_PASSWORD),
        ("csrf", csrf.as_str()),
    ];
    let res = stranger
        .post_from(Some("http://evil.example"), "/console/sign-in", &form)
        .await;
    assert_eq!(res.status(), 403);
    let res = stranger
        .post(
            "/console/sign-in",
            &[
                ("email", "support@example.com"),
                ("password", GOOD_PASSWORD),
                ("csrf", "forged"),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn a_staff_member_cannot_act_on_a_superuser_nor_grant_roles() {
    let app = spawn_app().await;
    staff_member(&app, "support@example.com", "is_staff = TRUE").await;
    let (boss, boss_token) = staff_member(
        &app,
        "boss@example.com",
        "is_staff = TRUE, is_superuser = TRUE",
    )
    .await;
    let (customer, _) = app.register("customer@example.com").await;
    let mut console = Console::new(&app);
    console.sign_in("support@example.com", GOOD_PASSWORD).await;
    let boss_path = format!("/console/users/{boss}");
    let page = console.page(&boss_path).await;
    assert!(
        !page.contains("toggle-superuser"),
        "no role buttons for staff"
    );
    let csrf = csrf_in(&page);
    for (path, form) in [
        (format!("{boss_path}/active"), vec![("active", "false")]),
        (format!("{boss_path}/sessions/revoke"), vec![]),
        (format!("{boss_path}/second-factors/remove"), vec![]),
        (format!("{boss_path}/verification"), vec![]),
        (
            format!("{boss_path}/role"),
            vec![("flag", "is_superuser"), ("value", "false")],
        ),
        (
            format!("/console/users/{customer}/role"),
            vec![("flag", "is_staff"), ("value", "true")],
        ),
    ] {
        let mut form = form;
        form.push(("csrf", &csrf));
        let res = console.post(&path, &form).await;
        assert_eq!(res.status(), 403, "{path}");
    }
    assert_eq!(app.get_me(&boss_token).await.status(), 200);
    let boss_still = app
        .scalar_i64(&format!(
            "SELECT count(*) FROM users WHERE id = {boss} AND is_superuser AND is_active"
        ))
        .await;
    assert_eq!(boss_still, 1);

    // A superuser grants staff, and cannot demote the last superuser (themselves).
    let mut superuser = Console::new(&app);
    superuser.sign_in("boss@example.com", GOOD_PASSWORD).await;
    let customer_path = format!("/console/users/{customer}");
    let csrf = superuser.csrf_of(&customer_path).await;
    let res = superuser
        .post(
            &format!("{customer_path}/role"),
            &[("flag", "is_staff"), ("value", "true"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let staffed = app
        .scalar_i64(&format!(
            "SELECT count(*) FROM users WHERE id = {customer} AND is_staff"
        ))
        .await;
    assert_eq!(staffed, 1);
    let res = superuser
        .post(
            &format!("{boss_path}/role"),
            &[
                ("flag", "is_superuser"),
                ("value", "false"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);
    let page = res.text().await.unwrap();
    assert!(page.contains("Not done"), "{page}");
    assert!(
        page.contains("The last active superuser cannot be demoted or deactivated."),
        "{page}"
    );
}

#[tokio::test]
async fn names_are_shown_as_text_and_no_secret_is_rendered() {
    let app = spawn_app().await;
    staff_member(&app, "support@example.com", "is_staff = TRUE").await;
    let (customer, token) = app.register("customer@example.com").await;
    let res = app
        .update_me(
            Method::PATCH,
            &token,
            &json!({"name": "<img src=x onerror=alert(1)>", "bio": "\"><script>alert(2)</script>"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let mut console = Console::new(&app);
    console.sign_in("support@example.com", GOOD_PASSWORD).await;
    let list = console.page("/console/users?q=%3Cimg").await;
    let user = console.page(&format!("/console/users/{customer}")).await;
    for page in [&list, &user] {
        assert!(!page.contains("<img src=x"), "{page}");
        assert!(
            page.contains("&#60;img src=x onerror=alert(1)&#62;"),
            "{page}"
        );
    }
    assert!(!user.contains("<script>alert(2)"));
    // No token, digest, hash or code: not the customer's token, nor any password hash.
    assert!(!user.contains(&token));
    assert!(!user.contains("argon2") && !user.contains("pbkdf2"));
    let session_cookie = console
        .cookies
        .iter()
        .find(|(k, _)| k.ends_with("kitchen-console"))
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(
        !user.contains(&session_cookie),
        "the session token is never in a page"
    );
}

#[tokio::test]
async fn an_idle_session_ends_and_a_deactivated_staff_member_is_out_at_once() {
    let app = spawn_app_with(|c| c.console_idle_minutes = 30).await;
    let (support, _) = staff_member(&app, "support@example.com", "is_staff = TRUE").await;
    let mut console = Console::new(&app);
    console.sign_in("support@example.com", GOOD_PASSWORD).await;
    assert_eq!(console.get("/console/users").await.status(), 200);
    app.clock
        .set(app.clock.now_for_tests() + TimeDelta::minutes(31));
    let res = console.get("/console/users").await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM console_sessions")
            .await,
        0
    );
    console.sign_in("support@example.com", GOOD_PASSWORD).await;
    assert_eq!(console.get("/console/users").await.status(), 200);
    app.execute(&format!(
        "UPDATE users SET is_staff = FALSE WHERE id = {support}"
    ))
    .await;
    assert_eq!(console.get("/console/users").await.status(), 303);
}

#[tokio::test]
async fn the_console_can_be_turned_off() {
    let app = spawn_app_with(|c| c.console = false).await;
    for path in [
        "/console",
        "/console/sign-in",
        "/console/static/console.css",
    ] {
        let res = app.request(Method::GET, path).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn the_user_search_is_served_by_indexes() {
    let app = spawn_app().await;
    let sql = match app.db {
        kitchen_api::db::Db::Sqlite(_) => kitchen_api::db::SEARCH_SQLITE,
        kitchen_api::db::Db::Postgres(_) => kitchen_api::db::SEARCH_POSTGRES,
    };
    let sql = sql
        .replace("$1", "'cook'")
        .replace("$2", "'cookz'")
        .replace("$3", "26")
        .replace("$4", "0");
    let plan = app.query_plan(&sql).await;
    assert!(plan.contains("users_name_key_search"), "{plan}");
    assert!(
        plan.contains("users_email_key") || plan.contains("sqlite_autoindex_users"),
        "{plan}"
    );
    assert!(
        !plan.contains("SCAN users") && !plan.contains("Seq Scan"),
        "{plan}"
    );
}

/// `/console/users?q=` with `term` percent-encoded.
async fn search(console: &mut Console<'_>, term: &str) -> String {
    let q: String = url::form_urlencoded::byte_serialize(term.as_bytes()).collect();
    console.page(&format!("/console/users?q={q}")).await
}

#[tokio::test]
async fn names_are_found_in_any_case_and_any_composition_of_their_letters() {
    let app = spawn_app().await;
    staff_member(&app, "support@example.com", "is_staff = TRUE").await;
    let (_, token) = app.register("elodie@example.com").await;
    let name = serde_json::json!({"name": "Élodie Ångström"});
    let res = app.update_me(Method::PATCH, &token, &name).await;
    assert_eq!(res.status(), 200);
    let mut console = Console::new(&app);
    console.sign_in("support@example.com", GOOD_PASSWORD).await;
    for term in ["élodie", "ÉLODIE", "E\u{301}lodie", "  élodie å"] {
        let list = search(&mut console, term).await;
        assert!(
            list.contains("elodie@example.com"),
            "{term:?} did not find her"
        );
    }
    let list = search(&mut console, "elodie ang").await;
    assert!(
        !list.contains("Ångström"),
        "an accent is a letter of its own"
    );
    // The staff API's search folds the same way.
    let staff_token = app.login("support@example.com", GOOD_PASSWORD).await;
    let res = app
        .send_as(
            Method::GET,
            "/users/?search=%C3%85NGSTR",
            &staff_token,
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("elodie@example.com"));
}

#[tokio::test]
async fn names_stored_before_name_keys_are_keyed_once_at_start() {
    let app = spawn_app().await;
    let (id, _) = app.register("ole@example.com").await;
    // As a database from before the migration holds it: a name, no key, the migration due.
    app.execute(&format!(
        "UPDATE users SET name = 'Øle Brønd', name_key = NULL WHERE id = {id}"
    ))
    .await;
    app.execute("UPDATE data_migrations SET done_at = NULL WHERE name = 'name_keys'")
        .await;
    let peer = app.spawn_peer(|_| {}).await;
    let key = format!("SELECT count(*) FROM users WHERE name_key = 'øle brønd' AND id = {id}");
    assert_eq!(peer.scalar_i64(&key).await, 1);
    let done = "SELECT count(*) FROM data_migrations WHERE name = 'name_keys' AND done_at IS NULL";
    assert_eq!(peer.scalar_i64(done).await, 0);
}
