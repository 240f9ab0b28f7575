-- Pulling a person's earlier studies from a hospital's own PACS (issue 17, query/retrieve SCU):
-- which registered peers Yingyun may query and retrieve from, and each fetch with its progress.

CREATE TABLE prior_fetch_sources (
  peer_id          bigint PRIMARY KEY REFERENCES dicom_peers (id) ON DELETE CASCADE,
  -- also fetch, without being asked, when a new study of a person arrives from anywhere
  on_arrival       boolean NOT NULL DEFAULT false,
  -- studies older than this are left where they are
  look_back_days   integer NOT NULL DEFAULT 1825 CHECK (look_back_days BETWEEN 1 AND 36500),
  updated_by       text NOT NULL,
  updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE prior_fetches (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  person_id        bigint NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
  peer_id          bigint NOT NULL REFERENCES dicom_peers (id) ON DELETE CASCADE,
  trigger          text NOT NULL CHECK (trigger IN ('on-demand', 'on-arrival')),
  requested_by     text,
  state            text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'querying', 'retrieving', 'done', 'failed')),
  studies_found    integer NOT NULL DEFAULT 0,
  -- studies found that Yingyun already holds whole, and so were not retrieved again
  studies_held     integer NOT NULL DEFAULT 0,
  studies_retrieved integer NOT NULL DEFAULT 0,
  instances_completed integer NOT NULL DEFAULT 0,
  instances_failed integer NOT NULL DEFAULT 0,
  instances_remaining integer NOT NULL DEFAULT 0,
  error            text,
  requested_at     timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz
);

CREATE INDEX prior_fetches_by_person ON prior_fetches (person_id, requested_at DESC);
-- one fetch of a person from a peer at a time: a second request while one runs joins it
CREATE UNIQUE INDEX prior_fetches_one_running ON prior_fetches (person_id, peer_id) WHERE state IN ('queued', 'querying', 'retrieving');
