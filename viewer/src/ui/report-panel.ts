import type { Report, ReportVersion } from '../../../archive/reading/report.ts';
import type { Translate } from '../i18n/i18n.ts';
import type { MessageKey } from '../i18n/messages.ts';
import type { ReportController, ReportEditorState, SaveState } from '../state/report-controller.ts';
import { h, replaceChildren } from './dom.ts';
import { problemText } from './problem-text.ts';

const STATUS_KEYS: Record<Report['status'], MessageKey> = { draft: 'report.status.draft', preliminary: 'report.status.preliminary', final: 'report.status.final', amended: 'report.status.amended' };
const SAVE_KEYS: Record<SaveState, MessageKey> = { saved: 'report.save.saved', saving: 'report.save.saving', offline: 'report.save.offline', conflict: 'report.save.conflict' };
const CRITICAL_CATEGORIES: MessageKey[] = ['report.critical.haemorrhage', 'report.critical.pneumothorax', 'report.critical.dissection', 'report.critical.embolism', 'report.critical.perforation'];

/**
 * The report editor beside the images: clinical information, template and phrase pickers, 检查所见
 * and 诊断意见, a critical finding, the autosave indicator, the signing buttons (签发初诊 / 审核签发 /
 * 更正), and the version history. Inputs are built once, so what is being typed survives redraws.
 */
export class ReportPanel {
  readonly element = h('aside', { class: 'report-panel' });
  private readonly heading = h('h2');
  private readonly status = h('span', { class: 'report-status' });
  private readonly saveState = h('span', { class: 'report-save', role: 'status', 'data-save': 'saved' });
  private readonly clinical = h('dl', { class: 'report-clinical' });
  private readonly templateSelect = h('select', { 'data-action': 'report-template' });
  private readonly phraseSelect = h('select', { 'data-action': 'report-phrase' });
  private readonly findingsLabel = h('span');
  private readonly findings = h('textarea', { name: 'findings', rows: 10 });
  private readonly impressionLabel = h('span');
  private readonly impression = h('textarea', { name: 'impression', rows: 5 });
  private readonly criticalToggle = h('input', { type: 'checkbox', name: 'critical' });
  private readonly criticalLabel = h('span');
  private readonly criticalCategory = h('input', { name: 'critical-category', list: 'report-critical-categories', maxlength: 64 });
  private readonly criticalCategories = h('datalist', { id: 'report-critical-categories' });
  private readonly criticalText = h('input', { name: 'critical-text', maxlength: 2000 });
  private readonly criticalFields = h('div', { class: 'report-critical-fields' }, this.criticalCategory, this.criticalCategories, this.criticalText);
  private readonly signPreliminary = h('button', { type: 'button', 'data-action': 'sign-preliminary' });
  private readonly signFinal = h('button', { type: 'button', 'data-action': 'sign-final' });
  private readonly amendReason = h('input', { name: 'amend-reason', maxlength: 1000 });
  private readonly signAmendment = h('button', { type: 'button', 'data-action': 'sign-amendment' });
  private readonly reloadButton = h('button', { type: 'button', 'data-action': 'report-reload' });
  private readonly outcome = h('p', { class: 'report-outcome', 'aria-live': 'polite' });
  private readonly historyHeading = h('h3');
  private readonly history = h('ol', { class: 'report-history' });
  private readonly editor = h(
    'div',
    { class: 'report-editor' },
    h('div', { class: 'report-pickers' }, this.templateSelect, this.phraseSelect),
    h('label', {}, this.findingsLabel, this.findings),
    h('label', {}, this.impressionLabel, this.impression),
    h('label', { class: 'report-critical' }, this.criticalToggle, this.criticalLabel),
    this.criticalFields,
    h('div', { class: 'report-actions' }, this.signPreliminary, this.signFinal),
    h('div', { class: 'report-amend' }, this.amendReason, this.signAmendment),
    this.reloadButton,
  );
  private state: ReportEditorState | undefined;

  constructor(private readonly reports: ReportController) {
    this.element.append(h('header', {}, this.heading, this.status, this.saveState), this.clinical, this.editor, this.outcome, this.historyHeading, this.history);
    this.findings.addEventListener('input', () => reports.edit({ findings: this.findings.value }));
    this.impression.addEventListener('input', () => reports.edit({ impression: this.impression.value }));
    const critical = () => reports.edit({ criticalFinding: this.criticalToggle.checked && this.criticalCategory.value.trim() && this.criticalText.value.trim() ? { category: this.criticalCategory.value.trim(), text: this.criticalText.value.trim() } : null });
    this.criticalToggle.addEventListener('change', () => {
      this.criticalFields.hidden = !this.criticalToggle.checked;
      critical();
    });
    this.criticalCategory.addEventListener('input', critical);
    this.criticalText.addEventListener('input', critical);
    const pick = (select: HTMLSelectElement) => () => {
      const template = this.state?.templates.find((candidate) => candidate.id === select.value);
      if (template) reports.applyTemplate(template);
      select.value = '';
    };
    this.templateSelect.addEventListener('change', pick(this.templateSelect));
    this.phraseSelect.addEventListener('change', pick(this.phraseSelect));
    this.signPreliminary.addEventListener('click', () => void reports.sign('preliminary'));
    this.signFinal.addEventListener('click', () => void reports.sign('final'));
    this.signAmendment.addEventListener('click', () => void reports.sign('amendment', this.amendReason.value.trim()).then(() => {
      if (this.state?.outcome?.kind === 'signed') this.amendReason.value = '';
    }));
    this.reloadButton.addEventListener('click', () => void reports.reload());
  }

  render(state: ReportEditorState, t: Translate, onViewer: boolean): void {
    this.state = state;
    this.element.hidden = !onViewer || !state.studyInstanceUid;
    if (this.element.hidden) return;
    this.heading.textContent = t('report.title');
    const report = state.report.status === 'ready' ? state.report.value : undefined;
    this.status.textContent = report ? t(STATUS_KEYS[report.status]) : '';
    this.saveState.textContent = t(SAVE_KEYS[state.save]);
    this.saveState.dataset.save = state.save;
    this.saveState.hidden = !report || !this.reports.canWrite();

    replaceChildren(
      this.clinical,
      state.clinical
        ? [
            h('dt', {}, t('report.clinical.question')),
            h('dd', {}, state.clinical.question || '—'),
            h('dt', {}, t('report.clinical.history')),
            h('dd', {}, state.clinical.history || '—'),
            h('dt', {}, t('report.clinical.requestedBy')),
            h('dd', {}, state.clinical.requestedBy || '—'),
          ]
        : [],
    );
    this.clinical.hidden = !state.clinical;

    const writable = !!report && this.reports.canWrite();
    this.editor.hidden = !writable;
    if (state.report.status === 'loading') this.outcome.textContent = t('report.loading');
    else if (state.report.status === 'error') this.outcome.textContent = problemText(state.report.problem, t);
    else if (!report) this.outcome.textContent = t('report.none');
    else if (state.outcome?.kind === 'refused') this.outcome.textContent = problemText(state.outcome.problem, t);
    else if (state.outcome?.kind === 'signed') this.outcome.textContent = t('report.signed', { status: t(STATUS_KEYS[state.outcome.status]) });
    else this.outcome.textContent = state.save === 'conflict' ? t('report.conflict') : '';
    this.outcome.className = state.outcome?.kind === 'refused' || state.report.status === 'error' || state.save === 'conflict' ? 'report-outcome error' : 'report-outcome';

    if (writable) {
      this.renderEditor(state, report, t);
    }
    this.historyHeading.textContent = t('report.history');
    this.historyHeading.hidden = !report?.versions.length;
    replaceChildren(this.history, (report?.versions ?? []).slice().reverse().map((version) => this.versionItem(version, t)));
  }

  private renderEditor(state: ReportEditorState, report: Report, t: Translate): void {
    this.findingsLabel.textContent = t('report.findings');
    this.impressionLabel.textContent = t('report.impression');
    // Never overwrite the field being typed in: only text that came from elsewhere (a template, the server).
    for (const [area, value] of [[this.findings, state.content.findings], [this.impression, state.content.impression]] as const) {
      if (area.value !== value && document.activeElement !== area) area.value = value;
    }
    const critical = state.content.criticalFinding;
    if (document.activeElement !== this.criticalCategory && document.activeElement !== this.criticalText && critical) {
      this.criticalToggle.checked = true;
      this.criticalCategory.value = critical.category;
      this.criticalText.value = critical.text;
    }
    this.criticalFields.hidden = !this.criticalToggle.checked;
    this.criticalLabel.textContent = t('report.critical');
    this.criticalCategory.placeholder = t('report.critical.category');
    this.criticalText.placeholder = t('report.critical.text');
    replaceChildren(this.criticalCategories, CRITICAL_CATEGORIES.map((key) => h('option', { value: t(key) })));

    const option = (value: string, label: string) => h('option', { value }, label);
    replaceChildren(this.templateSelect, option('', t('report.template')), state.templates.filter((template) => template.kind === 'template').map((template) => option(template.id, template.name)));
    replaceChildren(this.phraseSelect, option('', t('report.phrase')), state.templates.filter((template) => template.kind === 'phrase').map((template) => option(template.id, template.name)));

    const signed = report.status === 'final' || report.status === 'amended';
    this.signPreliminary.textContent = t('report.signPreliminary');
    this.signFinal.textContent = t('report.signFinal');
    this.signAmendment.textContent = t('report.signAmendment');
    this.amendReason.placeholder = t('report.amendReason');
    this.reloadButton.textContent = t('report.reload');
    this.signPreliminary.hidden = report.status !== 'draft';
    this.signFinal.hidden = signed;
    this.amendReason.parentElement!.hidden = !signed;
    this.reloadButton.hidden = state.save !== 'conflict';
    const busy = state.signing || state.save === 'conflict';
    for (const button of [this.signPreliminary, this.signFinal, this.signAmendment]) button.disabled = busy;
    this.signAmendment.disabled = busy || !this.amendReason.value.trim();
    this.amendReason.oninput = () => (this.signAmendment.disabled = state.signing || !this.amendReason.value.trim());
  }

  private versionItem(version: ReportVersion, t: Translate): HTMLElement {
    const signatures = version.signatures.map((signature) => `${t(signature.role === 'final' ? 'report.signature.final' : 'report.signature.preliminary')}: ${signature.name.split('=').filter(Boolean).at(-1)?.replace(/\^/g, '') ?? ''}${signature.title ? ` (${signature.title})` : ''} ${new Date(signature.signedAt).toLocaleString()}`);
    return h(
      'li',
      { 'data-version': version.version },
      h(
        'details',
        {},
        h('summary', {}, `v${version.version} · ${t(STATUS_KEYS[version.status])}`),
        h('ul', { class: 'report-signatures' }, signatures.map((line) => h('li', {}, line))),
        version.amendmentReason ? h('p', {}, `${t('report.amendReason')}: ${version.amendmentReason}`) : null,
        h('h4', {}, t('report.findings')),
        h('p', { class: 'report-text' }, version.content.findings),
        h('h4', {}, t('report.impression')),
        h('p', { class: 'report-text' }, version.content.impression),
        version.content.criticalFinding ? h('p', { class: 'report-critical-shown' }, `${t('report.critical')}: ${version.content.criticalFinding.category} — ${version.content.criticalFinding.text}`) : null,
      ),
    );
  }
}
