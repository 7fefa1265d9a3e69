-- A delivery report can overtake the provider's answer to the send: the report is kept here
-- while the message is still being handed over, and applied when the acceptance is recorded.
ALTER TABLE deliveries
    ADD COLUMN receipt_status TEXT,
    ADD COLUMN receipt_error TEXT,
    ADD COLUMN receipt_at BIGINT;
