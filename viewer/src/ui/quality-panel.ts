import type { QcCatalogue } from '../../../archive/quality/quality-service.ts';
import type { QcGradeOnWire, ReportQualityOnWire, StudyQualityOnWire } from '../api/quality-client.ts';
import { isImageSeries, type SeriesSummary } from '../dicomweb/models.ts';
import type { Translate } from '../i18n/i18n.ts';
import type { Locale } from '../i18n/messages.ts';
import { configuredText, defectsByCategory, recordedGrade, writesRejection } from '../logic/quality.ts';
import { signedInUserOf, type AppState } from '../state/app-state.ts';
import type { QualityController, QualityPanelState } from '../state/quality-controller.ts';
import { h, replaceChildren } from './dom.ts';
import { problemText } from './problem-text.ts';

/**
 * Image QC grading (质控评级) beside the images: the study's grade (its worst series'), and for each
 * image series its current grade and a form: the grade on its modality's scale, the defects grouped
 * by category (veto ones marked 单项否决), a comment, 评级. What the choice will be recorded as is
 * said before sending, and a reject warns that it writes a "Rejected for Quality Reasons" KOS.
 * Radio buttons and checkboxes are the keyboard's (Tab, arrows, Space); Ctrl+Enter grades from the
 * comment. Rebuilt only when what it shows changes, so a choice half made survives image loading.
 */
export class QualityPanel {
  readonly element = h('aside', { class: 'quality-panel', hidden: true, 'aria-labelledby': 'quality-panel-title' });
  private shows: readonly unknown[] | undefined;

  constructor(private readonly quality: QualityController) {}

  render(app: AppState, state: QualityPanelState, t: Translate): void {
    const grades = !!signedInUserOf(app)?.permissions.includes('grade-quality') && app.route.page === 'viewer';
    this.element.hidden = !grades || !state.studyInstanceUid;
    if (this.element.hidden || !state.studyInstanceUid) return;
    const open = app.reading.studies[state.studyInstanceUid];
    const shows = [app.locale, open, state];
    if (this.shows?.length === shows.length && shows.every((input, index) => input === this.shows![index])) return;
    this.shows = shows;
    const focused = (document.activeElement as HTMLElement | null)?.dataset.focusKey;
    const series = open?.status === 'ready' ? open.value.series.filter(isImageSeries) : [];
    replaceChildren(
      this.element,
      h('h2', { id: 'quality-panel-title' }, t('qc.title')),
      this.studyGrade(state, app.locale, t),
      series.map((one) => this.seriesForm(one, state, app.locale, t)),
      this.history(state, series, app.locale, t),
      this.reportQc(state, app.locale, t),
    );
    if (focused) this.element.querySelector<HTMLElement>(`[data-focus-key="${focused}"]`)?.focus();
  }

  private studyGrade(state: QualityPanelState, locale: Locale, t: Translate): HTMLElement {
    const quality = state.quality;
    if (!quality || quality.status === 'loading') return h('p', { class: 'status loading' }, t('qc.loading'));
    if (quality.status === 'error') return h('p', { class: 'status error', role: 'alert' }, problemText(quality.problem, t));
    const grade = quality.value.studyGrade?.grade;
    return h(
      'p',
      { class: `qc-study-grade${grade?.reject ? ' reject' : ''}`, 'data-study-grade': grade?.code ?? '' },
      h('span', {}, t('qc.studyGrade')),
      ' ',
      h('strong', {}, grade ? configuredText(grade.label, locale) : t('qc.notGraded')),
      ' ',
      h('span', { class: 'muted' }, t('qc.studyGradeRule')),
    );
  }

  private seriesForm(series: SeriesSummary, state: QualityPanelState, locale: Locale, t: Translate): HTMLElement {
    const uid = series.seriesInstanceUid;
    const modality = series.modality.trim().toUpperCase();
    const catalogue = state.catalogues[modality];
    const current = state.quality?.status === 'ready' ? state.quality.value.current.find((grade) => grade.seriesInstanceUid === uid) : undefined;
    const heading = h('h3', {}, `#${series.seriesNumber ?? ''} ${series.modality} `, h('span', { class: 'muted' }, series.description));
    const section = h('section', { class: 'qc-series', 'data-qc-series': uid }, heading);
    const currentText = current && catalogue?.status === 'ready' ? gradeText(catalogue.value, current.gradeCode, locale) : current?.gradeCode;
    section.append(h('p', { class: 'qc-current', 'data-current-grade': current?.gradeCode ?? '' }, t('qc.current', { grade: currentText ?? t('qc.notGraded') })));
    if (!catalogue || catalogue.status === 'loading') return (section.append(h('p', { class: 'status loading' }, t('qc.loading'))), section);
    if (catalogue.status === 'error') return (section.append(h('p', { class: 'status' }, catalogue.problem.status === 404 ? t('qc.noScale', { modality }) : problemText(catalogue.problem, t))), section);
    section.append(this.form(series, catalogue.value, current, state, locale, t));
    return section;
  }

  private form(series: SeriesSummary, catalogue: QcCatalogue, current: QcGradeOnWire | undefined, state: QualityPanelState, locale: Locale, t: Translate): HTMLFormElement {
    const uid = series.seriesInstanceUid;
    const { scale, defects } = catalogue;
    const preview = h('p', { class: 'qc-preview', 'aria-live': 'polite' });
    const warning = h('p', { class: 'qc-reject-warning', role: 'alert', hidden: true }, t('qc.rejectWarning'));
    const comment = h('textarea', { name: 'comment', rows: 2, maxlength: 2000, 'data-focus-key': `${uid}/comment` }, current?.comment ?? '');
    const grading = state.grading === uid;
    const outcome = state.outcome?.seriesInstanceUid === uid ? state.outcome : undefined;
    const form = h(
      'form',
      { class: 'qc-form' },
      h(
        'fieldset',
        { class: 'qc-grades' },
        h('legend', {}, t('qc.grade')),
        scale.grades.map((grade) =>
          h(
            'label',
            { class: grade.reject ? 'qc-grade reject' : 'qc-grade' },
            h('input', { type: 'radio', name: 'grade', value: grade.code, checked: current?.givenGradeCode === grade.code, 'data-focus-key': `${uid}/grade/${grade.code}` }),
            h('span', {}, configuredText(grade.label, locale)),
          ),
        ),
      ),
      defectsByCategory(defects).map((group) =>
        h(
          'fieldset',
          { class: 'qc-defects', 'data-category': group.category },
          h('legend', {}, t(`qc.category.${group.category}`)),
          group.defects.map((defect) =>
            h(
              'label',
              { class: defect.veto ? 'qc-defect veto' : 'qc-defect' },
              h('input', { type: 'checkbox', name: 'defect', value: defect.code, checked: current?.defects.includes(defect.code) ?? false, 'data-focus-key': `${uid}/defect/${defect.code}` }),
              h('span', {}, configuredText(defect.label, locale)),
              defect.veto ? h('span', { class: 'veto-badge', title: t('qc.vetoTitle') }, t('qc.veto')) : null,
            ),
          ),
        ),
      ),
      h('label', { class: 'qc-comment' }, h('span', {}, t('qc.comment')), comment),
      preview,
      warning,
      h('button', { type: 'submit', class: 'primary', 'data-action': 'grade', disabled: grading, 'data-focus-key': `${uid}/submit` }, grading ? t('qc.grading') : t('qc.submit')),
      outcome?.kind === 'graded' ? h('p', { class: 'outcome done', role: 'status' }, t('qc.graded')) : null,
      outcome?.kind === 'refused' ? h('p', { class: 'outcome error', role: 'alert' }, problemText(outcome.problem, t)) : null,
    );
    const choice = () => {
      const data = new FormData(form);
      return { grade: data.get('grade')?.toString(), defects: data.getAll('defect').map(String), comment: comment.value };
    };
    const showPreview = () => {
      const { grade, defects: ticked } = choice();
      const recorded = grade ? recordedGrade(scale, defects, grade, ticked) : undefined;
      preview.textContent = recorded ? t(recorded.code === grade ? 'qc.willRecord' : 'qc.willRecordVeto', { grade: configuredText(recorded.label, locale) }) : t('qc.chooseGrade');
      warning.hidden = !writesRejection(scale, defects, grade, ticked);
    };
    form.addEventListener('change', showPreview);
    comment.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const { grade, defects: ticked, comment: text } = choice();
      if (!grade) return void (preview.textContent = t('qc.chooseGrade'));
      void this.quality.grade(uid, { grade, defects: ticked, comment: text });
    });
    showPreview();
    return form;
  }

  private history(state: QualityPanelState, series: readonly SeriesSummary[], locale: Locale, t: Translate): HTMLElement | null {
    if (state.quality?.status !== 'ready' || state.quality.value.history.length === 0) return null;
    const quality: StudyQualityOnWire = state.quality.value;
    const numberOf = (uid: string) => series.find((one) => one.seriesInstanceUid === uid)?.seriesNumber ?? '';
    const label = (grade: QcGradeOnWire, code: string) => {
      const catalogue = grade.modality ? state.catalogues[grade.modality.toUpperCase()] : undefined;
      return catalogue?.status === 'ready' ? gradeText(catalogue.value, code, locale) : code;
    };
    return h(
      'details',
      { class: 'qc-history' },
      h('summary', {}, t('qc.history', { count: quality.history.length })),
      h(
        'ol',
        {},
        [...quality.history].reverse().map((grade) =>
          h(
            'li',
            { 'data-grade-id': grade.id, class: grade.supersededBy ? 'superseded' : undefined },
            `${grade.gradedAt.slice(0, 16).replace('T', ' ')} · #${numberOf(grade.seriesInstanceUid)} · `,
            h('strong', {}, label(grade, grade.gradeCode)),
            grade.givenGradeCode !== grade.gradeCode ? ` (${t('qc.given', { grade: label(grade, grade.givenGradeCode) })})` : '',
            ` · ${grade.gradedByName}`,
            grade.defects.length ? ` · ${grade.defects.map((code) => defectText(state, grade, code, locale)).join('、')}` : '',
            grade.comment ? ` · ${grade.comment}` : '',
            grade.supersededBy ? ` · ${t('qc.superseded')}` : '',
          ),
        ),
      ),
    );
  }
  /**
   * Report QC (报告质控): the newest signed version's findings and impression (what QC staff, who see
   * patients masked, may read of the report), its current grade, and a form: 符合 / 基本符合 / 不符合,
   * the error categories, a comment. Earlier grades are listed under it.
   */
  private reportQc(state: QualityPanelState, locale: Locale, t: Translate): HTMLElement {
    const section = h('section', { class: 'qc-report' }, h('h3', {}, t('qc.report.title')));
    const report = state.report;
    if (!report || report.status === 'loading') return (section.append(h('p', { class: 'status loading' }, t('qc.loading'))), section);
    if (report.status === 'error') return (section.append(h('p', { class: 'status error', role: 'alert' }, problemText(report.problem, t))), section);
    const quality: ReportQualityOnWire = report.value;
    const newest = quality.versions.at(-1);
    if (!newest) return (section.append(h('p', { class: 'status' }, t('qc.report.none'))), section);
    const side = locale === 'zh-CN' ? 'zh' : 'en';
    const gradeLabel = (code: string) => quality.choices.grades.find((grade) => grade.code === code)?.label[side] ?? code;
    const errorLabel = (code: string) => quality.choices.errors.find((error) => error.code === code)?.label[side] ?? code;
    const signers = newest.signatures.map((signature) => `${signature.name} ${signature.signedAt.slice(0, 16).replace('T', ' ')}`).join('；');
    const current = quality.current;
    const comment = h('textarea', { name: 'report-comment', rows: 2, maxlength: 2000, 'data-focus-key': 'report/comment' }, current?.comment ?? '');
    const outcome = state.reportOutcome;
    const form = h(
      'form',
      { class: 'qc-form qc-report-form' },
      h('fieldset', { class: 'qc-grades' }, h('legend', {}, t('qc.grade')), quality.choices.grades.map((grade) => h('label', { class: 'qc-grade' }, h('input', { type: 'radio', name: 'report-grade', value: grade.code, checked: current?.gradeCode === grade.code, 'data-focus-key': `report/grade/${grade.code}` }), h('span', {}, grade.label[side])))),
      h('fieldset', { class: 'qc-defects' }, h('legend', {}, t('qc.report.errors')), quality.choices.errors.map((error) => h('label', { class: 'qc-defect' }, h('input', { type: 'checkbox', name: 'report-error', value: error.code, checked: current?.errors.includes(error.code) ?? false, 'data-focus-key': `report/error/${error.code}` }), h('span', {}, error.label[side])))),
      h('label', { class: 'qc-comment' }, h('span', {}, t('qc.comment')), comment),
      h('button', { type: 'submit', class: 'primary', 'data-action': 'grade-report', disabled: state.gradingReport, 'data-focus-key': 'report/submit' }, state.gradingReport ? t('qc.grading') : t('qc.report.submit')),
      outcome?.kind === 'graded' ? h('p', { class: 'outcome done', role: 'status' }, t('qc.graded')) : null,
      outcome?.kind === 'refused' ? h('p', { class: 'outcome error', role: 'alert' }, problemText(outcome.problem, t)) : null,
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const grade = data.get('report-grade')?.toString();
      if (grade) void this.quality.gradeReport({ grade, errors: data.getAll('report-error').map(String), comment: comment.value });
    });
    section.append(
      h('p', { class: 'muted' }, t('qc.report.version', { version: newest.version, status: t(`report.status.${newest.status}`), signers })),
      h('dl', { class: 'qc-report-text' }, h('dt', {}, t('qc.report.findings')), h('dd', {}, newest.findings), h('dt', {}, t('qc.report.impression')), h('dd', {}, newest.impression)),
      h('p', { class: 'qc-current', 'data-report-grade': current?.gradeCode ?? '' }, t('qc.current', { grade: current ? gradeLabel(current.gradeCode) : t('qc.notGraded') })),
      form,
    );
    if (quality.history.length > 0)
      section.append(
        h('details', { class: 'qc-history' }, h('summary', {}, t('qc.history', { count: quality.history.length })), h('ol', {}, [...quality.history].reverse().map((grade) => h('li', { 'data-report-grade-id': grade.id, class: grade.supersededBy ? 'superseded' : undefined }, `${grade.gradedAt.slice(0, 16).replace('T', ' ')} · v${grade.reportVersion} · `, h('strong', {}, gradeLabel(grade.gradeCode)), ` · ${grade.gradedByName}`, grade.errors.length ? ` · ${grade.errors.map(errorLabel).join('、')}` : '', grade.comment ? ` · ${grade.comment}` : '', grade.supersededBy ? ` · ${t('qc.superseded')}` : '')))),
      );
    return section;
  }
}

function gradeText(catalogue: QcCatalogue, code: string, locale: Locale): string {
  const grade = catalogue.scale.grades.find((candidate) => candidate.code === code);
  return grade ? configuredText(grade.label, locale) : code;
}

function defectText(state: QualityPanelState, grade: QcGradeOnWire, code: string, locale: Locale): string {
  const catalogue = grade.modality ? state.catalogues[grade.modality.toUpperCase()] : undefined;
  const defect = catalogue?.status === 'ready' ? catalogue.value.defects.find((candidate) => candidate.code === code) : undefined;
  return defect ? configuredText(defect.label, locale) : code;
}
