import type { ConfiguredLabel } from '../../../../archive/i18n/configured-label.ts';
import { regionToday } from '../../../../archive/recognition/region-day.ts';
import type { AccreditationOnWire, AdministeredRegion, RegionRecognitionOnWire } from '../../api/admin-models.ts';
import type { Translate } from '../../i18n/i18n.ts';
import type { Locale } from '../../i18n/messages.ts';
import { configuredText } from '../../logic/quality.ts';
import { accreditationStatus, itemDrafts, labelDraft, markPreview, problemsOf, reasonDrafts, recognitionBody, type ItemDraft, type ReasonDraft } from '../../logic/recognition-admin.ts';
import type { AppState, Loadable } from '../../state/app-state.ts';
import type { AdminController } from '../../state/admin-controller.ts';
import { h, replaceChildren } from '../dom.ts';
import { problemText } from '../problem-text.ts';
import { adminForm, fillSelect, formFields, section, selectField, submitButton, table, textField, type AdminTabView } from './parts.ts';

/**
 * A region's mutual-recognition configuration (互认配置): the mark's abbreviation with a preview
 * (渝HR), the recognised examination items with their validity, the lowest QC grade per scale, the
 * non-recognition reasons clinicians choose from; and the accreditations (互认资质) of the region's
 * institutions, granted and withdrawn here. The archive checks what is saved; its reasons are said
 * in the list above the form and on the fields they name.
 */
export class RecognitionTab implements AdminTabView {
  readonly element: HTMLElement;
  private readonly regionSelect = h('select', { 'data-field': 'recognition-region', onchange: () => void this.admin.chooseRecognitionRegion(this.regionSelect.value) });
  private readonly source = h('p', { class: 'hint recognition-source' });
  private readonly configuration = h('div', { class: 'recognition-configuration' });
  private readonly accreditations = h('div', { class: 'accreditations' });
  private readonly accreditForm: HTMLFormElement;
  private readonly institutionSelect = h('select', {});
  private readonly itemSelect = h('select', {});
  /** The rows being edited (built from what the archive answered, then changed in place). */
  private readonly itemRows = h('tbody', {});
  private readonly reasonRows = h('tbody', {});
  private readonly originals = new WeakMap<HTMLElement, ConfiguredLabel | null>();
  private shown: { regions?: unknown; configuration?: unknown; accreditations?: unknown; outcome?: unknown } = {};

  constructor(
    private readonly admin: AdminController,
    private readonly t: Translate,
    private readonly locale: Locale,
  ) {
    this.accreditForm = adminForm(
      'accredit',
      t('recognitionAdmin.accreditTitle'),
      (form) => void this.admin.accredit(this.regionSelect.value, formFields(form)),
      selectField(t, 'institutionId', 'recognitionAdmin.institution', this.institutionSelect),
      selectField(t, 'itemCode', 'recognitionAdmin.item', this.itemSelect),
      textField(t, 'validFrom', 'recognitionAdmin.validFrom', { type: 'date', required: true, value: regionToday() }),
      textField(t, 'validUntil', 'recognitionAdmin.validUntilOptional', { type: 'date' }),
      submitButton(t('recognitionAdmin.accredit'), 'accredit'),
    );
    this.element = h(
      'div',
      { class: 'admin-tab', 'data-tab': 'recognition' },
      section(t('recognitionAdmin.title'), h('p', { class: 'hint' }, t('recognitionAdmin.hint')), selectField(t, 'region', 'recognitionAdmin.region', this.regionSelect), this.source, this.configuration),
      section(t('recognitionAdmin.accreditations'), this.accreditations, this.accreditForm),
    );
  }

  render(state: AppState): void {
    const { recognitionRegions, recognition, outcome } = state.admin;
    const t = this.t;
    if (recognitionRegions !== this.shown.regions) {
      this.shown.regions = recognitionRegions;
      if (recognitionRegions?.status === 'error') replaceChildren(this.configuration, h('p', { class: 'status error', role: 'alert' }, t('admin.loadError', { reason: problemText(recognitionRegions.problem, t) })));
      else if (recognitionRegions?.status === 'ready' && recognitionRegions.value.length === 0) replaceChildren(this.configuration, h('p', { class: 'status empty' }, t('recognitionAdmin.noRegions')));
    }
    const regions = recognitionRegions?.status === 'ready' ? recognitionRegions.value : [];
    fillSelect(this.regionSelect, regions.map((entry) => ({ value: entry.region.id, label: `${entry.region.name} (${entry.region.code})` })), recognition?.regionId);
    if (recognition) this.regionSelect.value = recognition.regionId;
    const region = regions.find((entry) => entry.region.id === recognition?.regionId);
    this.source.textContent = region ? this.sourceText(region, regions) : '';
    fillSelect(this.institutionSelect, (region?.institutions ?? []).map((institution) => ({ value: institution.id, label: institution.name })));

    const configurationChanged = !!recognition && recognition.configuration !== this.shown.configuration;
    if (recognition && configurationChanged) {
      this.shown.configuration = recognition.configuration;
      const loaded = recognition.configuration;
      if (loaded.status === 'loading') replaceChildren(this.configuration, h('p', { class: 'status loading' }, t('admin.loading')));
      else if (loaded.status === 'error') replaceChildren(this.configuration, h('p', { class: 'status error', role: 'alert' }, t('admin.loadError', { reason: problemText(loaded.problem, t) })));
      else replaceChildren(this.configuration, this.editor(recognition.regionId, loaded.value));
      const items = loaded.status === 'ready' ? loaded.value.effective.configuration.items : [];
      fillSelect(this.itemSelect, items.map((item) => ({ value: item.code, label: `${configuredText(item.label, this.locale)} (${item.code})` })));
    }
    if (recognition && (recognition.accreditations !== this.shown.accreditations || configurationChanged)) {
      this.shown.accreditations = recognition.accreditations;
      this.renderAccreditations(recognition.accreditations, region, recognition.configuration.status === 'ready' ? recognition.configuration.value : undefined);
    }
    this.accreditForm.hidden = !region || region.institutions.length === 0;
    if (outcome !== this.shown.outcome) {
      this.shown.outcome = outcome;
      this.markProblems(outcome?.form === 'recognition' && outcome.kind === 'failed' && outcome.problem.status === 400 ? problemsOf(outcome.problem.detail) : []);
    }
  }

  private sourceText(region: AdministeredRegion, regions: readonly AdministeredRegion[]): string {
    const name = (id: string | null) => (id === null ? null : (regions.find((entry) => entry.region.id === id)?.region.name ?? id));
    const from = (id: string | null) => (id === null ? this.t('recognitionAdmin.fromDefaults') : id === region.region.id ? this.t('recognitionAdmin.fromOwn') : this.t('recognitionAdmin.fromAncestor', { region: name(id)! }));
    return this.t('recognitionAdmin.source', { configuration: from(region.configurationFrom), reasons: from(region.reasonsFrom) });
  }

  private editor(regionId: string, answer: RegionRecognitionOnWire): HTMLFormElement {
    const t = this.t;
    const { configuration, reasons } = answer.effective;
    const preview = h('span', { class: 'hr-mark', 'data-preview': 'hr-mark' }, markPreview(configuration.abbreviation));
    const abbreviation = h('input', { name: 'abbreviation', type: 'text', autocomplete: 'off', maxlength: 4, value: configuration.abbreviation, 'data-path': 'configuration.abbreviation', oninput: () => (preview.textContent = markPreview(abbreviation.value)) });
    replaceChildren(this.itemRows, itemDrafts(configuration).map((draft) => this.itemRow(draft)));
    replaceChildren(this.reasonRows, reasonDrafts(reasons).map((draft) => this.reasonRow(draft)));
    const grades = answer.scales.map((scale) => {
      const select = h(
        'select',
        { 'data-scale': scale.id, 'data-path': `configuration.minimumGrades.${scale.id}` },
        scale.grades.filter((grade) => !grade.reject).map((grade) => h('option', { value: grade.code }, configuredText(grade.label, this.locale))),
      );
      select.value = configuration.minimumGrades[scale.id] ?? '';
      return h('label', { class: 'field' }, h('span', {}, `${scale.modalities.join(' / ')}`), select);
    });
    const headings = (keys: Parameters<Translate>[0][]) => h('thead', {}, h('tr', {}, keys.map((key) => h('th', {}, t(key))), h('th', {})));
    const form = adminForm(
      'recognition',
      t('recognitionAdmin.editTitle'),
      () => {
        const minimumGrades = { ...configuration.minimumGrades };
        for (const select of form.querySelectorAll<HTMLSelectElement>('select[data-scale]')) if (select.value) minimumGrades[select.dataset.scale!] = select.value;
        void this.admin.saveRegionRecognition(regionId, recognitionBody({ abbreviation: abbreviation.value, items: this.drafts(this.itemRows).map(itemOf), minimumGrades, reasons: this.drafts(this.reasonRows).map(reasonOf) }));
      },
      h('label', { class: 'field field-abbreviation' }, h('span', {}, t('recognitionAdmin.abbreviation')), abbreviation, ' ', t('recognitionAdmin.preview'), ' ', preview),
      h('h4', {}, t('recognitionAdmin.items')),
      h('div', { class: 'table-scroll' }, h('table', { class: 'admin-table', 'data-table': 'recognition-items' }, headings(['recognitionAdmin.code', 'recognitionAdmin.labelZh', 'recognitionAdmin.labelEn', 'recognitionAdmin.modalities', 'recognitionAdmin.bodyParts', 'recognitionAdmin.validityDays']), this.itemRows)),
      h('button', { type: 'button', 'data-action': 'add-item', onclick: () => this.itemRows.append(this.itemRow({ code: '', label: labelDraft(null), modalities: '', bodyParts: '', validityDays: '30' })) }, t('recognitionAdmin.addItem')),
      h('h4', {}, t('recognitionAdmin.minimumGrades')),
      h('div', { class: 'admin-fields' }, grades),
      h('h4', {}, t('recognitionAdmin.reasons')),
      h('div', { class: 'table-scroll' }, h('table', { class: 'admin-table', 'data-table': 'recognition-reasons' }, headings(['recognitionAdmin.code', 'recognitionAdmin.labelZh', 'recognitionAdmin.labelEn', 'recognitionAdmin.requiresText']), this.reasonRows)),
      h('button', { type: 'button', 'data-action': 'add-reason', onclick: () => this.reasonRows.append(this.reasonRow({ code: '', label: labelDraft(null), requiresText: false })) }, t('recognitionAdmin.addReason')),
      answer.own ? h('p', { class: 'muted' }, t('recognitionAdmin.savedBy', { name: answer.own.updatedByName, time: new Date(answer.own.updatedAt).toLocaleString(this.locale) })) : null,
      submitButton(t('recognitionAdmin.save'), 'save-recognition'),
    );
    return form;
  }

  /** One row of inputs per field of a draft; its catalogue label kept aside while the texts stand. */
  private row(fields: Record<string, string>, original: ConfiguredLabel | null, extra: HTMLElement[] = []): HTMLElement {
    const row = h(
      'tr',
      {},
      Object.entries(fields).map(([field, value]) => h('td', {}, h('input', { type: 'text', autocomplete: 'off', 'data-field': field, value, size: field === 'validityDays' ? 5 : 12 }))),
      extra.map((element) => h('td', {}, element)),
      h('td', {}, h('button', { type: 'button', class: 'link', 'data-action': 'remove-row', onclick: () => row.remove() }, this.t('recognitionAdmin.remove'))),
    );
    this.originals.set(row, original);
    return row;
  }

  private itemRow(draft: ItemDraft): HTMLElement {
    return this.row({ code: draft.code, zh: draft.label.zh, en: draft.label.en, modalities: draft.modalities, bodyParts: draft.bodyParts, validityDays: draft.validityDays }, draft.label.original);
  }

  private reasonRow(draft: ReasonDraft): HTMLElement {
    const requiresText = h('input', { type: 'checkbox', 'data-field': 'requiresText' });
    requiresText.checked = draft.requiresText;
    return this.row({ code: draft.code, zh: draft.label.zh, en: draft.label.en }, draft.label.original, [requiresText]);
  }

  /** Each row's inputs by field, with its original label. */
  private drafts(rows: HTMLElement): RowValues[] {
    return [...rows.querySelectorAll<HTMLTableRowElement>('tr')].map((row) => {
      const values: RowValues = { original: this.originals.get(row) ?? null, text: {}, checked: {} };
      for (const input of row.querySelectorAll<HTMLInputElement>('input[data-field]')) {
        if (input.type === 'checkbox') values.checked[input.dataset.field!] = input.checked;
        else values.text[input.dataset.field!] = input.value;
      }
      return values;
    });
  }

  /** The archive's reasons on the fields they name: items and reasons by row, the rest by path. */
  private markProblems(problems: { path: string; message: string }[]): void {
    for (const marked of this.configuration.querySelectorAll('[aria-invalid]')) {
      marked.removeAttribute('aria-invalid');
      marked.removeAttribute('title');
    }
    for (const { path, message } of problems) {
      const [, list, index, field] = /^(?:configuration\.)?(items|reasons)\.(\d+)(?:\.(\w+))?/.exec(path) ?? [];
      const targets: Element[] = [];
      if (list && index) {
        const row = (list === 'items' ? this.itemRows : this.reasonRows).querySelectorAll('tr')[Number(index)];
        const fields = field === 'label' ? ['zh', 'en'] : field ? [field] : ['code'];
        for (const name of fields) {
          const input = row?.querySelector(`[data-field="${name}"]`);
          if (input) targets.push(input);
        }
      } else {
        const element = this.configuration.querySelector(`[data-path="${CSS.escape(path)}"]`);
        if (element) targets.push(element);
      }
      for (const target of targets) {
        target.setAttribute('aria-invalid', 'true');
        target.setAttribute('title', message);
      }
    }
  }

  private renderAccreditations(list: Loadable<AccreditationOnWire[]>, region: AdministeredRegion | undefined, answer: RegionRecognitionOnWire | undefined): void {
    const t = this.t;
    if (list.status === 'loading') return replaceChildren(this.accreditations, h('p', { class: 'status loading' }, t('admin.loading')));
    if (list.status === 'error') return replaceChildren(this.accreditations, h('p', { class: 'status error', role: 'alert' }, t('admin.loadError', { reason: problemText(list.problem, t) })));
    const today = regionToday();
    const institutionName = (id: string) => region?.institutions.find((institution) => institution.id === id)?.name ?? id;
    const itemName = (code: string) => {
      const item = answer?.effective.configuration.items.find((candidate) => candidate.code === code);
      return item ? `${configuredText(item.label, this.locale)} (${code})` : code;
    };
    const byInstitution = [...list.value].sort((a, b) => institutionName(a.institutionId).localeCompare(institutionName(b.institutionId), this.locale) || a.itemCode.localeCompare(b.itemCode));
    replaceChildren(
      this.accreditations,
      byInstitution.length === 0
        ? h('p', { class: 'status empty' }, t('recognitionAdmin.noAccreditations'))
        : table(
            'accreditations',
            [t('recognitionAdmin.institution'), t('recognitionAdmin.item'), t('recognitionAdmin.validFrom'), t('recognitionAdmin.validUntil'), t('recognitionAdmin.status'), t('recognitionAdmin.grantedBy'), ''],
            byInstitution.map((accreditation) => {
              const status = accreditationStatus(accreditation, today);
              return [
                institutionName(accreditation.institutionId),
                itemName(accreditation.itemCode),
                accreditation.validFrom,
                accreditation.validUntil ?? t('recognitionAdmin.untilWithdrawn'),
                h('span', { class: `accreditation-status ${status}`, 'data-status': status, 'data-accreditation': accreditation.id }, t(`recognitionAdmin.status.${status}`)),
                accreditation.grantedByName,
                this.withdrawal(accreditation),
              ];
            }),
          ),
    );
  }

  /** 撤销 with a reason, or who withdrew it and why. */
  private withdrawal(accreditation: AccreditationOnWire): Node {
    const t = this.t;
    if (accreditation.withdrawnAt) return h('span', { class: 'muted' }, t('recognitionAdmin.withdrawnBy', { name: accreditation.withdrawnByName ?? '', reason: accreditation.withdrawalReason ?? '' }));
    return adminForm(
      `withdraw-${accreditation.id}`,
      '',
      (form) => void this.admin.withdrawAccreditation(this.regionSelect.value, accreditation.id, formFields(form)),
      textField(t, 'reason', 'recognitionAdmin.withdrawalReason', { required: true, maxlength: 500, placeholder: t('recognitionAdmin.withdrawalReason') }),
      h('button', { type: 'submit', 'data-action': 'withdraw-accreditation' }, t('recognitionAdmin.withdraw')),
    );
  }
}

interface RowValues {
  original: ConfiguredLabel | null;
  text: Record<string, string>;
  checked: Record<string, boolean>;
}

const labelOf = (row: RowValues) => ({ original: row.original, zh: row.text.zh ?? '', en: row.text.en ?? '' });

function itemOf(row: RowValues): ItemDraft {
  return { code: row.text.code ?? '', label: labelOf(row), modalities: row.text.modalities ?? '', bodyParts: row.text.bodyParts ?? '', validityDays: row.text.validityDays ?? '' };
}

function reasonOf(row: RowValues): ReasonDraft {
  return { code: row.text.code ?? '', label: labelOf(row), requiresText: row.checked.requiresText ?? false };
}
