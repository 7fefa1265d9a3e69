//! The Twilio-compatible door as a client calls it: HTTP Basic with a tenant's account SID and
//! an API key, form-encoded parameters (in the query string of a GET).

use axum::body::Body;
use axum::http::{Method, Request, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{Answer, TestApp};

/// A tenant's credentials at the door.
pub struct Door<'a> {
    pub app: &'a TestApp,
    pub sid: String,
    pub key: String,
}

impl Door<'_> {
    pub async fn of<'a>(app: &'a TestApp, tenant: &str, key: &str) -> Door<'a> {
        let sid = app
            .state
            .admin
            .tenant(tenant)
            .await
            .expect("tenant")
            .account_sid;
        Door {
            app,
            sid,
            key: key.to_owned(),
        }
    }

    /// A new service of this door's tenant named `name`; its SID.
    pub async fn service(&self, name: &str) -> String {
        let created = self
            .call(Method::POST, "/v2/Services", &[("FriendlyName", name)])
            .await;
        assert_eq!(created.status.as_u16(), 201, "{}", created.text);
        created.body["sid"]
            .as_str()
            .expect("a service SID")
            .to_owned()
    }

    pub async fn call(&self, method: Method, path: &str, form: &[(&str, &str)]) -> Answer {
        let credentials = STANDARD.encode(format!("{}:{}", self.sid, self.key));
        call(
            self.app,
            method,
            path,
            form,
            Some(&format!("Basic {credentials}")),
        )
        .await
    }
}

pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    form: &[(&str, &str)],
    authorization: Option<&str>,
) -> Answer {
    let encoded: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let uri = if method == Method::GET && !encoded.is_empty() {
        format!("{path}?{encoded}")
    } else {
        path.to_owned()
    };
    let mut request = Request::builder()
        .method(method.clone())
        .uri(uri)
        .header(header::HOST, "otp.example.test");
    if let Some(authorization) = authorization {
        request = request.header(header::AUTHORIZATION, authorization);
    }
    let body = if method == Method::POST {
        request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        Body::from(encoded)
    } else {
        Body::empty()
    };
    app.request(request.body(body).expect("request")).await
}
