import type { Figures, StatisticsDimension } from '../../../archive/statistics/statistics-config.ts';
import type { DRILL_FIGURES, StatisticsAnswer, StatisticsGroup } from '../../../archive/statistics/statistics-service.ts';
import type { DrillDownCell, StatisticsFilters } from '../api/statistics-client.ts';
import type { Translate } from '../i18n/i18n.ts';
import { CATALOGUES, type MessageKey } from '../i18n/messages.ts';
import type { StatisticsController, StatisticsState } from '../state/statistics-controller.ts';
import { h, replaceChildren, svg } from './dom.ts';
import { problemText } from './problem-text.ts';

const MODALITIES = ['DX', 'CR', 'MG', 'CT', 'MR', 'US'];
const GROUPINGS: StatisticsFilters['groupBy'][] = ['month', 'institution', 'modality', 'technologist'];
// Best grade first on every shipped scale, then the reject; ungraded last. Colours run green to red.
const GRADE_ORDER = ['radiography:A', 'ct:excellent', 'mr:excellent', 'radiography:B', 'ct:good', 'mr:good', 'radiography:C', 'ct:acceptable', 'mr:acceptable', 'radiography:reject', 'ct:unacceptable', 'mr:unacceptable'];
const GRADE_COLOURS = ['#2e7d32', '#2e7d32', '#2e7d32', '#9ccc65', '#9ccc65', '#9ccc65', '#fbc02d', '#fbc02d', '#fbc02d', '#c62828', '#c62828', '#c62828'];
const UNGRADED_COLOUR = '#b0bec5';
const LINE_COLOURS = { aGradeRate: '#1565c0', recognitionRate: '#6a1b9a', reportQcRate: '#ef6c00' } as const;
type DrillFigureName = (typeof DRILL_FIGURES)[number];

const percent = (rate: number | null) => (rate === null ? '—' : `${(rate * 100).toFixed(1)}%`);

/**
 * The region's statistics dashboard (统计看板) for a health commission, a QC centre or a hospital:
 * the period, institution, modality and grouping; the headline figures; a stacked bar of the QC
 * grades, a line of the rates (甲片率, 互认率, report QC), a bar of the non-recognition reasons and the
 * table of every figure; a click on a bar, point or number lists the studies behind it. Charts are
 * drawn as SVG by this file: a few rectangles and polylines need no charting library in the bundle.
 */
export class StatisticsView {
  readonly element = h('section', { class: 'statistics', hidden: true });

  constructor(private readonly controller: StatisticsController) {}

  render(state: StatisticsState, t: Translate): void {
    const { answer } = state;
    replaceChildren(
      this.element,
      h('header', { class: 'worklist-header' }, h('h2', {}, t('statistics.title')), this.exports(state.filters, t)),
      this.filters(state, t),
      !answer || answer.status === 'loading'
        ? h('p', { class: 'muted' }, t('worklist.loading'))
        : answer.status === 'error'
          ? h('p', { class: 'error', role: 'alert' }, problemText(answer.problem, t))
          : [this.headline(answer.value.total, t), this.charts(answer.value, t), this.table(answer.value, t)],
      this.drillDown(state, t),
    );
  }

  private exports(filters: StatisticsFilters, t: Translate): HTMLElement {
    return h(
      'span',
      { class: 'statistics-exports' },
      h('a', { href: this.controller.client.exportUrl(filters, 'csv'), download: '', 'data-export': 'csv' }, t('statistics.exportCsv')),
      ' ',
      h('a', { href: this.controller.client.exportUrl(filters, 'xlsx'), download: '', 'data-export': 'xlsx' }, t('statistics.exportXlsx')),
    );
  }

  private filters(state: StatisticsState, t: Translate): HTMLElement {
    const { filters, answer } = state;
    const change = (update: Partial<StatisticsFilters>) => void this.controller.setFilters(update);
    const institutions = answer?.status === 'ready' ? answer.value.groups.filter((group) => group.institutionName).map((group) => [group.key.institution!, group.institutionName!] as const) : [];
    return h(
      'form',
      { class: 'statistics-filters', onsubmit: (event: Event) => event.preventDefault() },
      h('label', {}, t('statistics.from'), h('input', { type: 'month', value: filters.from, 'data-filter': 'from', onchange: (event: Event) => change({ from: (event.target as HTMLInputElement).value }) })),
      h('label', {}, t('statistics.to'), h('input', { type: 'month', value: filters.to, 'data-filter': 'to', onchange: (event: Event) => change({ to: (event.target as HTMLInputElement).value }) })),
      h(
        'label',
        {},
        t('search.institution'),
        h(
          'select',
          { 'data-filter': 'institution', onchange: (event: Event) => change({ institution: (event.target as HTMLSelectElement).value }) },
          h('option', { value: '', selected: !filters.institution }, t('statistics.allInstitutions')),
          filters.institution && !institutions.some(([id]) => id === filters.institution) ? h('option', { value: filters.institution, selected: true }, filters.institution) : null,
          institutions.map(([id, name]) => h('option', { value: id, selected: filters.institution === id }, name)),
        ),
      ),
      h(
        'label',
        {},
        t('search.modality'),
        h(
          'select',
          { 'data-filter': 'modality', onchange: (event: Event) => change({ modality: (event.target as HTMLSelectElement).value }) },
          h('option', { value: '', selected: !filters.modality }, t('search.anyModality')),
          MODALITIES.map((modality) => h('option', { value: modality, selected: filters.modality === modality }, modality)),
        ),
      ),
      h(
        'label',
        {},
        t('statistics.groupBy'),
        h(
          'select',
          { 'data-filter': 'groupBy', onchange: (event: Event) => change({ groupBy: (event.target as HTMLSelectElement).value as StatisticsFilters['groupBy'] }) },
          GROUPINGS.map((grouping) => h('option', { value: grouping, selected: filters.groupBy === grouping }, t(`statistics.by.${grouping}`))),
        ),
      ),
    );
  }

  private headline(total: Figures, t: Translate): HTMLElement {
    const tile = (label: MessageKey, value: string, figure?: string) =>
      h(
        'button',
        { type: 'button', class: 'statistics-tile', 'data-figure': figure ?? '', disabled: !figure, onclick: () => figure && void this.controller.drill({ figure }) },
        h('span', { class: 'muted' }, t(label)),
        h('strong', {}, value),
      );
    return h(
      'div',
      { class: 'statistics-tiles' },
      tile('statistics.figure.studies', String(total.studies), 'studies'),
      tile('statistics.figure.aGradeRate', percent(total.aGradeRate), 'a-grade'),
      tile('statistics.figure.reportQcRate', percent(total.reportQcRate), 'report-qc-conforming'),
      tile('statistics.turnaround', total.turnaroundMedianMinutes === null ? '—' : t('statistics.minutes', { median: total.turnaroundMedianMinutes, p90: total.turnaroundP90Minutes ?? '—' }), 'turnaround'),
      tile('statistics.figure.recognitionRate', percent(total.recognitionRate), 'recognised'),
      tile('statistics.figure.repeatsAvoided', String(total.repeatsAvoided), 'recognised'),
      tile('statistics.figure.costAvoided', `¥${total.costAvoidedYuan.toLocaleString('zh-CN')}`),
    );
  }

  private labelOf(group: StatisticsGroup, dimension: StatisticsDimension | undefined, t: Translate): string {
    if (!dimension) return t('statistics.total');
    if (dimension === 'institution') return group.institutionName ?? group.key.institution ?? '';
    return group.key[dimension] || t('statistics.unknown');
  }

  private cellOf(group: StatisticsGroup): Omit<DrillDownCell, 'figure'> {
    const { month, institution, modality, technologist } = group.key;
    return { ...(month ? { month } : {}), ...(institution ? { institution } : {}), ...(modality ? { modality } : {}), ...(technologist !== undefined ? { technologist } : {}) };
  }

  private charts(answer: StatisticsAnswer, t: Translate): HTMLElement {
    const dimension = answer.groupBy[0];
    return h(
      'div',
      { class: 'statistics-charts' },
      h('figure', {}, h('figcaption', {}, t('statistics.chart.grades')), this.gradeBars(answer, dimension, t)),
      h('figure', {}, h('figcaption', {}, t('statistics.chart.rates')), this.rateLines(answer, dimension, t)),
      h('figure', {}, h('figcaption', {}, t('statistics.chart.reasons')), this.reasonBars(answer.total, t)),
    );
  }

  /** Studies per group, stacked by their QC grade (best at the bottom), the ungraded on top. */
  private gradeBars(answer: StatisticsAnswer, dimension: StatisticsDimension | undefined, t: Translate): SVGElement {
    const width = 560;
    const height = 220;
    const groups = answer.groups;
    const highest = Math.max(1, ...groups.map((group) => group.figures.studies));
    const slot = (width - 40) / Math.max(1, groups.length);
    const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'statistics-chart', 'data-chart': 'grades', role: 'img' });
    groups.forEach((group, index) => {
      const x = 40 + index * slot + slot * 0.15;
      let y = height - 20;
      const segment = (studies: number, colour: string, title: string, cell: DrillDownCell) => {
        if (studies <= 0) return;
        const barHeight = ((height - 40) * studies) / highest;
        y -= barHeight;
        const bar = svg('rect', { x, y, width: slot * 0.7, height: barHeight, fill: colour, 'data-bar': title, tabindex: 0 }, svg('title', {}, `${this.labelOf(group, dimension, t)} · ${title}: ${studies}`));
        bar.addEventListener('click', () => void this.controller.drill(cell));
        chart.append(bar);
      };
      const keys = Object.keys(group.figures.gradeDistribution).sort((a, b) => rank(a) - rank(b));
      for (const key of keys) segment(group.figures.gradeDistribution[key]!, GRADE_COLOURS[GRADE_ORDER.indexOf(key)] ?? '#78909c', gradeLabel(key, t), { figure: 'grade', grade: key, ...this.cellOf(group) });
      segment(group.figures.studies - group.figures.graded, UNGRADED_COLOUR, t('statistics.ungraded'), { figure: 'studies', ...this.cellOf(group) });
      chart.append(svg('text', { x: x + slot * 0.35, y: height - 5, 'text-anchor': 'middle', 'font-size': 10 }, this.labelOf(group, dimension, t).slice(0, 10)));
    });
    chart.append(svg('text', { x: 2, y: 14, 'font-size': 10 }, String(highest)));
    return chart;
  }

  /** 甲片率, 互认率 and the report QC rate per group, as lines on 0–100 %. */
  private rateLines(answer: StatisticsAnswer, dimension: StatisticsDimension | undefined, t: Translate): SVGElement {
    const width = 560;
    const height = 220;
    const groups = answer.groups;
    const step = (width - 60) / Math.max(1, groups.length - 1);
    const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'statistics-chart', 'data-chart': 'rates', role: 'img' });
    const yOf = (rate: number) => height - 20 - (height - 40) * rate;
    chart.append(svg('text', { x: 2, y: yOf(1) + 4, 'font-size': 10 }, '100%'), svg('text', { x: 2, y: yOf(0), 'font-size': 10 }, '0'));
    const lines: [keyof typeof LINE_COLOURS, MessageKey, string][] = [
      ['aGradeRate', 'statistics.figure.aGradeRate', 'a-grade'],
      ['recognitionRate', 'statistics.figure.recognitionRate', 'recognised'],
      ['reportQcRate', 'statistics.figure.reportQcRate', 'report-qc-conforming'],
    ];
    lines.forEach(([rate, label, figure], lineIndex) => {
      const points = groups.flatMap((group, index) => (group.figures[rate] === null ? [] : [{ x: 40 + index * step, y: yOf(group.figures[rate]!), group }]));
      chart.append(svg('polyline', { points: points.map((point) => `${point.x},${point.y}`).join(' '), fill: 'none', stroke: LINE_COLOURS[rate], 'stroke-width': 2 }));
      for (const point of points) {
        const dot = svg('circle', { cx: point.x, cy: point.y, r: 4, fill: LINE_COLOURS[rate], 'data-point': rate, tabindex: 0 }, svg('title', {}, `${this.labelOf(point.group, dimension, t)} · ${t(label)}: ${percent(point.group.figures[rate])}`));
        dot.addEventListener('click', () => void this.controller.drill({ figure, ...this.cellOf(point.group) }));
        chart.append(dot);
      }
      chart.append(svg('text', { x: 60 + lineIndex * 170, y: 12, 'font-size': 11, fill: LINE_COLOURS[rate] }, t(label)));
    });
    groups.forEach((group, index) => chart.append(svg('text', { x: 40 + index * step, y: height - 5, 'text-anchor': 'middle', 'font-size': 10 }, this.labelOf(group, dimension, t).slice(0, 10))));
    return chart;
  }

  /** Why priors were not recognised, over the whole selection. */
  private reasonBars(total: Figures, t: Translate): SVGElement | HTMLElement {
    const reasons = Object.entries(total.notRecognisedReasons).sort((a, b) => b[1] - a[1]);
    if (reasons.length === 0) return h('p', { class: 'muted' }, t('statistics.noReasons'));
    const width = 560;
    const rowHeight = 22;
    const highest = Math.max(...reasons.map(([, count]) => count));
    const chart = svg('svg', { viewBox: `0 0 ${width} ${reasons.length * rowHeight + 4}`, class: 'statistics-chart', 'data-chart': 'reasons', role: 'img' });
    reasons.forEach(([reason, count], index) => {
      const y = index * rowHeight + 2;
      const label = reasonLabel(reason, t);
      const bar = svg('rect', { x: 220, y, width: ((width - 260) * count) / highest, height: rowHeight - 6, fill: '#8d6e63', 'data-bar': reason, tabindex: 0 }, svg('title', {}, `${label}: ${count}`));
      bar.addEventListener('click', () => void this.controller.drill({ figure: 'not-recognised', reason }));
      chart.append(svg('text', { x: 0, y: y + 12, 'font-size': 11 }, label.slice(0, 18)), bar, svg('text', { x: 226 + ((width - 260) * count) / highest, y: y + 12, 'font-size': 11 }, String(count)));
    });
    return chart;
  }

  private table(answer: StatisticsAnswer, t: Translate): HTMLElement {
    const dimension = answer.groupBy[0];
    const number = (value: string, cell: DrillDownCell) => h('button', { type: 'button', class: 'link', onclick: () => void this.controller.drill(cell) }, value);
    const row = (group: StatisticsGroup, cell: Omit<DrillDownCell, 'figure'>, label: string) => {
      const f = group.figures;
      return h(
        'tr',
        {},
        h('th', { scope: 'row' }, label),
        h('td', {}, number(String(f.studies), { figure: 'studies', ...cell })),
        h('td', {}, number(`${percent(f.aGradeRate)} (${f.aGrade}/${f.aGradeGraded})`, { figure: 'a-grade', ...cell })),
        h('td', {}, number(percent(f.reportQcRate), { figure: 'report-qc-conforming', ...cell })),
        h('td', {}, f.turnaroundMedianMinutes === null ? '—' : number(`${f.turnaroundMedianMinutes} / ${f.turnaroundP90Minutes}`, { figure: 'turnaround', ...cell })),
        h('td', {}, number(`${percent(f.recognitionRate)} (${f.recognised}/${f.eligibleViewed})`, { figure: 'recognised', ...cell })),
        h('td', {}, number(String(f.notRecognised), { figure: 'not-recognised', ...cell })),
        h('td', {}, `¥${f.costAvoidedYuan.toLocaleString('zh-CN')}`),
      );
    };
    return h(
      'table',
      { class: 'statistics-table' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', {}, dimension ? t(`statistics.by.${dimension}`) : ''),
          (['statistics.figure.studies', 'statistics.figure.aGradeRate', 'statistics.figure.reportQcRate', 'statistics.turnaround', 'statistics.figure.recognitionRate', 'statistics.figure.notRecognised', 'statistics.figure.costAvoided'] as const).map((key) => h('th', {}, t(key))),
        ),
      ),
      h('tbody', {}, answer.groups.map((group) => row(group, this.cellOf(group), this.labelOf(group, dimension, t))), row({ key: {}, figures: answer.total }, {}, t('statistics.total'))),
    );
  }

  private drillDown(state: StatisticsState, t: Translate): HTMLElement | null {
    const { drillDown } = state;
    if (!drillDown) return null;
    const { cell, page } = drillDown;
    return h(
      'section',
      { class: 'statistics-drill-down', 'data-figure': cell.figure },
      h('header', {}, h('h3', {}, t('statistics.drillDown', { figure: t(`statistics.drill.${cell.figure as DrillFigureName}`), cell: [cell.month, cell.modality, cell.technologist, cell.grade && gradeLabel(cell.grade, t), cell.reason && reasonLabel(cell.reason, t)].filter(Boolean).join(' · ') })), h('button', { type: 'button', onclick: () => this.controller.closeDrillDown() }, t('app.close'))),
      page.status === 'loading'
        ? h('p', { class: 'muted' }, t('worklist.loading'))
        : page.status === 'error'
          ? h('p', { class: 'error', role: 'alert' }, problemText(page.problem, t))
          : [
              h(
                'table',
                {},
                h('thead', {}, h('tr', {}, (['statistics.column.date', 'search.accessionNumber', 'search.institution', 'search.modality', 'statistics.by.technologist', 'qc.grade', 'statistics.column.turnaround', 'statistics.column.event'] as const).map((key) => h('th', {}, t(key))))),
                h(
                  'tbody',
                  {},
                  page.value.studies.map((study) =>
                    h(
                      'tr',
                      { 'data-study': study.studyInstanceUid, class: 'clickable', onclick: () => this.controller.open(study.studyInstanceUid) },
                      h('td', {}, study.studyDate ?? ''),
                      h('td', {}, study.accessionNumber ?? ''),
                      h('td', {}, study.institutionName),
                      h('td', {}, study.modality),
                      h('td', {}, study.technologist),
                      h('td', {}, study.qcGrade ?? ''),
                      h('td', {}, study.turnaroundMinutes === null ? '' : String(study.turnaroundMinutes)),
                      h('td', {}, study.event ? `${study.event.institutionName} ${study.event.at.slice(0, 10)}${study.event.reasonCode ? ` · ${reasonLabel(study.event.reasonCode, t)}` : ''}` : ''),
                    ),
                  ),
                ),
              ),
              h(
                'p',
                { class: 'muted' },
                t('statistics.page', { from: page.value.total ? page.value.offset + 1 : 0, to: page.value.offset + page.value.studies.length, total: page.value.total }),
                ' ',
                page.value.offset > 0 ? h('button', { type: 'button', onclick: () => void this.controller.drill(cell, Math.max(0, page.value.offset - 50)) }, t('statistics.previous')) : null,
                page.value.offset + page.value.studies.length < page.value.total ? h('button', { type: 'button', onclick: () => void this.controller.drill(cell, page.value.offset + 50) }, t('statistics.next')) : null,
              ),
            ],
    );
  }
}

function rank(gradeKey: string): number {
  const index = GRADE_ORDER.indexOf(gradeKey);
  return index === -1 ? GRADE_ORDER.length : index;
}

/** The catalogue's label of a shipped grade or reason; a region's own code shows as itself. */
function labelOr(key: string, code: string, t: Translate): string {
  return Object.hasOwn(CATALOGUES.en, key) ? t(key as MessageKey) : code;
}

const gradeLabel = (gradeKey: string, t: Translate) => labelOr(`statistics.grade.${gradeKey}`, gradeKey, t);
const reasonLabel = (reasonCode: string, t: Translate) => labelOr(`statistics.reason.${reasonCode}`, reasonCode, t);
