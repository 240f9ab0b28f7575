import type { Consultation, ConsultationClientMessage, ConsultationServerMessage, SharedPointer, SharedView } from '../../../archive/consultation/wire.ts';
import type { ConsultationClient } from '../api/consultation-client.ts';
import type { ImagingEngine } from '../imaging/engine.ts';
import { LAYOUTS, type LayoutId } from '../logic/layout.ts';
import { failed, type AppState, type Loadable, type Problem } from './app-state.ts';
import { viewportIdOf, type Controller } from './controller.ts';
import { createStore, type Store } from './store.ts';

/** The session a participant has open: the consultation as last told, and what came over its socket. */
export interface ConsultationSession {
  consultation: Consultation;
  you: string;
  connected: boolean;
  closedBecause: string | undefined;
  chat: { from: string; text: string; sentAt: string }[];
  /** Where the other participant points, as a fraction of the viewport grid. */
  pointer: (SharedPointer & { from: string }) | undefined;
}

export interface ConsultationState {
  panelOpen: boolean;
  mine: Loadable<Consultation[]> | undefined;
  session: ConsultationSession | undefined;
  /** What the last action came to: a refusal to show, or a note (the invitation went out). */
  outcome: { kind: 'refused'; problem: Problem } | { kind: 'invited'; name: string } | undefined;
}

// The presenter's view goes out at most this often while it changes (a window/level drag, scrolling).
const VIEW_INTERVAL_MS = 50;
const POINTER_INTERVAL_MS = 50;

/**
 * Live consultation (远程会诊) in the viewer: the consultation list and its actions, the session's
 * WebSocket, and the shared view. The participant with the floor sends their layout, series, slices,
 * window, camera and measurements whenever they change; the other's viewer shows them through the
 * same Controller and engine calls a reader's own actions use.
 */
export class ConsultationController {
  readonly store: Store<ConsultationState> = createStore<ConsultationState>({ panelOpen: false, mine: undefined, session: undefined, outcome: undefined });
  private socket: WebSocket | undefined;
  private viewTimer: number | undefined;
  private pointerTimer: number | undefined;
  private pendingPointer: SharedPointer | undefined;
  /** The last view received, applied again as its series load (the engine sets only what differs). */
  private followed: SharedView | undefined;
  private appliedMeasurements = '';
  /** Applying a view raises the engine's own change reports, synchronously: those are not new changes. */
  private applying = false;

  constructor(
    private readonly client: ConsultationClient,
    private readonly app: Store<AppState>,
    private readonly controller: Controller,
    private readonly engine: ImagingEngine,
  ) {
    engine.onMeasurementsChanged(() => this.viewChanged());
  }

  togglePanel(): void {
    const panelOpen = !this.store.get().panelOpen;
    this.update({ panelOpen });
    if (panelOpen) void this.refresh();
  }

  async refresh(): Promise<void> {
    this.update({ mine: this.store.get().mine?.status === 'ready' ? this.store.get().mine : { status: 'loading' } });
    try {
      this.update({ mine: { status: 'ready', value: await this.client.mine() } });
    } catch (error) {
      this.update({ mine: failed(error) });
    }
  }

  async invite(inviteeUsername: string, reason: string): Promise<void> {
    const route = this.app.get().route;
    const studyInstanceUid = route.page === 'viewer' ? route.studyInstanceUids[0] : undefined;
    if (!studyInstanceUid) return;
    await this.attempt(async () => {
      const consultation = await this.client.invite({ inviteeUsername, studyInstanceUid, reason });
      this.update({ outcome: { kind: 'invited', name: consultation.invitee.displayName } });
      await this.refresh();
    });
  }

  async accept(consultation: Consultation): Promise<void> {
    await this.attempt(async () => {
      await this.join(await this.client.act(consultation.id, 'accept'));
      await this.refresh();
    });
  }

  async decline(consultation: Consultation): Promise<void> {
    await this.attempt(async () => {
      await this.client.act(consultation.id, 'decline');
      await this.refresh();
    });
  }

  /** Opens the consultation's study (unless it is on screen already), then its session. */
  async join(consultation: Consultation): Promise<void> {
    this.leave();
    // Opening it again would reset the viewports under the reader, who may be scrolling already: the
    // presenter would then send the reset (slice 1) after the slice they chose.
    if (!this.showsStudy(consultation.studyInstanceUid)) await this.controller.openStudy(consultation.studyInstanceUid);
    const socket = this.client.openSession(consultation.id);
    this.socket = socket;
    this.update({ session: { consultation, you: '', connected: false, closedBecause: undefined, chat: [], pointer: undefined } });
    socket.addEventListener('open', () => this.updateSession({ connected: true }));
    socket.addEventListener('message', (event) => this.received(JSON.parse(String(event.data)) as ConsultationServerMessage));
    socket.addEventListener('close', (event) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.updateSession({ connected: false, closedBecause: event.reason || String(event.code) });
      void this.refresh();
    });
  }

  async end(): Promise<void> {
    const session = this.store.get().session;
    if (session) await this.attempt(async () => void (await this.client.act(session.consultation.id, 'end')));
  }

  async writeOpinion(text: string): Promise<void> {
    const session = this.store.get().session;
    if (!session) return;
    await this.attempt(async () => this.updateSession({ consultation: await this.client.writeOpinion(session.consultation.id, text) }));
  }

  requestFloor(): void {
    this.send({ type: 'floor-request' });
  }

  handOver(): void {
    this.send({ type: 'floor-hand-over' });
  }

  chat(text: string): void {
    if (text.trim()) this.send({ type: 'chat', text });
  }

  /** The reader's pointer over the viewport grid, sent a few times a second while it moves. */
  point(pointer: SharedPointer): void {
    if (!this.socket) return;
    this.pendingPointer = pointer;
    this.pointerTimer ??= window.setTimeout(() => {
      this.pointerTimer = undefined;
      if (this.pendingPointer) this.send({ type: 'pointer', pointer: this.pendingPointer });
    }, POINTER_INTERVAL_MS);
  }

  /**
   * The engine reported a change in a viewport (slice, window, camera, measurements; also when a
   * stack finished loading). With the floor, it goes to the other participant; following, the
   * presenter's view is applied again, since a series that just loaded has not had it yet.
   */
  viewChanged(): void {
    const session = this.store.get().session;
    if (!session?.connected || this.applying) return;
    if (session.consultation.floorHolder === session.you) this.viewTimer ??= window.setTimeout(() => this.sendView(), VIEW_INTERVAL_MS);
    else if (this.followed) this.applyView(this.followed);
  }

  /** Closes the session's socket (the consultation goes on; joining again reopens it). */
  leave(): void {
    const socket = this.socket;
    this.socket = undefined;
    socket?.close();
    this.followed = undefined;
    this.appliedMeasurements = '';
    this.update({ session: undefined });
  }

  private received(message: ConsultationServerMessage): void {
    const session = this.store.get().session;
    if (!session) return;
    switch (message.type) {
      case 'consultation': {
        // Holding the floor from the first message on, or given it now: the other screen needs the whole view.
        const tookFloor = message.consultation.floorHolder === message.you && (session.you === '' || session.consultation.floorHolder !== message.you);
        this.updateSession({ consultation: message.consultation, you: message.you });
        if (tookFloor) this.sendView();
        return;
      }
      case 'joined':
        if (session.consultation.floorHolder === session.you) this.sendView();
        return;
      case 'view':
        this.followed = message.view;
        this.applyView(message.view);
        return;
      case 'pointer':
        return this.updateSession({ pointer: { ...message.pointer, from: message.from } });
      case 'chat':
        return this.updateSession({ chat: [...session.chat, { from: message.from, text: message.text, sentAt: message.sentAt }] });
      case 'refused':
        return this.update({ outcome: { kind: 'refused', problem: { status: 409, detail: message.reason } } });
    }
  }

  private showsStudy(studyInstanceUid: string): boolean {
    const { route, reading } = this.app.get();
    return route.page === 'viewer' && route.studyInstanceUids[0] === studyInstanceUid && reading.studies[studyInstanceUid]?.status === 'ready';
  }

  private sendView(): void {
    window.clearTimeout(this.viewTimer);
    this.viewTimer = undefined;
    const { layout } = this.app.get().reading;
    const active = this.engine.viewOf(viewportIdOf(layout.active));
    this.send({
      type: 'view',
      view: {
        layout: layout.layout,
        activeCell: layout.active,
        cells: layout.cells.map((ref, cell) => (ref ? { ...ref, imageIndex: this.engine.viewOf(viewportIdOf(cell))?.imageIndex ?? 0 } : null)),
        voi: active?.window ? { windowCenter: active.window.center, windowWidth: active.window.width } : null,
        camera: active?.camera ?? null,
        annotations: this.engine.measurements(),
      },
    });
  }

  /** The presenter's layout and series through the Controller, then each viewport's slice, window and camera. */
  private applyView(view: SharedView): void {
    this.applying = true;
    try {
      this.showView(view);
    } finally {
      this.applying = false;
    }
  }

  private showView(view: SharedView): void {
    const layoutId = LAYOUTS.find((candidate) => candidate === view.layout) as LayoutId | undefined;
    if (!layoutId) return;
    const current = this.app.get().reading.layout;
    const cells = view.cells.map((cell) => (cell ? { studyInstanceUid: cell.studyInstanceUid, seriesInstanceUid: cell.seriesInstanceUid } : null));
    const sameLayout =
      current.layout === layoutId &&
      current.active === view.activeCell &&
      current.cells.length === cells.length &&
      current.cells.every((ref, index) => ref?.seriesInstanceUid === cells[index]?.seriesInstanceUid && ref?.studyInstanceUid === cells[index]?.studyInstanceUid);
    if (!sameLayout) this.controller.followLayout({ layout: layoutId, cells, active: view.activeCell });
    view.cells.forEach((cell, index) => {
      if (!cell) return;
      const isActive = index === view.activeCell;
      this.engine.followView(viewportIdOf(index), {
        imageIndex: cell.imageIndex,
        ...(isActive && view.voi ? { window: { center: view.voi.windowCenter, width: view.voi.windowWidth } } : {}),
        ...(isActive && view.camera ? { camera: view.camera } : {}),
      });
    });
    const measurements = JSON.stringify(view.annotations);
    if (measurements !== this.appliedMeasurements) {
      this.appliedMeasurements = measurements;
      this.engine.replaceMeasurements(view.annotations);
    }
  }

  private send(message: ConsultationClientMessage): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private async attempt(action: () => Promise<void>): Promise<void> {
    this.update({ outcome: undefined });
    try {
      await action();
    } catch (error) {
      this.update({ outcome: { kind: 'refused', problem: failed(error).problem } });
    }
  }

  private update(change: Partial<ConsultationState>): void {
    this.store.update((state) => ({ ...state, ...change }));
  }

  private updateSession(change: Partial<ConsultationSession>): void {
    this.store.update((state) => (state.session ? { ...state, session: { ...state.session, ...change } } : state));
  }
}
