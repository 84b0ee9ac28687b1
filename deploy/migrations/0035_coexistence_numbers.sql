-- WhatsApp Business app coexistence: Meta fixes the throughput of a number shared with the
-- app at 20 messages per second, inbound and outbound together (reference: meta-cloud-api.md
-- §6; over it, error 130429). The inbox notes when a number turns out to be shared: its first
-- coexistence webhook (an echo of what the owner sent from the app, a contact of the app's
-- address book, or the app's chat history). From then on the dispatcher and campaigns pace it
-- at 20 per second at most, whatever was configured for it.
--
-- coexistence_since: when the first such webhook was stored (NULL: not known to be shared).
-- send_rate: the rate the platform paces the number at: send_rate_per_second (NULL = Meta's
-- default, 80), at most 20 once shared. The one place that rule lives.
ALTER TABLE whatsapp_numbers
  ADD COLUMN coexistence_since timestamptz,
  ADD COLUMN send_rate integer GENERATED ALWAYS AS (
    CASE WHEN coexistence_since IS NULL THEN coalesce(send_rate_per_second, 80)
         ELSE least(coalesce(send_rate_per_second, 80), 20) END
  ) STORED;
