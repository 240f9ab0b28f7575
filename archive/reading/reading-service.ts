import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Principal, Visibility } from '../access/policy.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { maskIdentity } from '../access/masking.ts';
import { auditPatientId } from '../audit/audit-event.ts';
import type { InstitutionsRepository } from '../db/institutions-repository.ts';
import type { ReadingRepository, StudyFacts } from '../db/reading-repository.ts';
import type { DicomJsonDataset } from '../dicom/types.ts';
import type { Logger } from '../log.ts';
import {
  isoToDicomDateTime,
  PATIENT_CLASSES,
  progressDescription,
  READING_TAGS as T,
  REOPENED,
  REPORT_STAGES,
  RETURN_REASONS,
  RETURNED,
  taskSummary,
  type PatientClass,
  type Reader,
  type ReadingCentre,
  type ReadingNote,
  type ReadingRule,
  type ReportStage,
  type TaskSummary,
} from './reading-wire.ts';
import { issuerOfPatientId } from './report-sr.ts';
import { DEFAULT_TURNAROUND_LIMITS, MODALITY_GROUPS, type TurnaroundLimit } from './turnaround.ts';
import { WorklistRefusal, type WorklistService } from './worklist-service.ts';

/** Why a reading request was refused, in the words a person can act on. */
export class ReadingError extends Error {
  constructor(
    readonly kind: 'invalid' | 'forbidden' | 'not-found' | 'conflict',
    message: string,
  ) {
    super(message);
    this.name = 'ReadingError';
  }
}

/** Reading-centre codes name the centre in Scheduled Station Name Code Sequence: a local scheme. */
const CODING_SCHEME = '99YINGYUN';
const ALL: Visibility = { institutionIds: 'all', linkedPatientsPurpose: null, maskIdentity: false };
const PRIORITY_OF_CLASS: Record<PatientClass, 'HIGH' | 'MEDIUM' | 'LOW'> = { emergency: 'HIGH', inpatient: 'MEDIUM', outpatient: 'LOW', 'physical-exam': 'LOW' };
const text = (max: number) => z.string().trim().max(max);
const id = z.string().regex(/^\d{1,18}$/, 'an id is a whole number');
const uid = z.string().regex(/^[0-9]+(\.[0-9]+)*$/).max(64);

const ruleSchema = z
  .object({
    readingCentreId: id,
    sendingInstitutionId: id.nullable().default(null),
    regionId: id.nullable().default(null),
    modalities: z.array(z.string().regex(/^[A-Z0-9]{1,16}$/, 'a modality is a DICOM code such as CT')).max(20).default([]),
    priority: z.enum(['HIGH', 'MEDIUM', 'LOW']).default('MEDIUM'),
    patientClass: z.enum(PATIENT_CLASSES).default('outpatient'),
    enabled: z.boolean().default(true),
  })
  .strict()
  .refine((rule) => (rule.sendingInstitutionId === null) !== (rule.regionId === null), 'a rule names either one sending institution or one region');

const requestSchema = z
  .object({
    studyInstanceUid: uid,
    history: text(4000).default(''),
    clinicalQuestion: text(64).min(1, 'the clinical question (检查目的) is required'),
    clinicalDiagnosis: text(64).optional(),
    orderingDoctor: text(64).min(1, 'the ordering doctor (申请医生) is required'),
    department: text(64).optional(),
    patientClass: z.enum(PATIENT_CLASSES),
    readingCentreId: id.optional(),
  })
  .strict();

const limitSchema = z
  .object({
    modalityGroup: z.enum(MODALITY_GROUPS),
    patientClass: z.enum(PATIENT_CLASSES),
    limitMinutes: z.number().int().positive().max(60 * 24 * 30),
    workingTime: z.boolean(),
    amberFraction: z.number().gt(0).lt(1),
  })
  .strict();

function parse<Schema extends z.ZodType>(schema: Schema, body: unknown): z.infer<Schema> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ReadingError('invalid', `${issue.path.join('.') || 'the body'}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * How reading tasks come to exist and move through a reading centre: rules that turn an arriving
 * study into a task, hospitals' requests, assignment (by hand, round-robin, self-claim), returns to
 * the hospital and its answers, and turnaround limits. Every task is a UPS workitem changed only
 * through the WorklistService, so UPS-RS clients and subscribers see the same thing.
 */
export class ReadingService {
  constructor(
    private readonly deps: {
      repository: ReadingRepository;
      worklist: WorklistService;
      institutions: InstitutionsRepository;
      audit: AuditLog;
      log: Logger;
    },
  ) {}

  // ---- Rules (路由规则)

  async listRules(actor: Principal): Promise<ReadingRule[]> {
    return this.deps.repository.listRules(actor.role === 'system_admin' ? null : (actor.institutionId ?? '0'));
  }

  async createRule(actor: Principal, body: unknown, sourceAddress?: string): Promise<ReadingRule> {
    const rule = parse(ruleSchema, body);
    await this.checkRuleOwner(actor, rule.readingCentreId);
    await this.checkRuleScope(rule);
    const created = await this.deps.repository.createRule(rule);
    this.auditRule(actor, 'C', created, sourceAddress);
    return created;
  }

  async updateRule(actor: Principal, ruleId: string, body: unknown, sourceAddress?: string): Promise<ReadingRule> {
    const current = await this.ownRule(actor, ruleId);
    const { readingCentreId, ...changes } = parse(ruleSchema, { ...current, id: undefined, ...(body as object) });
    if (readingCentreId !== current.readingCentreId) throw new ReadingError('invalid', 'a rule keeps its reading centre: make a new rule for another');
    await this.checkRuleScope({ readingCentreId, ...changes });
    const updated = (await this.deps.repository.updateRule(ruleId, changes))!;
    this.auditRule(actor, 'U', updated, sourceAddress);
    return updated;
  }

  async deleteRule(actor: Principal, ruleId: string, sourceAddress?: string): Promise<void> {
    const current = await this.ownRule(actor, ruleId);
    await this.deps.repository.deleteRule(ruleId);
    this.auditRule(actor, 'D', current, sourceAddress);
  }

  private async ownRule(actor: Principal, ruleId: string): Promise<ReadingRule> {
    const rule = /^\d{1,18}$/.test(ruleId) ? await this.deps.repository.findRule(ruleId) : null;
    if (!rule || (actor.role !== 'system_admin' && rule.readingCentreId !== actor.institutionId)) throw new ReadingError('not-found', `no reading rule ${ruleId}`);
    return rule;
  }

  /** A system administrator sets anyone's rules; a centre's institution administrator only the centre's own. */
  private async checkRuleOwner(actor: Principal, readingCentreId: string): Promise<void> {
    if (!(await this.deps.repository.findCentre(readingCentreId))) throw new ReadingError('invalid', `institution ${readingCentreId} is not a reading centre`);
    if (actor.role !== 'system_admin' && actor.institutionId !== readingCentreId) throw new ReadingError('forbidden', "an institution administrator sets only their own reading centre's rules");
  }

  /** A rule reaches only hospitals the centre sees: its sender, or its region, within the centre's region. */
  private async checkRuleScope(rule: Pick<ReadingRule, 'readingCentreId' | 'sendingInstitutionId' | 'regionId'>): Promise<void> {
    if (!(await this.deps.repository.withinCentreRegion(rule.readingCentreId, rule))) {
      throw new ReadingError('invalid', rule.sendingInstitutionId ? `institution ${rule.sendingInstitutionId} is outside the reading centre's region` : `region ${rule.regionId} is outside the reading centre's region`);
    }
  }

  private auditRule(actor: Principal, action: 'C' | 'U' | 'D', rule: ReadingRule, sourceAddress?: string): void {
    this.deps.audit.recordInBackground({
      eventType: 'admin-change',
      action,
      outcome: 0,
      userName: actor.username,
      userRole: actor.role,
      institutionId: actor.institutionId ?? undefined,
      sourceAddress,
      detail: { readingRule: rule },
    });
  }

  // ---- Intake: a study arrives

  /**
   * Called for every indexed instance: each enabled rule matching the study makes the task of its
   * centre, under a UID derived from the centre and the study, so the workitems' unique UID — not a
   * look-up first — keeps it to one task per study and centre however many rules match (an
   * institution's and a region's, a CT and an MR rule on a CT+MR study), however the instances
   * arrive and however often. A task returned to the hospital is reopened by anything new arriving
   * for the study.
   */
  async studyArrived(studyInstanceUid: string): Promise<void> {
    const arrival = await this.deps.repository.arrival(studyInstanceUid);
    if (!arrival) return;
    for (const match of arrival.matches) {
      const workitemUid = taskUid(match.rule.readingCentreId, studyInstanceUid);
      const workitem = intakeWorkitem(arrival.study, { code: match.centreCode, name: match.centreName }, match.rule.priority, match.rule.patientClass);
      if (await this.createOnce(arrival.study.institutionId, workitem, workitemUid)) {
        this.auditTask('C', arrival.study, workitemUid, { readingRule: match.rule.id });
      }
    }
    for (const workitemUid of arrival.returnedWorkitems) await this.reopen(workitemUid, arrival.study);
  }

  /** False when the workitem exists already (the unique UID refused a second one). */
  private async createOnce(institutionId: string, workitem: DicomJsonDataset, workitemUid: string): Promise<boolean> {
    try {
      await this.deps.worklist.create(intakePrincipal(institutionId), workitem, workitemUid);
      return true;
    } catch (error) {
      if (error instanceof WorklistRefusal && error.dicomStatus === '0111') return false;
      throw error;
    }
  }

  private async reopen(workitemUid: string, study: StudyFacts): Promise<void> {
    let reopened = false;
    await this.deps.worklist.amend(workitemUid, ALL, (current, state) => {
      // Two instances indexed at once both see it returned; the row lock lets only the first reopen it.
      if (state !== 'SCHEDULED' || progressDescription(current) !== RETURNED) return current;
      reopened = true;
      return withProgress(current, { [T.progressDescription]: { vr: 'ST', Value: [REOPENED] } });
    });
    if (!reopened) return;
    await this.deps.repository.addNote({ workitemUid, kind: 'reopened', reason: null, text: '', authorUsername: 'reading-intake', authorInstitutionId: study.institutionId });
    this.auditTask('U', study, workitemUid, { reopened: true });
  }

  // ---- A hospital's request (远程诊断申请)

  /**
   * A request names a study the hospital may see and the clinical information; it becomes the task
   * of the study at the reading centre (the one asked, or the one covering the hospital) under the
   * same UID a rule uses, or — when a rule or an earlier request made it first (0111) — enriches that
   * task. No look-up first: a request racing the study's indexing still finds one task.
   */
  async requestReading(visibility: Visibility, body: unknown): Promise<{ workitemUid: string; created: boolean }> {
    const request = parse(requestSchema, body);
    const study = await this.deps.repository.studyFacts(request.studyInstanceUid);
    if (!study || (visibility.institutionIds !== 'all' && !visibility.institutionIds.includes(study.institutionId))) throw new ReadingError('not-found', `no study ${request.studyInstanceUid} is here`);
    const centre = await this.centreFor(study.institutionId, request.readingCentreId);
    const clinical = clinicalAttributes(request, study);
    const workitemUid = taskUid(centre.id, study.studyInstanceUid);
    const workitem = mergeClinical(intakeWorkitem(study, centre, PRIORITY_OF_CLASS[request.patientClass], request.patientClass), clinical, request.patientClass);
    const created = await this.createOnce(study.institutionId, workitem, workitemUid);
    if (!created) await this.deps.worklist.amend(workitemUid, ALL, (current) => mergeClinical(current, clinical, request.patientClass));
    return { workitemUid, created };
  }

  /**
   * The reading centres a request of the caller's institution may go to, for the form's choice: those
   * whose region covers it, the same list a request is checked against, so a centre of another region
   * is never offered. None for a caller without an institution.
   */
  async centresFor(principal: Principal): Promise<ReadingCentre[]> {
    return principal.institutionId ? this.deps.repository.centresCovering(principal.institutionId) : [];
  }

  private async centreFor(institutionId: string, asked: string | undefined): Promise<ReadingCentre> {
    const covering = await this.deps.repository.centresCovering(institutionId);
    if (asked) {
      const centre = covering.find((candidate) => candidate.id === asked);
      if (!centre) throw new ReadingError('invalid', `reading centre ${asked} does not cover this hospital's region`);
      return centre;
    }
    if (covering.length !== 1) throw new ReadingError('invalid', covering.length ? 'more than one reading centre covers this hospital: name one (readingCentreId)' : "no reading centre covers this hospital's region");
    return covering[0]!;
  }

  /** The tasks of the caller's own institution, as a hospital follows its requests, with their conversations; identity masked for masked roles, as on UPS-RS. */
  async requestsOf(principal: Principal, visibility: Visibility): Promise<(TaskSummary & { notes: ReadingNote[] })[]> {
    const own: Visibility = principal.role === 'system_admin' ? visibility : { ...visibility, institutionIds: principal.institutionId ? [principal.institutionId] : [] };
    const { workitems } = await this.deps.worklist.search({ limit: '100' }, own);
    return Promise.all(workitems.map(async (workitem) => {
      const summary = taskSummary(visibility.maskIdentity ? maskIdentity(workitem) : workitem);
      return { ...summary, notes: await this.deps.repository.notes(summary.workitemUid) };
    }));
  }

  // ---- Assignment

  /** The centre whose worklist the user works (their own institution when it is a reading centre). */
  async centreOf(principal: Principal): Promise<ReadingCentre | null> {
    return principal.institutionId ? this.deps.repository.findCentre(principal.institutionId) : null;
  }

  async readers(principal: Principal): Promise<Reader[]> {
    const centre = await this.centreOf(principal);
    return centre ? this.deps.repository.readers(centre.id) : [];
  }

  async setAvailability(principal: Principal, body: unknown): Promise<void> {
    const { available } = parse(z.object({ available: z.boolean() }).strict(), body);
    if (!(await this.centreOf(principal))) throw new ReadingError('forbidden', 'availability is for readers of a reading centre');
    await this.deps.repository.setAvailability(principal.userId, available);
  }

  /**
   * Gives a task to a reader: one named by a lead (`userId`), the next available one in turn
   * (`roundRobin`), or the caller themselves (`claim`). Only the task's centre assigns, only its
   * radiologists are given tasks, and only while nobody has started reading it.
   */
  async assign(principal: Principal, visibility: Visibility, workitemUid: string, body: unknown): Promise<TaskSummary> {
    const how = parse(z.union([z.object({ userId: id }).strict(), z.object({ roundRobin: z.literal(true) }).strict(), z.object({ claim: z.literal(true) }).strict()]), body);
    const centre = await this.centreOfTask(principal, visibility, workitemUid);
    let reader: Reader | null | undefined;
    if ('roundRobin' in how) {
      reader = await this.deps.repository.takeNextReader(centre.id);
      if (!reader) throw new ReadingError('conflict', 'no reader of the centre is available');
    } else {
      const wanted = 'claim' in how ? principal.userId : how.userId;
      reader = (await this.deps.repository.readers(centre.id)).find((candidate) => candidate.userId === wanted);
      if (!reader) throw new ReadingError('invalid', 'claim' in how ? 'only a radiologist of the centre claims its tasks' : `user ${wanted} is not a radiologist of ${centre.name}`);
      await this.deps.repository.markAssigned(reader.userId);
    }
    const assigned = reader;
    const workitem = await this.deps.worklist.amend(workitemUid, visibility, (current, state) => {
      if (state !== 'SCHEDULED' || reportBegun(current)) throw new WorklistRefusal(409, 'the reading of this task has begun: it stays with its reader');
      if (progressDescription(current) === RETURNED) throw new WorklistRefusal(409, 'the task is returned to the hospital: it is assigned again once the hospital answers');
      return {
        ...current,
        [T.scheduledHumanPerformersSequence]: {
          vr: 'SQ',
          Value: [
            {
              [T.humanPerformerCodeSequence]: { vr: 'SQ', Value: [{ [T.codeValue]: { vr: 'SH', Value: [assigned.username.slice(0, 16)] }, [T.codingSchemeDesignator]: { vr: 'SH', Value: [CODING_SCHEME] }, [T.codeMeaning]: { vr: 'LO', Value: [assigned.displayName.slice(0, 64)] } }] },
              [T.humanPerformerName]: { vr: 'PN', Value: [{ Alphabetic: assigned.displayName.slice(0, 64) }] },
              [T.humanPerformerOrganization]: { vr: 'LO', Value: [centre.name.slice(0, 64)] },
            },
          ],
        },
      };
    });
    return taskSummary(workitem);
  }

  /** Back to the hospital with a reason (图像不全, 患者信息错误, 需补充序列, other): unassigned, and waiting for the hospital. */
  async returnToHospital(principal: Principal, visibility: Visibility, workitemUid: string, body: unknown): Promise<TaskSummary> {
    const { reason, text: note } = parse(z.object({ reason: z.enum(RETURN_REASONS), text: text(1000).default('') }).strict(), body);
    await this.centreOfTask(principal, visibility, workitemUid);
    const workitem = await this.deps.worklist.amend(workitemUid, visibility, (current, state) => {
      if (state !== 'SCHEDULED' || reportBegun(current)) throw new WorklistRefusal(409, 'the reading of this task has begun: its reader cancels it instead');
      const { [T.scheduledHumanPerformersSequence]: _performers, ...rest } = current;
      return withProgress(rest, {
        [T.progressDescription]: { vr: 'ST', Value: [RETURNED] },
        [T.discontinuationReasonCodeSequence]: { vr: 'SQ', Value: [{ [T.codeValue]: { vr: 'SH', Value: [reason] }, [T.codingSchemeDesignator]: { vr: 'SH', Value: [CODING_SCHEME] }, [T.codeMeaning]: { vr: 'LO', Value: [(note || reason).slice(0, 64)] } }] },
      });
    });
    await this.deps.repository.addNote({ workitemUid, kind: 'returned', reason, text: note, authorUsername: principal.username, authorInstitutionId: principal.institutionId });
    return taskSummary(workitem);
  }

  /** A line in the task's conversation: the hospital's answer to a return, or the centre's question. */
  async addNote(principal: Principal, visibility: Visibility, workitemUid: string, body: unknown): Promise<ReadingNote> {
    const { text: note } = parse(z.object({ text: text(1000).min(1, 'a note has text') }).strict(), body);
    await this.deps.worklist.retrieve(workitemUid, visibility);
    return this.deps.repository.addNote({ workitemUid, kind: 'note', reason: null, text: note, authorUsername: principal.username, authorInstitutionId: principal.institutionId });
  }

  async notes(visibility: Visibility, workitemUid: string): Promise<{ workitem: DicomJsonDataset; notes: ReadingNote[] }> {
    const workitem = await this.deps.worklist.retrieve(workitemUid, visibility);
    return { workitem, notes: await this.deps.repository.notes(workitemUid) };
  }

  /** The task's reading centre, which must be the caller's (system administrators act for any). */
  private async centreOfTask(principal: Principal, visibility: Visibility, workitemUid: string): Promise<ReadingCentre> {
    const workitem = await this.deps.worklist.retrieve(workitemUid, visibility);
    const code = (workitem[T.scheduledStationNameCodeSequence]?.Value?.[0] as DicomJsonDataset | undefined)?.[T.codeValue]?.Value?.[0];
    const institution = typeof code === 'string' ? await this.deps.institutions.findInstitutionByCode(code) : null;
    const centre = institution?.kind === 'reading_centre' ? { id: institution.id, code: institution.code, name: institution.name } : null;
    if (!centre) throw new ReadingError('conflict', 'this workitem names no reading centre (Scheduled Station Name Code Sequence)');
    if (principal.role !== 'system_admin' && principal.institutionId !== centre.id) throw new ReadingError('forbidden', `only ${centre.name} assigns and returns its tasks`);
    return centre;
  }

  // ---- Turnaround limits (报告时限)

  async turnaroundLimits(): Promise<TurnaroundLimit[]> {
    const overrides = await this.deps.repository.turnaroundLimits();
    return DEFAULT_TURNAROUND_LIMITS.map((limit) => overrides.find((override) => override.modalityGroup === limit.modalityGroup && override.patientClass === limit.patientClass) ?? limit);
  }

  async setTurnaroundLimit(actor: Principal, body: unknown, sourceAddress?: string): Promise<TurnaroundLimit[]> {
    const limit = parse(limitSchema, body);
    await this.deps.repository.setTurnaroundLimit(limit);
    this.deps.audit.recordInBackground({ eventType: 'admin-change', action: 'U', outcome: 0, userName: actor.username, userRole: actor.role, sourceAddress, detail: { turnaroundLimit: limit } });
    return this.turnaroundLimits();
  }

  // ---- Audit

  /** Tasks the intake makes or reopens have no request to audit them: they are recorded here. */
  private auditTask(action: 'C' | 'U', study: StudyFacts, workitemUid: string, detail: Record<string, unknown>): void {
    this.deps.audit.recordInBackground({
      eventType: 'procedure-record',
      action,
      outcome: 0,
      userName: 'reading-intake',
      institutionId: study.institutionId,
      patientId: auditPatientId(study.issuer, study.patientId),
      patientName: study.patientName?.Ideographic ?? study.patientName?.Alphabetic,
      studyUids: [study.studyInstanceUid],
      detail: { workitem: workitemUid, ...detail },
    });
  }

}

/**
 * Sets where the report of a task has got to (初诊中 'drafting', 待审核 'preliminary-signed', 已发布
 * 'final-signed'), for the report service to call as it saves and signs; the worklist shows it at once.
 */
export function setReportStage(worklist: WorklistService, workitemUid: string, stage: ReportStage): Promise<DicomJsonDataset> {
  return worklist.amend(workitemUid, ALL, (current) => withProgress(current, { [T.progressDescription]: { vr: 'ST', Value: [stage] } }));
}

/** A report is being written or signed: the task stays with its reader. */
function reportBegun(workitem: DicomJsonDataset): boolean {
  return REPORT_STAGES.includes(progressDescription(workitem) as ReportStage);
}

/** The workitem UID of a study's task at a centre, whether a rule or a request makes it: a 2.25 UUID-style UID. */
function taskUid(readingCentreId: string, studyInstanceUid: string): string {
  const digest = createHash('sha256').update(`yingyun reading task|${readingCentreId}|${studyInstanceUid}`).digest();
  return `2.25.${BigInt(`0x${digest.subarray(0, 16).toString('hex')}`).toString(10)}`;
}

/** Rule-made workitems belong to the sending hospital, as if it had asked: its staff and the centre covering it see them. */
function intakePrincipal(institutionId: string): Principal {
  return { userId: '0', username: 'reading-intake', displayName: 'Reading intake', role: 'system_admin', institutionId, sessionId: '', via: 'api_token' };
}

/**
 * A study as a UPS workitem for a reading centre: the study to read (Referenced Request and Input
 * Information), patient, accession, scheduled start = arrival, the centre as the scheduled station,
 * and — outside PS3.3 A.89, for the worklist's columns — Modality, Body Part Examined and the
 * sending Institution Name.
 */
function intakeWorkitem(study: StudyFacts, centre: { code: string; name: string }, priority: string, patientClass: PatientClass): DicomJsonDataset {
  const cs = (values: string[]) => ({ vr: 'CS', Value: values });
  const lo = (value: string) => ({ vr: 'LO', Value: [value.slice(0, 64)] });
  const label = [study.modalities.join('/'), study.bodyParts.join('/')].filter(Boolean).join(' ');
  return {
    ...(study.patientName ? { [T.patientName]: { vr: 'PN', Value: [study.patientName] } } : {}),
    [T.patientId]: lo(study.patientId),
    ...issuerOfPatientId(study.issuer),
    [T.priority]: cs([priority]),
    [T.scheduledStartDateTime]: { vr: 'DT', Value: [isoToDicomDateTime(study.arrivedAt)] },
    '00741204': lo(`远程诊断 ${label}`.trim()),
    '00741202': lo(centre.name),
    [T.scheduledStationNameCodeSequence]: { vr: 'SQ', Value: [{ [T.codeValue]: { vr: 'SH', Value: [centre.code.slice(0, 16)] }, [T.codingSchemeDesignator]: { vr: 'SH', Value: [CODING_SCHEME] }, [T.codeMeaning]: lo(centre.name) }] },
    [T.inputReadinessState]: cs(['READY']),
    [T.referencedRequestSequence]: {
      vr: 'SQ',
      Value: [
        {
          [T.studyInstanceUid]: { vr: 'UI', Value: [study.studyInstanceUid] },
          [T.accessionNumber]: { vr: 'SH', Value: study.accessionNumber ? [study.accessionNumber] : [] },
          ...(study.description ? { [T.requestedProcedureDescription]: lo(study.description) } : {}),
          [T.requestedProcedurePriority]: { vr: 'SH', Value: [priority === 'HIGH' ? 'STAT' : 'ROUTINE'] },
        },
      ],
    },
    [T.inputInformationSequence]: { vr: 'SQ', Value: [{ [T.studyInstanceUid]: { vr: 'UI', Value: [study.studyInstanceUid] } }] },
    ...(study.modalities.length ? { [T.modality]: cs(study.modalities) } : {}),
    ...(study.bodyParts.length ? { [T.bodyPartExamined]: cs(study.bodyParts) } : {}),
    [T.institutionName]: lo(study.institutionName),
    [T.currentPatientLocation]: lo(patientClass),
  };
}

/** What a hospital's request says, as the A.89 attributes that carry it (docs/reading.md has the table). */
function clinicalAttributes(request: z.infer<typeof requestSchema>, study: StudyFacts): { top: DicomJsonDataset; request: DicomJsonDataset } {
  return {
    top: {
      [T.additionalPatientHistory]: { vr: 'LT', Value: [request.history] },
      ...(request.clinicalDiagnosis ? { [T.admittingDiagnosesDescription]: { vr: 'LO', Value: [request.clinicalDiagnosis] } } : {}),
    },
    request: {
      [T.studyInstanceUid]: { vr: 'UI', Value: [study.studyInstanceUid] },
      [T.reasonForRequestedProcedure]: { vr: 'LO', Value: [request.clinicalQuestion] },
      [T.requestingPhysician]: { vr: 'PN', Value: [{ Alphabetic: request.orderingDoctor }] },
      ...(request.department ? { [T.requestingService]: { vr: 'LO', Value: [request.department] } } : {}),
    },
  };
}

/** The request's information over a workitem: its own attributes win; the urgency sets priority and class. */
function mergeClinical(current: DicomJsonDataset, clinical: { top: DicomJsonDataset; request: DicomJsonDataset }, patientClass: PatientClass): DicomJsonDataset {
  const previous = (current[T.referencedRequestSequence]?.Value?.[0] ?? {}) as DicomJsonDataset;
  const priority = PRIORITY_OF_CLASS[patientClass];
  return {
    ...current,
    ...clinical.top,
    [T.priority]: { vr: 'CS', Value: [priority] },
    [T.currentPatientLocation]: { vr: 'LO', Value: [patientClass] },
    [T.referencedRequestSequence]: { vr: 'SQ', Value: [{ ...previous, ...clinical.request, [T.requestedProcedurePriority]: { vr: 'SH', Value: [priority === 'HIGH' ? 'STAT' : 'ROUTINE'] } }] },
  };
}

/** Progress Information (0074,1002) with these attributes set, keeping the rest of its one item. */
function withProgress(workitem: DicomJsonDataset, attributes: DicomJsonDataset): DicomJsonDataset {
  const previous = { ...((workitem[T.progressInformationSequence]?.Value?.[0] ?? {}) as DicomJsonDataset) };
  if (T.discontinuationReasonCodeSequence in previous && !(T.discontinuationReasonCodeSequence in attributes)) delete previous[T.discontinuationReasonCodeSequence];
  return { ...workitem, [T.progressInformationSequence]: { vr: 'SQ', Value: [{ ...previous, ...attributes }] } };
}
