import type { SuggestedRecord } from '../../../../archive/db/person-repository.ts';
import type { SuggestionOnWire } from '../../api/person-client.ts';
import { formatPersonName } from '../../dicom/dataset.ts';
import type { Translate } from '../../i18n/i18n.ts';
import type { Locale, MessageKey } from '../../i18n/messages.ts';
import type { AppState } from '../../state/app-state.ts';
import type { AdminController } from '../../state/admin-controller.ts';
import { h, replaceChildren } from '../dom.ts';
import { adminForm, formFields, loadable, section, submitButton, textField, type AdminTabView } from './parts.ts';

/**
 * The person index's review queue (人员关联审核): each open suggestion with its two records side by
 * side and its conflicts in words; 确认为同一人 links them, 不是同一人 dismisses the pair, each with
 * a reason. Below, the corrections of a person: unlink a record, merge two persons.
 */
export class PersonsTab implements AdminTabView {
  readonly element: HTMLElement;
  private readonly queue = h('div', { class: 'review-queue' });
  private shown: AppState['admin']['suggestions'];

  constructor(
    private readonly admin: AdminController,
    private readonly t: Translate,
    private readonly locale: Locale,
  ) {
    const unlinkForm = adminForm(
      'unlink',
      t('review.unlinkTitle'),
      (form) => void this.admin.unlinkRecord(formFields(form)).then((done) => done && form.reset()),
      textField(t, 'patientPk', 'review.recordNumber', { required: true, inputmode: 'numeric' }),
      textField(t, 'reason', 'review.reason', { required: true, maxlength: 500 }),
      submitButton(t('review.unlink'), 'unlink-record'),
    );
    const mergeForm = adminForm(
      'merge',
      t('review.mergeTitle'),
      (form) => void this.admin.mergePersons(formFields(form)).then((done) => done && form.reset()),
      textField(t, 'fromPersonId', 'review.mergeFrom', { required: true, inputmode: 'numeric' }),
      textField(t, 'intoPersonId', 'review.mergeInto', { required: true, inputmode: 'numeric' }),
      textField(t, 'reason', 'review.reason', { required: true, maxlength: 500 }),
      submitButton(t('review.merge'), 'merge-persons'),
    );
    this.element = h(
      'div',
      { class: 'admin-tab', 'data-tab': 'persons' },
      section(t('review.title'), h('p', { class: 'hint' }, t('review.hint')), this.queue),
      section(t('review.corrections'), unlinkForm, mergeForm),
    );
  }

  render(state: AppState): void {
    // Rebuilt only when the queue changed: a reason half typed survives the rest of the page's changes.
    if (state.admin.suggestions === this.shown) return;
    this.shown = state.admin.suggestions;
    replaceChildren(this.queue, loadable(this.t, state.admin.suggestions, (suggestions) => h('div', {}, suggestions.map((suggestion) => this.suggestion(suggestion)))));
  }

  private suggestion(suggestion: SuggestionOnWire): HTMLElement {
    const t = this.t;
    const [first, second] = suggestion.records;
    const row = (label: MessageKey, value: (record: SuggestedRecord) => string, differs = false) =>
      h('tr', { class: differs ? 'differs' : undefined }, h('th', { scope: 'row' }, t(label)), h('td', {}, value(first)), h('td', {}, value(second)));
    const name = (record: SuggestedRecord) => (record.patientName ? formatPersonName(record.patientName, this.locale) : '—');
    const sex = (record: SuggestedRecord) => (record.sex === 'M' || record.sex === 'F' || record.sex === 'O' ? t(`sex.${record.sex}`) : record.sex ?? '—');
    const conflicts = new Set(suggestion.conflicts);
    let decision: 'link' | 'dismiss' = 'link';
    const form = adminForm(
      `suggestion-${suggestion.id}`,
      t('review.decide'),
      (element) => void (decision === 'link' ? this.admin.acceptSuggestion(suggestion, formFields(element)) : this.admin.dismissSuggestion(suggestion.id, formFields(element))),
      textField(t, 'reason', 'review.reason', { required: true, maxlength: 500 }),
      h('button', { type: 'submit', class: 'primary', 'data-action': 'link-suggestion', onclick: () => (decision = 'link') }, t('review.link')),
      h('button', { type: 'submit', 'data-action': 'dismiss-suggestion', onclick: () => (decision = 'dismiss') }, t('review.dismiss')),
    );
    return h(
      'article',
      { class: 'suggestion', 'data-suggestion': suggestion.id },
      h('h3', {}, t(`review.reason.${suggestion.reason}`)),
      h(
        'table',
        { class: 'admin-table side-by-side' },
        h('thead', {}, h('tr', {}, h('th', {}), h('th', {}, t('review.recordA')), h('th', {}, t('review.recordB')))),
        h(
          'tbody',
          {},
          row('review.name', name, conflicts.has('name')),
          row('review.birthDate', (record) => record.birthDate ?? '—', conflicts.has('birth-date') || conflicts.has('birth-date-not-in-resident-id')),
          row('review.sex', sex, conflicts.has('sex') || conflicts.has('sex-not-in-resident-id')),
          row('review.patientId', (record) => record.patientId),
          row('review.institution', (record) => record.institutionName),
          row('review.studies', (record) => String(record.studyCount)),
          row('review.person', (record) => (record.personId ? t('person.personNumber', { id: record.personId }) : '—')),
          row('review.record', (record) => record.patientPk),
        ),
      ),
      suggestion.conflicts.length
        ? h('ul', { class: 'conflicts', 'aria-label': t('review.conflicts') }, suggestion.conflicts.map((conflict) => h('li', { 'data-conflict': conflict }, t(`review.conflict.${conflict}` as MessageKey))))
        : h('p', { class: 'muted' }, t('review.noConflicts')),
      form,
    );
  }
}
