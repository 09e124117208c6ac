-- Takes an agent slot for a queued task in one round trip (see src/services/tasks/agent-slots.ts).
-- p_plan maps a tier to its parallel-agent limit; an account_limits override wins.
-- Returns 0 when the task holds a slot, -1 when it is no longer queued or running, else its
-- position in the queue of its account (1 = starts when the next slot frees).
CREATE OR REPLACE FUNCTION acquire_agent_slot(p_task_id text, p_plan jsonb) RETURNS integer AS $$
DECLARE
  v_owner text;
  v_status text;
  v_limit integer;
  v_running integer;
  v_ahead integer;
BEGIN
  SELECT owner_id, status::text INTO v_owner, v_status FROM agent_tasks WHERE id = p_task_id;
  IF v_owner IS NULL OR v_status NOT IN ('queued', 'running') THEN RETURN -1; END IF;
  IF v_status = 'running' THEN RETURN 0; END IF;
  -- The slots of one account are taken one at a time; the counts below are read after the lock.
  PERFORM pg_advisory_xact_lock(hashtext('agent-slots:' || v_owner));
  SELECT COALESCE(l.parallel_agents, (p_plan ->> u.tier)::integer, 1) INTO v_limit
    FROM users u LEFT JOIN account_limits l ON l.user_id = u.id WHERE u.id = v_owner;
  SELECT count(*) INTO v_running FROM agent_tasks WHERE owner_id = v_owner AND status = 'running';
  SELECT count(*) INTO v_ahead FROM agent_tasks WHERE owner_id = v_owner AND status = 'queued' AND id < p_task_id;
  -- Earlier tasks have the first claim on free slots: this one starts if a slot is left after them.
  IF v_running + v_ahead < v_limit THEN
    UPDATE agent_tasks SET status = 'running', started_at = now() WHERE id = p_task_id AND status = 'queued';
    IF FOUND THEN RETURN 0; END IF;
    RETURN -1;
  END IF;
  RETURN v_running + v_ahead - v_limit + 1;
END
$$ LANGUAGE plpgsql;
