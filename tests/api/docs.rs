//! `GET /openapi.json` and the docs page at `/docs/`.

use reqwest::{Method, Response};
use serde_json::Value;

use crate::helpers::{self, TestApp};

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The service's OpenAPI document, as a client fetches it.
pub(crate) async fn openapi(app: &TestApp) -> Value {
    let res = app
        .request(Method::GET, "/openapi.json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    res.json().await.unwrap()
}

/// Every (path, method) the document lists.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (key, _) in item.as_object().unwrap() {
            if HTTP_METHODS.contains(&key.as_str()) {
                ops.push((path.clone(), key.clone()));
            }
        }
    }
    ops.sort();
    ops
}

async fn get(app: &TestApp, path: &str) -> Response {
    app.request(Method::GET, path).send().await.unwrap()
}

#[tokio::test]
async fn openapi_json_is_an_openapi_3_document() {
    let app = spawn_documented_app().await;
    plant_picture(&app);
    let doc = openapi(&app).await;
    let version = doc["openapi"].as_str().unwrap();
    assert!(version.starts_with("3."), "openapi {version}");
    assert!(!doc["info"]["title"].as_str().unwrap().is_empty());
    assert!(!doc["info"]["version"].as_str().unwrap().is_empty());
}

/// The name of a picture [`plant_picture`] puts in the app's store.
const PLANTED: &str = "0123456789abcdef0123456789abcdef.jpg";

/// A stored picture, so that `/media/profile-pictures/{name}` has something to serve.
fn plant_picture(app: &TestApp) {
    let folder = app.picture_dir.join("profile-pictures");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join(PLANTED), b"stored picture").unwrap();
}

/// A server with every optional route on: the native apps' association files answer `404`
/// while their settings are unset, which would read as "not served".
async fn spawn_documented_app() -> TestApp {
    helpers::spawn_app_with(|c| {
        c.apple_app_ids = vec!["ABCDE12345.com.rayvers.kitchen".into()];
        c.android_apps = vec![format!("com.rayvers.kitchen:{}", vec!["AB"; 32].join(":"))];
    })
    .await
}

/// `path` with its parameters filled in: `{id}` 1, `{name}` the planted picture.
fn concrete(path: &str) -> String {
    path.replace("{id}", "1").replace("{name}", PLANTED)
}

/// What the server answers to `method path` (with `{id}` filled in) without credentials or body.
async fn answer(app: &TestApp, path: &str, method: &str) -> (u16, String) {
    let verb = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let res = app.request(verb, &concrete(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The router and the document agree: every documented operation is served (it answers
/// neither 404 nor 405), and on every documented path the methods the document does not list
/// are not (405). Both sides are read from the running server; no list is kept here.
#[tokio::test]
async fn openapi_documents_every_route_and_nothing_else() {
    let app = spawn_documented_app().await;
    plant_picture(&app);
    let doc = openapi(&app).await;
    let documented = operations(&doc);
    assert!(!documented.is_empty());
    let mut served = Vec::new();
    for path in doc["paths"].as_object().unwrap().keys() {
        for method in ["get", "put", "post", "delete", "patch"] {
            let (status, _) = answer(&app, path, method).await;
            if status != 404 && status != 405 {
                served.push((path.clone(), method.to_owned()));
            }
        }
    }
    served.sort();
    assert_eq!(served, documented);
}

#[tokio::test]
async fn each_operation_documents_its_success_and_error_responses() {
    let app = spawn_documented_app().await;
    plant_picture(&app);
    let doc = openapi(&app).await;
    for (path, method) in operations(&doc) {
        let operation = &doc["paths"][&path][&method];
        let responses = operation["responses"].as_object().unwrap();
        let mut statuses: Vec<&str> = Vec::new();
        if operation.get("requestBody").is_some() {
            statuses.push("400");
        }
        if operation.get("security").is_some() {
            statuses.push("401");
        }
        if path.contains("{id}") {
            statuses.push("404");
        }
        if operation["tags"][0] == "staff" {
            statuses.extend(["403", "404"]);
        }
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path} documents no success"
        );
        for status in statuses {
            assert!(
                responses.contains_key(status),
                "{method} {path} does not document {status}"
            );
        }
        for (status, response) in responses {
            if status == "204" {
                assert!(
                    response.get("content").is_none(),
                    "{method} {path} 204 documents a body"
                );
            } else if status == "304" || path.starts_with("/media/") && status == "200" {
                // Not modified, and the picture itself: no JSON.
            } else if status != "200" || path != "/metrics" {
                assert!(
                    response["content"]["application/json"]["schema"].is_object(),
                    "{method} {path} {status} has no JSON body schema"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_token_scheme_is_declared_and_required_exactly_where_it_is_enforced() {
    let app = spawn_documented_app().await;
    plant_picture(&app);
    let doc = openapi(&app).await;
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    let token_schemes: Vec<&String> = schemes
        .iter()
        .filter(|(_, s)| {
            s["type"] == "apiKey" && s["in"] == "header" && s["name"] == "Authorization"
        })
        .map(|(name, _)| name)
        .collect();
    assert_eq!(token_schemes.len(), 1, "schemes: {schemes:?}");
    let scheme = token_schemes[0];

    let mut secured = 0;
    for (path, method) in operations(&doc) {
        let operation = &doc["paths"][&path][&method];
        let required = operation["security"]
            .as_array()
            .is_some_and(|reqs| reqs.iter().any(|r| r.get(scheme).is_some()));
        // The metrics endpoint has its own bearer token, which is not a user's.
        if operation["tags"][0] == "operations" {
            assert!(!required, "{method} {path} asks for a user token");
            continue;
        }
        let (status, body) = answer(&app, &path, &method).await;
        let enforced = status == 401;
        assert_eq!(required, enforced, "{method} {path}: {status} {body}");
        secured += usize::from(required);
    }
    assert!(secured > 0);
}

#[tokio::test]
async fn every_documented_operation_answers_on_the_server_with_and_without_the_slash() {
    let app = spawn_documented_app().await;
    plant_picture(&app);
    let doc = openapi(&app).await;
    for (path, method) in operations(&doc) {
        let documented = doc["paths"][&path][&method]["responses"]
            .as_object()
            .unwrap();
        let concrete = concrete(&path);
        let bare = concrete.trim_end_matches('/').to_owned();
        for url in [concrete.clone(), bare] {
            let verb = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            // No credentials and no body: whatever the answer, it must be one the docs promise.
            let res = app.request(verb, &url).send().await.unwrap();
            let status = res.status().as_u16();
            let body = res.text().await.unwrap();
            assert!(
                status != 404 && status != 405,
                "{method} {url} is documented but answers {status}: {body}"
            );
            assert!(
                documented.contains_key(&status.to_string()),
                "{method} {url} answered {status}, which its docs do not list: {body}"
            );
        }
    }
}

#[tokio::test]
async fn methods_the_docs_do_not_list_are_not_served_on_documented_paths() {
    let app = spawn_documented_app().await;
    plant_picture(&app);
    let doc = openapi(&app).await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = concrete(path);
        // HEAD follows GET and OPTIONS is generic, so neither is an operation of its own.
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                continue;
            }
            let verb = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = app.request(verb, &concrete).send().await.unwrap();
            assert_eq!(
                res.status(),
                405,
                "{method} {path} is served but not documented"
            );
        }
    }
}

#[tokio::test]
async fn docs_page_is_html_that_loads_the_openapi_document() {
    let app = spawn_documented_app().await;
    plant_picture(&app);
    let res = get(&app, "/docs/").await;
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = res.text().await.unwrap();
    assert!(html.contains("<div id=\"swagger-ui\">"), "{html}");
    assert!(html.contains("swagger-initializer.js"), "{html}");
    assert!(
        html.contains("<title>Rayvers Kitchen API</title>"),
        "{html}"
    );

    // The page's configuration lives in the initializer script it loads.
    let res = get(&app, "/docs/swagger-initializer.js").await;
    assert_eq!(res.status(), 200);
    let script = res.text().await.unwrap();
    assert!(script.contains("\"/openapi.json\""), "{script}");
    assert!(!script.contains("{{config}}"), "{script}");
    // Swagger UI's default validator badge would send the document to a third-party host.
    assert!(script.contains("\"validatorUrl\": \"none\""), "{script}");
}

#[tokio::test]
async fn the_root_sends_a_browser_to_the_docs_page() {
    let app = spawn_documented_app().await;
    plant_picture(&app);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client.get(app.url("/")).send().await.unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(res.headers()["location"], "/docs/");
    let res = reqwest::get(app.url("/")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("<div id=\"swagger-ui\">")
    );
}

/// Every `src="..."` and `href="..."` of a page.
fn referenced_assets(html: &str) -> Vec<String> {
    let mut assets = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(start) = rest.find(attr) {
            let after = &rest[start + attr.len()..];
            let end = after.find('"').unwrap();
            assets.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    assets
}

#[tokio::test]
async fn docs_assets_are_served_by_the_binary_not_a_cdn() {
    let app = spawn_documented_app().await;
    plant_picture(&app);
    let html = get(&app, "/docs/").await.text().await.unwrap();
    let assets = referenced_assets(&html);
    assert!(
        assets.iter().any(|a| a.ends_with("swagger-ui-bundle.js")),
        "{assets:?}"
    );
    for asset in &assets {
        assert!(
            !asset.contains("//"),
            "{asset} is loaded from elsewhere: {html}"
        );
        let path = format!("/docs/{}", asset.trim_start_matches("./"));
        let res = get(&app, &path).await;
        assert_eq!(res.status(), 200, "{path}");
    }

    for (path, content_type) in [
        ("/docs/swagger-ui.css", "text/css"),
        ("/docs/swagger-ui-bundle.js", "javascript"),
    ] {
        let res = get(&app, path).await;
        assert_eq!(res.status(), 200, "{path}");
        let got = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(got.contains(content_type), "{path}: {got}");
        assert!(res.bytes().await.unwrap().len() > 1000, "{path} is empty");
    }
}
