import type { RequestedTask } from '../api/reading-client.ts';
import type { ReadingStatus } from '../../../archive/reading/reading-wire.ts';

/** What the list is narrowed to; empty strings match everything. */
export interface WorklistFilter {
  status: ReadingStatus | '';
  modality: string;
  emergencyOnly: boolean;
  text: string;
}

export const EMPTY_FILTER: WorklistFilter = { status: '', modality: '', emergencyOnly: false, text: '' };

/** The tasks the filter lets through, in the order given. */
export function visibleTasks(tasks: readonly RequestedTask[], filter: WorklistFilter): RequestedTask[] {
  const text = filter.text.trim().toLowerCase();
  return tasks.filter(
    (task) =>
      (!filter.status || task.status === filter.status) &&
      (!filter.modality || task.modality === filter.modality) &&
      (!filter.emergencyOnly || task.priority === 'HIGH') &&
      (!text || [task.patientName, task.patientId, task.accessionNumber, task.sendingInstitution, task.clinicalQuestion, task.bodyPart].some((value) => value.toLowerCase().includes(text))),
  );
}
