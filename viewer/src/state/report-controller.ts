import type { Report, ReportContent, ReportTemplate, SignRequest } from '../../../archive/reading/report.ts';
import { NOT_REPORTABLE_HERE } from '../../../archive/reading/report-wire.ts';
import { ApiError } from '../api/http.ts';
import type { ReportClient } from '../api/report-client.ts';
import { failed, signedInUserOf, type AppState, type Problem } from './app-state.ts';
import { createStore, type Store } from './store.ts';

/** Where the text typed stands against the server: 已保存 / 保存中 / 离线 (kept here, sent when back) / overtaken by another save. */
export type SaveState = 'saved' | 'saving' | 'offline' | 'conflict';

/** The clinical information of the request the report answers (from its workitem). */
export interface ClinicalInformation {
  question: string;
  history: string;
  requestedBy: string;
}

export interface ReportEditorState {
  studyInstanceUid: string | undefined;
  /** undefined: none yet and the reader may not start one. */
  report: { status: 'loading' } | { status: 'ready'; value: Report | undefined } | { status: 'error'; problem: Problem };
  /** What the editor shows: the server's draft and every change typed since. */
  content: ReportContent;
  /** The draft revision `content` was made from: a save names it. */
  revision: number;
  save: SaveState;
  templates: ReportTemplate[];
  clinical: ClinicalInformation | undefined;
  outcome: { kind: 'refused'; problem: Problem } | { kind: 'signed'; status: Report['status'] } | undefined;
  signing: boolean;
}

const AUTOSAVE_DELAY_MS = 800;
const OFFLINE_RETRY_MS = 5000;
const BACKUP_PREFIX = 'yingyun.report-draft.';

const EMPTY: ReportContent = { findings: '', impression: '', criticalFinding: null, templateId: null };

/**
 * The report editor beside the images: loads (or opens) the report of the primary study, saves
 * the draft as it is typed, signs, amends. Nothing typed is lost: every change is saved on the
 * server after a short pause; while the server cannot be reached it stays in this browser
 * (localStorage, until saved) and is sent when the connection returns, also after the tab was
 * closed and opened again.
 */
export class ReportController {
  readonly store: Store<ReportEditorState> = createStore<ReportEditorState>({
    studyInstanceUid: undefined,
    report: { status: 'ready', value: undefined },
    content: EMPTY,
    revision: 0,
    save: 'saved',
    templates: [],
    clinical: undefined,
    outcome: undefined,
    signing: false,
  });
  private timer: ReturnType<typeof setTimeout> | undefined;
  private saving: Promise<void> | undefined;
  /** Changes typed while a save was in flight: saved again once it returns. */
  private dirty = false;

  constructor(
    private readonly client: ReportClient,
    private readonly app: Store<AppState>,
    private readonly storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> = localStorage,
  ) {
    app.subscribe((state) => this.follow(state));
    addEventListener('online', () => this.retryOffline());
    this.follow(app.get());
  }

  /** The reader may write reports (the server decides who may verify). */
  canWrite(): boolean {
    return signedInUserOf(this.app.get())?.permissions.includes('write-reports') ?? false;
  }

  private follow(state: AppState): void {
    const study = state.route.page === 'viewer' && signedInUserOf(state) ? state.route.studyInstanceUids[0] : undefined;
    if (study === this.store.get().studyInstanceUid) return;
    clearTimeout(this.timer);
    this.update({ studyInstanceUid: study, report: { status: 'loading' }, content: EMPTY, revision: 0, save: 'saved', clinical: undefined, outcome: undefined, templates: [] });
    if (study) void this.load(study, state);
  }

  private async load(study: string, state: AppState): Promise<void> {
    let report: Report | undefined;
    try {
      report = await this.client.get(study);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404 && this.canWrite())) {
        if (error instanceof ApiError && error.status === 404) return this.ifCurrent(study, { report: { status: 'ready', value: undefined } });
        return this.ifCurrent(study, { report: failed(error) });
      }
      try {
        report = await this.client.open(study);
      } catch (openError) {
        // A study seen only through a consultation's grant or a share link is not one this reader
        // may report on: the archive says so by name, and no report panel is shown. Any other refusal is.
        if (openError instanceof ApiError && openError.reason === NOT_REPORTABLE_HERE) return this.ifCurrent(study, { report: { status: 'ready', value: undefined } });
        return this.ifCurrent(study, { report: failed(openError) });
      }
    }
    const backup = this.backup(study);
    // A change kept in this browser and never saved (offline, or the tab closed first) is restored
    // when it was made from the draft the server still has.
    const restored = backup && backup.revision === report.draftRevision && JSON.stringify(backup.content) !== JSON.stringify(report.draft);
    this.ifCurrent(study, { report: { status: 'ready', value: report }, content: restored ? backup.content : report.draft, revision: report.draftRevision, save: 'saved' });
    if (restored) this.schedule(0);
    else this.storage.removeItem(BACKUP_PREFIX + study);
    const open = state.reading.studies[study];
    const modality = open?.status === 'ready' ? open.value.series.map((series) => series.modality).find((value) => value && value !== 'SR') : undefined;
    if (this.canWrite()) {
      this.client.templates(modality, undefined).then((templates) => this.ifCurrent(study, { templates }), () => undefined);
    }
    if (report.workitemUid) {
      this.client.workitem(report.workitemUid).then((workitem) => this.ifCurrent(study, { clinical: clinicalOf(workitem) }), () => undefined);
    }
  }

  /** A change typed in the editor: shown at once, kept in this browser, saved after a pause. */
  edit(change: Partial<ReportContent>): void {
    const { studyInstanceUid, content, revision } = this.store.get();
    if (!studyInstanceUid) return;
    const next = { ...content, ...change };
    this.storage.setItem(BACKUP_PREFIX + studyInstanceUid, JSON.stringify({ content: next, revision }));
    // 保存中 from the first key: a change waiting for its pause is not saved yet. Offline stays offline.
    this.update({ content: next, outcome: undefined, save: this.store.get().save === 'offline' ? 'offline' : 'saving' });
    this.schedule(AUTOSAVE_DELAY_MS);
  }

  /** A template replaces both fields (what was typed goes after it); a phrase is added to the field it fills. */
  applyTemplate(template: ReportTemplate): void {
    const { content } = this.store.get();
    const join = (current: string, added: string) => (added ? (current.trim() ? `${current.trimEnd()}\n${added}` : added) : current);
    if (template.kind === 'template') {
      this.edit({ findings: join(template.findings, content.findings), impression: join(template.impression, content.impression), templateId: template.id });
    } else {
      this.edit({ findings: join(content.findings, template.findings), impression: join(content.impression, template.impression) });
    }
  }

  /** Signs what the editor shows, once it is saved: 初诊, 审核, or an amendment with its reason. */
  async sign(role: SignRequest['role'], reason = ''): Promise<void> {
    const study = this.store.get().studyInstanceUid;
    if (!study) return;
    this.update({ signing: true, outcome: undefined });
    try {
      await this.flush();
      if (this.store.get().save !== 'saved') return;
      const { revision } = this.store.get();
      const request: SignRequest = role === 'amendment' ? { role, revision, reason } : { role, revision };
      const report = await this.client.sign(study, request);
      this.ifCurrent(study, { report: { status: 'ready', value: report }, content: report.draft, revision: report.draftRevision, outcome: { kind: 'signed', status: report.status } });
    } catch (error) {
      this.ifCurrent(study, { outcome: { kind: 'refused', problem: failed(error).problem } });
    } finally {
      this.update({ signing: false });
    }
  }

  /** After a conflict: take the server's draft (what this browser had is dropped). */
  async reload(): Promise<void> {
    const study = this.store.get().studyInstanceUid;
    if (!study) return;
    this.storage.removeItem(BACKUP_PREFIX + study);
    this.update({ studyInstanceUid: undefined });
    this.follow(this.app.get());
  }

  private schedule(delay: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush(), delay);
  }

  /** Saves now if anything is unsaved; resolves when the editor's content is saved or cannot be. */
  private async flush(): Promise<void> {
    clearTimeout(this.timer);
    if (this.saving) {
      this.dirty = true;
      await this.saving;
      return;
    }
    const state = this.store.get();
    if (!state.studyInstanceUid || state.report.status !== 'ready' || !state.report.value) return;
    const backupText = this.storage.getItem(BACKUP_PREFIX + state.studyInstanceUid);
    if (!backupText && state.save === 'saved') return;
    const study = state.studyInstanceUid;
    const sent = state.content;
    this.update({ save: 'saving' });
    this.saving = (async () => {
      try {
        const saved = await this.client.saveDraft(study, sent, state.revision);
        if (this.store.get().studyInstanceUid !== study) return;
        const unchanged = this.store.get().content === sent;
        if (unchanged) this.storage.removeItem(BACKUP_PREFIX + study);
        else this.storage.setItem(BACKUP_PREFIX + study, JSON.stringify({ content: this.store.get().content, revision: saved.revision }));
        this.update({ revision: saved.revision, save: 'saved' });
        if (!unchanged) this.dirty = true;
      } catch (error) {
        if (this.store.get().studyInstanceUid !== study) return;
        if (error instanceof ApiError && error.status === 409) this.update({ save: 'conflict' });
        else if (error instanceof ApiError && error.status !== 0) this.update({ save: 'offline', outcome: { kind: 'refused', problem: failed(error).problem } });
        else {
          this.update({ save: 'offline' });
          this.timer = setTimeout(() => this.retryOffline(), OFFLINE_RETRY_MS);
        }
      }
    })();
    await this.saving;
    this.saving = undefined;
    if (this.dirty) {
      this.dirty = false;
      await this.flush();
    }
  }

  private retryOffline(): void {
    if (this.store.get().save === 'offline') void this.flush();
  }

  private backup(study: string): { content: ReportContent; revision: number } | undefined {
    try {
      const value = JSON.parse(this.storage.getItem(BACKUP_PREFIX + study) ?? 'null') as { content?: ReportContent; revision?: number } | null;
      return value?.content && typeof value.revision === 'number' ? { content: value.content, revision: value.revision } : undefined;
    } catch {
      return undefined;
    }
  }

  private ifCurrent(study: string, change: Partial<ReportEditorState>): void {
    if (this.store.get().studyInstanceUid === study) this.update(change);
  }

  private update(change: Partial<ReportEditorState>): void {
    this.store.update((state) => ({ ...state, ...change }));
  }
}

/** Reason for the request, history and who asked, from a workitem (the attributes a reading request fills). */
function clinicalOf(workitem: Record<string, { vr: string; Value?: unknown[] }>): ClinicalInformation | undefined {
  // On the workitem itself, or on the request it refers to (Referenced Request Sequence).
  const request = (workitem['0040A370']?.Value?.[0] ?? {}) as Record<string, { vr: string; Value?: unknown[] }>;
  const text = (tag: string) =>
    (workitem[tag]?.Value ?? request[tag]?.Value ?? [])
      .map((value) => (value && typeof value === 'object' ? String((value as { Ideographic?: string; Alphabetic?: string }).Ideographic ?? (value as { Alphabetic?: string }).Alphabetic ?? '') : String(value ?? '')))
      .filter(Boolean)
      .join(', ');
  const clinical = { question: text('00401002'), history: text('001021B0'), requestedBy: text('00321032') };
  return clinical.question || clinical.history || clinical.requestedBy ? clinical : undefined;
}
