//! The single-SMS flow: initiate sends one SMS code and answers a `request_id`; verify checks
//! it (three attempts, then the request is locked).

use async_trait::async_trait;

use crate::engine::Channel;
use crate::engine::code::generate_code;
use crate::engine::limits::{DestinationRule, LimitPolicy, Refusal};
use crate::engine::single::{SingleRequest, SingleSpec};
use crate::server::crypto::CodeScope;
use crate::server::store::{
    NewMessage, NewRoute, NewSingleRequest, RefusalRecord, StoredSingleRequest,
};

use super::decide::{Record, Written, until_fresh};
use super::error::{count_attempt, invalid, refused};
use super::{
    AuthenticatedKey, Letter, ServiceError, ServiceResult, SingleCreated, SingleVerified,
    VerificationService, client_ip, validate,
};
use crate::server::metrics::{self, Api, AttemptResult};

/// A single-SMS request as decisions see it: by its canonical ID, within its tenant.
struct RequestRecord<'a> {
    service: &'a VerificationService,
    tenant_id: i64,
    request_id: &'a str,
    now: i64,
}

#[async_trait]
impl Record for RequestRecord<'_> {
    type Copy = StoredSingleRequest;
    type Report = ();

    async fn read(&self) -> ServiceResult<StoredSingleRequest> {
        self.service
            .store
            .load_single_request(self.tenant_id, self.request_id)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    fn policy(&self, copy: &StoredSingleRequest) -> LimitPolicy {
        copy.limits.over(&self.service.limits)
    }

    /// A wrong code is a failed decision that still counts: whatever moved is written.
    async fn write(
        &self,
        before: &StoredSingleRequest,
        after: &StoredSingleRequest,
        _messages: &[NewMessage],
        _decided: bool,
        _policy: &LimitPolicy,
    ) -> ServiceResult<Written<()>> {
        let writes = after.refusal.is_some()
            || after.request != before.request
            || after.streak != before.streak;
        let store = &self.service.store;
        if writes && !store.commit_single_request(before, after, self.now).await? {
            return Ok(Written::Stale);
        }
        if writes {
            self.service.events_written();
        }
        Ok(Written::Done(()))
    }
}

impl VerificationService {
    /// Starts a single-SMS verification.
    pub async fn initiate_single(
        &self,
        key: &AuthenticatedKey,
        phone_number: &str,
        code_length: Option<i64>,
        expires_in: Option<i64>,
        client: Option<&str>,
    ) -> ServiceResult<SingleCreated> {
        let phone = validate::phone_e164(phone_number).map_err(|r| invalid("phone_number", r))?;
        let spec =
            SingleSpec::new(code_length, expires_in).map_err(ServiceError::InvalidRequest)?;
        let client = client_ip(client)?;
        self.ensure_sendable(key.is_test, &key.gate, &[Channel::Sms])?;
        let send = self.send_policy(key, client);
        let now = self.clock.now();
        let request_id = uuid::Uuid::new_v4().to_string();
        let scope = CodeScope::SingleRequest {
            request_id: &request_id,
        };
        let texts = self.texts.tenant(key.tenant_id).await?;
        let (code_hash, message) = {
            let mut rng = rand::rng();
            let code = generate_code(&mut rng, spec.code_length);
            let code_hash = self.keys.code_hash(scope, &code);
            let letter = Letter {
                is_test: key.is_test,
                locale: None,
                texts: &texts,
                tenant: &key.tenant_name,
                seconds_left: spec.expires_in,
                policy: &send.policy,
            };
            let message = self.new_message(&mut rng, &letter, Channel::Sms, &phone, scope, code)?;
            (code_hash, message)
        };
        let queued = matches!(message.route, NewRoute::Provider { .. });
        let request = SingleRequest::new(spec, now);
        self.store
            .create_single_request(&NewSingleRequest {
                tenant_name: &key.tenant_name,
                tenant_id: key.tenant_id,
                request_id: &request_id,
                phone_number: &phone,
                code_hash: &code_hash,
                is_test: key.is_test,
                created_at: now,
                request: &request,
                message,
                limits: &send,
            })
            .await?
            .map_err(refused)?;
        self.events_written();
        self.stored(&[Channel::Sms], queued, key);
        metrics::session_started(Api::Single);
        Ok(SingleCreated {
            request_id,
            expires_at: request.expires_at,
        })
    }

    /// Checks the code of a single-SMS request.
    pub async fn verify_single(
        &self,
        tenant_id: i64,
        request_id: &str,
        code: &str,
    ) -> ServiceResult<SingleVerified> {
        let result = self.check_single(tenant_id, request_id, code).await;
        count_attempt(Api::Single, &result, |_| AttemptResult::Verified);
        result
    }

    async fn check_single(
        &self,
        tenant_id: i64,
        request_id: &str,
        code: &str,
    ) -> ServiceResult<SingleVerified> {
        // Requests are stored under the canonical (lower-case, hyphenated) form; any spelling of
        // the same UUID names the same request, and anything that is not a UUID is unknown.
        let Ok(parsed) = uuid::Uuid::parse_str(request_id) else {
            return Err(ServiceError::NotFound);
        };
        let canonical = parsed.to_string();
        let now = self.clock.now();
        let keys = &self.keys;
        let decide = |stored: &mut StoredSingleRequest, policy: &LimitPolicy| {
            let open = stored.request.verified_at.is_none() && now < stored.request.expires_at;
            if open && stored.streak.is_locked(now) {
                let refusal = Refusal::Destination(DestinationRule::FailureLock);
                stored.refusal = Some(RefusalRecord {
                    refusal,
                    subject: stored.destination.clone(),
                    channel: Some(Channel::Sms),
                });
                return Err(ServiceError::from(refusal));
            }
            let scope = CodeScope::SingleRequest {
                request_id: &canonical,
            };
            let hash = stored.code_hash.clone();
            let failed_before = stored.request.failed_attempts;
            let result = stored
                .request
                .verify(now, code, |code| keys.code_matches(scope, code, &hash));
            let failed = stored.request.failed_attempts - failed_before;
            stored.streak = stored.streak.after(policy, result.is_ok(), failed, now);
            result.map_err(ServiceError::Single)
        };
        let record = RequestRecord {
            service: self,
            tenant_id,
            request_id: &canonical,
            now,
        };
        let (stored, result, ()) = until_fresh(&record, |stored, policy| {
            decide(stored, policy).map(|()| ((), Vec::new()))
        })
        .await?;
        result?;
        if stored.request.verified_at == Some(now) {
            crate::server::metrics::time_to_verify(Channel::Sms, (now - stored.created_at) as f64);
        }
        Ok(SingleVerified {
            phone_number: stored.phone_number,
            verified_at: stored.request.verified_at.unwrap_or(now),
            attempts_used: stored.request.attempts_used(),
            max_attempts: crate::engine::single::SINGLE_MAX_ATTEMPTS,
        })
    }
}
