-- Relays of many processes drain one outbox. Until now a relay claimed its batch by deleting
-- it, so a second relay that read the same head rows waited on their locks until the first had
-- published and committed, then found them gone: the relays took turns instead of sharing the
-- work. Reading with FOR UPDATE SKIP LOCKED lets each take the next rows nobody holds.
--
-- PostgreSQL asks for UPDATE privilege on some column of a table read FOR UPDATE. One
-- column's is enough, and it writes nothing: the relay's policy (relay_drain) has WITH CHECK
-- (false), so every UPDATE the relay tried would be refused row by row.
GRANT UPDATE (created_at) ON outbox TO majlis_outbox_relay;
