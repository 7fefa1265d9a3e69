//! The Twilio Verify-compatible door's verifications (`VE…`), each a one-channel session of the
//! shared verification service: started (or sent again while one is open for the same `To`),
//! checked, read and ended through the very calls every door makes, with the session's token
//! derived from the SID. What is the door's own is small and lives here: Twilio's five checks
//! and ten minutes, one open verification per service and `To`, an approval answered once,
//! and "gone" (404) once approved, canceled, expired or locked.

use std::collections::BTreeMap;

use crate::engine::policy::{RESEND_COOLDOWN_SECS, RequestedLimits};
use crate::engine::session::ChannelOutcome;
use crate::engine::{Channel, SessionStatus, VerificationMode};
use crate::server::crypto::{looks_like_sid, new_sid};
use crate::server::metrics::Api;
use crate::server::service::{
    SendInput, ServiceError, ServiceResult, VerificationService, validate,
};
use crate::server::store::{
    AuthenticatedKey, NewTwilioVerification, SendAttempt, TwilioVerification, VerificationRef,
};

/// Checks a verification takes (Twilio's); the sixth is refused.
pub const MAX_CHECKS: i64 = 5;
/// How long a verification lives (Twilio's default), in seconds.
pub const LIFETIME_SECS: i64 = 600;
/// How long a verification's session may take to be started after its row is written: a
/// create that finds an open verification without a session younger than this is racing its
/// create, not looking at one whose create failed.
const STARTING_SECS: i64 = 10;

/// What starts a verification.
#[derive(Clone, Debug)]
pub struct StartVerification {
    pub to: String,
    pub channel: Channel,
    pub locale: Option<String>,
    /// The app name for this verification's messages instead of the service's.
    pub custom_friendly_name: Option<String>,
    /// The end user's IP, as the integrator's backend saw it (sends from one IP are limited).
    pub device_ip: Option<String>,
}

/// Which verification a check names.
#[derive(Clone, Debug)]
pub enum CheckTarget {
    To(String),
    Sid(String),
}

/// What a check found.
#[derive(Clone, Debug)]
pub struct Checked {
    pub verification: TwilioVerification,
    /// This check approved it (answered once: every later call finds it gone).
    pub approved: bool,
}

impl VerificationService {
    fn twilio_token(&self, verification: &TwilioVerification) -> String {
        self.keys.twilio_session_token(&verification.sid)
    }

    /// The open verification the door names, or `NotFound` (closing one found expired).
    async fn open_verification(
        &self,
        key: &AuthenticatedKey,
        service_sid: &str,
        which: VerificationRef<'_>,
    ) -> ServiceResult<TwilioVerification> {
        if let VerificationRef::Sid(sid) = which
            && !looks_like_sid(sid, "VE")
        {
            return Err(ServiceError::NotFound);
        }
        let found = self
            .store
            .twilio_verification(key.tenant_id, service_sid, which)
            .await?
            .filter(|v| v.open)
            .ok_or(ServiceError::NotFound)?;
        let now = self.clock.now();
        if now >= found.expires_at {
            self.store.close_twilio_verification(found.id, now).await?;
            return Err(ServiceError::NotFound);
        }
        Ok(found)
    }

    /// Starts a verification of `To` on a channel under the service, or — while one is open
    /// for the same `To` on the same channel — sends it again (the previous code dies, as at
    /// every otpgate resend). On another channel, the open one is canceled and a new one starts.
    pub async fn start_twilio_verification(
        &self,
        key: &AuthenticatedKey,
        service_sid: &str,
        start: &StartVerification,
    ) -> ServiceResult<TwilioVerification> {
        let service = self.twilio_service(key.tenant_id, service_sid).await?;
        let to = validate::recipient(start.channel, &start.to)
            .map_err(|reason| ServiceError::InvalidRequest(format!("To: {reason}")))?;
        let app_name = start
            .custom_friendly_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(&service.friendly_name)
            .to_owned();
        let now = self.clock.now();
        loop {
            match self
                .open_verification(key, service_sid, VerificationRef::OpenFor(&to))
                .await
            {
                Ok(open) if open.channel == start.channel => {
                    match self.send_again(key, service_sid, open).await {
                        // It ended under this call (locked by its checks): a new one starts.
                        Err(ServiceError::NotFound) => {}
                        sent => return sent,
                    }
                }
                Ok(open) => match self
                    .end_twilio_verification(key, service_sid, &open.sid)
                    .await
                {
                    Ok(_) | Err(ServiceError::NotFound) => {}
                    Err(other) => return Err(other),
                },
                Err(ServiceError::NotFound) => {}
                Err(other) => return Err(other),
            }
            let sid = new_sid(&mut rand::rng(), "VE");
            let new = NewTwilioVerification {
                sid: &sid,
                service_sid,
                recipient: &to,
                channel: start.channel,
                expires_at: now + LIFETIME_SECS,
                now,
            };
            // Another create for the same `To` got there first: send its verification again.
            let Some(id) = self
                .store
                .open_twilio_verification(key.tenant_id, &new)
                .await?
            else {
                continue;
            };
            let input = SendInput {
                channels: vec![start.channel],
                recipients: BTreeMap::from([(start.channel, to.clone())]),
                mode: VerificationMode::Any,
                limits: RequestedLimits {
                    code_length: Some(i64::from(service.code_length)),
                    expires_in: Some(LIFETIME_SECS),
                    max_attempts: Some(MAX_CHECKS),
                    max_attempts_per_channel: None,
                },
                locale: start.locale.clone(),
                client_ip: start.device_ip.clone(),
                fallback_after_secs: None,
                app_name: Some(app_name.clone()),
                token: Some(self.keys.twilio_session_token(&sid)),
                api: Api::Twilio,
            };
            if let Err(refused) = self.send(key, input, None).await {
                self.store.forget_twilio_verification(id).await?;
                return Err(refused);
            }
            self.record_attempt(id, start.channel, now).await?;
            return self
                .store
                .twilio_verification(key.tenant_id, service_sid, VerificationRef::Sid(&sid))
                .await?
                .ok_or(ServiceError::NotFound);
        }
    }

    async fn record_attempt(&self, id: i64, channel: Channel, at: i64) -> ServiceResult<()> {
        let attempt = SendAttempt {
            sid: new_sid(&mut rand::rng(), "VL"),
            channel,
            at,
        };
        Ok(self.store.add_send_attempt(id, &attempt).await?)
    }

    async fn send_again(
        &self,
        key: &AuthenticatedKey,
        service_sid: &str,
        open: TwilioVerification,
    ) -> ServiceResult<TwilioVerification> {
        let token = self.twilio_token(&open);
        match self
            .resend(Some(key.tenant_id), &token, Some(&[open.channel]))
            .await
        {
            Ok(_) => {}
            // Another create is starting its session right now: this one is its resend, and a
            // resend this early waits, as any resend inside the cooldown does.
            Err(ServiceError::NotFound) if self.clock.now() - open.created_at < STARTING_SECS => {
                return Err(ServiceError::RateLimited {
                    retry_after: RESEND_COOLDOWN_SECS,
                    message: "a code was sent to this contact a moment ago".into(),
                    refusal: None,
                });
            }
            // Its session ended under it (locked by its checks), or its create never finished:
            // it is gone.
            Err(ServiceError::Expired(_) | ServiceError::Locked(_) | ServiceError::NotFound) => {
                self.store
                    .close_twilio_verification(open.id, self.clock.now())
                    .await?;
                return Err(ServiceError::NotFound);
            }
            Err(other) => return Err(other),
        }
        self.record_attempt(open.id, open.channel, self.clock.now())
            .await?;
        self.store
            .twilio_verification(key.tenant_id, service_sid, VerificationRef::Sid(&open.sid))
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// Checks a code. Wrong: the verification stays pending (a check used). Right: approved,
    /// once — the verification is gone for every later call. After the fifth wrong check the
    /// session is locked: `Locked` until the verification expires.
    pub async fn check_twilio_verification(
        &self,
        key: &AuthenticatedKey,
        service_sid: &str,
        target: &CheckTarget,
        code: &str,
    ) -> ServiceResult<Checked> {
        self.twilio_service(key.tenant_id, service_sid).await?;
        let verification = match target {
            CheckTarget::Sid(sid) => {
                self.open_verification(key, service_sid, VerificationRef::Sid(sid))
                    .await?
            }
            CheckTarget::To(to) => {
                // The `To` of any channel names the same recipient spelled either way.
                let normalised = validate::phone_e164(to)
                    .or_else(|_| validate::email(to))
                    .map_err(|reason| ServiceError::InvalidRequest(format!("To: {reason}")))?;
                self.open_verification(key, service_sid, VerificationRef::OpenFor(&normalised))
                    .await?
            }
        };
        let token = self.twilio_token(&verification);
        let submitted = [(verification.channel, code.to_owned())];
        let report = match self
            .verify_through(Api::Twilio, Some(key.tenant_id), &token, &submitted, None)
            .await
        {
            Ok(report) => report,
            Err(ServiceError::Expired(_) | ServiceError::NotFound) => {
                self.store
                    .close_twilio_verification(verification.id, self.clock.now())
                    .await?;
                return Err(ServiceError::NotFound);
            }
            Err(other) => return Err(other),
        };
        let accepted = report
            .outcome
            .results
            .iter()
            .any(|(_, outcome)| *outcome == ChannelOutcome::Accepted);
        if !accepted {
            return Ok(Checked {
                verification,
                approved: false,
            });
        }
        // Of checks that raced with the right code, the one that closes it approves it.
        if !self
            .store
            .close_twilio_verification(verification.id, self.clock.now())
            .await?
        {
            return Err(ServiceError::NotFound);
        }
        Ok(Checked {
            verification,
            approved: true,
        })
    }

    /// The open verification with this SID, or `NotFound` (gone: approved, canceled, expired,
    /// or locked by its checks).
    pub async fn twilio_verification_now(
        &self,
        key: &AuthenticatedKey,
        service_sid: &str,
        sid: &str,
    ) -> ServiceResult<TwilioVerification> {
        self.twilio_service(key.tenant_id, service_sid).await?;
        let verification = self
            .open_verification(key, service_sid, VerificationRef::Sid(sid))
            .await?;
        let view = match self
            .status(Some(key.tenant_id), &self.twilio_token(&verification))
            .await
        {
            Ok(view) => view,
            Err(ServiceError::NotFound) => {
                self.store
                    .close_twilio_verification(verification.id, self.clock.now())
                    .await?;
                return Err(ServiceError::NotFound);
            }
            Err(other) => return Err(other),
        };
        match view.summary.status {
            SessionStatus::Pending => Ok(verification),
            // Locked by its checks: gone for a read, but a check still hears "max check
            // attempts" until it expires.
            SessionStatus::Locked => Err(ServiceError::NotFound),
            SessionStatus::Verified | SessionStatus::Expired => {
                self.store
                    .close_twilio_verification(verification.id, self.clock.now())
                    .await?;
                Err(ServiceError::NotFound)
            }
        }
    }

    /// Ends an open verification (canceled, or approved by the integrator without a code): its
    /// session is canceled, so no code works on it any more, and it is gone for every later call.
    pub async fn end_twilio_verification(
        &self,
        key: &AuthenticatedKey,
        service_sid: &str,
        sid: &str,
    ) -> ServiceResult<TwilioVerification> {
        let verification = self.twilio_verification_now(key, service_sid, sid).await?;
        match self
            .cancel(key.tenant_id, &self.twilio_token(&verification))
            .await
        {
            Ok(()) | Err(ServiceError::NotFound) => {}
            Err(other) => return Err(other),
        }
        if !self
            .store
            .close_twilio_verification(verification.id, self.clock.now())
            .await?
        {
            return Err(ServiceError::NotFound);
        }
        Ok(verification)
    }
}
