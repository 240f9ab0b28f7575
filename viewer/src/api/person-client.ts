import type { LinkSuggestion, PersonStudy } from '../../../archive/db/person-repository.ts';
import type { PriorFetch } from '../../../archive/db/prior-fetch-repository.ts';
import type { PersonIdentifier } from '../../../archive/person/identifiers.ts';
import type { TimelineStudy } from '../../../archive/person/person-service.ts';
import type { Connection } from './http.ts';

export type { PersonIdentifier, PriorFetch, TimelineStudy };

/** A person's page: their strong identifiers (none for a masked role) and their studies the caller sees. */
export interface PersonTimeline {
  identifiers: PersonIdentifier[];
  studies: TimelineStudy[];
}

export type SuggestionOnWire = Omit<LinkSuggestion, 'createdAt'> & { createdAt: string };

/**
 * The person index (docs/recognition.md): a person's studies everywhere, lookup by ID number, the
 * review queue and its decisions. Whose studies a caller sees is the archive's; a stated purpose of
 * use goes with the person's studies, as with the priors.
 */
export class PersonClient {
  constructor(
    private readonly connection: Connection,
    readonly apiRoot = '/api',
  ) {}

  person(personId: string): Promise<PersonTimeline & { personId: string }> {
    return this.connection.json(`${this.apiRoot}/persons/${encodeURIComponent(personId)}`, { withPurpose: true });
  }

  /** The identifier travels in this request's query only; the page's address never carries it. */
  lookup(identifier: string): Promise<{ personId: string; studies: PersonStudy[] }[]> {
    return this.connection.json(`${this.apiRoot}/persons?${new URLSearchParams({ identifier }).toString()}`, { withPurpose: true });
  }

  personOfStudy(studyInstanceUid: string): Promise<{ personId: string }> {
    return this.connection.json(`${this.apiRoot}/studies/${encodeURIComponent(studyInstanceUid)}/person`, { withPurpose: true });
  }

  /** The person's fetches from hospitals' PACS (调取既往检查), newest first, with their progress. */
  priorFetches(personId: string): Promise<PriorFetch[]> {
    return this.connection.json(`${this.apiRoot}/persons/${encodeURIComponent(personId)}/prior-fetches`, { withPurpose: true });
  }

  /** Asks every registered source for the person's earlier studies; a fetch already running is joined, not repeated. */
  requestPriorFetch(personId: string): Promise<PriorFetch[]> {
    return this.connection.json(`${this.apiRoot}/persons/${encodeURIComponent(personId)}/prior-fetches`, { method: 'POST', json: {}, withPurpose: true });
  }

  suggestions(): Promise<SuggestionOnWire[]> {
    return this.connection.json(`${this.apiRoot}/person-suggestions`);
  }

  link(patientPk: string, personId: string, reason: string): Promise<void> {
    return this.connection.json(`${this.apiRoot}/person-links`, { method: 'POST', json: { patientPk, personId, reason } });
  }

  dismiss(suggestionId: string, reason: string): Promise<void> {
    return this.connection.json(`${this.apiRoot}/person-suggestions/${encodeURIComponent(suggestionId)}/dismissal`, { method: 'POST', json: { reason } });
  }

  unlink(patientPk: string, reason: string): Promise<{ personId: string }> {
    return this.connection.json(`${this.apiRoot}/person-unlinks`, { method: 'POST', json: { patientPk, reason } });
  }

  merge(intoPersonId: string, fromPersonId: string, reason: string): Promise<void> {
    return this.connection.json(`${this.apiRoot}/person-merges`, { method: 'POST', json: { intoPersonId, fromPersonId, reason } });
  }
}
