-- "Where you're signed in": each sign-in (refresh family) keeps the address it was last used
-- from and a short description of the device ("Chrome on Windows"; never the raw User-Agent),
-- so a user can recognise a sign-in and end it from another.
ALTER TABLE sessions ADD COLUMN client_ip text CHECK (length(client_ip) <= 64),
  ADD COLUMN device text CHECK (length(device) <= 100);

ALTER TABLE sessions DROP CONSTRAINT sessions_revoked_reason_check,
  ADD CONSTRAINT sessions_revoked_reason_check CHECK (revoked_reason IN
    ('logout', 'reuse_detected', 'password_changed', 'deactivated', 'expired',
     'two_factor_changed', 'signed_out_remotely'));
