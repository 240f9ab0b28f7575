-- Critical findings (危急值, issue 15): the centre's list of categories, each hospital's receiving
-- settings, the notices themselves and every step taken on them (the 危急值登记本).

-- The categories a reader may mark, as radiology departments publish their 危急值 lists. Admins edit
-- them; a category is retired (active = false), never deleted, so the register keeps its names.
CREATE TABLE critical_categories (
  code        text PRIMARY KEY CHECK (code ~ '^[a-z0-9-]{1,64}$'),
  name_zh     text NOT NULL,
  name_en     text NOT NULL,
  active      boolean NOT NULL DEFAULT true,
  sort_order  integer NOT NULL DEFAULT 0
);
INSERT INTO critical_categories (code, name_zh, name_en, sort_order) VALUES
  ('intracranial-haemorrhage', '颅内出血', 'Intracranial haemorrhage', 10),
  ('acute-cerebral-infarction', '急性脑梗死', 'Acute cerebral infarction', 20),
  ('brain-herniation', '脑疝', 'Brain herniation', 30),
  ('tension-pneumothorax', '张力性气胸', 'Tension pneumothorax', 40),
  ('aortic-dissection', '主动脉夹层', 'Aortic dissection', 50),
  ('ruptured-aortic-aneurysm', '主动脉瘤破裂', 'Ruptured aortic aneurysm', 60),
  ('pulmonary-embolism', '肺栓塞', 'Pulmonary embolism', 70),
  ('cardiac-tamponade', '大量心包积液/心包填塞', 'Large pericardial effusion / cardiac tamponade', 80),
  ('gi-perforation', '消化道穿孔', 'Gastrointestinal perforation', 90),
  ('bowel-obstruction', '肠梗阻/肠扭转', 'Bowel obstruction / volvulus', 100),
  ('solid-organ-rupture', '肝脾等实质脏器破裂出血', 'Solid organ rupture with haemorrhage', 110),
  ('ruptured-ectopic-pregnancy', '异位妊娠破裂', 'Ruptured ectopic pregnancy', 120),
  ('spinal-cord-compression', '脊柱骨折伴脊髓压迫', 'Spinal fracture with cord compression', 130),
  ('airway-foreign-body', '气管/支气管异物', 'Tracheal or bronchial foreign body', 140);

-- How a hospital receives notices: its outgoing webhook (an SMS or WeChat gateway) and when an
-- unacknowledged notice escalates. No row: in-app only, escalation after the default.
CREATE TABLE critical_settings (
  institution_id            bigint PRIMARY KEY REFERENCES institutions (id),
  webhook_url               text,
  -- The HMAC-SHA256 key the receiver checks the signature with; never served back.
  webhook_secret            text,
  escalate_after_seconds    integer NOT NULL DEFAULT 600 CHECK (escalate_after_seconds BETWEEN 1 AND 86400)
);

-- Who is told when a notice escalates: level 1 (e.g. the department head), level 2 (医务科), …
CREATE TABLE critical_contacts (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  institution_id  bigint NOT NULL REFERENCES institutions (id),
  level           integer NOT NULL CHECK (level BETWEEN 1 AND 9),
  name            text NOT NULL,
  title           text NOT NULL,
  phone           text NOT NULL
);
CREATE INDEX critical_contacts_by_institution ON critical_contacts (institution_id, level);

-- One notice per finding raised on a study, to the institution that sent it. What it says, who the
-- patient is and who raised it are copied at raising: the register must not change afterwards.
CREATE TABLE critical_notices (
  id                        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  study_instance_uid        text NOT NULL,
  institution_id            bigint NOT NULL REFERENCES institutions (id),
  report_id                 text,
  category_code             text NOT NULL REFERENCES critical_categories (code),
  text                      text NOT NULL,
  patient_id                text NOT NULL,
  patient_name              text,
  raised_by_user_id         bigint NOT NULL REFERENCES users (id),
  raised_by_name            text NOT NULL,
  raising_institution_id    bigint REFERENCES institutions (id),
  raised_at                 timestamptz NOT NULL DEFAULT now(),
  acknowledged_at           timestamptz,
  acknowledged_by_user_id   bigint REFERENCES users (id),
  acknowledged_by_name      text,
  acknowledged_by_role      text,
  acknowledged_by_phone     text,
  read_back                 text,
  escalation_level          integer NOT NULL DEFAULT 0,
  -- When the escalation check next acts on it; NULL once acknowledged or past the last level.
  next_escalation_at        timestamptz,
  -- A signed report raises its finding once, however often its listeners run.
  UNIQUE (report_id, category_code)
);
CREATE INDEX critical_notices_open ON critical_notices (institution_id, raised_at DESC) WHERE acknowledged_at IS NULL;
CREATE INDEX critical_notices_by_study ON critical_notices (study_instance_uid);
CREATE INDEX critical_notices_due ON critical_notices (next_escalation_at) WHERE next_escalation_at IS NOT NULL;
CREATE INDEX critical_notices_by_time ON critical_notices (raised_at);

-- Every step, in order: raised, notified, webhook-delivered, webhook-failed, acknowledged, escalated.
CREATE TABLE critical_notice_steps (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  notice_id     bigint NOT NULL REFERENCES critical_notices (id),
  step          text NOT NULL CHECK (step IN ('raised', 'notified', 'webhook-delivered', 'webhook-failed', 'acknowledged', 'escalated')),
  occurred_at   timestamptz NOT NULL DEFAULT now(),
  -- Who acted (a user's display name, or 'Yingyun' for what the system did) and to whom it went.
  actor         text NOT NULL,
  recipients    text NOT NULL DEFAULT '',
  detail        jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX critical_notice_steps_by_notice ON critical_notice_steps (notice_id, id);
