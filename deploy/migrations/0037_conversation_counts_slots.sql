-- Conversations per status, spread over 16 slots per tenant and status.
--
-- With one row per (tenant, status), every new conversation of a tenant (and every change of
-- status) updated the same row and held its lock until its transaction committed: inbound
-- messages of new customers of one business waited on each other, one at a time (on the
-- bench of issue 7 the conversation's INSERT took 22 ms on average, nearly all of it
-- waiting). Now a transaction counts in the slot of its database session
-- (pg_backend_pid() % 16): two transactions running at once are on two sessions, whose slots
-- differ unless their process ids do modulo 16. A slot's count may go below zero (a
-- conversation counted in one slot leaves from another); the counts are the sums per status
-- (inbox.conversations_repository). A change of assignee alone no longer touches them.
ALTER TABLE conversation_counts
  ADD COLUMN slot smallint NOT NULL DEFAULT 0 CHECK (slot BETWEEN 0 AND 15);
ALTER TABLE conversation_counts DROP CONSTRAINT conversation_counts_pkey;
ALTER TABLE conversation_counts ADD PRIMARY KEY (tenant_id, status, slot);

CREATE OR REPLACE FUNCTION app.conversations_keep_counts() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  v_slot smallint := (pg_backend_pid() % 16)::smallint;
  v_moved boolean := TG_OP <> 'UPDATE' OR OLD.status IS DISTINCT FROM NEW.status;
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND v_moved THEN
    UPDATE conversation_counts SET count = count - 1
      WHERE tenant_id = OLD.tenant_id AND status = OLD.status AND slot = v_slot;
    IF NOT FOUND AND TG_OP = 'UPDATE' THEN
      INSERT INTO conversation_counts AS c (tenant_id, status, slot, count)
        VALUES (OLD.tenant_id, OLD.status, v_slot, -1)
        ON CONFLICT (tenant_id, status, slot) DO UPDATE SET count = c.count - 1;
    ELSIF NOT FOUND THEN
      -- A deleted conversation leaves from another slot of its status. None is left when the
      -- tenant itself is being deleted (its counts went first): nothing to count then, and
      -- no row may be made for a tenant that is gone.
      UPDATE conversation_counts SET count = count - 1
        WHERE tenant_id = OLD.tenant_id AND status = OLD.status
          AND slot = (SELECT min(k.slot) FROM conversation_counts k
                      WHERE k.tenant_id = OLD.tenant_id AND k.status = OLD.status);
    END IF;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    IF OLD.assigned_user_id IS NOT NULL AND OLD.status <> 'resolved' THEN
      UPDATE agent_loads SET active_count = greatest(active_count - 1, 0)
        WHERE tenant_id = OLD.tenant_id AND user_id = OLD.assigned_user_id;
    END IF;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    IF v_moved THEN
      INSERT INTO conversation_counts AS c (tenant_id, status, slot, count)
        VALUES (NEW.tenant_id, NEW.status, v_slot, 1)
        ON CONFLICT (tenant_id, status, slot) DO UPDATE SET count = c.count + 1;
    END IF;
    IF NEW.assigned_user_id IS NOT NULL AND NEW.status <> 'resolved' THEN
      INSERT INTO agent_loads AS l (tenant_id, user_id, active_count)
        VALUES (NEW.tenant_id, NEW.assigned_user_id, 1)
        ON CONFLICT (tenant_id, user_id) DO UPDATE SET active_count = l.active_count + 1;
    END IF;
  END IF;
  RETURN NULL;
END
$$;
