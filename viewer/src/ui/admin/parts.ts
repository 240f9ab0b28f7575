import type { Translate } from '../../i18n/i18n.ts';
import type { MessageKey } from '../../i18n/messages.ts';
import type { FormFields } from '../../logic/admin.ts';
import type { AppState, Loadable } from '../../state/app-state.ts';
import { h, replaceChildren } from '../dom.ts';
import { problemText } from '../problem-text.ts';

/** One tab of the administration page: built once (per language), rendered on every change of the state. */
export interface AdminTabView {
  readonly element: HTMLElement;
  render(state: AppState): void;
}

export interface Option {
  value: string;
  label: string;
}

/** The form's fields as logic/admin.ts reads them (a ticked checkbox is 'on', an unticked one absent). */
export function formFields(form: HTMLFormElement): FormFields {
  const fields: FormFields = {};
  for (const [name, value] of new FormData(form)) fields[name] = typeof value === 'string' ? value : '';
  return fields;
}

export function textField(t: Translate, name: string, label: MessageKey, attributes: Record<string, string | number | boolean | undefined> = {}): HTMLLabelElement {
  return h('label', { class: `field field-${name}` }, h('span', {}, t(label)), h('input', { name, type: 'text', autocomplete: 'off', ...attributes }));
}

export function selectField(t: Translate, name: string, label: MessageKey, select: HTMLSelectElement): HTMLLabelElement {
  select.name = name;
  return h('label', { class: `field field-${name}` }, h('span', {}, t(label)), select);
}

export function checkboxField(t: Translate, name: string, label: MessageKey): HTMLLabelElement {
  return h('label', { class: `field-check field-${name}` }, h('input', { name, type: 'checkbox' }), h('span', {}, t(label)));
}

/**
 * Gives a select its options, keeping what was chosen when that is still offered. Selects that
 * depend on a list (regions, institutions, users) are filled again when the list arrives, without
 * touching the rest of the form.
 */
export function fillSelect(select: HTMLSelectElement, options: readonly Option[], preferred?: string): void {
  const chosen = select.value || preferred || '';
  const signature = JSON.stringify(options);
  if (select.dataset.options === signature) return;
  select.dataset.options = signature;
  replaceChildren(
    select,
    options.map((option) => h('option', { value: option.value }, option.label)),
  );
  if (options.some((option) => option.value === chosen)) select.value = chosen;
}

export function section(title: string, ...children: (Node | null)[]): HTMLElement {
  return h('section', { class: 'admin-section' }, h('h2', {}, title), ...children);
}

export function adminForm(name: string, title: string, onsubmit: (form: HTMLFormElement) => void, ...fields: (Node | null)[]): HTMLFormElement {
  const form = h(
    'form',
    {
      class: 'admin-form',
      'data-form': name,
      novalidate: true,
      onsubmit: (event: Event) => {
        event.preventDefault();
        onsubmit(event.currentTarget as HTMLFormElement);
      },
    },
    h('h3', {}, title),
    h('div', { class: 'admin-fields' }, ...fields),
    h('div', { class: 'form-outcome' }),
  );
  return form;
}

export function submitButton(label: string, name?: string): HTMLButtonElement {
  return h('button', { type: 'submit', class: 'primary', 'data-action': name }, label);
}

/** A table of rows, or why there is none yet. */
export function table(name: string, headings: readonly string[], rows: readonly (readonly (Node | string)[])[], attributes: Record<string, string> = {}): HTMLElement {
  return h(
    'div',
    { class: 'table-scroll' },
    h(
      'table',
      { class: 'admin-table', 'data-table': name, ...attributes },
      h('thead', {}, h('tr', {}, headings.map((heading) => h('th', {}, heading)))),
      h('tbody', {}, rows.map((row) => h('tr', {}, row.map((cell) => h('td', {}, cell))))),
    ),
  );
}

/** A list being fetched, failed, empty, or shown. */
export function loadable<T>(t: Translate, list: Loadable<T[]> | undefined, show: (value: T[]) => Node): Node {
  if (!list || list.status === 'loading') return h('p', { class: 'status loading' }, t('admin.loading'));
  if (list.status === 'error') return h('p', { class: 'status error', role: 'alert' }, t('admin.loadError', { reason: problemText(list.problem, t) }));
  if (list.value.length === 0) return h('p', { class: 'status empty' }, t('admin.empty'));
  return show(list.value);
}

export function readyValue<T>(list: Loadable<T[]> | undefined): T[] {
  return list?.status === 'ready' ? list.value : [];
}
