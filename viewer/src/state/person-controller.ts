import type { PersonClient, PersonTimeline, PriorFetch } from '../api/person-client.ts';
import { fetchRunning } from '../logic/prior-fetch.ts';
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
  /** The person's fetches from hospitals' PACS, refreshed while one runs. */
  fetches: Loadable<PriorFetch[]> | undefined;
  /** Set while a request to fetch is on its way, or when it was refused. */
  fetchRequest: { status: 'idle' } | { status: 'sending' } | { status: 'error'; problem: Problem };
}

/** How often a running fetch's progress is asked for. */
const FETCH_POLL_MS = 1500;

/**
 * The person page: one person's studies everywhere the user may see them (the archive decides,
 * a stated purpose widening it as for the priors), reached from the study list or by ID number.
 * The number goes to the archive in a request only; the page's address carries the person's id.
 */
export class PersonController {
  readonly store: Store<PersonPageState> = createStore<PersonPageState>({ personId: undefined, purpose: undefined, person: undefined, lookup: { status: 'idle' }, notice: undefined, fetches: undefined, fetchRequest: { status: 'idle' } });
  private pollTimer: ReturnType<typeof setTimeout> | undefined;

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
    this.store.update((page) => ({
      ...page,
      personId,
      purpose: state.purpose.text,
      person: personId ? { status: 'loading' } : undefined,
      ...(samePerson ? {} : { notice: undefined, lookup: { status: 'idle' }, fetches: undefined, fetchRequest: { status: 'idle' } }),
    }));
    clearTimeout(this.pollTimer);
    if (personId) {
      void this.load(personId);
      void this.loadFetches(personId);
    }
  }

  /** Asks the hospitals' PACS for the person's earlier studies, then follows the fetches' progress. */
  async requestPriorFetch(): Promise<void> {
    const personId = this.store.get().personId;
    if (!personId) return;
    this.store.update((page) => ({ ...page, fetchRequest: { status: 'sending' } }));
    try {
      await this.client.requestPriorFetch(personId);
      this.store.update((page) => ({ ...page, fetchRequest: { status: 'idle' } }));
    } catch (error) {
      this.store.update((page) => ({ ...page, fetchRequest: { status: 'error', problem: failed(error).problem } }));
    }
    await this.loadFetches(personId);
  }

  private async loadFetches(personId: string): Promise<void> {
    let fetches: Loadable<PriorFetch[]>;
    try {
      fetches = { status: 'ready', value: await this.client.priorFetches(personId) };
    } catch (error) {
      fetches = failed(error);
    }
    if (this.store.get().personId !== personId) return;
    const before = this.store.get().fetches;
    this.store.update((page) => ({ ...page, fetches }));
    // A fetch that brought studies while the page was open: the timeline shows them.
    const wasRunning = before?.status === 'ready' && before.value.some(fetchRunning);
    const nowRunning = fetches.status === 'ready' && fetches.value.some(fetchRunning);
    if (wasRunning && !nowRunning) void this.load(personId);
    clearTimeout(this.pollTimer);
    if (nowRunning) this.pollTimer = setTimeout(() => void this.loadFetches(personId), FETCH_POLL_MS);
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
