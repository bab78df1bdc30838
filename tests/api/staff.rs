//! Staff routes: who may do what, DRF pagination and search, flags, token revocation.

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_json, spawn_app};

async fn make(app: &TestApp, id: i64, flags: &str) {
    app.execute(&format!("UPDATE users SET {flags} WHERE id = {id}"))
        .await;
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Response {
    let req = app
        .request(method, path)
        .header("Authorization", format!("Token {token}"));
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    req.send().await.unwrap()
}

/// A staff member (not superuser) and a plain user.
async fn staff_and_user(app: &TestApp) -> (String, i64, String) {
    let (staff_id, staff) = app.register("staff@example.com").await;
    make(app, staff_id, "is_staff = TRUE").await;
    let (user_id, user) = app.register("plain@example.com").await;
    (staff, user_id, user)
}

#[tokio::test]
async fn plain_users_are_refused_every_staff_route_with_403() {
    let app = spawn_app().await;
    let (_, user_id, user) = staff_and_user(&app).await;
    let forbidden = json!({"detail": "You do not have permission to perform this action."});
    for (method, path, body) in [
        (Method::GET, "/users/".to_owned(), None),
        (Method::GET, format!("/users/{user_id}/"), None),
        (
            Method::PATCH,
            format!("/users/{user_id}/"),
            Some(json!({"is_active": false})),
        ),
        (
            Method::POST,
            format!("/users/{user_id}/revoke-tokens/"),
            None,
        ),
    ] {
        assert_json(
            call(&app, method, &path, &user, body).await,
            403,
            forbidden.clone(),
        )
        .await;
    }
    let res = app.request(Method::GET, "/users/").send().await.unwrap();
    assert_json(
        res,
        401,
        json!({"detail": "Authentication credentials were not provided."}),
    )
    .await;
}

#[tokio::test]
async fn the_list_is_paginated_like_drf() {
    let app = spawn_app().await;
    let (staff, _, _) = staff_and_user(&app).await;
    for i in 0..23 {
        app.register(&format!("cook{i:02}@example.com")).await;
    }
    let res = call(&app, Method::GET, "/users/", &staff, None).await;
    let page: Value = res.json().await.unwrap();
    let keys: Vec<&str> = page
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["count", "next", "previous", "results"]);
    assert_eq!(page["count"], 25);
    assert_eq!(page["results"].as_array().unwrap().len(), 20);
    assert_eq!(page["previous"], Value::Null);
    assert_eq!(page["next"], format!("http://{}/users/?page=2", app.addr));
    assert_eq!(page["results"][0]["email"], "staff@example.com");

    let page: Value = call(&app, Method::GET, "/users/?page=2", &staff, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["results"].as_array().unwrap().len(), 5);
    assert_eq!(page["next"], Value::Null);
    assert_eq!(
        page["previous"],
        format!("http://{}/users/?page=1", app.addr)
    );

    let page: Value = call(
        &app,
        Method::GET,
        "/users/?page_size=10&page=3",
        &staff,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(page["results"].as_array().unwrap().len(), 5);

    for bad in [
        "/users/?page=4",
        "/users/?page=0",
        "/users/?page=abc",
        "/users/?page=-1",
    ] {
        let res = call(&app, Method::GET, bad, &staff, None).await;
        assert_json(res, 404, json!({"detail": "Invalid page."})).await;
    }
}

#[tokio::test]
async fn search_matches_address_or_name_in_any_case_and_wildcards_are_literal() {
    let app = spawn_app().await;
    let (staff, user_id, user) = staff_and_user(&app).await;
    app.update_me(Method::PATCH, &user, &json!({"name": "Chef Ramsay"}))
        .await;
    app.register("percent%sign@example.com").await;
    let search = |q: &'static str| {
        let staff = staff.clone();
        let app = &app;
        async move {
            let page: Value = call(
                app,
                Method::GET,
                &format!("/users/?search={q}"),
                &staff,
                None,
            )
            .await
            .json()
            .await
            .unwrap();
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["user_id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(search("RAMSAY").await, [user_id]);
    assert_eq!(search("PLAIN@").await, [user_id]);
    assert_eq!(
        search("%25").await.len(),
        1,
        "a literal % matches only the address containing it"
    );
    assert_eq!(
        search("_").await.len(),
        0,
        "a literal _ matches nothing here"
    );
    assert_eq!(search("nobody").await.len(), 0);
}

#[tokio::test]
async fn staff_read_one_user_and_unknown_ids_are_404() {
    let app = spawn_app().await;
    let (staff, user_id, _) = staff_and_user(&app).await;
    let res = call(
        &app,
        Method::GET,
        &format!("/users/{user_id}"),
        &staff,
        None,
    )
    .await;
    let profile: Value = res.json().await.unwrap();
    assert_eq!(profile["email"], "plain@example.com");
    assert_eq!(profile["user_id"], user_id);
    for path in [
        "/users/99999/",
        "/users/abc/",
        "/users/0/",
        "/users/-3/",
        "/users/1e3/",
    ] {
        assert_json(
            call(&app, Method::GET, path, &staff, None).await,
            404,
            json!({"detail": "Not found."}),
        )
        .await;
    }
}

#[tokio::test]
async fn deactivating_a_user_shuts_every_token_out_at_once_and_reactivating_lets_it_back() {
    let app = spawn_app().await;
    let (staff, user_id, user) = staff_and_user(&app).await;
    let res = call(
        &app,
        Method::PATCH,
        &format!("/users/{user_id}/"),
        &staff,
        Some(json!({"is_active": false})),
    )
    .await;
    let profile: Value = res.json().await.unwrap();
    assert_eq!(profile["is_active"], false);
    assert_json(
        app.get_me(&user).await,
        401,
        json!({"detail": "User inactive or deleted."}),
    )
    .await;
    let res = call(
        &app,
        Method::PATCH,
        &format!("/users/{user_id}/"),
        &staff,
        Some(json!({"is_active": "true"})),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.get_me(&user).await.status(), 200);
}

#[tokio::test]
async fn only_superusers_grant_staff_or_superuser() {
    let app = spawn_app().await;
    let (staff, user_id, _) = staff_and_user(&app).await;
    for body in [
        json!({"is_staff": true}),
        json!({"is_superuser": true}),
        json!({"is_active": true, "is_staff": false}),
    ] {
        let res = call(
            &app,
            Method::PATCH,
            &format!("/users/{user_id}/"),
            &staff,
            Some(body),
        )
        .await;
        assert_json(
            res,
            403,
            json!({"detail": "You do not have permission to perform this action."}),
        )
        .await;
    }
    let (root_id, root) = app.register("root@example.com").await;
    make(&app, root_id, "is_superuser = TRUE").await;
    let res = call(
        &app,
        Method::PATCH,
        &format!("/users/{user_id}/"),
        &root,
        Some(json!({"is_staff": true})),
    )
    .await;
    let profile: Value = res.json().await.unwrap();
    assert_eq!(
        (profile["is_staff"].clone(), profile["is_superuser"].clone()),
        (json!(true), json!(false))
    );
}

#[tokio::test]
async fn the_last_active_superuser_cannot_be_demoted_or_deactivated() {
    let app = spawn_app().await;
    let (root_id, root) = app.register("root@example.com").await;
    make(&app, root_id, "is_superuser = TRUE").await;
    let refused = json!({"non_field_errors": ["The last active superuser cannot be demoted or deactivated."]});
    for body in [json!({"is_superuser": false}), json!({"is_active": false})] {
        let res = call(
            &app,
            Method::PATCH,
            &format!("/users/{root_id}/"),
            &root,
            Some(body),
        )
        .await;
        assert_json(res, 400, refused.clone()).await;
    }
    // With a second superuser, the first may step down.
    let (other_id, _) = app.register("root2@example.com").await;
    make(&app, other_id, "is_superuser = TRUE").await;
    let res = call(
        &app,
        Method::PATCH,
        &format!("/users/{root_id}/"),
        &root,
        Some(json!({"is_superuser": false})),
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = call(
        &app,
        Method::PATCH,
        &format!("/users/{other_id}/"),
        &root,
        Some(json!({"is_active": false})),
    )
    .await;
    assert_eq!(res.status(), 403, "no longer a superuser, and not staff");
}

#[tokio::test]
async fn flags_must_be_booleans() {
    let app = spawn_app().await;
    let (staff, user_id, _) = staff_and_user(&app).await;
    for bad in [json!("maybe"), json!(2), json!([true]), json!(null)] {
        let res = call(
            &app,
            Method::PATCH,
            &format!("/users/{user_id}/"),
            &staff,
            Some(json!({"is_active": bad})),
        )
        .await;
        assert_json(res, 400, json!({"is_active": ["Must be a valid boolean."]})).await;
    }
}

#[tokio::test]
async fn revoking_tokens_logs_the_user_out_everywhere() {
    let app = spawn_app().await;
    let (staff, user_id, user) = staff_and_user(&app).await;
    let second = app
        .login("plain@example.com", crate::helpers::GOOD_PASSWORD)
        .await;
    let res = call(
        &app,
        Method::POST,
        &format!("/users/{user_id}/revoke-tokens/"),
        &staff,
        None,
    )
    .await;
    assert_json(res, 200, json!({"revoked": 2})).await;
    for token in [&user, &second] {
        assert_json(
            app.get_me(token).await,
            401,
            json!({"detail": "Invalid token."}),
        )
        .await;
    }
    assert_eq!(app.get_me(&staff).await.status(), 200);
    let res = call(
        &app,
        Method::POST,
        "/users/424242/revoke-tokens/",
        &staff,
        None,
    )
    .await;
    assert_eq!(res.status(), 404);
}

/// `next` and `previous` of the staff list's second page, asked for with a forged `Host`.
async fn links_with_forged_host(app: &TestApp, token: &str) -> (Value, Value) {
    let res = app
        .request(Method::GET, "/users/?page=2&page_size=1")
        .header("Authorization", format!("Token {token}"))
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    (page["next"].clone(), page["previous"].clone())
}

#[tokio::test]
async fn the_lists_links_are_on_the_public_url_whatever_the_host_header_says() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.public_url = Some("https://api.example.com/kitchen/".parse().unwrap());
    })
    .await;
    let (staff, _, _) = staff_and_user(&app).await;
    app.register("third@example.com").await;
    assert_eq!(
        links_with_forged_host(&app, &staff).await,
        (
            json!("https://api.example.com/kitchen/users/?page=3&page_size=1"),
            json!("https://api.example.com/kitchen/users/?page=1&page_size=1")
        )
    );
    // Unset, the links name the address the server listens on.
    let app = spawn_app().await;
    let (staff, _, _) = staff_and_user(&app).await;
    app.register("third@example.com").await;
    let base = format!("http://{}", app.addr);
    assert_eq!(
        links_with_forged_host(&app, &staff).await,
        (
            json!(format!("{base}/users/?page=3&page_size=1")),
            json!(format!("{base}/users/?page=1&page_size=1"))
        )
    );
}
