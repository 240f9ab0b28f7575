import type { CentreQcConfiguration } from '../../../../archive/quality/quality-service.ts';
import type { Translate } from '../../i18n/i18n.ts';
import type { Locale } from '../../i18n/messages.ts';
import { configuredText } from '../../logic/quality.ts';
import type { AppState } from '../../state/app-state.ts';
import type { AdminController } from '../../state/admin-controller.ts';
import { h, replaceChildren } from '../dom.ts';
import { problemText } from '../problem-text.ts';
import { adminForm, section, submitButton, type AdminTabView } from './parts.ts';

/**
 * The centre's QC configuration (质控配置): its scales and defect catalogue as they stand (the shipped
 * defaults until the centre saves its own), and a JSON editor for them; the archive checks what is
 * saved and names each mistake.
 */
export class QualityTab implements AdminTabView {
  readonly element: HTMLElement;
  private readonly summary = h('div', { class: 'qc-summary' });
  private readonly editor = h('textarea', { name: 'configuration', class: 'json-editor', rows: 24, spellcheck: 'false', 'data-field': 'qc-configuration' });
  private shown: AppState['admin']['qualityConfiguration'];

  constructor(
    private readonly admin: AdminController,
    private readonly t: Translate,
    private readonly locale: Locale,
  ) {
    const form = adminForm('quality', t('qcConfig.editor'), () => void this.admin.saveQualityConfiguration(this.editor.value), h('p', { class: 'hint' }, t('qcConfig.editorHint')), this.editor, submitButton(t('qcConfig.save'), 'save-qc-configuration'));
    this.element = h('div', { class: 'admin-tab', 'data-tab': 'quality' }, section(t('qcConfig.title'), this.summary, form));
  }

  render(state: AppState): void {
    const loaded = state.admin.qualityConfiguration;
    if (loaded === this.shown) return;
    this.shown = loaded;
    const t = this.t;
    if (!loaded || loaded.status === 'loading') return replaceChildren(this.summary, h('p', { class: 'status loading' }, t('admin.loading')));
    if (loaded.status === 'error') return replaceChildren(this.summary, h('p', { class: 'status error', role: 'alert' }, t('admin.loadError', { reason: problemText(loaded.problem, t) })));
    this.editor.value = JSON.stringify(loaded.value.configuration, null, 2);
    replaceChildren(this.summary, this.describe(loaded.value));
  }

  private describe({ custom, configuration }: CentreQcConfiguration): HTMLElement {
    const t = this.t;
    const text = (label: Parameters<typeof configuredText>[0]) => configuredText(label, this.locale);
    return h(
      'div',
      {},
      h('p', { 'data-custom': String(custom) }, t(custom ? 'qcConfig.custom' : 'qcConfig.defaults')),
      h(
        'ul',
        { class: 'qc-scales' },
        configuration.scales.map((scale) => h('li', { 'data-scale': scale.id }, `${scale.modalities.join(' / ')}: `, scale.grades.map((grade) => text(grade.label) + (grade.reject ? ` (${t('qcConfig.reject')})` : '')).join(' › '))),
      ),
      h(
        'p',
        {},
        t('qcConfig.defects', { count: configuration.defects.length }),
        ' ',
        t('qcConfig.vetoes', { list: configuration.defects.filter((defect) => defect.veto).map((defect) => text(defect.label)).join('、') || '—' }),
      ),
    );
  }
}
