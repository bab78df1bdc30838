//! One mailbox, one account: every spelling of an address that reaches the same mailbox
//! (case, fullwidth letters and dots, NFD, Punycode) is the same account for registration,
//! login, password reset, the command line and the throttle; invisible characters are refused;
//! and rows stored before the canonical form are re-keyed when the server starts.

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use kitchen_api::auth::{Argon2Hasher, PasswordHasher};
use kitchen_api::config::Config;
use kitchen_api::db::Db;
use kitchen_api::domain::Password;
use reqwest::Response;
use serde_json::{Value, json};

use crate::binary::run_cli;
use crate::helpers::{
    GOOD_PASSWORD, TestApp, assert_json, scratch_database, spawn_app, spawn_app_on, spawn_app_with,
    test_config,
};

/// Spellings of the same mailbox as the first, each the way a client might send it.
const SAME_MAILBOXES: &[(&str, &[(&str, &str)])] = &[
    (
        "Mia@example.com",
        &[
            ("another case", "mia@EXAMPLE.COM"),
            ("a fullwidth domain", "mia@ｅｘａｍｐｌｅ.com"),
            ("fullwidth capitals and dot", "MIA@ＥＸＡＭＰＬＥ．ＣＯＭ"),
            ("an ideographic full stop", "mia@example。com"),
        ],
    ),
    (
        "mia@bücher.example",
        &[
            ("Punycode", "mia@xn--bcher-kva.example"),
            ("Punycode in capitals", "MIA@XN--BCHER-KVA.EXAMPLE"),
            ("NFD", "mia@bu\u{308}cher.example"),
            ("capitals", "mia@BÜCHER.EXAMPLE"),
        ],
    ),
    (
        "mia@xn--caf-dma.example",
        &[
            ("Unicode", "mia@café.example"),
            ("NFD", "mia@cafe\u{301}.example"),
        ],
    ),
];

/// Addresses refused outright, whatever is registered.
const REFUSED: &[(&str, &str)] = &[
    ("a soft hyphen in the domain", "mia@exam\u{AD}ple.com"),
    ("a soft hyphen in the local part", "mi\u{AD}a@example.com"),
    (
        "a zero-width space in the domain",
        "mia@exa\u{200B}mple.com",
    ),
    ("a trailing zero-width space", "mia@example.com\u{200B}"),
    ("a zero-width joiner", "mia@exa\u{200D}mple.com"),
    ("a zero-width non-joiner", "mia@exa\u{200C}mple.com"),
    ("a leading byte order mark", "\u{FEFF}mia@example.com"),
    ("a left-to-right mark", "mia\u{200E}@example.com"),
    ("a right-to-left override", "mia@\u{202E}example.com"),
    ("a word joiner", "mia@example\u{2060}.com"),
    ("a variation selector", "mia@exa\u{FE0F}mple.com"),
    ("a fullwidth at sign", "mia＠example.com"),
    ("a trailing dot", "mia@example.com."),
    ("an NFD local part", "mi\u{301}a@example.com"),
    ("an NFC non-ASCII local part", "mía@example.com"),
];

const INVALID: &str = "Please enter a valid email address";
const BAD_CREDENTIALS: &str = "Unable to log in with provided credentials.";

async fn register_as(app: &TestApp, email: &str) -> Response {
    app.post_json(
        "/users/",
        &json!({"email": email, "password": GOOD_PASSWORD}),
    )
    .await
}

async fn log_in_as(app: &TestApp, email: &str) -> Response {
    app.post_json(
        "/token/",
        &json!({"email": email, "password": GOOD_PASSWORD}),
    )
    .await
}

/// The id `POST /token/` answers for `email`, failing the test unless it logs in.
async fn user_id_logging_in_as(app: &TestApp, email: &str) -> i64 {
    let res = log_in_as(app, email).await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "login as {email:?}: {body}");
    body["user_id"].as_i64().unwrap()
}

#[tokio::test]
async fn every_spelling_of_a_registered_mailbox_is_a_duplicate_and_logs_in_to_it() {
    let app = spawn_app().await;
    for (plain, spellings) in SAME_MAILBOXES {
        let (id, _) = app.register(plain).await;
        for (what, spelling) in *spellings {
            let res = register_as(&app, spelling).await;
            assert_eq!(res.status(), 400, "{what}: {spelling:?} registered anew");
            assert_json(
                res,
                400,
                json!({"email": ["User with email already exists."]}),
            )
            .await;
            assert_eq!(user_id_logging_in_as(&app, spelling).await, id, "{what}");
        }
    }
}

#[tokio::test]
async fn an_address_is_stored_and_shown_with_its_domain_in_unicode() {
    let app = spawn_app().await;
    let res = register_as(&app, "Mia@XN--BCHER-KVA.example").await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["email"], "Mia@bücher.example", "{body}");
    let token = body["token"].as_str().unwrap();
    let me: Value = app.get_me(token).await.json().await.unwrap();
    assert_eq!(me["email"], "Mia@bücher.example");
    let res = log_in_as(&app, "mia@ｂüｃｈｅｒ.example").await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["email"], "Mia@bücher.example", "{body}");
}

#[tokio::test]
async fn invisible_characters_and_other_confusable_forms_are_refused_and_log_in_to_nothing() {
    let app = spawn_app().await;
    app.register("mia@example.com").await;
    for (what, address) in REFUSED {
        let res = register_as(&app, address).await;
        let answer = (res.status().as_u16(), res.json::<Value>().await.unwrap());
        assert_eq!(
            answer,
            (400, json!({"email": [INVALID]})),
            "{what}: {address:?}"
        );
        let res = log_in_as(&app, address).await;
        assert_json(res, 400, json!({"non_field_errors": [BAD_CREDENTIALS]})).await;
    }
}

#[tokio::test]
async fn a_password_reset_asked_for_another_spelling_reaches_the_account() {
    let app = spawn_app().await;
    app.register("Mia@bücher.example").await;
    let res = app
        .post_json(
            "/users/reset/password/",
            &json!({"email": "MIA@xn--bcher-kva.EXAMPLE"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let code = app.reset_code_sent_to("Mia@bücher.example").await;
    let new_password = "a brand new kitchen passphrase";
    let res = app
        .post_json(
            "/users/reset/password/code/",
            &json!({"email": "mia@bu\u{308}cher.example", "code": code,
                    "password": new_password, "re_password": new_password}),
        )
        .await;
    assert_eq!(res.status(), 200);
    app.login("mia@ｂüｃｈｅｒ.example", new_password).await;
}

#[tokio::test]
async fn failed_logins_count_against_the_account_whatever_the_spelling() {
    let app = spawn_app_with(|c: &mut Config| {
        c.login_account_free_failures = 3;
        c.login_address_free_failures = 100;
    })
    .await;
    app.register("mia@example.com").await;
    for spelling in [
        "mia@example.com",
        "MIA@ｅｘａｍｐｌｅ.com",
        "mia@example。com",
    ] {
        let res = app
            .post_json(
                "/token/",
                &json!({"email": spelling, "password": "wrong password 123"}),
            )
            .await;
        assert_eq!(res.status(), 400);
    }
    assert_eq!(
        log_in_as(&app, "mia@ＥＸＡＭＰＬＥ.com").await.status(),
        429
    );
}

#[tokio::test]
async fn the_command_line_knows_every_spelling_too() {
    let (url, _scratch) = scratch_database().await;
    let create = |email: &str| {
        run_cli(
            &url,
            &["createsuperuser", "--email", email],
            "root kitchen passphrase\n",
        )
    };
    assert!(create("chef@bücher.example").status.success());
    let again = create("CHEF@xn--bcher-kva.example");
    assert!(
        !again.status.success(),
        "a second superuser for one mailbox"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let out = run_cli(
        &url,
        &[
            "users",
            "deactivate",
            "--email",
            "chef@bu\u{308}cher.example",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_cli(&url, &["users", "list"], "");
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("chef@bücher.example\tfalse"), "{table}");
}

/// A fresh database migrated only as far as the release before canonical keys, and a pool on it.
async fn database_before_canonical_keys() -> (String, crate::helpers::Scratch, Db) {
    let (url, scratch) = scratch_database().await;
    let db = Db::connect(&test_config(&url)).await.unwrap();
    let dir = match db {
        Db::Sqlite(_) => "migrations/sqlite",
        Db::Postgres(_) => "migrations/postgres",
    };
    let mut migrator =
        sqlx::migrate::Migrator::new(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
            .await
            .unwrap();
    let cut = migrator
        .iter()
        .find(|m| m.description == "data migrations")
        .unwrap()
        .version;
    let earlier: Vec<_> = migrator
        .iter()
        .filter(|m| m.version < cut)
        .cloned()
        .collect();
    migrator.migrations = earlier.into();
    match &db {
        Db::Sqlite(pools) => migrator.run(pools.write()).await,
        Db::Postgres(pool) => migrator.run(pool).await,
    }
    .unwrap();
    (url, scratch, db)
}

/// Stores an account for `typed` as the code before canonical keys did (the domain and the key
/// only lower-cased), joined in `year`.
async fn insert_as_before(db: &Db, typed: &str, year: i32) -> i64 {
    let (local, domain) = typed.split_once('@').unwrap();
    let email = format!("{local}@{}", domain.to_lowercase());
    let key = email.to_lowercase();
    let params = argon2::Params::new(8, 1, 1, None).unwrap();
    let hash = Argon2Hasher::new(params)
        .hash(&Password::new(GOOD_PASSWORD.to_owned()))
        .unwrap();
    let joined: DateTime<Utc> = Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).unwrap();
    const SQL: &str = "INSERT INTO users (email, email_key, password_hash, date_joined) \
         VALUES ($1, $2, $3, $4) RETURNING id";
    match db {
        Db::Sqlite(pools) => sqlx::query_scalar(SQL)
            .bind(&email)
            .bind(&key)
            .bind(&hash)
            .bind(joined)
            .fetch_one(pools.write())
            .await
            .unwrap(),
        Db::Postgres(pool) => sqlx::query_scalar(SQL)
            .bind(&email)
            .bind(&key)
            .bind(&hash)
            .bind(joined)
            .fetch_one(pool)
            .await
            .unwrap(),
    }
}

/// What is stored for account `id`: (email, email_key).
async fn stored(db: &Db, id: i64) -> (String, String) {
    const SQL: &str = "SELECT email, email_key FROM users WHERE id = $1";
    match db {
        Db::Sqlite(pools) => sqlx::query_as(SQL).bind(id).fetch_one(pools.read()).await,
        Db::Postgres(pool) => sqlx::query_as(SQL).bind(id).fetch_one(pool).await,
    }
    .unwrap()
}

fn pair(email: &str, key: &str) -> (String, String) {
    (email.to_owned(), key.to_owned())
}

#[tokio::test]
async fn rows_stored_before_are_re_keyed_at_start_and_the_oldest_keeps_a_shared_mailbox() {
    let (url, scratch, db) = database_before_canonical_keys().await;
    let ann = insert_as_before(&db, "Ann@ＥＸＡＭＰＬＥ.com", 2020).await;
    // Bob registered the fullwidth spelling first, then the plain one.
    let bob_plain = insert_as_before(&db, "bob@example.com", 2022).await;
    let bob_wide = insert_as_before(&db, "bob@ｅｘａｍｐｌｅ.com", 2021).await;
    // Cat registered the Unicode spelling first, then Punycode.
    let cat_unicode = insert_as_before(&db, "cat@bücher.example", 2020).await;
    let cat_puny = insert_as_before(&db, "cat@xn--bcher-kva.example", 2023).await;
    let dan = insert_as_before(&db, "dan@exam\u{AD}ple.org", 2020).await;
    let fay = insert_as_before(&db, "Fay@bu\u{308}cher.example", 2020).await;
    let odd = insert_as_before(&db, "not-an-address@localhost", 2020).await;
    db.close().await;

    let app = spawn_app_on(url, scratch, |_| {}).await;
    assert_eq!(
        stored(&app.db, ann).await,
        pair("Ann@example.com", "ann@example.com")
    );
    assert_eq!(
        stored(&app.db, bob_wide).await,
        pair("bob@example.com", "bob@example.com")
    );
    let bob_aside = format!("set-aside:{bob_plain}:bob@example.com");
    assert_eq!(
        stored(&app.db, bob_plain).await,
        pair("bob@example.com", &bob_aside)
    );
    assert_eq!(
        stored(&app.db, cat_unicode).await,
        pair("cat@bücher.example", "cat@bücher.example")
    );
    let cat_aside = format!("set-aside:{cat_puny}:cat@bücher.example");
    assert_eq!(
        stored(&app.db, cat_puny).await,
        pair("cat@xn--bcher-kva.example", &cat_aside)
    );
    assert_eq!(
        stored(&app.db, dan).await,
        pair("dan@example.org", "dan@example.org")
    );
    assert_eq!(
        stored(&app.db, fay).await,
        pair("Fay@bücher.example", "fay@bücher.example")
    );
    assert_eq!(
        stored(&app.db, odd).await,
        pair("not-an-address@localhost", "not-an-address@localhost")
    );

    // Every spelling now logs in to the account that kept the mailbox.
    assert_eq!(user_id_logging_in_as(&app, "ann@example.com").await, ann);
    assert_eq!(
        user_id_logging_in_as(&app, "ANN@ｅｘａｍｐｌｅ.com").await,
        ann
    );
    assert_eq!(
        user_id_logging_in_as(&app, "bob@example.com").await,
        bob_wide
    );
    assert_eq!(
        user_id_logging_in_as(&app, "cat@xn--bcher-kva.example").await,
        cat_unicode
    );
    assert_eq!(user_id_logging_in_as(&app, "dan@example.org").await, dan);
    assert_eq!(user_id_logging_in_as(&app, "fay@bücher.example").await, fay);
    assert_eq!(log_in_as(&app, &bob_aside).await.status(), 400);
    assert_eq!(register_as(&app, "ann@example.com").await.status(), 400);

    // It ran once: a row written the old way afterwards is not looked at again.
    let late = insert_as_before(&app.db, "Late@ｅｘａｍｐｌｅ.net", 2024).await;
    let peer = app.spawn_peer(|_| {}).await;
    assert_eq!(
        stored(&peer.db, late).await,
        pair("Late@ｅｘａｍｐｌｅ.net", "late@ｅｘａｍｐｌｅ.net")
    );
}

#[tokio::test]
async fn mail_to_an_international_domain_goes_out_in_punycode() {
    // The sink, like many mail servers, does not offer SMTPUTF8.
    let sink = crate::smtp_sink::SmtpSink::start(0);
    let app = spawn_app_with(|c| sink.configure(c)).await;
    app.register("Cook@BÜCHER.example").await;
    app.mail_settled().await;
    let delivered = sink.delivered();
    assert_eq!(
        delivered.len(),
        1,
        "the verification mail was not delivered"
    );
    assert_eq!(delivered[0].envelope_to, "Cook@xn--bcher-kva.example");
}
