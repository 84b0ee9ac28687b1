-- The owner's companion receives the owner's messages (inbox routes them to chatflow instead of
-- the team inbox). Meta redelivers a message for days, possibly as another webhook: the wamid
-- of each routed message is kept here so that it is routed once. No body, no phone number.
-- Like companion_numbers, only owners and the system see these rows.
CREATE TABLE companion_messages (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  wamid text NOT NULL CHECK (length(wamid) BETWEEN 1 AND 256),
  companion_id uuid NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, wamid),
  FOREIGN KEY (tenant_id, companion_id) REFERENCES companion_numbers (tenant_id, id)
    ON DELETE CASCADE
);
SELECT app.apply_tenant_rls('companion_messages');
CREATE POLICY companion_messages_owner_only ON companion_messages AS RESTRICTIVE FOR ALL
  TO majlis_app
  USING ((SELECT app.current_user_role()) IN ('owner', 'system'))
  WITH CHECK ((SELECT app.current_user_role()) IN ('owner', 'system'));
GRANT SELECT, INSERT ON companion_messages TO majlis_app;

-- The inbox asks, for every inbound message, whether its sender is a verified companion of
-- the number it was sent to.
CREATE INDEX companion_numbers_route_idx ON companion_numbers (tenant_id, phone_bidx, number_id)
  WHERE verified_at IS NOT NULL;
