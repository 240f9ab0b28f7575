/** The viewport layouts a reader chooses from. */
export const LAYOUTS = ['1x1', '1x2', '2x2'] as const;
export type LayoutId = (typeof LAYOUTS)[number];

/** What a viewport shows: one series of one study. */
export interface SeriesRef {
  studyInstanceUid: string;
  seriesInstanceUid: string;
}

export interface LayoutState {
  layout: LayoutId;
  /** One entry per cell, row by row; null for an empty cell. */
  cells: (SeriesRef | null)[];
  active: number;
}

export function cellCount(layout: LayoutId): number {
  return layout === '1x1' ? 1 : layout === '1x2' ? 2 : 4;
}

export function gridShape(layout: LayoutId): { rows: number; columns: number } {
  return layout === '1x1' ? { rows: 1, columns: 1 } : layout === '1x2' ? { rows: 1, columns: 2 } : { rows: 2, columns: 2 };
}

/** A study opened on its own: its first series in one viewport; the others are a click or a drag away. */
export function initialLayout(first: SeriesRef | undefined): LayoutState {
  return { layout: '1x1', cells: [first ?? null], active: 0 };
}

/**
 * Changing layout keeps what is on screen: cells that still exist keep their series, new cells are
 * filled with series not yet shown (in the order given), and the active cell stays if it exists.
 */
export function changeLayout(state: LayoutState, layout: LayoutId, available: readonly SeriesRef[]): LayoutState {
  const count = cellCount(layout);
  const cells = state.cells.slice(0, count);
  const shown = (ref: SeriesRef) => cells.some((cell) => cell !== null && sameSeries(cell, ref));
  const unshown = available.filter((ref) => !shown(ref));
  while (cells.length < count) cells.push(unshown.shift() ?? null);
  return { layout, cells, active: Math.min(state.active, count - 1) };
}

/** A series dropped on (or chosen for) a cell. */
export function assignSeries(state: LayoutState, cell: number, ref: SeriesRef): LayoutState {
  if (cell < 0 || cell >= state.cells.length) return state;
  const cells = state.cells.map((existing, index) => (index === cell ? ref : existing));
  return { ...state, cells, active: cell };
}

export function activate(state: LayoutState, cell: number): LayoutState {
  return cell >= 0 && cell < state.cells.length ? { ...state, active: cell } : state;
}

/**
 * A prior opened for comparison: the current study's series (the one on screen in the active
 * cell) on the left, the prior's on the right, in a 1×2 layout — the way radiologists hang a
 * comparison.
 */
export function compareWithPrior(state: LayoutState, prior: SeriesRef): LayoutState {
  const current = state.cells[state.active] ?? state.cells.find((cell) => cell !== null) ?? null;
  return { layout: '1x2', cells: [current, prior], active: 0 };
}

export function sameSeries(a: SeriesRef, b: SeriesRef): boolean {
  return a.studyInstanceUid === b.studyInstanceUid && a.seriesInstanceUid === b.seriesInstanceUid;
}
