//! The administrative path (`AdminService`, which the CLI adapts): what it validates, the typed
//! errors it answers, and what the store keeps when given something twice.

use otpgate::engine::limits::LimitOverrides;
use otpgate::server::service::{KeyRef, ServiceError, StoreError};

use crate::common::TestApp;
use otpgate::server::service::Caller;

#[tokio::test]
async fn an_origin_given_twice_is_stored_once_in_the_form_browsers_send() {
    let app = TestApp::new().await;
    let origins = [
        "https://app.twice.test".to_owned(),
        "HTTPS://App.Twice.test/".to_owned(),
        "https://app.twice.test:443".to_owned(),
        "http://127.0.0.1:8080".to_owned(),
    ];
    app.state
        .admin
        .create_tenant("Twice", &origins, &Caller::cli())
        .await
        .expect("tenant");
    let tenant = app.state.admin.tenant("Twice").await.expect("listed");
    assert_eq!(
        tenant.origins,
        ["http://127.0.0.1:8080", "https://app.twice.test"]
    );
}

#[tokio::test]
async fn names_and_origins_are_checked_before_anything_is_stored() {
    let app = TestApp::new().await;
    for (name, origin) in [
        ("", "https://ok.test"),
        ("a\nb", "https://ok.test"),
        ("Fine", "https://ok.test/path"),
        ("Fine", "ftp://ok.test"),
    ] {
        let refused = app
            .state
            .admin
            .create_tenant(name, &[origin.to_owned()], &Caller::cli())
            .await;
        assert!(
            matches!(refused, Err(ServiceError::InvalidRequest(_))),
            "{name:?} {origin}: {refused:?}"
        );
    }
    let refused = app.state.admin.tenant("Fine").await;
    assert!(
        matches!(refused, Err(ServiceError::Store(StoreError::NotFound(_)))),
        "nothing was stored: {refused:?}"
    );
}

#[tokio::test]
async fn a_taken_name_is_a_conflict_and_an_unknown_tenant_is_not_found() {
    let app = TestApp::new().await;
    let admin = &app.state.admin;
    match admin.create_tenant(" Acme ", &[], &Caller::cli()).await {
        Err(ServiceError::Store(StoreError::Conflict(message))) => {
            assert_eq!(message, "tenant `Acme` already exists");
        }
        other => panic!("{other:?}"),
    }
    let unknown = |answer: Result<(), ServiceError>| match answer {
        Err(ServiceError::Store(StoreError::NotFound(message))) => {
            assert_eq!(message, "no tenant named `Nobody`");
        }
        other => panic!("{other:?}"),
    };
    unknown(
        admin
            .create_key("Nobody", true, &Caller::cli())
            .await
            .map(|_| ()),
    );
    let limits = LimitOverrides {
        destination_per_day: Some(30),
        ..LimitOverrides::default()
    };
    unknown(
        admin
            .set_tenant_limits("Nobody", &limits, false, &Caller::cli())
            .await
            .map(|_| ()),
    );
    unknown(admin.tenant_limits("Nobody").await.map(|_| ()));
}

#[tokio::test]
async fn limits_are_checked_as_they_will_apply_and_an_empty_change_is_refused() {
    let app = TestApp::new().await;
    let admin = &app.state.admin;
    let nothing = admin
        .set_tenant_limits("Initech", &LimitOverrides::default(), false, &Caller::cli())
        .await;
    assert!(
        matches!(nothing, Err(ServiceError::InvalidRequest(_))),
        "{nothing:?}"
    );
    // A prefix has at least one digit after the country code.
    let inconsistent = LimitOverrides {
        prefix_digits: Some(0),
        ..LimitOverrides::default()
    };
    let refused = admin
        .set_tenant_limits("Initech", &inconsistent, false, &Caller::cli())
        .await;
    assert!(
        matches!(refused, Err(ServiceError::InvalidRequest(_))),
        "{refused:?}"
    );
    let set = admin
        .set_tenant_limits(
            "Initech",
            &LimitOverrides {
                destination_per_day: Some(30),
                ..LimitOverrides::default()
            },
            false,
            &Caller::cli(),
        )
        .await
        .expect("set");
    assert_eq!(set.destination_per_day, Some(30));
    assert_eq!(
        admin
            .tenant_limits("Initech")
            .await
            .expect("in force")
            .destination_per_day,
        30
    );
}

#[tokio::test]
async fn a_new_key_is_shown_once_and_works_until_revoked() {
    let app = TestApp::new().await;
    let admin = &app.state.admin;
    let key = admin
        .create_key("Globex", false, &Caller::cli())
        .await
        .expect("key");
    assert!(key.key.starts_with("sk_live_"), "{}", key.prefix);
    assert!(key.key.starts_with(&key.prefix));
    assert!(
        !format!("{key:?}").contains(&key.key),
        "the key itself is never printed"
    );
    let listed = admin.tenant("Globex").await.expect("tenant");
    assert!(
        listed
            .keys
            .iter()
            .any(|k| k.prefix == key.prefix && !k.is_test)
    );
    assert!(
        app.state
            .service
            .authenticate(&key.key)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        admin
            .revoke_key(KeyRef::Prefix(&key.prefix), &Caller::cli())
            .await
            .unwrap()
    );
    assert!(
        app.state
            .service
            .authenticate(&key.key)
            .await
            .unwrap()
            .is_none(),
        "refused from this process's next call"
    );
    assert!(
        !admin
            .revoke_key(KeyRef::Prefix(&key.prefix), &Caller::cli())
            .await
            .unwrap(),
        "revoked once"
    );
}

#[tokio::test]
async fn admin_tokens_speak_for_their_scope_and_tenant_until_expired_or_revoked() {
    use otpgate::server::service::AdminScope;

    let app = TestApp::new().await;
    let admin = &app.state.admin;
    let all = admin
        .create_admin_token(AdminScope::Write, None, None, &Caller::cli())
        .await
        .expect("token");
    assert!(
        all.token.starts_with("at_") && all.token.len() == 35,
        "{}",
        all.info.prefix
    );
    assert!(all.token.starts_with(&all.info.prefix));
    assert!(!format!("{all:?}").contains(&all.token), "never printed");
    let principal = admin
        .authenticate_admin(&all.token)
        .await
        .unwrap()
        .expect("valid");
    assert_eq!(
        (principal.token_id, principal.scope, principal.tenant_name),
        (all.info.id, AdminScope::Write, None)
    );

    let acme = admin
        .create_admin_token(AdminScope::Read, Some("Acme"), Some(60), &Caller::cli())
        .await
        .expect("token");
    let principal = admin
        .authenticate_admin(&acme.token)
        .await
        .unwrap()
        .expect("valid");
    assert_eq!(principal.scope, AdminScope::Read);
    assert_eq!(principal.tenant_name.as_deref(), Some("Acme"));
    assert!(principal.tenant_id.is_some());
    app.clock.advance(60);
    assert!(
        admin
            .authenticate_admin(&acme.token)
            .await
            .unwrap()
            .is_none(),
        "expired at its second"
    );

    match admin
        .create_admin_token(AdminScope::Read, Some("Nobody"), None, &Caller::cli())
        .await
    {
        Err(ServiceError::Store(StoreError::NotFound(message))) => {
            assert_eq!(message, "no tenant named `Nobody`");
        }
        other => panic!("{other:?}"),
    }
    for expires in [0, -5, 11 * 365 * 24 * 3600] {
        let refused = admin
            .create_admin_token(AdminScope::Read, None, Some(expires), &Caller::cli())
            .await;
        assert!(
            matches!(refused, Err(ServiceError::InvalidRequest(_))),
            "{expires}: {refused:?}"
        );
    }

    let listed = admin.list_admin_tokens().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].id, acme.info.id, "newest first");
    assert!(
        admin
            .revoke_admin_token(all.info.id, &Caller::cli())
            .await
            .unwrap()
    );
    assert!(
        !admin
            .revoke_admin_token(all.info.id, &Caller::cli())
            .await
            .unwrap(),
        "once"
    );
    assert!(
        admin
            .authenticate_admin(&all.token)
            .await
            .unwrap()
            .is_none()
    );
    for malformed in ["", "at_", "at_short", "sk_live_x", &all.token[..34]] {
        assert!(admin.authenticate_admin(malformed).await.unwrap().is_none());
    }
}
