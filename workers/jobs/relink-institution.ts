import { z } from 'zod';
import type { PersonService } from '../../archive/person/person-service.ts';
import type { JobDefinition, JobQueue } from '../queue.ts';

export const RELINK_INSTITUTION = 'relink-institution';

const payload = z.object({ institutionId: z.string().regex(/^\d+$/) });
type RelinkInstitutionPayload = z.infer<typeof payload>;

/** Enqueued when an institution's identifier rules change; debounced, so several edits in a row cost one pass. */
export function enqueueRelinkInstitution(queue: JobQueue, institutionId: string): Promise<void> {
  return queue.enqueue(RELINK_INSTITUTION, { institutionId } satisfies RelinkInstitutionPayload, { debounceId: `relink-institution-${institutionId}`, delayMs: 1000 });
}

/** Links every record of the institution again under its new rules (manual links stay as a person made them). */
export function relinkInstitutionJob(persons: PersonService): JobDefinition<RelinkInstitutionPayload> {
  return {
    name: RELINK_INSTITUTION,
    payload,
    async handle({ institutionId }) {
      await persons.relinkInstitution(institutionId);
    },
  };
}
