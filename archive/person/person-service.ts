import type { Actor } from '../access/administration.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { LinkSuggestion, PatientRecordFacts, PersonRepository, StoredIdentifier } from '../db/person-repository.ts';
import type { Logger } from '../log.ts';
import { DEFAULT_ISSUER_TABLE, extractIdentifiers, institutionIdentifierRulesSchema, type IdentifierRule } from './identifier-extraction.ts';
import type { IdentifierProtection } from './identifier-protection.ts';
import { toPersonIdentifier, type IdentifierKind, type PersonIdentifier } from './identifiers.ts';
import { decideLink, type LinkCandidate } from './link-decision.ts';

export type LinkOutcome =
  | { outcome: 'linked'; personId: string; sharedKinds: IdentifierKind[] }
  | { outcome: 'own-person'; personId: string }
  | { outcome: 'manual-link-kept'; personId: string }
  | { outcome: 'no-record' };

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

  async identifierRules(institutionId: string): Promise<IdentifierRule[]> {
    return this.deps.repository.identifierRules(institutionId);
  }

  /** Validates and stores an institution's rules, audits the change, and has its records re-linked. */
  async setIdentifierRules(actor: Actor, institutionId: string, input: unknown): Promise<IdentifierRule[]> {
    const rules = institutionIdentifierRulesSchema.parse(input);
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
    const before = await this.deps.repository.linkOf(patientPk);
    await this.deps.repository.link(patientPk, personId, { method: 'manual', linkedBy: actor.username, reason });
    await this.deps.repository.acceptSuggestionsWithin(personId, actor.username, reason);
    await this.#audit(actor, 'U', { change: 'person-link', patientPk, personId, formerPersonId: before?.personId ?? null, reason });
  }

  /** A person's decision that this record is not the person it is linked to: it becomes a person of its own, and stays so. */
  async unlink(actor: Actor, patientPk: string, reason: string): Promise<string> {
    const before = await this.deps.repository.linkOf(patientPk);
    const personId = (await this.deps.repository.link(patientPk, null, { method: 'manual', linkedBy: actor.username, reason }))!;
    await this.#audit(actor, 'U', { change: 'person-unlink', patientPk, formerPersonId: before?.personId ?? null, personId, reason });
    return personId;
  }

  /** Two persons are one: every record of `fromPersonId` is linked manually to `intoPersonId`. */
  async merge(actor: Actor, intoPersonId: string, fromPersonId: string, reason: string): Promise<void> {
    const members = await this.deps.repository.membersOf(fromPersonId);
    for (const patientPk of members) await this.deps.repository.link(patientPk, intoPersonId, { method: 'manual', linkedBy: actor.username, reason });
    await this.deps.repository.acceptSuggestionsWithin(intoPersonId, actor.username, reason);
    await this.#audit(actor, 'U', { change: 'person-merge', intoPersonId, fromPersonId, patientPks: members, reason });
  }

  async dismissSuggestion(actor: Actor, suggestionId: string, reason: string): Promise<boolean> {
    const dismissed = await this.deps.repository.dismissSuggestion(suggestionId, actor.username, reason);
    if (dismissed) await this.#audit(actor, 'U', { change: 'person-suggestion-dismissed', suggestionId, reason });
    return dismissed;
  }

  /** Open suggestions; institutionIds null for every institution (a system administrator). */
  openSuggestions(institutionIds: readonly string[] | null, limit = 100): Promise<LinkSuggestion[]> {
    return this.deps.repository.openSuggestions(institutionIds, limit);
  }

  /** Persons carrying this identifier (found by its keyed hash; the value itself is never looked up), with their records' institutions. */
  async personsWithIdentifier(kind: IdentifierKind, value: string, issuer = ''): Promise<{ personId: string; institutionIds: string[] }[]> {
    const result = toPersonIdentifier(kind, value, issuer);
    if (!result.ok) return [];
    return this.deps.repository.personsWithHash(this.deps.protection.matchHash(result.identifier));
  }

  #open(stored: readonly StoredIdentifier[]): PersonIdentifier[] {
    return stored.map((identifier) => ({ kind: identifier.kind, issuer: identifier.issuer, value: this.deps.protection.open(identifier.sealedValue, identifier) }));
  }

  async #manualKept(patientPk: string): Promise<LinkOutcome> {
    return { outcome: 'manual-link-kept', personId: (await this.deps.repository.linkOf(patientPk))!.personId };
  }

  #audit(actor: Actor, action: 'U', detail: Record<string, unknown>): Promise<void> {
    return this.deps.audit.record({ eventType: 'admin-change', action, outcome: 0, userName: actor.username, userRole: actor.role, institutionId: actor.institutionId ?? undefined, sourceAddress: actor.sourceAddress, detail });
  }
}

function candidateOf(record: PatientRecordFacts, identifiers: readonly PersonIdentifier[]): LinkCandidate {
  return { name: record.patientName, birthDate: record.birthDate, sex: record.sex, identifiers };
}
