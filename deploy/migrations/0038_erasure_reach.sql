-- A data-subject erasure (POST /api/v1/contacts/{id}/erase) reaches two more places that hold
-- the person's data outside their contact's rows:
--
-- * the rows campaigns kept of their number (campaign_recipients: the number's ciphertext and
--   blind index, the rendered template parameters), found by that blind index. Only owners,
--   admins and the system delete them, as with contacts (0005); nothing else deletes a
--   recipient (a campaign's rows go with the campaign, by cascade). The campaigns' counts are
--   left as they were: no trigger counts a delete, and the funnel reports what was sent.
-- * the flow run logs of their conversations (flow_logs.detail_enc holds a node's inputs and
--   outputs, such as the answers they gave), found by conversation through a new index.
GRANT DELETE ON campaign_recipients TO majlis_app;
CREATE POLICY campaign_recipients_delete_roles ON campaign_recipients AS RESTRICTIVE
  FOR DELETE TO majlis_app
  USING ((SELECT app.current_user_role()) IN ('owner', 'admin', 'system'));

CREATE INDEX flow_logs_tenant_conversation_idx ON flow_logs (tenant_id, conversation_id);
