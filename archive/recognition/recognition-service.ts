import { z } from 'zod';
import { adminChangeEvent, type Actor } from '../access/administration.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { bilingual } from '../i18n/configured-label.ts';
import type { Institution, InstitutionsRepository, Region } from '../db/institutions-repository.ts';
import type { MarkSeriesFacts, MarkStudyFacts, NearestRecognitionConfiguration, RecognitionRepository, StoredAccreditation } from '../db/recognition-repository.ts';
import { worstGrade, type QualityService } from '../quality/quality-service.ts';
import { DEFAULT_QC_CONFIGURATION, type QcConfiguration, type QcScale } from '../quality/qc-scales.ts';
import { accreditationSchema, DEFAULT_RECOGNITION_REGION, hrMarkOf, regionToday, recognitionRegionSchema, type HrMarkResult, type RecognitionRegion } from './hr-mark.ts';
import { DEFAULT_RECOGNITION_REASONS, recognitionReasonsSchema, type RecognitionReason } from './recognition-reasons.ts';

/** A change refused, with the HTTP status it answers and a reason an administrator can act on. */
export class RecognitionAdminRefusal extends Error {
  constructor(
    readonly httpStatus: 400 | 403 | 404,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/**
 * A region's recognition configuration as its administrator sees it: what the region itself sets
 * (`own`; a null part is inherited) and what applies there (`effective`), each part with the region
 * it comes from (null: the shipped defaults).
 */
export interface RegionRecognition {
  regionId: string;
  own: { configuration: RecognitionRegion | null; reasons: RecognitionReason[] | null; updatedByName: string; updatedAt: Date } | null;
  effective: { configuration: RecognitionRegion; configurationFrom: string | null; reasons: RecognitionReason[]; reasonsFrom: string | null };
  /** The QC scales a minimum grade is set on, with their grades best first (the shipped scales, which a saved minimum is checked against). */
  scales: Pick<QcScale, 'id' | 'modalities' | 'grades'>[];
}

/**
 * A region its administrator may configure, with where its configuration and reasons come from (the
 * region id that sets them, null: the shipped defaults), and the institutions it covers (its own and
 * those of the regions below it), whom the administrator may accredit.
 */
export interface AdministeredRegion {
  region: Region;
  configurationFrom: string | null;
  reasonsFrom: string | null;
  institutions: Pick<Institution, 'id' | 'code' | 'name' | 'kind' | 'regionId'>[];
}

/** What an administrator PUTs for a region: either part null to inherit it from above. */
export const regionRecognitionInputSchema = z.strictObject({
  configuration: recognitionRegionSchema.nullable(),
  reasons: recognitionReasonsSchema.nullable(),
});

const withdrawalSchema = z.strictObject({
  /** The last day the accreditation holds; default today (withdrawn from tomorrow on). */
  validUntil: z.iso.date().optional(),
  reason: z.string().trim().min(1).max(500),
});

const NON_IMAGE_MODALITIES = new Set(['SR', 'KO', 'PR', 'DOC', 'SEG', 'REG', 'RWV', 'PLAN', 'RTSTRUCT', 'RTPLAN', 'RTRECORD', 'RTDOSE', 'FID', 'AU', 'ECG']);

/**
 * The mutual-recognition mark (互认标识) at work: a region's configuration and its accreditations,
 * stored, and the mark of any study computed from them with `hrMarkOf` (archive/recognition/hr-mark.ts).
 *
 * Which configuration applies to a study: its institution's region's, else the nearest ancestor
 * region's that sets one, else the shipped defaults (with no accreditations, so nothing carries
 * the mark). The configuration and the reasons list are inherited separately.
 */
export class RecognitionService {
  constructor(private readonly deps: { repository: RecognitionRepository; institutions: InstitutionsRepository; quality: QualityService; audit: AuditLog }) {}

  /**
   * The mark of each study (unknown UIDs are absent from the map), in a fixed number of queries
   * whatever the number of studies: the studies' facts, their institutions' configurations and
   * accreditations, and the QC configurations of the centres that graded them.
   *
   * A study of several series is judged on one series: the one whose grade is the study's (its worst
   * graded series, which decides the grade), else its first image series (by series number; SR, KO,
   * PR and other non-image series do not count). Its modality and body part name the item.
   */
  async marks(studyInstanceUids: readonly string[], today: string = regionToday()): Promise<Map<string, HrMarkResult>> {
    const marks = new Map<string, HrMarkResult>();
    if (studyInstanceUids.length === 0) return marks;
    const studies = await this.deps.repository.markFacts([...new Set(studyInstanceUids)]);
    const institutionIds = [...new Set(studies.map((study) => study.institutionId))];
    const graderIds = [...new Set(studies.map(graderOf).filter((id): id is string => id !== null))];
    const [nearest, accreditations, qcConfigurations] = await Promise.all([
      this.deps.repository.nearestForInstitutions(institutionIds),
      this.deps.repository.accreditationsOf(institutionIds),
      this.deps.quality.configurationsFor(graderIds),
    ]);
    for (const study of studies) {
      const grader = graderOf(study);
      const qc = (grader && qcConfigurations.get(grader)) || DEFAULT_QC_CONFIGURATION;
      const judged = judgedSeries(qc, study.series);
      marks.set(
        study.studyInstanceUid,
        hrMarkOf(
          { institutionId: study.institutionId, modality: judged.series?.modality ?? '', bodyPart: judged.series?.bodyPart ?? null, studyDate: study.studyDate, qcGrade: judged.grade },
          { region: configurationOf(nearest.get(study.institutionId)), accreditations, qc, today },
        ),
      );
    }
    return marks;
  }

  /** The non-recognition reasons a clinician of this institution chooses from: its region's, else the nearest ancestor's, else the defaults. */
  async reasons(institutionId: string): Promise<RecognitionReason[]> {
    const nearest = (await this.deps.repository.nearestForInstitutions([institutionId])).get(institutionId);
    return nearest?.reasons ? recognitionReasonsSchema.parse(nearest.reasons) : DEFAULT_RECOGNITION_REASONS;
  }

  /** The configuration that applies to an institution's studies. */
  async configurationForInstitution(institutionId: string): Promise<RecognitionRegion> {
    return configurationOf((await this.deps.repository.nearestForInstitutions([institutionId])).get(institutionId));
  }

  /**
   * The regions an administrator configures (all for a system administrator; a reading centre's
   * region and those below it for the centre's administrator; 403 for anyone else), in three queries
   * whatever the size of the tree.
   */
  async administeredRegions(actor: Actor): Promise<AdministeredRegion[]> {
    const centre = actor.role === 'institution_admin' && actor.institutionId ? await this.deps.institutions.findInstitution(actor.institutionId) : null;
    const centreRegion = centre?.kind === 'reading_centre' ? centre.regionId : null;
    if (actor.role !== 'system_admin' && !centreRegion) throw new RecognitionAdminRefusal(403, 'recognition is configured by a system administrator or the administrator of a reading centre');
    const [regions, institutions, configured] = await Promise.all([this.deps.institutions.listRegions(), this.deps.institutions.listInstitutions(), this.deps.repository.configuredParts()]);
    const byId = new Map(regions.map((region) => [region.id, region]));
    // The region and its ancestors, nearest first; bounded like the repository's recursive queries, against a hand-written cycle.
    const chain = (regionId: string): string[] => {
      const ids: string[] = [];
      for (let id: string | null | undefined = regionId; id && ids.length <= 16; id = byId.get(id)?.parentId) ids.push(id);
      return ids;
    };
    const setting = (part: 'configuration' | 'reasons') => new Set(configured.filter((row) => row[part]).map((row) => row.regionId));
    const [configurations, reasons] = [setting('configuration'), setting('reasons')];
    const administered = regions.filter((region) => actor.role === 'system_admin' || chain(region.id).includes(centreRegion!));
    return administered.map((region) => ({
      region,
      configurationFrom: chain(region.id).find((id) => configurations.has(id)) ?? null,
      reasonsFrom: chain(region.id).find((id) => reasons.has(id)) ?? null,
      institutions: institutions
        .filter((institution) => institution.kind !== 'quarantine' && institution.regionId && chain(institution.regionId).includes(region.id))
        .map(({ id, code, name, kind, regionId }) => ({ id, code, name, kind, regionId })),
    }));
  }

  async regionRecognition(actor: Actor, regionId: string): Promise<RegionRecognition> {
    await this.#requireRegionInScope(actor, regionId);
    const [own, nearest] = await Promise.all([this.deps.repository.ownConfiguration(regionId), this.deps.repository.nearestForRegion(regionId)]);
    return {
      regionId,
      own: own && {
        configuration: own.configuration === null ? null : recognitionRegionSchema.parse(own.configuration),
        reasons: own.reasons === null ? null : recognitionReasonsSchema.parse(own.reasons),
        updatedByName: own.updatedByName,
        updatedAt: own.updatedAt,
      },
      effective: {
        configuration: configurationOf(nearest),
        configurationFrom: nearest.configurationRegionId,
        reasons: nearest.reasons ? recognitionReasonsSchema.parse(nearest.reasons) : DEFAULT_RECOGNITION_REASONS,
        reasonsFrom: nearest.reasonsRegionId,
      },
      scales: DEFAULT_QC_CONFIGURATION.scales,
    };
  }

  /** Validates (zod's reasons as a 400) and stores a region's configuration; audited as an administrative change. */
  async setRegionRecognition(actor: Actor, regionId: string, input: unknown): Promise<RegionRecognition> {
    await this.#requireRegionInScope(actor, regionId);
    const parsed = parsed400(regionRecognitionInputSchema, input);
    // hrMarkOf refuses a minimum its scale lacks; caught here rather than on every page of marks.
    for (const [scaleId, gradeCode] of Object.entries(parsed.configuration?.minimumGrades ?? {})) {
      const scale = DEFAULT_QC_CONFIGURATION.scales.find((candidate) => candidate.id === scaleId);
      if (scale && !scale.grades.some((grade) => grade.code === gradeCode)) {
        throw new RecognitionAdminRefusal(400, `configuration.minimumGrades.${scaleId}: ${gradeCode} is not a grade of the ${scaleId} scale (${scale.grades.map((grade) => grade.code).join(', ')})`);
      }
    }
    await this.deps.repository.saveConfiguration(regionId, parsed.configuration, parsed.reasons, actor.username);
    await this.#audit(actor, 'U', {
      change: 'recognition-configuration',
      regionId,
      abbreviation: parsed.configuration?.abbreviation ?? null,
      items: parsed.configuration?.items.map((item) => item.code) ?? null,
      minimumGrades: parsed.configuration?.minimumGrades ?? null,
      reasons: parsed.reasons?.map((reason) => reason.code) ?? null,
    });
    return this.regionRecognition(actor, regionId);
  }

  /** The accreditations of the institutions in a region and below it, current and past. */
  async accreditationsInRegion(actor: Actor, regionId: string): Promise<StoredAccreditation[]> {
    await this.#requireRegionInScope(actor, regionId);
    return this.deps.repository.accreditationsInRegion(regionId);
  }

  /** Accredits an institution for one of its region's items (400 for an item the region does not list). */
  async accredit(actor: Actor, input: unknown): Promise<StoredAccreditation> {
    const accreditation = parsed400(accreditationSchema, input);
    const institution = /^\d{1,18}$/.test(accreditation.institutionId) ? await this.deps.institutions.findInstitution(accreditation.institutionId) : null;
    if (!institution) throw new RecognitionAdminRefusal(400, `no institution ${accreditation.institutionId}`);
    await this.#requireInstitutionInScope(actor, institution.regionId);
    const region = await this.configurationForInstitution(institution.id);
    if (!region.items.some((item) => item.code === accreditation.itemCode)) {
      throw new RecognitionAdminRefusal(400, `${accreditation.itemCode} is not an examination item of the institution's region (${region.items.map((item) => item.code).join(', ')})`);
    }
    const stored = await this.deps.repository.addAccreditation(accreditation, actor.username);
    await this.#audit(actor, 'C', { change: 'accreditation', accreditationId: stored.id, institutionId: stored.institutionId, itemCode: stored.itemCode, validFrom: stored.validFrom, validUntil: stored.validUntil });
    return stored;
  }

  /**
   * Withdraws an accreditation: it ends on `validUntil` (default today), with who and why; nothing is
   * deleted. 404 for none in the actor's scope, and for one already withdrawn.
   */
  async withdraw(actor: Actor, accreditationId: string, input: unknown): Promise<StoredAccreditation> {
    const { validUntil = regionToday(), reason } = parsed400(withdrawalSchema, input);
    const existing = await this.deps.repository.accreditation(accreditationId);
    const institution = existing && (await this.deps.institutions.findInstitution(existing.institutionId));
    if (!existing || !institution || !(await this.#inScope(actor, institution.regionId))) throw new RecognitionAdminRefusal(404, `no accreditation ${accreditationId} in your scope`);
    const withdrawn = await this.deps.repository.withdraw(accreditationId, validUntil, actor.username, reason);
    if (!withdrawn) throw new RecognitionAdminRefusal(404, `accreditation ${accreditationId} is already withdrawn`);
    await this.#audit(actor, 'U', { change: 'accreditation-withdrawn', accreditationId, institutionId: withdrawn.institutionId, itemCode: withdrawn.itemCode, validUntil: withdrawn.validUntil, reason });
    return withdrawn;
  }

  /**
   * Who administers recognition in a region: a system administrator anywhere; the institution
   * administrator of a reading centre (the region's QC and reading centre, which the health
   * commission entrusts with it) in the centre's region and the regions below it. A hospital's own
   * administrator may not accredit their hospital.
   */
  async #inScope(actor: Actor, regionId: string | null): Promise<boolean> {
    if (actor.role === 'system_admin') return true;
    if (actor.role !== 'institution_admin' || !actor.institutionId || !regionId) return false;
    const centre = await this.deps.institutions.findInstitution(actor.institutionId);
    if (!centre || centre.kind !== 'reading_centre' || !centre.regionId) return false;
    return (await this.deps.repository.regionAndAncestors(regionId)).includes(centre.regionId);
  }

  async #requireRegionInScope(actor: Actor, regionId: string): Promise<void> {
    if ((await this.deps.repository.regionAndAncestors(regionId)).length === 0) throw new RecognitionAdminRefusal(404, `no region ${regionId}`);
    if (!(await this.#inScope(actor, regionId))) throw new RecognitionAdminRefusal(403, 'recognition is configured by a system administrator or the administrator of the region\'s reading centre');
  }

  async #requireInstitutionInScope(actor: Actor, regionId: string | null): Promise<void> {
    if (!(await this.#inScope(actor, regionId))) throw new RecognitionAdminRefusal(403, 'an institution is accredited by a system administrator or the administrator of its region\'s reading centre');
  }

  #audit(actor: Actor, action: 'C' | 'U', detail: Record<string, unknown>): Promise<void> {
    return this.deps.audit.record(adminChangeEvent(actor, action, detail));
  }
}

function parsed400<T>(schema: z.ZodType<T>, input: unknown): T {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new RecognitionAdminRefusal(400, parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; '));
  return parsed.data;
}

function configurationOf(nearest: NearestRecognitionConfiguration | undefined): RecognitionRegion {
  return nearest?.configuration ? recognitionRegionSchema.parse(nearest.configuration) : DEFAULT_RECOGNITION_REGION;
}

/** The centre whose QC configuration the study's grades are on: the one that graded it last. */
function graderOf(study: MarkStudyFacts): string | null {
  let latest: MarkSeriesFacts['grade'] = null;
  for (const { grade } of study.series) if (grade && (!latest || grade.gradedAt > latest.gradedAt)) latest = grade;
  return latest?.graderInstitutionId ?? null;
}

/** The series a study is judged on, and the study's grade (see `marks`). */
function judgedSeries(qc: QcConfiguration, series: readonly MarkSeriesFacts[]): { series: MarkSeriesFacts | null; grade: string | null } {
  const graded = series.filter((candidate): candidate is MarkSeriesFacts & { grade: NonNullable<MarkSeriesFacts['grade']> } => candidate.grade !== null);
  const studyGrade = worstGrade(qc, graded.map((candidate) => candidate.grade));
  if (studyGrade) {
    const deciding = graded.find((candidate) => candidate.grade.scaleId === studyGrade.scaleId && candidate.grade.gradeCode === studyGrade.grade.code);
    return { series: deciding ?? null, grade: studyGrade.grade.code };
  }
  const firstImage = series.find((candidate) => candidate.modality !== null && !NON_IMAGE_MODALITIES.has(candidate.modality.toUpperCase())) ?? null;
  return { series: firstImage, grade: null };
}

/** Why a study carries no mark, each reason in both languages (none when it carries one), as the screens show it. */
export function markAbsenceLabels(mark: HrMarkResult | undefined): { zh: string; en: string }[] {
  return mark && !mark.carries ? mark.reasons.map((reason) => bilingual({ key: `recognition.absent.${reason.code}` })) : [];
}
