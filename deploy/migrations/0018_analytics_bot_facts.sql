-- Analytics: the bot's own messages are facts too (kind 'bot'). A stretch in which the
-- conversation was nominally the bot's counts as bot time only if the bot spoke in that
-- cycle; a tenant without a bot (every conversation is the bot's until a person takes it)
-- would otherwise have its waiting time left out of first response and resolution times.
ALTER TABLE analytics_conversation_facts
  DROP CONSTRAINT analytics_conversation_facts_kind_check,
  ADD CONSTRAINT analytics_conversation_facts_kind_check CHECK (kind IN ('state', 'reply', 'bot'));
