//! Profile pictures: uploaded as the body of `PUT /users/me/picture/` or as a multipart file
//! part of `PUT`/`PATCH /users/me/`, recognised by decoding, stored clean and small under a new
//! name, served with caching headers, and never left behind.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use image::GenericImageView;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{GOOD_PASSWORD, TestApp, spawn_app, spawn_app_with};
use crate::picture_images::{
    CAMERA_MAKE, CAMERA_MODEL, GIF, SVG, black_png, jpeg, jpeg_with_exif, noisy_jpeg, png_bomb,
    png_with_alpha, webp,
};

const INVALID: &str =
    "Upload a valid image. The file you uploaded was either not an image or a corrupted image.";

pub(crate) async fn put_picture(app: &TestApp, token: &str, bytes: Vec<u8>) -> Response {
    app.request(Method::PUT, "/users/me/picture/")
        .header("Authorization", format!("Token {token}"))
        .header("Content-Type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

async fn send_form(app: &TestApp, method: Method, token: &str, form: Form) -> Response {
    app.request(method, "/users/me/")
        .header("Authorization", format!("Token {token}"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Uploads `bytes` and answers the profile's picture URL.
pub(crate) async fn upload(app: &TestApp, token: &str, bytes: Vec<u8>) -> String {
    let res = put_picture(app, token, bytes).await;
    assert_eq!(res.status(), 200);
    let profile: Value = res.json().await.unwrap();
    profile["profile_picture"].as_str().unwrap().to_owned()
}

/// The names of the files in the app's picture store.
fn stored(app: &TestApp) -> BTreeSet<String> {
    let dir = app.picture_dir.join("profile-pictures");
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn name_of(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_owned()
}

fn stored_bytes(app: &TestApp, url: &str) -> Vec<u8> {
    std::fs::read(app.picture_dir.join("profile-pictures").join(name_of(url))).unwrap()
}

async fn assert_refused(res: Response, message: &str) {
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({"profile_picture": [message]}));
}

#[tokio::test]
async fn each_format_is_stored_fitted_within_512_and_served_with_caching_headers() {
    let app = spawn_app().await;
    let (_, token) = app.register("pics@example.com").await;
    let cases = [
        (jpeg(1024, 768), "image/jpeg", (512, 384)),
        (png_with_alpha(600, 300), "image/png", (512, 256)),
        (webp(100, 50), "image/jpeg", (100, 50)),
    ];
    let mut last = None;
    for (bytes, content_type, (width, height)) in cases {
        let url = upload(&app, &token, bytes).await;
        let prefix = app.url("/media/profile-pictures/");
        assert!(url.starts_with(&prefix), "{url}");
        let res = app.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let header = |name: &str| res.headers()[name].to_str().unwrap().to_owned();
        assert_eq!(header("content-type"), content_type);
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(
            header("cache-control"),
            "public, max-age=31536000, immutable"
        );
        let etag = header("etag");
        let served = res.bytes().await.unwrap();
        let image = image::load_from_memory(&served).unwrap();
        assert_eq!(image.dimensions(), (width, height), "{content_type}");
        let again = app
            .client
            .get(&url)
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
        last = Some((url, etag));
    }
    assert_eq!(stored(&app).len(), 1, "each upload replaced the one before");
    // A revalidation of a removed picture is a 404, not a 304.
    let (url, etag) = last.unwrap();
    let res = app.request(Method::DELETE, "/users/me/picture/");
    let res = res.header("Authorization", format!("Token {token}"));
    let res = res.send().await.unwrap();
    assert_eq!(res.status(), 200);
    let gone = app.client.get(&url).header("If-None-Match", &etag);
    assert_eq!(gone.send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn no_metadata_survives_and_a_sideways_phone_photo_is_stored_upright() {
    let app = spawn_app().await;
    let (_, token) = app.register("phone@example.com").await;
    // 40×20, left half red, tagged "rotate 90° clockwise to display" (orientation 6).
    let photo = jpeg_with_exif(&jpeg(40, 20), 6);
    assert!(contains(&photo, CAMERA_MAKE.as_bytes()));
    let url = upload(&app, &token, photo).await;
    let kept = stored_bytes(&app, &url);
    for secret in [
        CAMERA_MAKE.as_bytes(),
        CAMERA_MODEL.as_bytes(),
        b"Exif",
        b"MM\0\x2a",
    ] {
        assert!(
            !contains(&kept, secret),
            "{:?} survived",
            String::from_utf8_lossy(secret)
        );
    }
    let image = image::load_from_memory(&kept).unwrap().to_rgb8();
    assert_eq!(image.dimensions(), (20, 40));
    // The left (red) half of the sensor image is the top of the upright picture.
    let [r, _, b] = image.get_pixel(10, 3).0;
    assert!(r > 200 && b < 60, "top is red: {r} {b}");
    let [r, _, b] = image.get_pixel(10, 36).0;
    assert!(b > 200 && r < 60, "bottom is blue: {r} {b}");
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn what_is_not_a_jpeg_png_or_webp_image_is_a_400_and_nothing_is_stored() {
    let app = spawn_app().await;
    let (_, token) = app.register("junk@example.com").await;
    let whole = jpeg(300, 200);
    let cases: [(&str, Vec<u8>, &str); 5] = [
        (
            "text named .jpg",
            b"just some text, honest".to_vec(),
            INVALID,
        ),
        ("truncated jpeg", whole[..whole.len() / 2].to_vec(), INVALID),
        (
            "truncated png",
            png_with_alpha(64, 64)[..200].to_vec(),
            INVALID,
        ),
        (
            "gif",
            GIF.to_vec(),
            "Unsupported image format. Upload a JPEG, PNG or WebP image.",
        ),
        ("svg", SVG.to_vec(), INVALID),
    ];
    for (what, bytes, message) in cases {
        let res = put_picture(&app, &token, bytes).await;
        assert_eq!(res.status(), 400, "{what}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body, json!({"profile_picture": [message]}), "{what}");
    }
    let empty = put_picture(&app, &token, Vec::new()).await;
    assert_refused(empty, "No file was submitted.").await;
    assert!(stored(&app).is_empty());
    let me: Value = app.get_me(&token).await.json().await.unwrap();
    assert_eq!(me["profile_picture"], Value::Null);
}

#[tokio::test]
async fn a_decompression_bomb_is_a_400_at_once() {
    let app = spawn_app().await;
    let (_, token) = app.register("bomb@example.com").await;
    let bomb = png_bomb();
    assert!(bomb.len() < 1024 * 1024, "{} bytes", bomb.len());
    let started = Instant::now();
    let res = put_picture(&app, &token, bomb).await;
    assert_refused(
        res,
        "Image too large: at most 50000000 pixels (width × height).",
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // Within the pixel count but 49 million pixels wide: fitting it would need a working copy
    // of the whole width (hundreds of MB), so a side over 16384 is refused from the header too.
    let strip = black_png(49_000_000, 1);
    assert!(strip.len() < 1024 * 1024, "{} bytes", strip.len());
    let res = put_picture(&app, &token, strip).await;
    assert_refused(res, "Image too large: at most 16384 pixels on a side.").await;
    let tall = black_png(2, 20_000);
    let res = put_picture(&app, &token, tall).await;
    assert_refused(res, "Image too large: at most 16384 pixels on a side.").await;
    // A long but allowed strip is fitted to 512 wide (one pixel high at least).
    let url = upload(&app, &token, black_png(16_384, 2)).await;
    let image = image::load_from_memory(&stored_bytes(&app, &url)).unwrap();
    assert_eq!(image.dimensions(), (512, 1));
}

#[tokio::test]
async fn a_7_mb_body_sent_whole_before_reading_gets_a_readable_413() {
    let app = spawn_app().await;
    let (_, token) = app.register("huge@example.com").await;
    let body = vec![0u8; 7 * 1024 * 1024];
    for path in ["/users/me/picture/", "/users/me/"] {
        let head = format!(
            "PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Token {token}\r\n\
             Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let answer = crate::oversized_bodies::send_all_then_read(app.addr, &head, &body).await;
        crate::oversized_bodies::assert_413(answer, path);
    }
}

#[tokio::test]
async fn a_photo_of_several_megabytes_is_taken_by_either_route() {
    let app = spawn_app().await;
    let (_, token) = app.register("big-photo@example.com").await;
    let photo = noisy_jpeg(1100, 1000);
    assert!(
        photo.len() > 3 * 1024 * 1024 && photo.len() < 5 * 1024 * 1024,
        "{}",
        photo.len()
    );
    let part = Part::bytes(photo.clone()).file_name("IMG_1234.JPG");
    let form = Form::new().part("profile_picture", part);
    let res = send_form(&app, Method::PUT, &token, form).await;
    assert_eq!(res.status(), 200);
    upload(&app, &token, photo).await;
    assert_eq!(stored(&app).len(), 1);
}

#[tokio::test]
async fn a_file_part_over_5_mb_is_a_413_and_a_big_json_body_still_is_too() {
    let app = spawn_app().await;
    let (_, token) = app.register("big-part@example.com").await;
    let part = Part::bytes(vec![0u8; 5 * 1024 * 1024 + 1]).file_name("big.jpg");
    let form = Form::new().part("profile_picture", part);
    let res = send_form(&app, Method::PATCH, &token, form).await;
    assert_eq!(res.status(), 413);
    let bio = "x".repeat(100 * 1024);
    let res = app
        .update_me(Method::PATCH, &token, &json!({"bio": bio}))
        .await;
    assert_eq!(res.status(), 413, "JSON keeps KITCHEN_API_MAX_BODY_BYTES");
    assert!(stored(&app).is_empty());
}

#[tokio::test]
async fn replacing_and_deleting_leave_no_file_behind() {
    let app = spawn_app().await;
    let (_, token) = app.register("tidy@example.com").await;
    let first = upload(&app, &token, jpeg(64, 64)).await;
    assert_eq!(stored(&app), BTreeSet::from([name_of(&first)]));
    let second = upload(&app, &token, jpeg(64, 64)).await;
    assert_ne!(first, second, "every change gets a new name");
    assert_eq!(stored(&app), BTreeSet::from([name_of(&second)]));
    let gone = app.client.get(&first).send().await.unwrap();
    assert_eq!(gone.status(), 404);
    assert_eq!(
        gone.json::<Value>().await.unwrap(),
        json!({"detail": "Not found."})
    );

    let res = app
        .request(Method::DELETE, "/users/me/picture/")
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let profile: Value = res.json().await.unwrap();
    assert_eq!(profile["profile_picture"], Value::Null);
    assert!(stored(&app).is_empty());
}

#[tokio::test]
async fn a_link_replaces_an_uploaded_picture_and_null_clears_it() {
    let app = spawn_app().await;
    let (_, token) = app.register("links@example.com").await;
    upload(&app, &token, jpeg(64, 64)).await;
    let link = "https://cdn.example.com/me.png";
    let res = app
        .update_me(Method::PATCH, &token, &json!({"profile_picture": link}))
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["profile_picture"], link);
    assert!(stored(&app).is_empty(), "the uploaded file went with it");

    upload(&app, &token, jpeg(64, 64)).await;
    let res = app
        .update_me(Method::PATCH, &token, &json!({"profile_picture": null}))
        .await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["profile_picture"],
        Value::Null
    );
    assert!(stored(&app).is_empty());
}

#[tokio::test]
async fn the_public_url_setting_makes_the_picture_url_absolute_on_it() {
    let app = spawn_app_with(|c| {
        c.public_url = Some("https://api.example.com/kitchen".parse().unwrap());
    })
    .await;
    let (_, token) = app.register("public@example.com").await;
    let url = upload(&app, &token, jpeg(64, 64)).await;
    let name = name_of(&url);
    assert_eq!(
        url,
        format!("https://api.example.com/kitchen/media/profile-pictures/{name}")
    );
    assert_eq!(name.len(), 36, "{name}");
    assert!(name.ends_with(".jpg"));
    let served = app
        .client
        .get(app.url(&format!("/media/profile-pictures/{name}")))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
}

#[tokio::test]
async fn a_multipart_profile_edit_takes_the_file_and_the_text_fields_beside_it() {
    let app = spawn_app().await;
    let (_, token) = app.register("form@example.com").await;
    for method in [Method::PUT, Method::PATCH] {
        let form = Form::new()
            .text("name", "Ada Cook")
            .text("phone_number", "08167930376")
            .part(
                "profile_picture",
                Part::bytes(jpeg(800, 400))
                    .file_name("IMG_0001.HEIC")
                    .mime_str("image/heic")
                    .unwrap(),
            );
        let res = send_form(&app, method.clone(), &token, form).await;
        assert_eq!(res.status(), 200, "{method}");
        let profile: Value = res.json().await.unwrap();
        assert_eq!(profile["name"], "Ada Cook");
        assert_eq!(profile["phone_number"], "08167930376");
        let url = profile["profile_picture"].as_str().unwrap();
        let image = image::load_from_memory(&stored_bytes(&app, url)).unwrap();
        assert_eq!(image.dimensions(), (512, 256));
    }
    assert_eq!(stored(&app).len(), 1);

    let form = Form::new().text("name", "x".repeat(101)).part(
        "profile_picture",
        Part::bytes(jpeg(10, 10)).file_name("a.jpg"),
    );
    let res = send_form(&app, Method::PATCH, &token, form).await;
    assert_eq!(res.status(), 400, "a bad text field stores nothing");
    assert_eq!(stored(&app).len(), 1);

    // A bad text field and a bad picture: both are named at once, as DRF would.
    let form = Form::new().text("name", "x".repeat(101)).part(
        "profile_picture",
        Part::bytes(b"plain text, not a picture".to_vec()).file_name("a.jpg"),
    );
    let res = send_form(&app, Method::PATCH, &token, form).await;
    assert_eq!(res.status(), 400);
    let errors: Value = res.json().await.unwrap();
    assert!(errors["name"].is_array(), "{errors}");
    assert_eq!(errors["profile_picture"], json!([INVALID]), "{errors}");
    assert_eq!(stored(&app).len(), 1);

    let form = Form::new().part(
        "profile_picture",
        Part::bytes(b"not an image".to_vec()).file_name("a.jpg"),
    );
    let res = send_form(&app, Method::PATCH, &token, form).await;
    assert_refused(res, INVALID).await;

    // A browser form with no file chosen sends an empty part: the picture stays.
    let form = Form::new()
        .text("bio", "Still here")
        .part("profile_picture", Part::bytes(Vec::new()).file_name(""));
    let res = send_form(&app, Method::PATCH, &token, form).await;
    assert_eq!(res.status(), 200);
    let profile: Value = res.json().await.unwrap();
    assert_eq!(profile["bio"], "Still here");
    assert!(profile["profile_picture"].as_str().is_some());
    assert_eq!(stored(&app).len(), 1);
}

#[tokio::test]
async fn twenty_concurrent_uploads_by_one_user_leave_exactly_one_file() {
    let app = spawn_app().await;
    let (_, token) = app.register("storm@example.com").await;
    let uploads = (0..20).map(|_| put_picture(&app, &token, jpeg(300, 300)));
    for res in futures::future::join_all(uploads).await {
        assert_eq!(res.status(), 200);
    }
    let me: Value = app.get_me(&token).await.json().await.unwrap();
    let url = me["profile_picture"].as_str().unwrap();
    assert_eq!(stored(&app), BTreeSet::from([name_of(url)]));
}

#[tokio::test]
async fn deleting_the_account_deletes_the_picture() {
    let app = spawn_app().await;
    let (_, token) = app.register("leaving@example.com").await;
    upload(&app, &token, jpeg(64, 64)).await;
    assert_eq!(stored(&app).len(), 1);
    let res = app
        .request(Method::DELETE, "/users/me/")
        .header("Authorization", format!("Token {token}"))
        .json(&json!({"password": GOOD_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(stored(&app).is_empty());
}

#[tokio::test]
async fn a_failing_store_is_a_503_and_the_old_picture_stays() {
    let app = spawn_app().await;
    let (_, token) = app.register("broken@example.com").await;
    let url = upload(&app, &token, jpeg(64, 64)).await;
    let folder = app.picture_dir.join("profile-pictures");
    let aside = app.picture_dir.join("aside");
    std::fs::rename(&folder, &aside).unwrap();
    // A file where the folder was: no picture can be written.
    std::fs::write(&folder, b"in the way").unwrap();
    let res = put_picture(&app, &token, jpeg(64, 64)).await;
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"detail": "Service temporarily unavailable."})
    );
    std::fs::remove_file(&folder).unwrap();
    std::fs::rename(&aside, &folder).unwrap();
    let me: Value = app.get_me(&token).await.json().await.unwrap();
    assert_eq!(me["profile_picture"], url.as_str());
    assert_eq!(stored(&app), BTreeSet::from([name_of(&url)]));
}

#[tokio::test]
async fn names_that_are_not_stored_pictures_are_404() {
    let app = spawn_app().await;
    for name in [
        "0123456789abcdef0123456789abcdef.jpg",
        "..%2F..%2Fetc%2Fpasswd",
        "0123456789abcdef0123456789abcdef.gif",
        "x.jpg",
    ] {
        let res = app
            .client
            .get(app.url(&format!("/media/profile-pictures/{name}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{name}");
        assert_eq!(
            res.json::<Value>().await.unwrap(),
            json!({"detail": "Not found."})
        );
    }
}

#[tokio::test]
async fn the_document_shows_the_file_part_and_the_raw_image_body() {
    let app = spawn_app().await;
    let doc = crate::docs::openapi(&app).await;
    let schemas = &doc["components"]["schemas"];
    let picture = &schemas["ProfileUpdateForm"]["properties"]["profile_picture"];
    assert_eq!(picture["format"], "binary", "{picture}");
    assert_eq!(schemas["ImageFile"]["format"], "binary");
    for method in ["put", "patch"] {
        let form =
            &doc["paths"]["/users/me/"][method]["requestBody"]["content"]["multipart/form-data"];
        assert!(
            form.to_string().contains("ProfileUpdateForm"),
            "{method}: {form}"
        );
    }
    let body = &doc["paths"]["/users/me/picture/"]["put"]["requestBody"]["content"];
    for media in [
        "image/jpeg",
        "image/png",
        "image/webp",
        "application/octet-stream",
    ] {
        assert!(
            body[media]["schema"].to_string().contains("ImageFile"),
            "{media}"
        );
    }
    assert!(doc["paths"]["/users/me/picture/"]["delete"].is_object());
    assert!(doc["paths"]["/media/profile-pictures/{name}"]["get"].is_object());
}

#[tokio::test]
async fn the_picture_queue_is_a_metric() {
    let app = spawn_app().await;
    let text = app.client.get(app.url("/metrics")).send().await.unwrap();
    let text = text.text().await.unwrap();
    assert!(text.contains("kitchen_api_picture_queue_depth 0"), "{text}");
    assert!(text.contains("kitchen_api_picture_in_progress 0"), "{text}");
}

#[test]
fn s3_storage_without_a_bucket_refuses_to_start() {
    let mut config = crate::helpers::test_config("sqlite::memory:");
    config.picture_storage = kitchen_api::config::PictureStorage::S3;
    let refused = config.validate().unwrap_err();
    assert_eq!(refused.setting, "KITCHEN_API_S3_BUCKET");
    config.s3_bucket = Some("pictures".into());
    assert!(config.validate().is_ok());
}

#[tokio::test]
async fn an_unreachable_s3_store_is_a_503_within_seconds_and_nothing_changes() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = spawn_app_with(|c| {
        c.picture_storage = kitchen_api::config::PictureStorage::S3;
        c.s3_bucket = Some("kitchen".into());
        c.s3_endpoint = Some(endpoint);
        c.s3_access_key_id = Some("test".into());
        c.s3_secret_access_key = Some("test".parse().unwrap());
    })
    .await;
    let (_, token) = app.register("s3-down@example.com").await;
    let started = Instant::now();
    let res = put_picture(&app, &token, jpeg(64, 64)).await;
    assert_eq!(res.status(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let me: Value = app.get_me(&token).await.json().await.unwrap();
    assert_eq!(me["profile_picture"], Value::Null);
}

/// Sends a picture upload's head and the first `sent` bytes of `bytes`, then resets the
/// connection without reading, as a phone that loses its network does.
async fn upload_and_hang_up(app: &TestApp, token: &str, bytes: &[u8], sent: usize, wait: u64) {
    use tokio::io::AsyncWriteExt;
    let head = format!(
        "PUT /users/me/picture/ HTTP/1.1\r\nHost: {}\r\nAuthorization: Token {token}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        app.addr,
        bytes.len()
    );
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&bytes[..sent]).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(wait)).await;
    #[allow(deprecated)]
    stream.set_linger(Some(Duration::ZERO)).unwrap();
    drop(stream);
}

async fn picture_of(app: &TestApp, token: &str) -> Value {
    let profile: Value = app.get_me(token).await.json().await.unwrap();
    profile["profile_picture"].clone()
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_upload_changes_nothing_and_stores_nothing() {
    let app = spawn_app().await;
    let (_, token) = app.register("mid-upload@example.com").await;
    let kept = upload(&app, &token, jpeg(300, 200)).await;
    let photo = jpeg(1024, 768);
    upload_and_hang_up(&app, &token, &photo, photo.len() / 2, 0).await;
    // The server reads the half, then the reset; give it the time to notice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(picture_of(&app, &token).await, json!(kept));
    assert_eq!(stored(&app), BTreeSet::from([name_of(&kept)]));
    // And the next upload goes through as usual.
    let next = upload(&app, &token, photo).await;
    assert_eq!(stored(&app), BTreeSet::from([name_of(&next)]));
}

#[tokio::test]
async fn a_client_that_hangs_up_while_its_picture_is_decoded_still_gets_it_stored_once() {
    let app = spawn_app().await;
    let (_, token) = app.register("after-upload@example.com").await;
    let old = upload(&app, &token, jpeg(300, 200)).await;
    let photo = jpeg(1024, 768);
    // Hung up while the server decodes it (the body is read within the 20 ms).
    upload_and_hang_up(&app, &token, &photo, photo.len(), 20).await;
    let mut now = picture_of(&app, &token).await;
    for _ in 0..100 {
        if now != json!(old) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        now = picture_of(&app, &token).await;
    }
    let url = now.as_str().expect("a picture").to_owned();
    assert_ne!(url, old, "the upload ended though its client had gone");
    assert_eq!(
        stored(&app),
        BTreeSet::from([name_of(&url)]),
        "the old one removed"
    );
    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200, "the profile's picture is served");
}
