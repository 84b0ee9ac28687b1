-- A business may require two-factor sign-in of everyone on its team. A member without it then
-- signs in to a session that can only set it up (access tokens with the claim "tfa": "setup",
-- refused everywhere else with 403 two-factor-setup-required).
ALTER TABLE tenants ADD COLUMN require_two_factor boolean NOT NULL DEFAULT false;
