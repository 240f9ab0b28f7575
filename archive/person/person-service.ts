import { ZodError } from 'zod';
import { adminChangeEvent, type Actor } from '../access/administration.ts';
import type { Visibility } from '../access/policy.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { LinkSuggestion, PatientRecordFacts, PersonRepository, PersonStudy, StoredIdentifier } from '../db/person-repository.ts';
import type { Logger } from '../log.ts';
import type { QcGrade } from '../quality/qc-grades.ts';
import type { HrMarkResult } from '../recognition/hr-mark.ts';
import { DEFAULT_ISSUER_TABLE, extractIdentifiers, institutionIdentifierRulesSchema, type IdentifierRule } from './identifier-extraction.ts';
import type { IdentifierProtection } from './identifier-protection.ts';
import { identifierKindSchema, toPersonIdentifier, type IdentifierKind, type PersonIdentifier } from './identifiers.ts';
import { decideLink, type LinkCandidate } from './link-decision.ts';

export type LinkOutcome =
  | { outcome: 'linked'; personId: string; sharedKinds: IdentifierKind[] }
  | { outcome: 'own-person'; personId: string }
  | { outcome: 'manual-link-kept'; personId: string }
  | { outcome: 'no-record' };

/**
 * A study on a person's timeline as GET /api/persons/{id} answers it: the index's facts, the study's
 * QC grade (its worst series') and its HR mark today, with why it has none in both languages.
 */
export type TimelineStudy = PersonStudy & {
  qcGrade: { scaleId: string; grade: QcGrade } | null;
  hrMark: HrMarkResult | null;
  hrMarkAbsence: { zh: string; en: string }[];
};

/** A request the person index refuses, with the HTTP status the routes answer and why. */
export class PersonRefusal extends Error {
  constructor(
    readonly httpStatus: 400 | 403 | 404,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/**
 * The person index in the archive: links patient records to persons by the decisions of
 * link-decision.ts, over identifiers kept only as keyed hashes and sealed values (identifier-protection.ts).
 * Only a shared, uncontradicted strong identifier links on its own; contradictions and weak matches
 * become suggestions; a person's manual link, unlink or merge (with a reason, audited) is never undone
 * by the automatic linking.
 */
export class PersonService {
  constructor(
    private readonly deps: {
      repository: PersonRepository;
      protection: IdentifierProtection;
      audit: AuditLog;
      log: Logger;
      /** After an institution's rules change: re-link its records (a job, workers/jobs/relink-institution.ts). */
      onRulesChanged: (institutionId: string) => Promise<void>;
    },
  ) {}

  /** Links one record: at ingest (new or changed), on a rule change, or from the reconciler. Idempotent. */
  linkPatient(patientPk: string): Promise<LinkOutcome> {
    return this.deps.repository.whileLinking(() => this.#link(patientPk));
  }

  async #link(patientPk: string): Promise<LinkOutcome> {
    const { repository, protection } = this.deps;
    const record = await repository.patient(patientPk);
    if (!record) return { outcome: 'no-record' };
    const rules = await repository.identifierRules(record.institutionId);
    const { identifiers, problems } = extractIdentifiers(record.attributes, rules, DEFAULT_ISSUER_TABLE);
    if (problems.length > 0) this.deps.log.info({ patientPk, problems }, 'identifiers not used for linking');
    await repository.replaceIdentifiers(patientPk, identifiers.map((identifier) => ({ kind: identifier.kind, issuer: identifier.issuer, matchHash: protection.matchHash(identifier), sealedValue: protection.seal(identifier) })));

    const current = await repository.linkOf(patientPk);
    if (current?.method === 'manual') return { outcome: 'manual-link-kept', personId: current.personId };

    const self = candidateOf(record, identifiers);
    const sharing = await repository.patientsWithHashes(patientPk, identifiers.map((identifier) => protection.matchHash(identifier)));
    const sameDay = record.birthDate && record.sex ? await repository.patientsBornTheSameDay(patientPk, record.birthDate, record.sex) : [];
    const others = new Map([...sharing, ...sameDay].map((other) => [other.patientPk, other]));
    const storedOfOthers = await repository.identifiersOf([...others.keys()]);
    const linksOfOthers = await repository.linksOf([...others.keys()]);

    const linkTo: { personId: string; sharedKinds: IdentifierKind[] }[] = [];
    for (const other of others.values()) {
      const decision = decideLink(self, candidateOf(other, this.#open(storedOfOthers.get(other.patientPk) ?? [])));
      const personOfOther = linksOfOthers.get(other.patientPk)?.personId;
      if (decision.decision === 'link' && personOfOther) linkTo.push({ personId: personOfOther, sharedKinds: decision.shared });
      else if (decision.decision === 'suggest' && personOfOther !== current?.personId) {
        await repository.suggest(patientPk, other.patientPk, decision.reason, decision.reason === 'identifier-conflict' ? decision.conflicts : []);
      }
    }
    // The oldest person among those it shares an identifier with: linking never merges two persons
    // on its own (a record bridging two persons is logged; a person merges them).
    linkTo.sort((a, b) => Number(BigInt(a.personId) - BigInt(b.personId)));
    const target = linkTo[0];
    if (target) {
      if (new Set(linkTo.map((link) => link.personId)).size > 1) this.deps.log.warn({ patientPk, persons: [...new Set(linkTo.map((link) => link.personId))] }, 'record shares identifiers with several persons; linked to the oldest');
      const personId = await repository.link(patientPk, target.personId, { method: 'automatic', sharedKinds: target.sharedKinds });
      return personId ? { outcome: 'linked', personId, sharedKinds: target.sharedKinds } : await this.#manualKept(patientPk);
    }
    // Nothing to link to: a person of its own, unless it is already one alone (it keeps its id).
    const alone = current && (await repository.membersOf(current.personId)).length === 1;
    const personId = await repository.link(patientPk, alone ? current.personId : null, { method: 'automatic', sharedKinds: [] });
    return personId ? { outcome: 'own-person', personId } : await this.#manualKept(patientPk);
  }

  async identifierRules(actor: Actor, institutionId: string): Promise<IdentifierRule[]> {
    administers(actor, institutionId);
    return this.deps.repository.identifierRules(institutionId);
  }

  /** Validates and stores an institution's rules, audits the change, and has its records re-linked. */
  async setIdentifierRules(actor: Actor, institutionId: string, input: unknown): Promise<IdentifierRule[]> {
    administers(actor, institutionId);
    let rules: IdentifierRule[];
    try {
      rules = institutionIdentifierRulesSchema.parse(input);
    } catch (error) {
      if (!(error instanceof ZodError)) throw error;
      throw new PersonRefusal(400, error.issues.map((issue) => `${issue.path.join('.') || 'rules'}: ${issue.message}`).join('; '));
    }
    await this.deps.repository.setIdentifierRules(institutionId, rules, actor.username);
    await this.#audit(actor, 'U', { change: 'identifier-rules', institutionId, rules });
    await this.deps.onRulesChanged(institutionId);
    return rules;
  }

  /** Every record of an institution again, after its rules changed. */
  async relinkInstitution(institutionId: string): Promise<number> {
    const patients = await this.deps.repository.patientsOfInstitution(institutionId);
    for (const patientPk of patients) await this.linkPatient(patientPk);
    return patients.length;
  }

  /** A person's decision that this record is that person (merging in: the record leaves its former person). */
  async linkManually(actor: Actor, patientPk: string, personId: string, reason: string): Promise<void> {
    const before = await this.#recordInScope(actor, patientPk, reason);
    if ((await this.deps.repository.membersOf(personId)).length === 0) throw new PersonRefusal(404, `no person ${personId}`);
    await this.deps.repository.link(patientPk, personId, { method: 'manual', linkedBy: actor.username, reason });
    await this.deps.repository.acceptSuggestionsWithin(personId, actor.username, reason);
    await this.#audit(actor, 'U', { change: 'person-link', patientPk, personId, formerPersonId: before?.personId ?? null, reason });
  }

  /** A person's decision that this record is not the person it is linked to: it becomes a person of its own, and stays so. */
  async unlink(actor: Actor, patientPk: string, reason: string): Promise<string> {
    const before = await this.#recordInScope(actor, patientPk, reason);
    const personId = (await this.deps.repository.link(patientPk, null, { method: 'manual', linkedBy: actor.username, reason }))!;
    await this.#audit(actor, 'U', { change: 'person-unlink', patientPk, formerPersonId: before?.personId ?? null, personId, reason });
    return personId;
  }

  /**
   * Two persons are one: every record of `fromPersonId` is linked manually to `intoPersonId`. Each
   * record that moves must be in the actor's scope, as for a manual link (404 alike otherwise).
   */
  async merge(actor: Actor, intoPersonId: string, fromPersonId: string, reason: string): Promise<void> {
    requireReason(reason);
    if (intoPersonId === fromPersonId) throw new PersonRefusal(400, 'a person cannot be merged into itself');
    const members = await this.deps.repository.membersOf(fromPersonId);
    if (members.length === 0) throw new PersonRefusal(404, `no person ${fromPersonId}`);
    for (const patientPk of members) await this.#recordInScope(actor, patientPk, reason);
    if ((await this.deps.repository.membersOf(intoPersonId)).length === 0) throw new PersonRefusal(404, `no person ${intoPersonId}`);
    for (const patientPk of members) await this.deps.repository.link(patientPk, intoPersonId, { method: 'manual', linkedBy: actor.username, reason });
    await this.deps.repository.acceptSuggestionsWithin(intoPersonId, actor.username, reason);
    await this.#audit(actor, 'U', { change: 'person-merge', intoPersonId, fromPersonId, patientPks: members, reason });
  }

  /** Closes an open suggestion the actor may decide (the ones openSuggestions shows them); 404 alike for none and not theirs. */
  async dismissSuggestion(actor: Actor, suggestionId: string, reason: string): Promise<void> {
    requireReason(reason);
    if (!(await this.deps.repository.dismissSuggestion(suggestionId, suggestionScope(actor), actor.username, reason))) throw new PersonRefusal(404, `no open suggestion ${suggestionId} in your scope`);
    await this.#audit(actor, 'U', { change: 'person-suggestion-dismissed', suggestionId, reason });
  }

  /** Open suggestions the actor may decide: every one for a system administrator, else those involving their institution's records. */
  openSuggestions(actor: Actor, limit = 100): Promise<LinkSuggestion[]> {
    return this.deps.repository.openSuggestions(suggestionScope(actor), limit);
  }

  /**
   * The persons carrying an identifier ('resident-id:<number>', or 'health-card:<issuer>:<number>'),
   * found by its keyed hash (the number itself is never searched for), each with the studies the caller
   * may see; persons of whom the caller may see nothing are not named.
   */
  async lookup(query: string, visibility: Visibility): Promise<{ personId: string; studies: PersonStudy[] }[]> {
    const [kindText = '', ...rest] = query.split(':');
    const kind = identifierKindSchema.safeParse(kindText);
    if (!kind.success || rest.length === 0) throw new PersonRefusal(400, 'identifier is <kind>:<value> (resident-id:<number>) or <kind>:<issuer>:<value> (health-card, medical-insurance)');
    const [issuer, value] = rest.length === 1 ? ['', rest[0]!] : [rest.slice(0, -1).join(':'), rest.at(-1)!];
    const identifier = toPersonIdentifier(kind.data, value, issuer);
    if (!identifier.ok) throw new PersonRefusal(400, `not a valid ${kind.data}: ${identifier.rejection.reason}`);
    const personIds = await this.deps.repository.personsWithHash(this.deps.protection.matchHash(identifier.identifier));
    return groupByPerson(personIds.length ? await this.deps.repository.visibleStudies(personIds, visibility) : []);
  }

  /** A person's studies everywhere the caller may see them; 404 alike for no such person and none visible. */
  async studiesOf(personId: string, visibility: Visibility): Promise<PersonStudy[]> {
    const studies = await this.deps.repository.visibleStudies([personId], visibility);
    if (studies.length === 0) throw new PersonRefusal(404, `no person ${personId} is visible to you`);
    return studies;
  }

  /**
   * The strong identifiers of the records behind these studies (which the caller sees), opened from
   * their sealed values, each once: for the roles entitled to the patient's identity; none for a
   * caller who sees patients masked (QC staff). Matching never needs them opened.
   */
  async identifiersOf(studies: readonly PersonStudy[], visibility: Visibility): Promise<PersonIdentifier[]> {
    if (visibility.maskIdentity || studies.length === 0) return [];
    const stored = await this.deps.repository.identifiersOf([...new Set(studies.map((study) => study.patientPk))]);
    const opened = this.#open([...stored.values()].flat());
    return [...new Map(opened.map((identifier) => [`${identifier.kind}|${identifier.issuer}|${identifier.value}`, identifier])).values()];
  }

  /** The person of a study the caller sees (the access policy has checked the study); 404 while its record is not linked. */
  async personOfStudy(studyInstanceUid: string): Promise<string> {
    const personId = await this.deps.repository.personOfStudy(studyInstanceUid);
    if (!personId) throw new PersonRefusal(404, `the patient of study ${studyInstanceUid} is not linked to a person yet`);
    return personId;
  }

  /** The record, when the actor administers its institution (404 alike for no record and not theirs: a 403 would confirm it exists); its current link. */
  async #recordInScope(actor: Actor, patientPk: string, reason: string) {
    requireReason(reason);
    const record = await this.deps.repository.patient(patientPk);
    if (!record || (actor.role !== 'system_admin' && record.institutionId !== actor.institutionId)) throw new PersonRefusal(404, `no patient record ${patientPk} in your scope`);
    return this.deps.repository.linkOf(patientPk);
  }

  #open(stored: readonly StoredIdentifier[]): PersonIdentifier[] {
    return stored.map((identifier) => ({ kind: identifier.kind, issuer: identifier.issuer, value: this.deps.protection.open(identifier.sealedValue, identifier) }));
  }

  async #manualKept(patientPk: string): Promise<LinkOutcome> {
    return { outcome: 'manual-link-kept', personId: (await this.deps.repository.linkOf(patientPk))!.personId };
  }

  #audit(actor: Actor, action: 'U', detail: Record<string, unknown>): Promise<void> {
    return this.deps.audit.record(adminChangeEvent(actor, action, detail));
  }
}

function candidateOf(record: PatientRecordFacts, identifiers: readonly PersonIdentifier[]): LinkCandidate {
  return { name: record.patientName, birthDate: record.birthDate, sex: record.sex, identifiers };
}

function requireReason(reason: string): void {
  if (reason.trim() === '' || reason.length > 500) throw new PersonRefusal(400, 'a reason (1 to 500 characters) is required');
}

/** The institutions whose records' suggestions the actor decides: all (null) for a system administrator. */
function suggestionScope(actor: Actor): string[] | null {
  return actor.role === 'system_admin' ? null : [actor.institutionId ?? '0'];
}

/** System administrators administer every institution; institution administrators their own. */
function administers(actor: Actor, institutionId: string): void {
  if (actor.role !== 'system_admin' && actor.institutionId !== institutionId) throw new PersonRefusal(403, `institution ${institutionId} is not yours to administer`);
}

function groupByPerson(studies: readonly PersonStudy[]): { personId: string; studies: PersonStudy[] }[] {
  const byPerson = new Map<string, PersonStudy[]>();
  for (const study of studies) byPerson.set(study.personId, [...(byPerson.get(study.personId) ?? []), study]);
  return [...byPerson].map(([personId, ofPerson]) => ({ personId, studies: ofPerson }));
}
