-- Bot steps reach the customer in the order the flow took them.
--
-- The chatflow service queues one `command.inbox.run_bot_actions` per engine step, all of one
-- conversation under that conversation's advisory lock; the inbox consumes commands
-- concurrently (prefetch), so two steps queued a few milliseconds apart (a step before an
-- http_request node and the step after it) could be stored, and sent, the wrong way round.
-- Each command now carries the conversation's next step number (bot_action_steps, chatflow's
-- counter, taken under the lock); the inbox keeps the highest number it applied
-- (conversations.bot_step_applied) and holds a command back, briefly, while its predecessor
-- has not been applied yet (see services/inbox/src/inbox/bot_actions.py).
CREATE TABLE bot_action_steps (
  tenant_id uuid NOT NULL,
  conversation_id uuid NOT NULL,
  last_step bigint NOT NULL CHECK (last_step > 0),
  PRIMARY KEY (tenant_id, conversation_id),
  FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id)
    ON DELETE CASCADE
);
SELECT app.apply_tenant_rls('bot_action_steps');
GRANT SELECT, INSERT, UPDATE, DELETE ON bot_action_steps TO majlis_app;

ALTER TABLE conversations
  ADD COLUMN bot_step_applied bigint NOT NULL DEFAULT 0 CHECK (bot_step_applied >= 0);
