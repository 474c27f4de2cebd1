//! Signing in to the dashboard of the real `tidemark serve` and acting on incidents through
//! its forms: the session cookie, the csrf value parsed from the page as a browser would
//! send it back, refusals (no session, no csrf, another site's form), the incident pages'
//! cause and impact, and reading when the server requires a token. The store is seeded
//! directly and the API (`/api/v1/incidents/{id}`) tells whether an action took effect.

use chrono::Utc;
use reqwest::StatusCode;
use reqwest::header;

use tidemark::store::Store;

use crate::forms::{Visitor, csrf_of};
use crate::support::{Project, ServeProcess, SqliteDb, api_token, incident, store_incident};

/// `raw_orders` feeds `orders`, which feeds `revenue`; each has an owner.
fn project(warehouse: &SqliteDb) -> Project {
    let config = format!(
        "version: 1\nwarehouses:\n  main:\n    url: {}\nowners:\n  team-raw: {{}}\n  \
         team-a: {{}}\n  team-finance: {{}}\nchecks: [checks/]\n",
        serde_json::to_string(&warehouse.url).expect("a string to JSON")
    );
    let dataset = |name: &str, owner: &str, upstream: &str| {
        format!("dataset: {name}\nowner: {owner}\n{upstream}checks:\n  - row_count: {{ min: 1 }}\n")
    };
    Project::builder()
        .config(&config)
        .dataset("raw_orders", &dataset("raw_orders", "team-raw", ""))
        .dataset(
            "orders",
            &dataset("orders", "team-a", "upstream: [raw_orders]\n"),
        )
        .dataset(
            "revenue",
            &dataset("revenue", "team-finance", "upstream: [orders]\n"),
        )
        .build()
}

/// Open incidents of `raw_orders` and `orders`; their ids, in that order.
async fn seed(project: &Project) -> (i64, i64) {
    let store = Store::open(None, project.path()).await.expect("the store");
    let now = Utc::now();
    let mut ids = Vec::new();
    for dataset in ["raw_orders", "orders"] {
        ids.push(store_incident(&store, incident(dataset, "row_count", now), now).await);
    }
    (ids[0], ids[1])
}

#[tokio::test]
async fn signed_in_viewers_act_on_incidents_through_the_forms() {
    let warehouse = SqliteDb::new().await;
    let project = project(&warehouse);
    let (raw_id, orders_id) = seed(&project).await;
    let token = api_token(project.path());
    // The test client stands in for a reverse proxy on loopback.
    let trusted = [("TIDEMARK_TRUSTED_PROXIES", "127.0.0.1,::1")];
    let mut browser = Visitor::new(ServeProcess::start(project.path(), &trusted));
    let page_path = format!("/incidents/{orders_id}");
    let acknowledge = format!("{page_path}/acknowledge");

    // Signed out: pages read, with no action forms, and actions answer 401.
    let list = browser.get("/incidents").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(
        list.body
            .contains(&format!(r#"href="/incidents/{raw_id}""#))
    );
    assert!(list.body.contains(r#"href="/signin""#), "{}", list.body);
    let page = browser.get(&page_path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(!page.body.contains("/acknowledge"), "{}", page.body);
    // The likely cause upstream (with its incident) and the datasets at risk downstream.
    assert!(
        page.body
            .contains(r#"<a href="/datasets/raw_orders">raw_orders</a>"#)
    );
    assert!(page.body.contains(&format!(
        r#"<a href="/incidents/{raw_id}">its incident</a>"#
    )));
    assert!(
        page.body.contains("revenue</a> · owner team-finance"),
        "{}",
        page.body
    );
    let dataset = browser.get("/datasets/orders").await;
    assert!(
        dataset
            .body
            .contains(&format!(r#"href="/incidents/{orders_id}""#))
    );
    let reply = browser.post(&acknowledge, &[("csrf", "x")], &[]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    assert!(reply.body.contains("Sign in"), "{}", reply.body);

    // A bad token: the form again, with why, and never the token.
    let bad = "tm_not-a-real-token-1234";
    let reply = browser
        .post("/signin", &[("token", bad), ("next", "/")], &[])
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(
        reply.body.contains("That token is not valid."),
        "{}",
        reply.body
    );
    assert!(!reply.body.contains(bad));
    assert!(reply.headers.get(header::SET_COOKIE).is_none());

    // Over https (the proxy says so) the cookie is Secure; over http it is not.
    let https = browser
        .post(
            "/signin",
            &[("token", &token), ("next", "/")],
            &[("x-forwarded-proto", "https")],
        )
        .await;
    assert!(https.header(header::SET_COOKIE).ends_with("; Secure"));
    let signed_in = browser.sign_in(&token, &page_path).await;
    assert_eq!(signed_in.header(header::LOCATION), page_path);
    let cookie = signed_in.header(header::SET_COOKIE);
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "{cookie}");
    // Only local paths are followed after signing in.
    let elsewhere = browser.sign_in(&token, "//evil.example/").await;
    assert_eq!(elsewhere.header(header::LOCATION), "/");

    // A forged form (no csrf, or another site's) changes nothing.
    let page = browser.get(&page_path).await;
    assert!(page.body.contains("Sign out"), "{}", page.body);
    let csrf = csrf_of(&page.body);
    let reply = browser.post(&acknowledge, &[], &[]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    let reply = browser
        .post(&acknowledge, &[("csrf", &"0".repeat(64))], &[])
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let foreign = [("origin", "http://evil.example")];
    let reply = browser
        .post(&acknowledge, &[("csrf", &csrf)], &foreign)
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(browser.api_incident(orders_id).await["status"], "open");

    // The real form: acknowledged, and back to the page (POST-redirect-GET).
    let reply = browser.post(&acknowledge, &[("csrf", &csrf)], &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.header(header::LOCATION), page_path);
    assert_eq!(
        browser.api_incident(orders_id).await["status"],
        "acknowledged"
    );

    // Muting the other incident for an hour: listed under muted.
    let mute = format!("/incidents/{raw_id}/mute");
    let reply = browser
        .post(&mute, &[("csrf", &csrf), ("until", "1h")], &[])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert!(browser.api_incident(raw_id).await["muted_until"].is_string());
    let muted = browser.get("/incidents?status=muted").await;
    assert!(
        muted
            .body
            .contains(&format!(r#"href="/incidents/{raw_id}""#))
    );
    assert!(
        !muted
            .body
            .contains(&format!(r#"href="/incidents/{orders_id}""#))
    );

    // Resolved once; resolving again is refused, and the page says why.
    let resolve = format!("{page_path}/resolve");
    let reply = browser.post(&resolve, &[("csrf", &csrf)], &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(browser.api_incident(orders_id).await["status"], "resolved");
    let reply = browser.post(&resolve, &[("csrf", &csrf)], &[]).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert!(reply.body.contains("already resolved"), "{}", reply.body);

    // The history names who acted: the token the viewer signed in with (`default`).
    let page = browser.get(&page_path).await;
    let history = page
        .body
        .split_once("<h2>History</h2>")
        .map(|(_, after)| after)
        .unwrap_or_default();
    for done in ["Acknowledged", "Resolved"] {
        let row = format!("<td>{done}</td><td>default</td>");
        assert!(history.contains(&row), "{row} in {}", page.body);
    }

    // Signing out ends the session: its cookie no longer acts.
    let reply = browser.post("/signout", &[("csrf", &csrf)], &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert!(reply.header(header::SET_COOKIE).contains("Max-Age=0"));
    let reply = browser
        .post(&mute, &[("csrf", &csrf), ("until", "4h")], &[])
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn closed_reading_sends_browsers_to_sign_in_first() {
    let warehouse = SqliteDb::new().await;
    let project = project(&warehouse);
    seed(&project).await;
    let token = api_token(project.path());
    let server = ServeProcess::start(project.path(), &[("TIDEMARK_READ_NEEDS_TOKEN", "true")]);
    let mut browser = Visitor::new(server);

    // No proxy is trusted here: X-Forwarded-Proto cannot make the cookie Secure, and
    // X-Forwarded-Host cannot vouch for another site's Origin.
    let https = browser
        .post(
            "/signin",
            &[("token", &token), ("next", "/")],
            &[("x-forwarded-proto", "https")],
        )
        .await;
    assert!(!https.header(header::SET_COOKIE).contains("Secure"));
    let forged = [
        ("origin", "http://evil.example"),
        ("x-forwarded-host", "evil.example"),
    ];
    let reply = browser
        .post("/signin", &[("token", &token), ("next", "/")], &forged)
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);

    let reply = browser.get("/incidents?status=open").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let location = reply.header(header::LOCATION);
    assert_eq!(location, "/signin?next=/incidents%3Fstatus%3Dopen");
    let form = browser.get(location).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.body
            .contains(r#"name="next" value="/incidents?status&#x3D;open""#),
        "{}",
        form.body
    );
    assert_eq!(
        browser.get("/static/style.css").await.status,
        StatusCode::OK
    );
    // The API keeps answering with its own 401.
    let api = browser.get("/api/v1/incidents").await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);

    let reply = browser.sign_in(&token, "/incidents?status=open").await;
    assert_eq!(reply.header(header::LOCATION), "/incidents?status=open");
    for path in ["/incidents?status=open", "/", "/datasets/orders"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
    }
}
