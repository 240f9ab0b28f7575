import type { PersonClient, PersonTimeline } from '../api/person-client.ts';
import { ApiError } from '../api/http.ts';
import { failed, signedInUserOf, type AppState, type Loadable, type Problem } from './app-state.ts';
import type { Controller } from './controller.ts';
import { createStore, type Store } from './store.ts';

export interface PersonPageState {
  personId: string | undefined;
  /** What the person was loaded under: a purpose stated or withdrawn widens or narrows it. */
  purpose: string | undefined;
  person: Loadable<PersonTimeline> | undefined;
  lookup: { status: 'idle' } | { status: 'searching' } | { status: 'several'; personIds: string[] } | { status: 'none' } | { status: 'error'; problem: Problem };
  /** Why the study list's way here found no person. */
  notice: Problem | undefined;
}

/**
 * The person page: one person's studies everywhere the user may see them (the archive decides,
 * a stated purpose widening it as for the priors), reached from the study list or by ID number.
 * The number goes to the archive in a request only; the page's address carries the person's id.
 */
export class PersonController {
  readonly store: Store<PersonPageState> = createStore<PersonPageState>({ personId: undefined, purpose: undefined, person: undefined, lookup: { status: 'idle' }, notice: undefined });

  constructor(
    private readonly client: PersonClient,
    private readonly app: Store<AppState>,
    private readonly navigation: Pick<Controller, 'showPerson'>,
  ) {
    app.subscribe((state) => this.follow(state));
    this.follow(app.get());
  }

  private follow(state: AppState): void {
    const route = state.route;
    const personId = route.page === 'person' && signedInUserOf(state) ? route.personId : undefined;
    const current = this.store.get();
    if (personId === current.personId && state.purpose.text === current.purpose) return;
    const samePerson = personId === current.personId;
    this.store.update((page) => ({ ...page, personId, purpose: state.purpose.text, person: personId ? { status: 'loading' } : undefined, ...(samePerson ? {} : { notice: undefined, lookup: { status: 'idle' } }) }));
    if (personId) void this.load(personId);
  }

  private async load(personId: string): Promise<void> {
    let person: Loadable<PersonTimeline>;
    try {
      const { identifiers, studies } = await this.client.person(personId);
      person = { status: 'ready', value: { identifiers, studies } };
    } catch (error) {
      person = failed(error);
    }
    this.store.update((page) => (page.personId === personId ? { ...page, person } : page));
  }

  /** Finds the person by resident ID number; one found: their page (the number stays out of the address). */
  async lookup(residentId: string): Promise<void> {
    const number = residentId.trim();
    if (!number) return;
    this.store.update((page) => ({ ...page, lookup: { status: 'searching' }, notice: undefined }));
    try {
      const found = await this.client.lookup(`resident-id:${number}`);
      if (found.length === 1) return void (await this.navigation.showPerson(found[0]!.personId));
      this.store.update((page) => ({ ...page, lookup: found.length === 0 ? { status: 'none' } : { status: 'several', personIds: found.map((person) => person.personId) } }));
    } catch (error) {
      // 404 and an empty answer alike: nobody the user may see carries the number.
      this.store.update((page) => ({ ...page, lookup: error instanceof ApiError && error.status === 404 ? { status: 'none' } : { status: 'error', problem: failed(error).problem } }));
    }
  }

  /** From the study list: the person of a study's patient (其他医院检查). */
  async openForStudy(studyInstanceUid: string): Promise<void> {
    try {
      const { personId } = await this.client.personOfStudy(studyInstanceUid);
      await this.navigation.showPerson(personId);
    } catch (error) {
      await this.navigation.showPerson();
      this.store.update((page) => ({ ...page, notice: failed(error).problem }));
    }
  }
}
