//! Passkeys, with a software authenticator: webauthn-authenticator-rs's `SoftPasskey` makes
//! real keys and real signatures. It keeps no resident credentials and cannot answer a request
//! that names none, so [`Phone`] plays the part of the platform around it: it remembers which
//! credential it made for which user handle, offers that credential to a discoverable request
//! and hands back the user handle with the assertion, as a phone's passkey store does. Every
//! check the server makes is on the authenticator's own output.

use reqwest::{Method, Response};
use serde_json::{Value, json};
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::helpers::{GOOD_PASSWORD, TestApp, assert_json, spawn_app, spawn_app_with};

/// The origin the tests' servers accept by default (the settings' default).
const ORIGIN: &str = "http://localhost:8000";

struct Phone {
    authenticator: WebauthnAuthenticator<SoftPasskey>,
    origin: Url,
    /// (credential id, user handle), both base64url, newest last.
    credentials: Vec<(String, String)>,
}

impl Phone {
    fn new() -> Self {
        Self::at(ORIGIN)
    }

    fn at(origin: &str) -> Self {
        Self {
            // `true`: it claims user verification (it has no PIN or fingerprint to check).
            authenticator: WebauthnAuthenticator::new(SoftPasskey::new(true)),
            origin: Url::parse(origin).unwrap(),
            credentials: Vec::new(),
        }
    }

    /// `navigator.credentials.create()` on the server's options.
    fn create(&mut self, public_key: &Value) -> Value {
        let mut options = public_key.clone();
        // The soft authenticator refuses to be asked for a resident key; Phone keeps it.
        options["authenticatorSelection"]["requireResidentKey"] = json!(false);
        let request: CreationChallengeResponse =
            serde_json::from_value(json!({ "publicKey": options })).unwrap();
        let made = self
            .authenticator
            .do_registration(self.origin.clone(), request)
            .unwrap();
        let made = serde_json::to_value(made).unwrap();
        let id = made["id"].as_str().unwrap().to_owned();
        let handle = public_key["user"]["id"].as_str().unwrap().to_owned();
        self.credentials.push((id, handle));
        made
    }

    /// `navigator.credentials.get()` with the newest credential.
    fn get(&mut self, public_key: &Value) -> Value {
        let (id, handle) = self.credentials.last().unwrap().clone();
        let mut options = public_key.clone();
        options["allowCredentials"] = json!([{"type": "public-key", "id": id}]);
        let request: RequestChallengeResponse =
            serde_json::from_value(json!({ "publicKey": options })).unwrap();
        let signed = self
            .authenticator
            .do_authentication(self.origin.clone(), request)
            .unwrap();
        let mut signed = serde_json::to_value(signed).unwrap();
        signed["response"]["userHandle"] = json!(handle);
        signed
    }
}

async fn body(res: Response) -> Value {
    res.json().await.unwrap()
}

/// `POST /users/me/passkeys/options/` with the password: the ceremony's options.
async fn creation_options(app: &TestApp, token: &str) -> Value {
    let password = json!({"password": GOOD_PASSWORD});
    let res = app
        .send_as(
            Method::POST,
            "/users/me/passkeys/options/",
            token,
            Some(&password),
        )
        .await;
    assert_eq!(res.status(), 200);
    let options = body(res).await;
    assert!(options["ticket"].as_str().unwrap().len() >= 43);
    options
}

async fn finish_registration(app: &TestApp, token: &str, ticket: &Value, made: &Value) -> Response {
    let body = json!({"ticket": ticket, "credential": made, "name": "  My phone  "});
    app.send_as(Method::POST, "/users/me/passkeys/", token, Some(&body))
        .await
}

/// Registers a passkey on `phone` for the user of `token`; returns its id.
async fn add_passkey(app: &TestApp, token: &str, phone: &mut Phone) -> i64 {
    let options = creation_options(app, token).await;
    let made = phone.create(&options["publicKey"]);
    let res = finish_registration(app, token, &options["ticket"], &made).await;
    assert_eq!(res.status(), 201);
    body(res).await["id"].as_i64().unwrap()
}

async fn login_options(app: &TestApp) -> Value {
    let res = app.post_json("/token/passkey/options/", &json!({})).await;
    assert_eq!(res.status(), 200);
    body(res).await
}

async fn finish_login(app: &TestApp, ticket: &Value, signed: &Value) -> Response {
    app.post_json(
        "/token/passkey/",
        &json!({"ticket": ticket, "credential": signed}),
    )
    .await
}

async fn log_in(app: &TestApp, phone: &mut Phone) -> Response {
    let options = login_options(app).await;
    let signed = phone.get(&options["publicKey"]);
    finish_login(app, &options["ticket"], &signed).await
}

async fn assert_login_refused(res: Response) {
    assert_json(
        res,
        400,
        json!({"non_field_errors": ["Unable to log in with provided credentials."]}),
    )
    .await;
}

#[tokio::test]
async fn a_wrong_password_begins_no_ceremony() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let wrong = json!({"password": "not the password"});
    let res = app
        .send_as(
            Method::POST,
            "/users/me/passkeys/options/",
            &token,
            Some(&wrong),
        )
        .await;
    assert_json(res, 400, json!({"password": ["Wrong password."]})).await;
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM webauthn_ceremonies")
            .await,
        0
    );
    let res = app
        .send_as(
            Method::POST,
            "/users/me/passkeys/options/",
            &token,
            Some(&json!({})),
        )
        .await;
    assert_json(res, 400, json!({"password": ["This field is required."]})).await;
}

#[tokio::test]
async fn a_passkey_is_added_listed_and_logs_in_without_an_email() {
    let app = spawn_app().await;
    let (user_id, token) = app.register("cook@example.com").await;
    let mut phone = Phone::new();
    let options = creation_options(&app, &token).await;
    let selection = &options["publicKey"]["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "required");
    assert_eq!(selection["userVerification"], "required");
    assert_eq!(options["publicKey"]["rp"]["id"], "localhost");
    let made = phone.create(&options["publicKey"]);
    let res = finish_registration(&app, &token, &options["ticket"], &made).await;
    assert_eq!(res.status(), 201);
    let added = body(res).await;
    assert_eq!(added["name"], "My phone");
    assert_eq!(added["last_used"], Value::Null);

    let res = log_in(&app, &mut phone).await;
    assert_eq!(res.status(), 200);
    let login = body(res).await;
    assert_eq!(login["user_id"], user_id);
    assert_eq!(login["email"], "cook@example.com");
    let new_token = login["token"].as_str().unwrap();
    assert_eq!(app.get_me(new_token).await.status(), 200);

    let res = app
        .send_as(Method::GET, "/users/me/passkeys/", new_token, None)
        .await;
    let list = body(res).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], added["id"]);
    assert_ne!(list[0]["last_used"], Value::Null);
    let detail = app
        .scalar_i64("SELECT count(*) FROM security_events WHERE kind = 'login_succeeded' AND detail = 'passkey'")
        .await;
    assert_eq!(detail, 1);
    let added_events = app
        .scalar_i64("SELECT count(*) FROM security_events WHERE kind = 'passkey_added'")
        .await;
    assert_eq!(added_events, 1);
}

#[tokio::test]
async fn a_ceremony_from_another_origin_is_refused() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let mut elsewhere = Phone::at("http://localhost:9999");
    let options = creation_options(&app, &token).await;
    let made = elsewhere.create(&options["publicKey"]);
    let res = finish_registration(&app, &token, &options["ticket"], &made).await;
    assert_json(
        res,
        400,
        json!({"credential": ["The passkey could not be verified."]}),
    )
    .await;

    let mut phone = Phone::new();
    add_passkey(&app, &token, &mut phone).await;
    phone.origin = Url::parse("http://localhost:9999").unwrap();
    assert_login_refused(log_in(&app, &mut phone).await).await;
    let failed = app
        .scalar_i64("SELECT count(*) FROM security_events WHERE kind = 'passkey_login_failed'")
        .await;
    assert_eq!(failed, 1);
}

#[tokio::test]
async fn an_answer_for_another_rp_id_is_refused() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let mut phone = Phone::new();
    // "host" passes the soft client's suffix check of "localhost", but is another RP ID.
    let options = creation_options(&app, &token).await;
    let mut public_key = options["publicKey"].clone();
    public_key["rp"]["id"] = json!("host");
    let made = phone.create(&public_key);
    let res = finish_registration(&app, &token, &options["ticket"], &made).await;
    assert_eq!(res.status(), 400);

    add_passkey(&app, &token, &mut phone).await;
    let options = login_options(&app).await;
    let mut public_key = options["publicKey"].clone();
    public_key["rpId"] = json!("host");
    let signed = phone.get(&public_key);
    assert_login_refused(finish_login(&app, &options["ticket"], &signed).await).await;
}

#[tokio::test]
async fn a_server_with_another_rp_id_refuses_the_passkey() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let mut phone = Phone::new();
    add_passkey(&app, &token, &mut phone).await;
    let other = app
        .spawn_peer(|c| {
            c.webauthn_rp_id = Some("kitchen.localhost".into());
            c.webauthn_origins = vec!["http://kitchen.localhost:8000".into()];
        })
        .await;
    let options = login_options(&other).await;
    assert_eq!(options["publicKey"]["rpId"], "kitchen.localhost");
    // The phone, at its own origin, answers as "localhost": the other RP refuses it.
    let mut public_key = options["publicKey"].clone();
    public_key["rpId"] = json!("localhost");
    let signed = phone.get(&public_key);
    assert_login_refused(finish_login(&other, &options["ticket"], &signed).await).await;
}

#[tokio::test]
async fn a_ceremony_is_finished_once() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let mut phone = Phone::new();
    let options = creation_options(&app, &token).await;
    let made = phone.create(&options["publicKey"]);
    let res = finish_registration(&app, &token, &options["ticket"], &made).await;
    assert_eq!(res.status(), 201);
    let res = finish_registration(&app, &token, &options["ticket"], &made).await;
    assert_json(res, 400, json!({"ticket": ["Invalid or expired ticket."]})).await;

    let options = login_options(&app).await;
    let signed = phone.get(&options["publicKey"]);
    let res = finish_login(&app, &options["ticket"], &signed).await;
    assert_eq!(res.status(), 200);
    assert_login_refused(finish_login(&app, &options["ticket"], &signed).await).await;
}

#[tokio::test]
async fn a_ticket_expires_after_five_minutes() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let mut phone = Phone::new();
    let options = creation_options(&app, &token).await;
    let made = phone.create(&options["publicKey"]);
    let start = app.clock.now_for_tests();
    app.clock.set(start + chrono::TimeDelta::seconds(301));
    let res = finish_registration(&app, &token, &options["ticket"], &made).await;
    assert_json(res, 400, json!({"ticket": ["Invalid or expired ticket."]})).await;

    add_passkey(&app, &token, &mut phone).await;
    let options = login_options(&app).await;
    let signed = phone.get(&options["publicKey"]);
    app.clock.set(start + chrono::TimeDelta::seconds(602));
    assert_login_refused(finish_login(&app, &options["ticket"], &signed).await).await;
}

#[tokio::test]
async fn a_tampered_signature_is_refused() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let mut phone = Phone::new();
    add_passkey(&app, &token, &mut phone).await;
    let options = login_options(&app).await;
    let mut signed = phone.get(&options["publicKey"]);
    let signature = signed["response"]["signature"].as_str().unwrap();
    let mut bytes = base64_url_decode(signature);
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    signed["response"]["signature"] = json!(base64_url_encode(&bytes));
    assert_login_refused(finish_login(&app, &options["ticket"], &signed).await).await;
}

fn base64_url_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .unwrap()
}

fn base64_url_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn a_regressed_sign_counter_is_refused() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let mut phone = Phone::new();
    add_passkey(&app, &token, &mut phone).await;
    // Two assertions signed in order (counters n, n+1), sent in the other order.
    let first = login_options(&app).await;
    let first_signed = phone.get(&first["publicKey"]);
    let second = login_options(&app).await;
    let second_signed = phone.get(&second["publicKey"]);
    let res = finish_login(&app, &second["ticket"], &second_signed).await;
    assert_eq!(res.status(), 200);
    assert_login_refused(finish_login(&app, &first["ticket"], &first_signed).await).await;
}

#[tokio::test]
async fn a_deleted_passkey_cannot_log_in_and_only_its_owner_deletes_it() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let (_, other_token) = app.register("other@example.com").await;
    let mut phone = Phone::new();
    let id = add_passkey(&app, &token, &mut phone).await;
    let path = format!("/users/me/passkeys/{id}/");
    let res = app.send_as(Method::DELETE, &path, &other_token, None).await;
    assert_eq!(res.status(), 404);
    let res = app
        .send_as(Method::DELETE, "/users/me/passkeys/abc/", &token, None)
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(log_in(&app, &mut phone).await.status(), 200);
    let res = app.send_as(Method::DELETE, &path, &token, None).await;
    assert_eq!(res.status(), 204);
    assert_login_refused(log_in(&app, &mut phone).await).await;
    let res = app
        .send_as(Method::GET, "/users/me/passkeys/", &token, None)
        .await;
    assert_eq!(body(res).await, json!([]));
    let removed = app
        .scalar_i64("SELECT count(*) FROM security_events WHERE kind = 'passkey_removed'")
        .await;
    assert_eq!(removed, 1);
}

#[tokio::test]
async fn another_users_registration_ticket_is_refused() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let (_, other_token) = app.register("other@example.com").await;
    let mut phone = Phone::new();
    let options = creation_options(&app, &token).await;
    let made = phone.create(&options["publicKey"]);
    let res = finish_registration(&app, &other_token, &options["ticket"], &made).await;
    assert_json(res, 400, json!({"ticket": ["Invalid or expired ticket."]})).await;
    // Still its owner's to finish.
    let res = finish_registration(&app, &token, &options["ticket"], &made).await;
    assert_eq!(res.status(), 201);
    let res = app
        .send_as(Method::GET, "/users/me/passkeys/", &other_token, None)
        .await;
    assert_eq!(body(res).await, json!([]));
}

#[tokio::test]
async fn a_ceremony_begun_on_one_server_is_finished_on_another() {
    let app = spawn_app().await;
    let peer = app.spawn_peer(|_| {}).await;
    let (_, token) = app.register("cook@example.com").await;
    let mut phone = Phone::new();
    let options = creation_options(&app, &token).await;
    let made = phone.create(&options["publicKey"]);
    let res = finish_registration(&peer, &token, &options["ticket"], &made).await;
    assert_eq!(res.status(), 201);
    let options = login_options(&peer).await;
    let signed = phone.get(&options["publicKey"]);
    assert_eq!(
        finish_login(&app, &options["ticket"], &signed)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_malformed_credential_is_a_field_error() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let options = creation_options(&app, &token).await;
    let body = json!({"ticket": options["ticket"], "credential": {"id": 3}, "name": ""});
    let res = app
        .send_as(Method::POST, "/users/me/passkeys/", &token, Some(&body))
        .await;
    assert_json(
        res,
        400,
        json!({
            "credential": ["Not a valid WebAuthn credential."],
            "name": ["This field may not be blank."],
        }),
    )
    .await;
    let res = app
        .post_json("/token/passkey/", &json!({"ticket": "x"}))
        .await;
    assert_json(res, 400, json!({"credential": ["This field is required."]})).await;
}

#[tokio::test]
async fn deleting_the_account_deletes_its_passkeys() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let mut phone = Phone::new();
    add_passkey(&app, &token, &mut phone).await;
    assert_eq!(app.scalar_i64("SELECT count(*) FROM passkeys").await, 1);
    let password = json!({"password": GOOD_PASSWORD});
    let res = app
        .send_as(Method::DELETE, "/users/me/", &token, Some(&password))
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(app.scalar_i64("SELECT count(*) FROM passkeys").await, 0);
    assert_login_refused(log_in(&app, &mut phone).await).await;
}

#[tokio::test]
async fn the_native_app_files_come_from_the_settings() {
    let app = spawn_app().await;
    for path in [
        "/.well-known/apple-app-site-association",
        "/.well-known/assetlinks.json",
    ] {
        let res = app.request(Method::GET, path).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
    let print = vec!["AB"; 32].join(":");
    let app = spawn_app_with(|c| {
        c.apple_app_ids = vec!["ABCDE12345.com.rayvers.kitchen".into()];
        c.android_apps = vec![format!("com.rayvers.kitchen:{print}")];
    })
    .await;
    let res = app
        .request(Method::GET, "/.well-known/apple-app-site-association")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_json(
        res,
        200,
        json!({"webcredentials": {"apps": ["ABCDE12345.com.rayvers.kitchen"]}}),
    )
    .await;
    let res = app
        .request(Method::GET, "/.well-known/assetlinks.json")
        .send()
        .await
        .unwrap();
    assert_json(
        res,
        200,
        json!([{
            "relation": [
                "delegate_permission/common.handle_all_urls",
                "delegate_permission/common.get_login_creds",
            ],
            "target": {
                "namespace": "android_app",
                "package_name": "com.rayvers.kitchen",
                "sha256_cert_fingerprints": [print],
            },
        }]),
    )
    .await;
}

#[tokio::test]
async fn failed_passkey_logins_are_throttled_by_address() {
    let app = spawn_app_with(|c| {
        c.login_address_free_failures = 2;
        c.login_base_delay_secs = 60;
    })
    .await;
    let (_, token) = app.register("cook@example.com").await;
    let mut phone = Phone::new();
    add_passkey(&app, &token, &mut phone).await;
    // A right login takes its guess back: it uses none of the free failures.
    assert_eq!(log_in(&app, &mut phone).await.status(), 200);
    for _ in 0..2 {
        let options = login_options(&app).await;
        let signed = phone.get(&options["publicKey"]);
        assert_login_refused(finish_login(&app, &json!("not-the-ticket"), &signed).await).await;
    }
    let res = log_in(&app, &mut phone).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn an_inactive_account_cannot_log_in_with_its_passkey() {
    let app = spawn_app().await;
    let (user_id, token) = app.register("cook@example.com").await;
    let mut phone = Phone::new();
    add_passkey(&app, &token, &mut phone).await;
    app.execute(&format!(
        "UPDATE users SET is_active = FALSE WHERE id = {user_id}"
    ))
    .await;
    assert_login_refused(log_in(&app, &mut phone).await).await;
}

#[tokio::test]
async fn a_passkey_login_keeps_the_verified_email_policy() {
    let app = spawn_app_with(|c| c.require_verified_email = true).await;
    let (user_id, token) = app.register("cook@example.com").await;
    let mut phone = Phone::new();
    add_passkey(&app, &token, &mut phone).await;
    let res = log_in(&app, &mut phone).await;
    assert_json(
        res,
        400,
        json!({"non_field_errors": ["E-mail is not verified."]}),
    )
    .await;
    app.execute(&format!(
        "UPDATE users SET email_verified = TRUE WHERE id = {user_id}"
    ))
    .await;
    assert_eq!(log_in(&app, &mut phone).await.status(), 200);
}

#[tokio::test]
async fn passkey_logins_begun_are_bounded_per_address() {
    let app = spawn_app_with(|c| c.passkey_logins_per_address = 2).await;
    for _ in 0..2 {
        login_options(&app).await;
    }
    let res = app.post_json("/token/passkey/options/", &json!({})).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    let sql = "SELECT count(*) FROM webauthn_ceremonies";
    let stored: i64 = match &app.db {
        kitchen_api::db::Db::Sqlite(pools) => sqlx::query_scalar(sql)
            .fetch_one(pools.read())
            .await
            .unwrap(),
        kitchen_api::db::Db::Postgres(pool) => {
            sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
        }
    };
    assert_eq!(stored, 2, "the refused one stored nothing");
}

#[tokio::test]
async fn with_totp_on_adding_a_passkey_needs_a_code_and_a_passkey_login_needs_none() {
    let app = spawn_app().await;
    let email = "both@example.com";
    let (_, token, secret, _) = crate::totp::with_totp(&app, email).await;
    let path = "/users/me/passkeys/options/";
    let password_only = json!({"password": GOOD_PASSWORD});
    let res = app
        .send_as(Method::POST, path, &token, Some(&password_only))
        .await;
    assert_json(res, 400, json!({"code": ["This field is required."]})).await;
    let wrong = json!({"password": GOOD_PASSWORD, "code": "000000"});
    let wrong = if crate::totp::now_code(&app, &secret) == "000000" {
        json!({"password": GOOD_PASSWORD, "code": "111111"})
    } else {
        wrong
    };
    let res = app.send_as(Method::POST, path, &token, Some(&wrong)).await;
    assert_json(res, 400, json!({"code": ["Invalid code."]})).await;
    let code = crate::totp::now_code(&app, &secret);
    let stepped_up = json!({"password": GOOD_PASSWORD, "code": code});
    let res = app
        .send_as(Method::POST, path, &token, Some(&stepped_up))
        .await;
    assert_eq!(res.status(), 200);
    let options = body(res).await;
    let mut phone = Phone::new();
    let made = phone.create(&options["publicKey"]);
    let res = finish_registration(&app, &token, &options["ticket"], &made).await;
    assert_eq!(res.status(), 201);
    let res = app
        .send_as(Method::GET, "/users/me/mfa/", &token, None)
        .await;
    let status = body(res).await;
    assert_eq!(status["totp"], json!(true));
    assert_eq!(status["passkeys"], json!(1));
    // The password alone asks for a code; the passkey alone is enough.
    crate::totp::start_login(&app, email).await;
    let res = log_in(&app, &mut phone).await;
    assert_eq!(res.status(), 200);
    let login = body(res).await;
    assert_eq!(login["email"], json!(email));
    let me = app.get_me(login["token"].as_str().unwrap()).await;
    assert_eq!(me.status(), 200);
}

/// `POST /users/me/step-up/passkey/`, then the phone's assertion: the `passkey` field of a
/// sensitive action.
async fn step_up(app: &TestApp, token: &str, phone: &mut Phone) -> Value {
    let res = app
        .send_as(Method::POST, "/users/me/step-up/passkey/", token, None)
        .await;
    assert_eq!(res.status(), 200);
    let options = body(res).await;
    let allowed = options["publicKey"]["allowCredentials"].as_array().unwrap();
    assert_eq!(
        allowed.len(),
        phone.credentials.len(),
        "only the user's own"
    );
    let signed = phone.get(&options["publicKey"]);
    json!({"ticket": options["ticket"], "credential": signed})
}

fn passkey_refused() -> Value {
    json!({"passkey": ["The passkey could not be verified."]})
}

#[tokio::test]
async fn a_passkey_step_up_stands_in_for_password_and_code_once() {
    let app = spawn_app().await;
    let email = "stepper@example.com";
    let (_, token, secret, _) = crate::totp::with_totp(&app, email).await;
    let code = crate::totp::now_code(&app, &secret);
    let stepped_up = json!({"password": GOOD_PASSWORD, "code": code});
    let res = app
        .send_as(
            Method::POST,
            "/users/me/passkeys/options/",
            &token,
            Some(&stepped_up),
        )
        .await;
    let options = body(res).await;
    let mut phone = Phone::new();
    let made = phone.create(&options["publicKey"]);
    let res = finish_registration(&app, &token, &options["ticket"], &made).await;
    assert_eq!(res.status(), 201);

    // New recovery codes with the passkey alone: no password, no code.
    let passkey = step_up(&app, &token, &mut phone).await;
    let path = "/users/me/mfa/recovery-codes/";
    let with_passkey = json!({"passkey": passkey});
    let res = app
        .send_as(Method::POST, path, &token, Some(&with_passkey))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        body(res).await["recovery_codes"].as_array().unwrap().len(),
        10
    );
    // The same assertion again: the ceremony was taken.
    let res = app
        .send_as(Method::POST, path, &token, Some(&with_passkey))
        .await;
    assert_json(res, 400, passkey_refused()).await;

    // TOTP off with a fresh one, then the account itself.
    let passkey = step_up(&app, &token, &mut phone).await;
    let res = app
        .send_as(
            Method::DELETE,
            "/users/me/mfa/totp/",
            &token,
            Some(&json!({"passkey": passkey})),
        )
        .await;
    assert_eq!(res.status(), 204);
    let passkey = step_up(&app, &token, &mut phone).await;
    let res = app
        .send_as(
            Method::DELETE,
            "/users/me/",
            &token,
            Some(&json!({"passkey": passkey})),
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(app.scalar_i64("SELECT count(*) FROM users").await, 0);
}

#[tokio::test]
async fn a_step_up_of_another_user_or_a_tampered_one_is_refused_and_counted() {
    let app = spawn_app().await;
    let (_, alice) = app.register("alice@example.com").await;
    let (_, bob) = app.register("bob@example.com").await;
    let mut alice_phone = Phone::new();
    add_passkey(&app, &alice, &mut alice_phone).await;
    let mut bob_phone = Phone::new();
    add_passkey(&app, &bob, &mut bob_phone).await;

    // Alice's step-up sent by Bob: not his ceremony, nothing deleted.
    let passkey = step_up(&app, &alice, &mut alice_phone).await;
    let delete = json!({"passkey": passkey});
    let res = app
        .send_as(Method::DELETE, "/users/me/", &bob, Some(&delete))
        .await;
    assert_json(res, 400, passkey_refused()).await;
    // Bob's ceremony answered by Alice's phone.
    let res = app
        .send_as(Method::POST, "/users/me/step-up/passkey/", &bob, None)
        .await;
    let options = body(res).await;
    let mut foreign = options["publicKey"].clone();
    foreign["allowCredentials"] = json!([]);
    let signed = alice_phone.get(&foreign);
    let delete = json!({"passkey": {"ticket": options["ticket"], "credential": signed}});
    let res = app
        .send_as(Method::DELETE, "/users/me/", &bob, Some(&delete))
        .await;
    assert_json(res, 400, passkey_refused()).await;
    // A flipped signature byte.
    let mut passkey = step_up(&app, &bob, &mut bob_phone).await;
    let signature = passkey["credential"]["response"]["signature"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut bytes = base64_url_decode(&signature);
    bytes[10] ^= 1;
    passkey["credential"]["response"]["signature"] = json!(base64_url_encode(&bytes));
    let res = app
        .send_as(
            Method::DELETE,
            "/users/me/",
            &bob,
            Some(&json!({"passkey": passkey})),
        )
        .await;
    assert_json(res, 400, passkey_refused()).await;
    // Not even an object: a field error, not a 500.
    let res = app
        .send_as(
            Method::DELETE,
            "/users/me/",
            &bob,
            Some(&json!({"passkey": "yes"})),
        )
        .await;
    assert_eq!(res.status(), 400);
    assert!(body(res).await["passkey"].is_array());
    assert_eq!(app.scalar_i64("SELECT count(*) FROM users").await, 2);
    let failures = app
        .scalar_i64(
            "SELECT count(*) FROM security_events WHERE kind = 'second_factor_failed' \
             AND detail = 'delete_account'",
        )
        .await;
    assert_eq!(failures, 3);
    // Without a passkey there is nothing to begin.
    let (_, carol) = app.register("carol@example.com").await;
    let res = app
        .send_as(Method::POST, "/users/me/step-up/passkey/", &carol, None)
        .await;
    assert_json(
        res,
        400,
        json!({"non_field_errors": ["You have no passkey."]}),
    )
    .await;
}

#[tokio::test]
async fn adding_a_passkey_tells_the_user_with_its_name_escaped() {
    let app = spawn_app().await;
    let email = "named@example.com";
    let (_, token) = app.register(email).await;
    let options = creation_options(&app, &token).await;
    let mut phone = Phone::new();
    let made = phone.create(&options["publicKey"]);
    let named = json!({"ticket": options["ticket"], "credential": made, "name": "<b>Pixel</b>"});
    let res = app
        .send_as(Method::POST, "/users/me/passkeys/", &token, Some(&named))
        .await;
    assert_eq!(res.status(), 201);
    let notices = app
        .notices_to(email, kitchen_api::mail::NoticeKind::PasskeyAdded)
        .await;
    assert_eq!(notices.len(), 1);
    assert!(
        notices[0].text.contains("\"<b>Pixel</b>\""),
        "{}",
        notices[0].text
    );
    assert!(notices[0].html.contains("&#60;b&#62;Pixel&#60;/b&#62;"));
    assert!(!notices[0].html.contains("<b>Pixel"));
}

#[tokio::test]
async fn a_staff_members_passkey_signs_in_to_the_console_and_a_plain_users_does_not() {
    let app = spawn_app().await;
    let (staff, staff_token) =
        crate::console::staff_member(&app, "support@example.com", "is_staff = TRUE").await;
    let mut staff_phone = Phone::new();
    add_passkey(&app, &staff_token, &mut staff_phone).await;
    let (_, plain_token) = app.register("plain@example.com").await;
    let mut plain_phone = Phone::new();
    add_passkey(&app, &plain_token, &mut plain_phone).await;

    for (phone, admitted) in [(&mut plain_phone, false), (&mut staff_phone, true)] {
        let mut console = crate::console::Console::new(&app);
        let csrf = console.csrf_of("/console/sign-in").await;
        let options = login_options(&app).await;
        let signed = phone.get(&options["publicKey"]);
        let ticket = options["ticket"].as_str().unwrap().to_owned();
        let credential = signed.to_string();
        let form = [
            ("ticket", ticket.as_str()),
            ("credential", credential.as_str()),
            ("csrf", csrf.as_str()),
        ];
        let res = console.post("/console/sign-in/passkey", &form).await;
        if admitted {
            assert_eq!(res.status(), 303);
            assert_eq!(console.get("/console/users").await.status(), 200);
        } else {
            assert_eq!(res.status(), 400);
            let page = res.text().await.unwrap();
            assert!(page.contains("Unable to sign in with these credentials."));
            assert_eq!(console.get("/console/users").await.status(), 303);
        }
    }
    let sessions = app
        .scalar_i64(&format!(
            "SELECT count(*) FROM console_sessions WHERE user_id = {staff}"
        ))
        .await;
    assert_eq!(sessions, 1);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM console_sessions")
            .await,
        1
    );
}
