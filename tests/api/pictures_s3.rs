//! Profile pictures in S3-compatible storage, against a real S3 server (moto, see
//! `s3_server.rs`): what the service stores there, the URL the profile shows, that every change
//! leaves exactly one object, and that a store that fails is a `503` that changes nothing.
//! Ignored for a plain `cargo test` (they need moto); CI's PostgreSQL leg runs them.

use std::time::{Duration, Instant};

use image::{GenericImageView, ImageFormat};
use kitchen_api::config::{Config, PictureStorage};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::binary::Server;
use crate::helpers::{GOOD_PASSWORD, TestApp, assert_json, scratch_database, spawn_app_with};
use crate::picture_images::{CAMERA_MAKE, CAMERA_MODEL, jpeg, jpeg_with_exif, png_with_alpha};
use crate::pictures::{contains, put_picture, upload};
use crate::s3_server::{Bucket, MotoServer, REGION};

const PREFIX: &str = "profile-pictures/";
const UNAVAILABLE: &str = "Service temporarily unavailable.";

/// Settings that put pictures into `bucket` on `moto`, with credentials of their own (never
/// the machine's: without them the AWS client would go looking for instance credentials).
fn use_bucket(config: &mut Config, moto: &MotoServer, bucket: &Bucket) {
    config.picture_storage = PictureStorage::S3;
    config.s3_endpoint = Some(moto.endpoint.clone());
    config.s3_bucket = Some(bucket.name.clone());
    config.s3_region = REGION.to_owned();
    config.s3_access_key_id = Some("AKIAKITCHENTEST".to_owned());
    config.s3_secret_access_key = Some("kitchen-test-secret".parse().unwrap());
}

/// A server that keeps its pictures in a fresh bucket on a moto of its own, its other settings
/// as `configure` leaves them, and a registered user's token. Bind `moto` when taking it apart:
/// a field left to `..` is dropped at once, and a dropped moto is a killed one.
struct S3App {
    moto: MotoServer,
    bucket: Bucket,
    app: TestApp,
    token: String,
}

async fn s3_app(configure: impl FnOnce(&mut Config)) -> S3App {
    let moto = MotoServer::start().await;
    let bucket = moto.create_bucket().await;
    let app = spawn_app_with(|c| {
        use_bucket(c, &moto, &bucket);
        configure(c);
    })
    .await;
    let (_, token) = app.register("ada@example.com").await;
    S3App {
        moto,
        bucket,
        app,
        token,
    }
}

/// A multipart `PATCH /users/me/` with a name and a `profile_picture` file part, as the app
/// sends its profile edits.
async fn patch_with_picture(app: &TestApp, token: &str, bytes: Vec<u8>) -> Response {
    let part = Part::bytes(bytes)
        .file_name("me.jpg")
        .mime_str("image/jpeg")
        .unwrap();
    let form = Form::new()
        .text("name", "Ada")
        .part("profile_picture", part);
    app.request(Method::PATCH, "/users/me/")
        .header("Authorization", format!("Token {token}"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// The `profile_picture` of a 200 answer, with the status checked.
async fn picture_of(res: Response) -> Option<String> {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body["profile_picture"].as_str().map(str::to_owned)
}

/// The one object under `profile-pictures/`, checked for its name's form.
async fn the_one_object(bucket: &Bucket) -> String {
    let keys = bucket.keys(PREFIX).await;
    assert_eq!(keys.len(), 1, "expected exactly one picture: {keys:?}");
    let name = keys[0].strip_prefix(PREFIX).unwrap().to_owned();
    let (stem, extension) = name.split_once('.').unwrap();
    assert!(
        stem.len() == 32 && stem.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "not 32 lowercase hex digits: {name}"
    );
    assert!(matches!(extension, "jpg" | "png"), "{name}");
    name
}

#[tokio::test]
#[ignore = "needs moto_server (CI installs it)"]
async fn an_upload_stores_one_clean_object_whose_public_url_the_profile_shows() {
    let S3App {
        moto,
        bucket,
        app,
        token,
    } = s3_app(|_| {}).await;
    let photo = jpeg_with_exif(&jpeg(800, 600), 1);
    assert!(contains(&photo, CAMERA_MAKE.as_bytes()));

    let url = upload(&app, &token, photo).await;
    let name = the_one_object(&bucket).await;
    let expected = format!("{}/{}/{PREFIX}{name}", moto.endpoint, bucket.name);
    assert_eq!(url, expected);
    assert_eq!(picture_of(app.get_me(&token).await).await, Some(url));

    // The URL is the object, as anyone would fetch it: re-encoded, fitted, metadata gone.
    let served = reqwest::get(&expected).await.unwrap();
    assert_eq!(served.status(), 200);
    let bytes = served.bytes().await.unwrap();
    for secret in [CAMERA_MAKE.as_bytes(), CAMERA_MODEL.as_bytes(), b"Exif"] {
        let shown = String::from_utf8_lossy(secret);
        assert!(!contains(&bytes, secret), "{shown:?} survived");
    }
    let stored = image::load_from_memory_with_format(&bytes, ImageFormat::Jpeg).unwrap();
    assert_eq!(stored.dimensions(), (512, 384));
}

#[tokio::test]
#[ignore = "needs moto_server (CI installs it)"]
async fn the_public_url_serves_each_picture_with_its_content_type_and_long_caching() {
    // Served straight from the bucket or a CDN, the object's own headers are what browsers and
    // the app get: S3's default type, `binary/octet-stream`, makes a browser download it, and
    // a name never changes content, so it may be cached for good.
    let S3App {
        moto: _moto,
        app,
        token,
        ..
    } = s3_app(|_| {}).await;
    for (picture, extension, expected) in [
        (jpeg(40, 30), ".jpg", "image/jpeg"),
        (png_with_alpha(40, 30), ".png", "image/png"),
    ] {
        let url = upload(&app, &token, picture).await;
        assert!(url.ends_with(extension), "{url}");
        let served = reqwest::get(&url).await.unwrap();
        assert_eq!(served.status(), 200);
        let headers = served.headers();
        assert_eq!(
            headers["content-type"], expected,
            "the Content-Type of {url}"
        );
        let cache_control = &headers["cache-control"];
        assert_eq!(cache_control, "public, max-age=31536000, immutable");
    }
}

#[tokio::test]
#[ignore = "needs moto_server (CI installs it)"]
async fn a_configured_base_url_such_as_a_cdn_is_what_the_profile_shows() {
    let S3App {
        moto: _moto,
        bucket,
        app,
        token,
    } = s3_app(|c| c.picture_base_url = Some("https://cdn.example.com/kitchen/".to_owned())).await;

    let url = picture_of(patch_with_picture(&app, &token, jpeg(300, 200)).await).await;
    let name = the_one_object(&bucket).await;
    let expected = format!("https://cdn.example.com/kitchen/{PREFIX}{name}");
    assert_eq!(url.as_deref(), Some(expected.as_str()));
}

#[tokio::test]
#[ignore = "needs moto_server (CI installs it)"]
async fn replacing_leaves_only_the_new_object_and_deleting_leaves_none() {
    let S3App {
        moto: _moto,
        bucket,
        app,
        token,
    } = s3_app(|_| {}).await;

    let first_url = upload(&app, &token, jpeg(64, 64)).await;
    let first = the_one_object(&bucket).await;
    // The same image again still gets a new name: a cache never shows a stale picture.
    let second_url = picture_of(patch_with_picture(&app, &token, jpeg(64, 64)).await).await;
    let second = the_one_object(&bucket).await;
    assert_ne!(first, second);
    let second_url = second_url.unwrap();
    assert_ne!(first_url, second_url);
    assert!(second_url.ends_with(&second));
    let old = reqwest::get(&first_url).await.unwrap();
    assert_ne!(old.status(), 200, "the old picture is still served");

    let res = app
        .request(Method::DELETE, "/users/me/picture/")
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(picture_of(res).await, None);
    assert_eq!(bucket.keys(PREFIX).await, Vec::<String>::new());
    assert_eq!(picture_of(app.get_me(&token).await).await, None);
}

#[tokio::test]
#[ignore = "needs moto_server (CI installs it)"]
async fn deleting_an_account_deletes_its_object_and_no_one_elses() {
    let S3App {
        moto: _moto,
        bucket,
        app,
        token: staying,
    } = s3_app(|_| {}).await;
    let (_, leaving) = app.register("leaving@example.com").await;
    upload(&app, &staying, jpeg(40, 30)).await;
    let kept = the_one_object(&bucket).await;
    upload(&app, &leaving, jpeg(30, 40)).await;
    assert_eq!(bucket.keys(PREFIX).await.len(), 2);

    let res = app
        .send_as(
            Method::DELETE,
            "/users/me/",
            &leaving,
            Some(&json!({"password": GOOD_PASSWORD})),
        )
        .await;
    assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
    assert_eq!(the_one_object(&bucket).await, kept);
}

#[tokio::test]
#[ignore = "needs moto_server (CI installs it)"]
async fn twenty_concurrent_uploads_leave_exactly_the_one_object_the_profile_shows() {
    let S3App {
        moto,
        bucket,
        app,
        token,
    } = s3_app(|_| {}).await;
    upload(&app, &token, jpeg(50, 50)).await;

    let uploads = (0..20).map(|i| put_picture(&app, &token, jpeg(60 + i, 40)));
    for res in futures::future::join_all(uploads).await {
        picture_of(res).await;
    }
    let name = the_one_object(&bucket).await;
    let shown = picture_of(app.get_me(&token).await).await.unwrap();
    assert_eq!(
        shown,
        format!("{}/{}/{PREFIX}{name}", moto.endpoint, bucket.name)
    );
}

/// Uploads a picture, lets `fail` break the store, then checks that both kinds of upload are
/// a `503` in time and that the profile is as it was.
async fn a_failing_store_changes_nothing(fail: impl FnOnce(&mut MotoServer)) {
    let S3App {
        mut moto,
        app,
        token,
        ..
    } = s3_app(|_| {}).await;
    let before = upload(&app, &token, jpeg(80, 60)).await;

    fail(&mut moto);
    // The store gives up by itself, well before the request's own deadline (30 s) would.
    for multipart in [false, true] {
        let started = Instant::now();
        let res = if multipart {
            patch_with_picture(&app, &token, jpeg(80, 60)).await
        } else {
            put_picture(&app, &token, jpeg(80, 60)).await
        };
        let took = started.elapsed();
        assert_json(res, 503, json!({"detail": UNAVAILABLE})).await;
        let limit = Duration::from_secs(20);
        assert!(took < limit, "multipart {multipart}: 503 after {took:?}");
    }
    let profile: Value = app.get_me(&token).await.json().await.unwrap();
    assert_eq!(profile["profile_picture"].as_str(), Some(before.as_str()));
    // The multipart edit's text fields did not apply without its picture.
    assert_eq!(profile["name"], Value::Null);
}

#[tokio::test]
#[ignore = "needs moto_server (CI installs it)"]
async fn a_store_that_is_gone_is_a_503_in_time_and_the_profile_keeps_its_picture() {
    a_failing_store_changes_nothing(MotoServer::kill).await;
}

#[tokio::test]
#[ignore = "needs moto_server (CI installs it)"]
async fn a_store_that_hangs_is_a_503_in_time_and_the_profile_keeps_its_picture() {
    a_failing_store_changes_nothing(|moto| moto.pause()).await;
}

/// `PUT /users/me/picture/` on a `kitchen-api serve` process.
async fn put_picture_on(server: &Server, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .put(format!("{}/users/me/picture/", server.base))
        .header("Authorization", format!("Token {token}"))
        .body(jpeg(40, 40))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "needs moto_server (CI installs it)"]
async fn wrong_credentials_or_a_missing_bucket_are_a_503_and_no_secret_is_logged() {
    let moto = MotoServer::start().await;
    let bucket = moto.create_bucket().await;
    let (key_id, secret) = moto.require_credentials().await;
    let wrong_secret = format!("Wr0ng{}", &secret[5..]);
    let missing_bucket = format!("{}-missing", bucket.name);
    let (database_url, _scratch) = scratch_database().await;
    let serve = |bucket: &str, secret: &str| {
        Server::start(
            &database_url,
            &[
                ("KITCHEN_API_PICTURE_STORAGE", "s3"),
                ("KITCHEN_API_S3_ENDPOINT", &moto.endpoint),
                ("KITCHEN_API_S3_BUCKET", bucket),
                ("KITCHEN_API_S3_REGION", REGION),
                ("KITCHEN_API_S3_ACCESS_KEY_ID", &key_id),
                ("KITCHEN_API_S3_SECRET_ACCESS_KEY", secret),
                ("KITCHEN_API_LOG", "debug"),
            ],
        )
    };

    // The right key and secret work: what fails below fails for the reason it says.
    let server = serve(&bucket.name, &secret);
    let token = server.register("ada@example.com").await;
    let res = put_picture_on(&server, &token).await;
    assert_eq!(res.status(), 200, "{}", server.log_text());
    let mut logs = server.log_text();
    drop(server);

    for (what, bucket, secret) in [
        (
            "a wrong secret",
            bucket.name.as_str(),
            wrong_secret.as_str(),
        ),
        ("a missing bucket", missing_bucket.as_str(), secret.as_str()),
    ] {
        let server = serve(bucket, secret);
        let res = put_picture_on(&server, &token).await;
        assert_eq!(res.status(), 503, "{what}: {}", server.log_text());
        let body: Value = res.json().await.unwrap();
        assert_eq!(body, json!({"detail": UNAVAILABLE}), "{what}");
        let profile: Value = server.get_me(&token).await.json().await.unwrap();
        assert!(profile["profile_picture"].is_string(), "{what}: {profile}");
        logs.push_str(&server.log_text());
    }
    // The cause is there for the operator (the bucket that is missing), the secrets are not.
    assert!(
        logs.contains(&missing_bucket),
        "the cause is not logged:\n{logs}"
    );
    for secret in [&secret, &wrong_secret] {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret in the log:\n{logs}"
        );
    }
    moto.set_authentication(false).await;
    assert_eq!(bucket.keys(PREFIX).await.len(), 1);
}
