-- The worklist's page is chosen from this index alone (an index-only scan where pages are all-visible)
-- before any workitem's dataset is read; it replaces the same index without the UID.
CREATE INDEX workitems_by_institution_state_start_uid ON workitems (institution_id, state, scheduled_start) INCLUDE (sop_instance_uid);
DROP INDEX workitems_by_institution_state_start;
