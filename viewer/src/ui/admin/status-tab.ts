import type { ProcessStatus, StatusPoint, SystemStatus } from '../../../../archive/metrics/status.ts';
import type { Translate } from '../../i18n/i18n.ts';
import type { MessageKey } from '../../i18n/messages.ts';
import type { AdminController } from '../../state/admin-controller.ts';
import type { AppState } from '../../state/app-state.ts';
import { h, replaceChildren, svg } from '../dom.ts';
import { problemText } from '../problem-text.ts';
import { section, table, type AdminTabView } from './parts.ts';

const COLOURS = ['#1565c0', '#c62828', '#2e7d32', '#ef6c00', '#6a1b9a', '#00838f', '#8d6e63', '#ad1457', '#546e7a', '#9e9d24'];
const WIDTH = 560;
const HEIGHT = 180;
const MARGIN = { left: 48, right: 10, top: 10, bottom: 22 };
const colourOf = (lineIndex: number) => COLOURS[lineIndex % COLOURS.length]!;

interface Line {
  key: string;
  label: string;
  values: readonly (number | null)[];
}

/**
 * 系统状态 / System status: every gateway and worker process (from their heartbeats in PostgreSQL,
 * so whichever gateway serves the page sees all of them) and line charts of the last minutes —
 * throughput, ingest latency percentiles, queue depth per job type, associations, database and object
 * store latencies, the reconciler's backlog. Charts are SVG drawn here, as the statistics dashboard's.
 */
export class StatusTab implements AdminTabView {
  readonly element: HTMLElement;
  private readonly body = h('div', { class: 'status-body' });

  constructor(
    private readonly admin: AdminController,
    private readonly t: Translate,
  ) {
    const refresh = h('button', { type: 'button', 'data-action': 'refresh-status', onclick: () => void this.admin.loadSystemStatus() }, t('status.refresh'));
    this.element = h('div', { class: 'admin-tab', 'data-tab': 'status' }, section(t('admin.tab.status'), refresh, this.body));
  }

  render(state: AppState): void {
    const t = this.t;
    const status = state.admin.systemStatus;
    if (!status || status.status === 'loading') return replaceChildren(this.body, h('p', { class: 'status loading' }, t('admin.loading')));
    if (status.status === 'error') return replaceChildren(this.body, h('p', { class: 'status error', role: 'alert' }, t('admin.loadError', { reason: problemText(status.problem, t) })));
    const answer = status.value;
    const minutes = Math.round((answer.series.length * answer.intervalSeconds) / 60) || 15;
    replaceChildren(
      this.body,
      h('p', { class: 'hint' }, t('status.window', { minutes: String(minutes), seconds: String(answer.intervalSeconds) })),
      answer.series.length === 0 ? h('p', { class: 'status empty' }, t('status.noData', { seconds: String(answer.intervalSeconds) })) : this.charts(answer),
      h('h3', {}, t('status.processes')),
      this.processes(answer.processes),
    );
  }

  private charts(answer: SystemStatus): HTMLElement {
    const t = this.t;
    const series = answer.series;
    const pick = (value: (point: StatusPoint) => number | null | undefined) => series.map((point) => value(point) ?? null);
    const figure = (name: string, title: MessageKey, lines: Line[], format: (value: number) => string) =>
      h('figure', { 'data-figure': name }, h('figcaption', {}, t(title)), lineChart(name, series.map((point) => point.at), lines, format), legend(lines, format));
    const number = (value: number) => (value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2));
    return h(
      'div',
      { class: 'status-charts' },
      figure('throughput', 'status.chart.throughput', [
        { key: 'stored', label: t('status.series.stored'), values: pick((point) => point.instancesPerSecond) },
        { key: 'failed', label: t('status.series.failed'), values: pick((point) => point.failedPerSecond) },
      ], number),
      figure('latency', 'status.chart.latency', (['p50', 'p95', 'p99'] as const).map((quantile) => ({ key: quantile, label: quantile, values: pick((point) => point.ingestMs?.[quantile]) })), number),
      figure('queue', 'status.chart.queue', answer.jobTypes.map((jobType) => ({ key: jobType, label: jobType, values: pick((point) => point.queueDepth[jobType] ?? 0) })), number),
      figure('associations', 'status.chart.associations', [{ key: 'associations', label: t('status.series.associations'), values: pick((point) => point.associations) }], number),
      figure('backends', 'status.chart.backends', [
        { key: 'database', label: t('status.series.database'), values: pick((point) => point.databaseMs?.p95) },
        { key: 'objectStore', label: t('status.series.objectStore'), values: pick((point) => point.objectStoreMs?.p95) },
      ], number),
      figure('backlog', 'status.chart.backlog', [{ key: 'backlog', label: t('status.series.backlog'), values: pick((point) => point.reconcilerBacklog) }], number),
    );
  }

  private processes(processes: readonly ProcessStatus[]): HTMLElement {
    const t = this.t;
    return table(
      'processes',
      [t('status.column.role'), t('status.column.host'), t('status.column.state'), t('status.column.seen'), t('status.column.associations'), t('status.column.stored'), t('status.column.failed'), t('status.column.jobs'), t('status.column.memory')],
      processes.map((process) => [
        t(`status.role.${process.role}`),
        `${process.host} (${process.pid})`,
        h('span', { class: `process-state ${process.state}`, 'data-state': process.state }, t(`status.state.${process.state}`)),
        new Date(process.seenAt).toLocaleTimeString(),
        String(process.associations),
        String(process.instancesStored),
        String(process.instancesFailed),
        String(process.jobsRun),
        `${Math.round(process.residentBytes / 1048576)} MB`,
      ]),
      { 'data-processes': String(processes.length) },
    );
  }
}

/** The smallest of 1, 2, 5 × 10^k at or above `value`, so the axis's top label is a round number. */
function roundedUp(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return ([1, 2, 5, 10].map((step) => step * power).find((candidate) => candidate >= value) ?? 10 * power);
}

/** One line per series over the shared time axis; a missing value (no observation in that interval) breaks the line. */
function lineChart(name: string, times: readonly string[], lines: readonly Line[], format: (value: number) => string): SVGSVGElement {
  const values = lines.flatMap((line) => line.values.filter((value): value is number => value !== null));
  const highest = roundedUp(Math.max(0, ...values));
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const xOf = (index: number) => MARGIN.left + (times.length <= 1 ? plotWidth : (index * plotWidth) / (times.length - 1));
  const yOf = (value: number) => MARGIN.top + plotHeight * (1 - value / highest);
  const clock = (at: string | undefined) => (at ? new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '');
  const chart = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'status-chart', 'data-chart': name, role: 'img' });
  chart.append(
    svg('line', { x1: MARGIN.left, y1: yOf(0), x2: WIDTH - MARGIN.right, y2: yOf(0), stroke: '#90a4ae' }),
    svg('line', { x1: MARGIN.left, y1: yOf(highest), x2: WIDTH - MARGIN.right, y2: yOf(highest), stroke: '#eceff1' }),
    svg('text', { x: MARGIN.left - 4, y: yOf(highest) + 4, 'text-anchor': 'end', 'font-size': 10 }, format(highest)),
    svg('text', { x: MARGIN.left - 4, y: yOf(0) + 4, 'text-anchor': 'end', 'font-size': 10 }, '0'),
    svg('text', { x: MARGIN.left, y: HEIGHT - 6, 'font-size': 10 }, clock(times[0])),
    svg('text', { x: WIDTH - MARGIN.right, y: HEIGHT - 6, 'text-anchor': 'end', 'font-size': 10 }, clock(times.at(-1))),
  );
  lines.forEach((line, lineIndex) => {
    const colour = colourOf(lineIndex);
    let segment: string[] = [];
    const flush = () => {
      if (segment.length) chart.append(svg('polyline', { points: segment.join(' '), fill: 'none', stroke: colour, 'stroke-width': 2, 'data-line': line.key }, svg('title', {}, line.label)));
      segment = [];
    };
    line.values.forEach((value, index) => {
      if (value === null) return flush();
      segment.push(`${xOf(index).toFixed(1)},${yOf(value).toFixed(1)}`);
    });
    flush();
  });
  return chart;
}

/** Each line's colour, name and latest value, under its chart (a queue chart can have a dozen job types). */
function legend(lines: readonly Line[], format: (value: number) => string): HTMLElement {
  return h(
    'ul',
    { class: 'status-legend' },
    lines.map((line, lineIndex) => {
      const latest = [...line.values].reverse().find((value) => value !== null);
      // Through the CSSOM: the content security policy refuses style attributes.
      const swatch = h('span', { class: 'swatch' });
      swatch.style.background = colourOf(lineIndex);
      return h('li', { 'data-legend': line.key }, swatch, `${line.label}${latest === undefined || latest === null ? '' : `: ${format(latest)}`}`);
    }),
  );
}
