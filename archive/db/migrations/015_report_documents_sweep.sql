-- The reconciler asks every pass which signed versions still lack their SR or PDF. The PDF's SOP
-- Instance UID is derived from the SR's (archive/reading/report-pdf.ts reportPdfUids) and is now
-- stored at signing, so that question is answered by the index of receipts alone.
ALTER TABLE report_versions ADD COLUMN pdf_sop_instance_uid text;

-- Versions signed before this migration: the same derivation, '2.25.' and the first 128 bits of
-- SHA-256('yingyun:report-pdf:' || SR UID) in decimal.
UPDATE report_versions v SET pdf_sop_instance_uid = '2.25.' || (
  SELECT sum(get_byte(digest.bytes, i)::numeric * power(256::numeric, 15 - i))::numeric(39, 0)::text
  FROM (SELECT sha256(convert_to('yingyun:report-pdf:' || v.sr_sop_instance_uid, 'UTF8')) AS bytes) digest, generate_series(0, 15) i
);

ALTER TABLE report_versions ALTER COLUMN pdf_sop_instance_uid SET NOT NULL;

-- The sweep reads the versions signed within its window, by signing time.
CREATE INDEX report_versions_created_at ON report_versions (created_at);
