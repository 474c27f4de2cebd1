//! API tokens and browser sessions.

use chrono::{TimeDelta, Utc};
use tidemark::store::StoreError;

use super::{Fixture, minutes};

async fn tokens_are_known_by_hash(f: &Fixture) {
    let store = &*f.store;
    assert_eq!(ok!(store.token_name("sha256:abc")), None);
    ok!(store.create_token("ci", "sha256:abc"));
    assert_eq!(ok!(store.token_name("sha256:abc")).as_deref(), Some("ci"));
    assert_eq!(ok!(store.token_name("sha256:abd")), None);
    assert_eq!(ok!(store.token_name("")), None);
    // Names may repeat; hashes may not.
    ok!(store.create_token("ci", "sha256:def"));
    assert_eq!(ok!(store.token_name("sha256:def")).as_deref(), Some("ci"));
    match store.create_token("other", "sha256:abc").await {
        Err(StoreError::Query(message)) => {
            assert!(!message.contains("sha256:abc"), "{message}")
        }
        other => panic!("a second token with the same hash: {other:?}"),
    }
}

on_each_store!(
    tokens_are_known_by_hash,
    postgres: postgres_tokens_are_known_by_hash,
    sqlite: sqlite_tokens_are_known_by_hash,
);

async fn sessions_live_until_they_expire_or_end(f: &Fixture) {
    let store = &*f.store;
    let now = Utc::now();
    let owner = Some("dashboard".to_owned());
    ok!(store.create_token("dashboard", "token-hash"));
    ok!(store.create_session("session-a", "token-hash", now + TimeDelta::hours(12)));
    assert_eq!(ok!(store.session_owner("session-a", now)), owner);
    // Another replica sharing the store knows the session.
    let replica = f.reopen().await;
    assert_eq!(ok!(replica.session_owner("session-a", now)), owner);
    assert_eq!(
        ok!(store.session_owner("session-a", now + TimeDelta::hours(12))),
        None
    );
    assert_eq!(ok!(store.session_owner("session-b", now)), None);

    // An expired session is no session, and is cleared out when the next one opens.
    ok!(store.create_session("session-old", "token-hash", now - minutes(1)));
    assert_eq!(ok!(store.session_owner("session-old", now)), None);
    ok!(store.create_session("session-b", "token-hash", now + minutes(5)));
    assert_eq!(ok!(store.session_owner("session-b", now)), owner);

    ok!(store.delete_session("session-a"));
    assert_eq!(ok!(replica.session_owner("session-a", now)), None);
    assert_eq!(ok!(store.session_owner("session-b", now)), owner);
    ok!(store.delete_session("session-a"));

    // A session belongs to a stored token.
    assert!(
        store
            .create_session("session-c", "no-such-token", now + minutes(5))
            .await
            .is_err()
    );
    assert_eq!(ok!(store.session_owner("session-c", now)), None);
}

on_each_store!(
    sessions_live_until_they_expire_or_end,
    postgres: postgres_sessions_live_until_they_expire_or_end,
    sqlite: sqlite_sessions_live_until_they_expire_or_end,
);
