//! The limits' refusals over the admin API: the report `otpgate limits report` prints, as JSON
//! — per tenant, rule and channel, how many, how many distinct subjects, when, and the most
//! refused subject (a prefix of its keyed hash: the subject itself is never stored).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Admin;
use super::tenants::unknown_tenant;
use crate::server::http::rest::answers::{Answer, Body, error_answers, with_key};
use crate::server::http::rest::error::{ApiError, ApiResult};
use crate::server::http::rest::types::rfc3339;
use crate::server::service::RefusalSummary;
use crate::server::state::AppState;

/// The most refused subject of a group.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopSubject {
    /// The first bytes of its keyed hash, in hex (as audit entries name destinations).
    pub subject: String,
    pub refusals: i64,
}

/// Refusals of one rule, in one tenant, on one channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefusalGroup {
    /// `null` for refusals made before a tenant was known.
    pub tenant: Option<String>,
    /// The limit's name, as `otpgate_limit_refusals_total{rule}` counts it.
    pub rule: String,
    pub channel: Option<String>,
    pub refusals: i64,
    /// Distinct subjects refused (destinations, prefixes, IPs).
    pub subjects: i64,
    pub first: String,
    pub last: String,
    pub top_subject: Option<TopSubject>,
}

/// The report.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefusalReport {
    /// The start of the window.
    pub since: String,
    /// Most frequent first.
    pub groups: Vec<RefusalGroup>,
}

/// Which window.
#[derive(Debug, Deserialize, IntoParams)]
// Said outright: the handler takes `Result<Query<…>>`, from which utoipa cannot tell.
#[into_params(parameter_in = Query)]
pub struct RefusalParams {
    /// The last this many hours (24).
    #[param(nullable = false, minimum = 1, maximum = 720)]
    pub hours: Option<u32>,
    /// Only this tenant's (a tenant token always reads its own only).
    #[param(nullable = false)]
    pub tenant: Option<String>,
}

error_answers!(
    /// What reading the report answers besides it.
    ReportErrors => with_key(vec![
        Answer::new(
            vec![ApiError::InvalidRequest(String::new())],
            "`invalid_request`: `hours` is not from 1 to 720.",
            Body::Error,
        ),
        Answer::new(
            vec![ApiError::UnknownResource(String::new())],
            "`not_found`: a tenant this token does not see.",
            Body::Error,
        ),
    ])
);

fn group(summary: RefusalSummary) -> RefusalGroup {
    RefusalGroup {
        tenant: summary.tenant,
        rule: summary.rule,
        channel: summary.channel,
        refusals: summary.refusals,
        subjects: summary.subjects,
        first: rfc3339(summary.first),
        last: rfc3339(summary.last),
        top_subject: summary
            .top_subject
            .map(|(subject, refusals)| TopSubject { subject, refusals }),
    }
}

/// What the limits refused lately, by tenant, rule and channel.
#[utoipa::path(
    get, path = "/admin/v1/refusals", operation_id = "read_refusals", tag = "refusals",
    params(RefusalParams),
    responses((status = 200, description = "The report, most frequent first", body = RefusalReport), ReportErrors),
    security(("admin_token" = []))
)]
pub async fn report(
    State(state): State<AppState>,
    admin: Admin,
    params: Result<Query<RefusalParams>, QueryRejection>,
) -> ApiResult<Json<RefusalReport>> {
    let Query(params) =
        params.map_err(|_| ApiError::InvalidRequest("hours: from 1 to 720".into()))?;
    let hours = params.hours.unwrap_or(24);
    if let Some(asked) = params.tenant.as_deref()
        && !admin.sees(asked)
    {
        return Err(unknown_tenant(asked));
    }
    let summaries = state.admin.refusal_report(hours).await?;
    let since = state.admin.now() - i64::from(hours) * 3600;
    let wanted = |tenant: &Option<String>| match (tenant, params.tenant.as_deref()) {
        (Some(tenant), Some(asked)) => tenant == asked,
        (Some(tenant), None) => admin.sees(tenant),
        // A refusal with no tenant is the server's: only an operator-wide token sees it.
        (None, asked) => asked.is_none() && admin.own_tenant().is_none(),
    };
    Ok(Json(RefusalReport {
        since: rfc3339(since),
        groups: summaries
            .into_iter()
            .filter(|s| wanted(&s.tenant))
            .map(group)
            .collect(),
    }))
}
