//! The figures of a time window over the admin API, per tenant and channel or country: what
//! the console draws. Rates and percentiles over nothing are `null`, not 0.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Admin;
use super::audit::seconds;
use crate::server::http::rest::answers::{Answer, Body, error_answers, with_key};
use crate::server::http::rest::error::{ApiError, ApiResult};
use crate::server::http::rest::types::rfc3339;
use crate::server::service::stats::{Figures, GroupBy};
use crate::server::state::AppState;

/// How the figures are split besides the total.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Grouping {
    Channel,
    /// SMS and WhatsApp by the number's country calling code (`+44`).
    Country,
}

/// Which window, which tenant, which split.
#[derive(Debug, Deserialize, IntoParams)]
// Said outright: the handler takes `Result<Query<…>>`, from which utoipa cannot tell.
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// From this time (RFC 3339; by default a day before `until`). At most 31 days.
    #[param(nullable = false)]
    pub since: Option<String>,
    /// Until this time (RFC 3339; by default now).
    #[param(nullable = false)]
    pub until: Option<String>,
    /// Only this tenant (a tenant token always reads its own only).
    #[param(nullable = false)]
    pub tenant: Option<String>,
    #[param(nullable = false, inline)]
    pub group_by: Option<Grouping>,
}

/// One group's figures (or the total's).
#[derive(Debug, Serialize, ToSchema)]
pub struct FiguresView {
    /// The group: a channel (`sms`) or a calling code (`+44`, `unknown`); absent in the total.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub sessions_started: u64,
    pub sessions_verified: u64,
    pub sessions_expired: u64,
    pub sessions_locked: u64,
    pub messages_sent: u64,
    pub messages_delivered: u64,
    pub messages_failed: u64,
    /// Verified ÷ started (a send a limit refused starts nothing); `null` over none.
    pub conversion: Option<f64>,
    /// Delivered ÷ messages with a final receipt (delivered, or failed after a provider took
    /// it); `null` over none.
    pub delivery_rate: Option<f64>,
    /// Messages with a final receipt ÷ messages sent; `null` over none.
    pub receipt_coverage: Option<f64>,
    /// Seconds from stored to delivered.
    pub time_to_deliver_p50: Option<f64>,
    pub time_to_deliver_p95: Option<f64>,
    /// Seconds from started to verified.
    pub time_to_verify_p50: Option<f64>,
    pub time_to_verify_p95: Option<f64>,
}

impl FiguresView {
    fn of(group: Option<String>, f: Figures) -> FiguresView {
        FiguresView {
            group,
            sessions_started: f.sessions_started,
            sessions_verified: f.sessions_verified,
            sessions_expired: f.sessions_expired,
            sessions_locked: f.sessions_locked,
            messages_sent: f.messages_sent,
            messages_delivered: f.messages_delivered,
            messages_failed: f.messages_failed,
            conversion: f.conversion,
            delivery_rate: f.delivery_rate,
            receipt_coverage: f.receipt_coverage,
            time_to_deliver_p50: f.time_to_deliver_p50,
            time_to_deliver_p95: f.time_to_deliver_p95,
            time_to_verify_p50: f.time_to_verify_p50,
            time_to_verify_p95: f.time_to_verify_p95,
        }
    }
}

/// The window's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsView {
    pub since: String,
    pub until: String,
    pub tenant: Option<String>,
    pub total: FiguresView,
    /// Per group, by name, when `group_by` asks.
    pub groups: Vec<FiguresView>,
}

error_answers!(
    /// What reading figures answers besides them.
    StatsErrors => with_key(vec![
        Answer::new(
            vec![ApiError::InvalidRequest(String::new())],
            "`invalid_request`: a malformed query (a time that is not RFC 3339, `since` not \
             before `until`, a window over 31 days, an unknown `group_by`).",
            Body::Error,
        ),
        Answer::new(
            vec![ApiError::UnknownResource(String::new())],
            "`not_found`: a tenant this token does not see.",
            Body::Error,
        ),
    ])
);

/// Figures of live traffic (test keys' is left out) for a window: verifications started in it
/// and how they ended, messages stored in it and what became of them. Computed from what is
/// kept: verifications are purged `OTPGATE_PURGE_GRACE_SECS` after they expire (a day by
/// default), so a window older than that counts only what is left; Prometheus keeps the long
/// history.
#[utoipa::path(
    get, path = "/admin/v1/stats", operation_id = "read_stats", tag = "stats",
    params(StatsParams),
    responses((status = 200, description = "The figures", body = StatsView), StatsErrors),
    security(("admin_token" = []))
)]
pub async fn read(
    State(state): State<AppState>,
    admin: Admin,
    params: Result<Query<StatsParams>, QueryRejection>,
) -> ApiResult<Json<StatsView>> {
    let Query(params) =
        params.map_err(|_| ApiError::InvalidRequest("invalid query string".into()))?;
    let tenant = admin.tenant_filter(params.tenant.as_deref())?;
    let group_by = params.group_by.map(|g| match g {
        Grouping::Channel => GroupBy::Channel,
        Grouping::Country => GroupBy::Country,
    });
    let (since, until, stats) = state
        .admin
        .stats(
            seconds("since", params.since.as_deref())?,
            seconds("until", params.until.as_deref())?,
            tenant,
            group_by,
        )
        .await?;
    Ok(Json(StatsView {
        since: rfc3339(since),
        until: rfc3339(until),
        tenant: tenant.map(str::to_owned),
        total: FiguresView::of(None, stats.total),
        groups: stats
            .groups
            .into_iter()
            .map(|(name, figures)| FiguresView::of(Some(name), figures))
            .collect(),
    }))
}
