-- One row per run of an experiment spec (a run has one experiments row per repeat): its
-- lifecycle, which the experiment DAG, `harness run` and the detached load process share.
--   phase:  registered -> waiting (for other runs' questions to drain) -> loading -> draining
--           -> drained -> reported
--   status: running until the run ends; then finished | failed | stopped (with a reason)
-- The load process claims a run once (loader_pid, set by an UPDATE ... WHERE loader_pid IS NULL),
-- so a retried Airflow task never sends the load twice; it beats heartbeat_at while it lives.
CREATE TABLE IF NOT EXISTS runs (
    label            text PRIMARY KEY,            -- reports/<label>/, the Airflow run id when named
    name             text NOT NULL,
    spec             jsonb NOT NULL,
    experiment_ids   jsonb NOT NULL,              -- one per repeat, in order
    phase            text NOT NULL DEFAULT 'registered',
    status           text NOT NULL DEFAULT 'running'
                     CHECK (status IN ('running', 'finished', 'failed', 'stopped')),
    reason           text,                        -- why it failed or stopped
    dag_run_id       text,
    load_requested_at double precision,          -- when a step asked for the load process
    loader_pid       integer,
    loader_host      text,
    heartbeat_at     double precision,
    sim_counters     jsonb,                       -- the simulator's counters before the load
    load_started_at  double precision,
    load_finished_at double precision,
    drained_at       double precision,
    in_flight        integer,                     -- questions pending when the run ended
    report_dir       text,
    created_at       double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp()),
    updated_at       double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp()),
    finished_at      double precision
);
CREATE INDEX IF NOT EXISTS runs_status_idx ON runs (status, updated_at);
CREATE INDEX IF NOT EXISTS runs_name_idx ON runs (name, created_at);
