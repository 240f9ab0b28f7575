import { z } from 'zod';
import type { PersonService } from '../../archive/person/person-service.ts';
import type { JobDefinition, JobQueue } from '../queue.ts';

export const LINK_PERSON = 'link-person';

const payload = z.object({ patientPk: z.string().regex(/^\d+$/) });
type LinkPersonPayload = z.infer<typeof payload>;

/**
 * Enqueued by the index job when a patient record is new or its identifying attributes changed:
 * debounced, so the instances of one new patient's study end in one run after the last of them.
 */
export function enqueueLinkPerson(queue: JobQueue, patientPk: string): Promise<void> {
  return queue.enqueue(LINK_PERSON, { patientPk } satisfies LinkPersonPayload, { debounceId: `link-person-${patientPk}`, delayMs: 1000 });
}

/** The reconciler's form: under a fixed id, so a record whose linking failed for good waits in the failed list. */
export function enqueueUnlinkedPerson(queue: JobQueue, patientPk: string): Promise<void> {
  return queue.enqueue(LINK_PERSON, { patientPk } satisfies LinkPersonPayload, { jobId: `link-person-${patientPk}` });
}

/** Links a patient record to a person (archive/person/person-service.ts); idempotent. */
export function linkPersonJob(persons: PersonService): JobDefinition<LinkPersonPayload> {
  return {
    name: LINK_PERSON,
    payload,
    async handle({ patientPk }) {
      await persons.linkPatient(patientPk);
    },
  };
}
