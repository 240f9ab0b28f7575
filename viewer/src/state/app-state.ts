import type { SeriesSummary, StudySummary } from '../dicomweb/models.ts';
import type { Locale } from '../i18n/messages.ts';
import type { PrimaryTool } from '../imaging/engine.ts';
import type { SeriesStack } from '../imaging/series-stack.ts';
import { initialLayout, type LayoutState, type SeriesRef } from '../logic/layout.ts';
import type { Route } from '../logic/route.ts';

/** Why something could not be fetched: HTTP status (0: no answer) and what the archive said. Translated when shown. */
export interface Problem {
  status: number;
  detail: string;
}

/** Something fetched: on its way, there, or failed with a reason to show. */
export type Loadable<T> = { status: 'loading' } | { status: 'ready'; value: T } | { status: 'error'; problem: Problem };

export interface StudyListState {
  /** The search these results answer (so a result is never shown under another search's criteria). */
  resultsFor: string;
  results: Loadable<{ studies: StudySummary[]; remaining: number }> | undefined;
  expandedStudy: string | undefined;
  seriesOf: Record<string, Loadable<SeriesSummary[]>>;
}

export interface OpenStudy {
  summary: StudySummary;
  series: SeriesSummary[];
}

export interface ReadingState {
  /** The studies the link opened, then priors opened beside them. */
  studies: Record<string, Loadable<OpenStudy>>;
  /** Series stacks by seriesKey(), fetched when a viewport first shows them. */
  stacks: Record<string, Loadable<SeriesStack>>;
  layout: LayoutState;
  priors: Loadable<StudySummary[]> | undefined;
  tool: PrimaryTool;
  linked: boolean;
  cineFps: number;
}

export interface AppState {
  locale: Locale;
  route: Route;
  cpuRendering: boolean;
  helpOpen: boolean;
  list: StudyListState;
  reading: ReadingState;
}

export function seriesKey(ref: SeriesRef): string {
  return `${ref.studyInstanceUid}/${ref.seriesInstanceUid}`;
}

export function emptyReading(): ReadingState {
  return { studies: {}, stacks: {}, layout: initialLayout(undefined), priors: undefined, tool: 'WindowLevel', linked: true, cineFps: 15 };
}

export function emptyList(): StudyListState {
  return { resultsFor: '', results: undefined, expandedStudy: undefined, seriesOf: {} };
}
