import type { Translate } from '../i18n/i18n.ts';
import { PRESET_SHORTCUT, SHORTCUTS } from '../logic/shortcuts.ts';
import { h } from './dom.ts';

/** The keyboard shortcuts, from the same table the key handler uses, so the list cannot drift. */
export function helpDialog(t: Translate, close: () => void): HTMLElement {
  const rows = [...SHORTCUTS.map((shortcut) => [shortcut.display, t(shortcut.description)] as const), [PRESET_SHORTCUT.display, t(PRESET_SHORTCUT.description)] as const];
  return h(
    'div',
    { class: 'modal-backdrop', onclick: (event: Event) => event.target === event.currentTarget && close() },
    h(
      'div',
      { class: 'modal', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'help-title' },
      h('h2', { id: 'help-title' }, t('shortcut.title')),
      h('table', { class: 'shortcuts' }, h('tbody', {}, rows.map(([keys, description]) => h('tr', {}, h('th', {}, h('kbd', {}, keys)), h('td', {}, description))))),
      h('p', {}, t('shortcut.mouse')),
      h('button', { type: 'button', class: 'primary', onclick: close }, t('app.close')),
    ),
  );
}
