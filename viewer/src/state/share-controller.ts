import type { CreateDoctorShareRequest, CreatePatientLinkRequest, IssuedShareLink, ShareLinkSummary } from '../../../archive/reading/share-link-types.ts';
import type { ShareLinkClient } from '../api/share-link-client.ts';
import { failed, type AppState, type Loadable, type Problem } from './app-state.ts';
import { createStore, type Store } from './store.ts';

export interface ShareState {
  panelOpen: boolean;
  /** The study the panel is about: the first of the open studies. */
  study: string | undefined;
  links: Loadable<ShareLinkSummary[]> | undefined;
  /** The URL just made or shown, with its QR code: shown until another action. */
  issued: IssuedShareLink | undefined;
  problem: Problem | undefined;
}

/**
 * Share links of the open study (云胶片 for the patient, a time-limited share with another
 * institution's doctor): the list, making and showing links, revoking. Only for those who may
 * export the study; the archive decides, the panel is not offered to others.
 */
export class ShareController {
  readonly store: Store<ShareState>;

  constructor(
    private readonly client: ShareLinkClient,
    app: Store<AppState>,
  ) {
    this.store = createStore<ShareState>({ panelOpen: false, study: studyOf(app.get()), links: undefined, issued: undefined, problem: undefined });
    // Another study opened, or the reading screen left: the panel's study follows, its URL is forgotten.
    app.subscribe((state) => {
      const study = studyOf(state);
      if (study === this.store.get().study) return;
      this.store.update(() => ({ panelOpen: false, study, links: undefined, issued: undefined, problem: undefined }));
    });
  }

  togglePanel(): void {
    const panelOpen = !this.store.get().panelOpen;
    this.store.update((state) => ({ ...state, panelOpen, issued: undefined, problem: undefined }));
    if (panelOpen) void this.reload();
  }

  createPatientLink(request: CreatePatientLinkRequest): Promise<void> {
    return this.issue((study) => this.client.createPatientLink(study, request));
  }

  shareWithDoctor(request: CreateDoctorShareRequest): Promise<void> {
    return this.issue((study) => this.client.shareWithDoctor(study, request));
  }

  show(linkId: string): Promise<void> {
    return this.issue((study) => this.client.show(study, linkId));
  }

  async revoke(linkId: string): Promise<void> {
    const { study } = this.store.get();
    if (!study) return;
    try {
      await this.client.revoke(study, linkId);
      this.store.update((state) => ({ ...state, issued: undefined, problem: undefined }));
    } catch (error) {
      this.store.update((state) => ({ ...state, problem: failed(error).problem }));
    }
    await this.reload();
  }

  private async issue(call: (study: string) => Promise<IssuedShareLink>): Promise<void> {
    const { study } = this.store.get();
    if (!study) return;
    try {
      const issued = await call(study);
      this.store.update((state) => ({ ...state, issued, problem: undefined }));
    } catch (error) {
      this.store.update((state) => ({ ...state, issued: undefined, problem: failed(error).problem }));
    }
    await this.reload();
  }

  private async reload(): Promise<void> {
    const { study } = this.store.get();
    if (!study) return;
    this.store.update((state) => ({ ...state, links: state.links ?? { status: 'loading' } }));
    try {
      const links = await this.client.list(study);
      if (this.store.get().study === study) this.store.update((state) => ({ ...state, links: { status: 'ready', value: links } }));
    } catch (error) {
      if (this.store.get().study === study) this.store.update((state) => ({ ...state, links: failed(error) }));
    }
  }
}

function studyOf(state: AppState): string | undefined {
  return state.route.page === 'viewer' ? state.route.studyInstanceUids[0] : undefined;
}
