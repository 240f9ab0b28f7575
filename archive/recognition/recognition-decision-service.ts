import type { Principal } from '../access/policy.ts';
import type { RecognitionDecisionsRepository, RecognitionStudyFacts, StoredRecognitionDecision } from '../db/recognition-decisions-repository.ts';
import { regionToday, type HrMarkResult } from './hr-mark.ts';
import type { RecognitionDecisionsAnswer } from './recognition-wire.ts';
import { recognitionDecisionSchema, type RecognitionReason } from './recognition-reasons.ts';

/** Why a recognition request is refused, as the HTTP status it maps to. */
export class RecognitionRefusal extends Error {
  constructor(
    readonly httpStatus: 400 | 404,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** Where the HR mark and a region's reason list come from (runtime.recognition). */
export interface RecognitionSource {
  marks(studyInstanceUids: readonly string[], today?: string): Promise<Map<string, HrMarkResult>>;
  reasons(institutionId: string): Promise<RecognitionReason[]>;
}

/** Who is asking, about which study (one the access policy already found visible to them). */
export interface RecognitionContext {
  principal: Principal;
  /** The stated purpose of use of this request, if any. */
  purpose: string | null;
  studyInstanceUid: string;
}

/**
 * Recognition decisions (互认) and the views they are counted against (docs/recognition.md,
 * "Recognition decisions in the archive"). A clinician who opens another institution's study with
 * a purpose of use has viewed a prior (once per day); one who decides on it records whether it is
 * used instead of a new examination, or why not. Who, where, which person and study and when come
 * from the session and the index, never from the body; the HR mark is the one the study carries now.
 */
export class RecognitionDecisionService {
  constructor(
    private readonly deps: {
      repository: RecognitionDecisionsRepository;
      recognition: RecognitionSource;
    },
  ) {}

  /** The reasons a clinician of this institution chooses from (the province's list, or the defaults). */
  reasons(institutionId: string): Promise<RecognitionReason[]> {
    return this.deps.recognition.reasons(institutionId);
  }

  /** The HR marks these studies carry today (a study without a result carries none). */
  marks(studyInstanceUids: readonly string[]): Promise<Map<string, HrMarkResult>> {
    return studyInstanceUids.length ? this.deps.recognition.marks(studyInstanceUids, regionToday()) : Promise.resolve(new Map());
  }

  /** Counts a prior view, once per study, user and region day; true when this was the day's first. */
  async recordView(context: RecognitionContext): Promise<{ recorded: boolean; hrMark: string | null }> {
    const { study, institutionId, purpose } = await this.crossInstitutionStudy(context);
    const hrMark = await this.markText(study.studyInstanceUid);
    const recorded = await this.deps.repository.recordView({ study, viewingInstitutionId: institutionId, viewedByUserId: context.principal.userId, purpose, hrMark, viewedOn: regionToday() });
    return { recorded, hrMark };
  }

  /** Validates and stores a decision with the reasons of the deciding institution. */
  async decide(context: RecognitionContext, body: unknown): Promise<StoredRecognitionDecision> {
    const { study, institutionId } = await this.crossInstitutionStudy(context);
    const parsed = recognitionDecisionSchema(await this.reasons(institutionId)).safeParse(body);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`);
      throw new RecognitionRefusal(400, `the decision is not valid: ${problems.join('; ')}`);
    }
    const decision = parsed.data;
    const notRecognised = decision.decision === 'not-recognised' ? decision : null;
    return this.deps.repository.insertDecision({
      study,
      decidingInstitutionId: institutionId,
      decidedByUserId: context.principal.userId,
      decidedByName: context.principal.displayName || context.principal.username,
      decision: decision.decision,
      reasonCode: notRecognised?.reasonCode ?? null,
      reasonText: notRecognised?.text || null,
      patientInformed: notRecognised?.patientInformed ?? false,
      orderKind: decision.order.kind,
      orderValue: decision.order.value,
      hrMark: await this.markText(study.studyInstanceUid),
    });
  }

  /**
   * Whose a study is, and its decisions: every one for its own institution (the feedback of what
   * others decided about its images) and a system administrator, otherwise those the caller's
   * institution made.
   */
  async decisionsOn(context: Omit<RecognitionContext, 'purpose'>): Promise<RecognitionDecisionsAnswer> {
    const study = await this.deps.repository.studyFacts(context.studyInstanceUid);
    if (!study) throw new RecognitionRefusal(404, `no study ${context.studyInstanceUid} is stored here`);
    const callerInstitutionId = context.principal.institutionId;
    const own = callerInstitutionId === study.institutionId;
    const decisions = await this.deps.repository.decisionsOn(study.studyPk, callerInstitutionId === null || own ? null : callerInstitutionId);
    return { studyInstitution: { id: study.institutionId, name: study.institutionName }, otherInstitution: callerInstitutionId !== null && !own, decisions };
  }

  /**
   * Recognition is between institutions: decisions and views are about another institution's
   * study opened with a stated purpose, by someone of an institution.
   */
  private async crossInstitutionStudy(context: RecognitionContext): Promise<{ study: RecognitionStudyFacts; institutionId: string; purpose: string }> {
    const study = await this.deps.repository.studyFacts(context.studyInstanceUid);
    if (!study) throw new RecognitionRefusal(404, `no study ${context.studyInstanceUid} is stored here`);
    const institutionId = context.principal.institutionId;
    if (!institutionId) throw new RecognitionRefusal(400, 'only a clinician of an institution records recognition');
    if (study.institutionId === institutionId) throw new RecognitionRefusal(400, "recognition is decided on another institution's study, not one's own");
    if (!context.purpose) throw new RecognitionRefusal(400, 'state a purpose of use (X-Purpose-Of-Use) to open and decide on another institution\'s study');
    return { study, institutionId, purpose: context.purpose };
  }

  private async markText(studyInstanceUid: string): Promise<string | null> {
    const mark = (await this.marks([studyInstanceUid])).get(studyInstanceUid);
    return mark?.carries ? mark.text : null;
  }
}
