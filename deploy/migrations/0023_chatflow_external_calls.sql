-- Chatflow: no network call inside an open transaction. A step that reaches an http_request,
-- ai_answer or ai_lead_capture node commits the session as 'awaiting_external' with the request
-- to make (pending_enc: AES-256-GCM, field "flow_sessions.pending"; the rendered URL, headers
-- and body may hold secrets and personal data) and a fresh attempt_id; the call is made with no
-- transaction open, and a second transaction applies its result only while the session is
-- still awaiting that exact attempt. wake_at is then the attempt's lease: if the process dies
-- during the call, the durable timer finds the session due and makes the call again under a
-- new attempt id (at-least-once towards the external endpoint; the result of a stale attempt
-- is dropped). queued_seq: the newest inbound message that arrived while the call was pending;
-- the messages after last_message_seq up to it are processed, in order, once the result is in.
ALTER TABLE flow_sessions
  ADD COLUMN attempt_id uuid,
  ADD COLUMN pending_enc bytea,
  ADD COLUMN queued_seq bigint,
  DROP CONSTRAINT flow_sessions_status_check,
  ADD CONSTRAINT flow_sessions_status_check
    CHECK (status IN ('running', 'waiting_input', 'waiting_timer', 'awaiting_external', 'ended')),
  ADD CONSTRAINT flow_sessions_pending_check
    CHECK ((status = 'awaiting_external') = (attempt_id IS NOT NULL AND pending_enc IS NOT NULL));
