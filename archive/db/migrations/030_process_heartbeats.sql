-- Process heartbeats (issue 18, scale out): every gateway, worker and `npm start` process writes a
-- small snapshot of its metrics here every 10 s, so the admin UI's status page, served by whichever
-- gateway the browser reaches, sees every process and charts their recent figures.
-- UNLOGGED: telemetry, not records. Its writes need no WAL flush, so they never queue behind receipts'
-- commits, and after a PostgreSQL crash the tables start empty and fill again within one interval.

CREATE UNLOGGED TABLE process_heartbeats (
  process_id   text PRIMARY KEY,
  role         text NOT NULL CHECK (role IN ('all', 'gateway', 'worker', 'edge')),
  host         text NOT NULL,
  pid          integer NOT NULL,
  started_at   timestamptz NOT NULL,
  seen_at      timestamptz NOT NULL,
  -- set by a graceful stop; a process that crashed just stops being seen
  stopped_at   timestamptz,
  snapshot     jsonb NOT NULL
);

-- The time series behind the charts: one row per process per interval, kept for an hour.
CREATE UNLOGGED TABLE process_metric_samples (
  sampled_at   timestamptz NOT NULL,
  process_id   text NOT NULL,
  snapshot     jsonb NOT NULL,
  PRIMARY KEY (sampled_at, process_id)
);
