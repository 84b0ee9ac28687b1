-- Campaign rows found by the contact they were sent to (campaign_recipients.contact_id, set
-- when the audience came from contacts):
--
-- * a contact merge moves the absorbed contact's rows to the contact that absorbs it, so the
--   campaign report never names a contact that no longer exists;
-- * a data-subject export and erasure find the person's rows by their contact as well as by
--   their number's blind index, so a row sent before the number changed is not missed.
--
-- Partial: rows of CSV audiences have no contact.
CREATE INDEX campaign_recipients_tenant_contact_idx ON campaign_recipients (tenant_id, contact_id)
  WHERE contact_id IS NOT NULL;
