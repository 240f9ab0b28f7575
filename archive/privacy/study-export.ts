import { createHmac } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import type { RetrieveService } from '../retrieve/retrieve-service.ts';
import { deidentify, remapUid, type DeidentifyOptions } from './deidentify.ts';

export interface ExportOptions {
  /** false exports the stored objects unchanged (a copy for another hospital's record). */
  deidentify: boolean;
  retainLongitudinalDates: boolean;
  retainPatientCharacteristics: boolean;
}

export interface ExportedInstance {
  /** Path inside the archive: study/series/instance, by the (new) UIDs. */
  name: string;
  bytes: Buffer;
  burnedInAnnotationRisk: boolean;
}

/**
 * A study's instances for export, de-identified by the PS3.15 Basic Application Level
 * Confidentiality Profile when asked. The deployment's secret makes UID remapping and the pseudonym
 * consistent: exporting the same study twice, or two studies of one patient, gives the same new
 * UIDs and the same pseudonym, so a research collection stays linkable without being identifiable.
 */
export class StudyExport {
  constructor(
    private readonly retrieve: RetrieveService,
    private readonly secret: () => Promise<Buffer>,
  ) {}

  async *instances(study: { studyInstanceUid: string; issuer: string; patientId: string }, options: ExportOptions): AsyncGenerator<ExportedInstance> {
    const objects = await this.retrieve.objects({ studyInstanceUid: study.studyInstanceUid });
    const uidSecret = await this.secret();
    const pseudonymKey = createHmac('sha256', uidSecret).update(`${study.issuer}|${study.patientId}`).digest('hex').slice(0, 10).toUpperCase();
    const deidentifyOptions: DeidentifyOptions = {
      retainLongitudinalDates: options.retainLongitudinalDates,
      retainPatientCharacteristics: options.retainPatientCharacteristics,
      uidSecret,
      pseudonym: { patientId: `ANON-${pseudonymKey}`, patientName: `ANON^${pseudonymKey}` },
    };
    for (const object of objects) {
      const stored = await buffer(await this.retrieve.content(object));
      if (!options.deidentify) {
        yield { name: `${object.studyInstanceUid}/${object.seriesInstanceUid}/${object.sopInstanceUid}.dcm`, bytes: stored, burnedInAnnotationRisk: false };
        continue;
      }
      const result = deidentify(stored, deidentifyOptions);
      const series = remapUid(object.seriesInstanceUid, uidSecret);
      yield { name: `${result.studyInstanceUid}/${series}/${result.sopInstanceUid}.dcm`, bytes: result.part10, burnedInAnnotationRisk: result.burnedInAnnotationRisk };
    }
  }
}
