-- AlterTable
ALTER TABLE "agent_tasks" ADD COLUMN     "slot_taken" BOOLEAN NOT NULL DEFAULT false;

-- A task takes its slot while still queued (slot_taken); it becomes running when its agent starts,
-- which may be later (its queue may have no worker yet). Slots held: queued or running tasks with
-- slot_taken. Returns 0 when the task holds a slot, -1 when it has ended, else its place in line.
CREATE OR REPLACE FUNCTION acquire_agent_slot(p_task_id text, p_plan jsonb) RETURNS integer AS $$
DECLARE
  v_owner text;
  v_status text;
  v_taken boolean;
  v_limit integer;
  v_held integer;
  v_ahead integer;
BEGIN
  SELECT owner_id, status::text, slot_taken INTO v_owner, v_status, v_taken FROM agent_tasks WHERE id = p_task_id;
  IF v_owner IS NULL OR v_status NOT IN ('queued', 'running') THEN RETURN -1; END IF;
  IF v_taken OR v_status = 'running' THEN RETURN 0; END IF;
  PERFORM pg_advisory_xact_lock(hashtext('agent-slots:' || v_owner));
  SELECT COALESCE(l.parallel_agents, (p_plan ->> u.tier)::integer, 1) INTO v_limit
    FROM users u LEFT JOIN account_limits l ON l.user_id = u.id WHERE u.id = v_owner;
  SELECT count(*) INTO v_held FROM agent_tasks WHERE owner_id = v_owner AND status IN ('queued', 'running') AND slot_taken;
  SELECT count(*) INTO v_ahead FROM agent_tasks WHERE owner_id = v_owner AND status = 'queued' AND NOT slot_taken AND id < p_task_id;
  -- Earlier tasks have the first claim on free slots: this one takes one if a slot is left after them.
  IF v_held + v_ahead < v_limit THEN
    UPDATE agent_tasks SET slot_taken = true WHERE id = p_task_id AND status = 'queued';
    IF FOUND THEN RETURN 0; END IF;
    RETURN -1;
  END IF;
  RETURN v_held + v_ahead - v_limit + 1;
END
$$ LANGUAGE plpgsql;
