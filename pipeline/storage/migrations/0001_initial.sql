-- 0001: the pipeline's tables (docs/architecture.md#storage).
-- Every *_at column is epoch seconds (double precision), the same as the messages' times.
-- The storage service writes answers, attempts and dead_letters; the event sink writes events;
-- the traffic generator bumps answers.access_count; experiments is written by the runner.

CREATE TABLE IF NOT EXISTS experiments (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    spec         jsonb NOT NULL DEFAULT '{}'::jsonb,
    status       text NOT NULL DEFAULT 'created',  -- created | running | finished | failed | stopped
    git_revision text,
    created_at   double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp()),
    started_at   double precision,
    finished_at  double precision,
    summary      jsonb
);

-- One row per (experiment, question): the final outcome. Written idempotently: a better outcome
-- (accepted > low_quality > dead_lettered > still in flight; then later round, later completion)
-- replaces a worse one, a duplicate changes nothing.
CREATE TABLE IF NOT EXISTS answers (
    experiment_id     text NOT NULL,
    question_id       text NOT NULL,
    send_seq          bigint,
    topic             text,
    topic_id          integer,
    question_title    text NOT NULL DEFAULT '',
    question_content  text NOT NULL DEFAULT '',
    reference_answer  text NOT NULL DEFAULT '',
    llm_answer        text,
    model             text,
    prompt_tokens     integer,
    completion_tokens integer,
    score             double precision,          -- final round's score
    score_round0      double precision,
    round_scores      jsonb NOT NULL DEFAULT '[]'::jsonb,  -- index = round
    rounds            integer NOT NULL DEFAULT 0,  -- regenerations (0 = first answer was final)
    max_rounds        integer,
    score_threshold   double precision,
    scorer            text,
    policy_ref        text,
    attempts          integer NOT NULL DEFAULT 0,  -- LLM attempts in the final round
    llm_calls         integer NOT NULL DEFAULT 0,  -- LLM attempts over every round
    failed_attempts   integer NOT NULL DEFAULT 0,
    deferrals         integer NOT NULL DEFAULT 0,  -- hand-offs to a retry tier, every round
    access_count      integer NOT NULL DEFAULT 1,  -- times asked: the first ask + cache hits + coalesced asks
    terminal_state    text CHECK (terminal_state IN ('accepted', 'low_quality', 'dead_lettered')),
                                                   -- NULL: asked again while still in flight
    dlq_reason        text,
    intended_at       double precision,          -- when the arrival process meant to send it
    created_at        double precision,          -- when the generator built the record
    sent_at           double precision,          -- generator.sent hop
    first_attempt_at  double precision,
    completed_at      double precision,          -- the last hop before storage
    durable_at        double precision,          -- the storage transaction that made it durable
    last_access_at    double precision,
    hops              jsonb NOT NULL DEFAULT '{}'::jsonb,  -- hop name -> [time in round 0, round 1, ...]
    source_topic      text,
    source_partition  integer,
    source_offset     bigint,
    updated_at        double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp()),
    PRIMARY KEY (experiment_id, question_id)
);
CREATE INDEX IF NOT EXISTS answers_question_idx ON answers (question_id);
CREATE INDEX IF NOT EXISTS answers_state_idx ON answers (experiment_id, terminal_state);

CREATE OR REPLACE FUNCTION answer_state_rank(state text) RETURNS integer
    LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE state WHEN 'accepted' THEN 3 WHEN 'low_quality' THEN 2
                     WHEN 'dead_lettered' THEN 1 ELSE 0 END $$;

-- Per-LLM-attempt telemetry of the stored outcome (the winning record's attempt history).
-- Every call ever made, duplicates from crash replays included, is also in events (llm_attempt).
CREATE TABLE IF NOT EXISTS attempts (
    experiment_id  text NOT NULL,
    question_id    text NOT NULL,
    round          integer NOT NULL,
    number         integer NOT NULL,             -- 1-based within the round
    status         text NOT NULL CHECK (status IN ('ok', 'error')),
    error_class    text,
    http_status    integer,
    started_at     double precision NOT NULL,
    ended_at       double precision NOT NULL,
    latency_s      double precision GENERATED ALWAYS AS (ended_at - started_at) STORED,
    delay_s        double precision,             -- wait chosen after this attempt
    deferred       boolean NOT NULL DEFAULT false,  -- that wait was spent in a retry tier
    tier           text,                         -- the tier, e.g. '5s'
    delay_before_s double precision NOT NULL DEFAULT 0,  -- in-worker backoff before this attempt
    tier_wait_s    double precision NOT NULL DEFAULT 0,  -- deferral -> this attempt's start
    detail         text,
    PRIMARY KEY (experiment_id, question_id, round, number)
);

-- Telemetry from qa.events (one per hop and per LLM attempt, cache hits, windows...).
CREATE TABLE IF NOT EXISTS events (
    event_id      text PRIMARY KEY,
    experiment_id text NOT NULL,
    question_id   text,
    stage         text NOT NULL,
    kind          text NOT NULL,
    ts            double precision NOT NULL,
    round         integer,
    attempt       integer,
    attrs         jsonb NOT NULL DEFAULT '{}'::jsonb,
    durable_at    double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp())
);
CREATE INDEX IF NOT EXISTS events_experiment_kind_idx ON events (experiment_id, kind, ts);
CREATE INDEX IF NOT EXISTS events_question_idx ON events (experiment_id, question_id);

-- Every record of qa.dlq (a dead-lettered envelope, or raw bytes that did not decode) and every
-- undecodable record of a topic the storage service reads. record_* is where storage read it.
CREATE TABLE IF NOT EXISTS dead_letters (
    id                bigserial PRIMARY KEY,
    record_topic      text NOT NULL,
    record_partition  integer NOT NULL,
    record_offset     bigint NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('envelope', 'raw')),
    reason            text NOT NULL,
    code              text NOT NULL,             -- reason before the colon
    stage             text,
    experiment_id     text,
    question_id       text,
    source_topic      text,                      -- where the bad record was first read
    source_partition  integer,
    source_offset     bigint,
    source_key        text,
    payload           text NOT NULL,
    payload_encoding  text NOT NULL,             -- text | base64
    payload_size      integer NOT NULL,
    payload_sha256    text NOT NULL,
    payload_truncated boolean NOT NULL DEFAULT false,
    dead_lettered_at  double precision NOT NULL,
    durable_at        double precision NOT NULL,
    UNIQUE (record_topic, record_partition, record_offset, payload_sha256)
);
CREATE INDEX IF NOT EXISTS dead_letters_experiment_idx ON dead_letters (experiment_id, code);
