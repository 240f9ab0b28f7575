import type { ReasonChoice, RecognitionDecisionEntry, RecognitionDecisionsAnswer } from '../../../archive/recognition/recognition-wire.ts';
import type { Connection } from './http.ts';

/** A decision as the dialog sends it (archive/recognition/recognition-reasons.ts recognitionDecisionSchema). */
export type DecisionRequest =
  | { decision: 'recognised'; order: DecisionOrder }
  | { decision: 'not-recognised'; reasonCode: string; text?: string; patientInformed: true; order: DecisionOrder };

export interface DecisionOrder {
  kind: 'accession-number' | 'order-number' | 'text';
  value: string;
}

/**
 * Recognition (互认): the reasons, a prior view, a decision, a study's decisions. Every call about a
 * study carries the stated purpose of use: another institution's study is visible only with it.
 */
export class RecognitionClient {
  constructor(
    private readonly connection: Connection,
    readonly apiRoot = '/api',
  ) {}

  reasons(): Promise<ReasonChoice[]> {
    return this.connection.json(`${this.apiRoot}/recognition/reasons`);
  }

  decisions(studyInstanceUid: string): Promise<RecognitionDecisionsAnswer> {
    return this.connection.json(`${this.apiRoot}/studies/${studyInstanceUid}/recognition-decisions`, { withPurpose: true });
  }

  async recordView(studyInstanceUid: string): Promise<void> {
    await this.connection.request(`${this.apiRoot}/studies/${studyInstanceUid}/prior-views`, { method: 'POST', accept: 'application/json', withPurpose: true });
  }

  decide(studyInstanceUid: string, decision: DecisionRequest): Promise<RecognitionDecisionEntry> {
    return this.connection.json(`${this.apiRoot}/studies/${studyInstanceUid}/recognition-decisions`, { method: 'POST', json: decision, withPurpose: true });
  }
}
