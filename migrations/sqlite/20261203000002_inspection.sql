-- What an operator looks a verification up by, and what it shows.
--
-- `public_id`: a session's non-secret name (`ses_` + 32 hex), answered by send and status and
-- used by the admin API and audit entries; the session token stays a secret. Sessions made
-- before this step get one here.
--
-- `verification_attempts`: each code a verify decided (`verified` or `wrong_code`, never the
-- code), written in the decision's transaction, deleted with its session or request.
ALTER TABLE sessions ADD COLUMN public_id TEXT;
UPDATE sessions SET public_id = 'ses_' || lower(hex(randomblob(16))) WHERE public_id IS NULL;
CREATE UNIQUE INDEX sessions_public_id ON sessions (public_id);

CREATE TABLE verification_attempts (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER REFERENCES sessions (id) ON DELETE CASCADE,
    request_id  INTEGER REFERENCES sms_requests (id) ON DELETE CASCADE,
    channel     TEXT    NOT NULL CHECK (channel IN ('email', 'sms', 'whatsapp')),
    result      TEXT    NOT NULL CHECK (result IN ('verified', 'wrong_code')),
    at          INTEGER NOT NULL,
    CHECK ((session_id IS NULL) <> (request_id IS NULL))
);

CREATE INDEX verification_attempts_by_session ON verification_attempts (session_id)
    WHERE session_id IS NOT NULL;
CREATE INDEX verification_attempts_by_request ON verification_attempts (request_id)
    WHERE request_id IS NOT NULL;
