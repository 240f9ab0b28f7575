import type { Translate } from '../i18n/i18n.ts';
import { PURPOSE_MAX_LENGTH, PURPOSE_PRESETS, presetLabel, presetOf, statedPurpose } from '../logic/purpose.ts';
import { canStatePurpose } from '../logic/session.ts';
import { signedInUserOf, type AppState } from '../state/app-state.ts';
import type { Controller } from '../state/controller.ts';
import { h } from './dom.ts';

/**
 * Which institutions' studies the reader sees, with the way to widen it: without a stated purpose
 * only their own; with one, also the same patient's studies elsewhere. Shown only to roles the
 * archive lets state a purpose.
 */
export function purposeNotice(state: AppState, t: Translate, controller: Controller, context: 'list' | 'priors' | 'person' = 'list'): HTMLElement | null {
  if (!canStatePurpose(signedInUserOf(state))) return null;
  const purpose = state.purpose.text;
  if (!purpose) {
    return h(
      'div',
      { class: 'purpose-notice', 'data-purpose': 'none' },
      h('span', {}, t(context === 'priors' ? 'viewer.priorsOwnOnly' : context === 'person' ? 'person.ownOnly' : 'purpose.ownOnly')),
      h('button', { type: 'button', 'data-action': 'state-purpose', onclick: () => controller.setPurposeDialogOpen(true) }, t('purpose.state')),
    );
  }
  return h(
    'div',
    { class: 'purpose-notice active', 'data-purpose': 'stated' },
    h('span', {}, t('purpose.active', { purpose })),
    h(
      'span',
      { class: 'purpose-buttons' },
      h('button', { type: 'button', 'data-action': 'change-purpose', onclick: () => controller.setPurposeDialogOpen(true) }, t('purpose.change')),
      h('button', { type: 'button', 'data-action': 'withdraw-purpose', onclick: () => void controller.withdrawPurpose() }, t('purpose.withdraw')),
    ),
  );
}

/** Asks why: a preset (in both languages, as the audit trail keeps it) and/or the reader's own words. */
export function purposeDialog(state: AppState, t: Translate, controller: Controller): HTMLElement {
  const current = state.purpose.text;
  const currentPreset = presetOf(current);
  const close = () => controller.setPurposeDialogOpen(false);
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const details = h('input', {
    type: 'text',
    name: 'details',
    maxlength: PURPOSE_MAX_LENGTH,
    value: current && !currentPreset ? current : '',
    autocomplete: 'off',
  });
  const choice = (id: string, label: string, checked: boolean) =>
    h('label', { class: 'choice' }, h('input', { type: 'radio', name: 'preset', value: id, checked }), h('span', {}, label));
  const form = h(
    'form',
    {
      class: 'modal purpose-dialog',
      role: 'dialog',
      'aria-modal': 'true',
      'aria-labelledby': 'purpose-title',
      onchange: () => {
        error.hidden = true;
      },
      onsubmit: (event: Event) => {
        event.preventDefault();
        const data = new FormData(event.currentTarget as HTMLFormElement);
        const result = statedPurpose(String(data.get('preset') ?? ''), String(data.get('details') ?? ''));
        if ('problem' in result) {
          error.textContent = t(result.problem);
          error.hidden = false;
          return;
        }
        void controller.statePurpose(result.purpose);
      },
    },
    h('h2', { id: 'purpose-title' }, t('purpose.title')),
    h('p', { class: 'muted' }, t('purpose.intro')),
    h(
      'fieldset',
      { class: 'purpose-presets' },
      h('legend', {}, t('purpose.preset')),
      PURPOSE_PRESETS.map((preset) => choice(preset.id, presetLabel(preset, state.locale), currentPreset ? currentPreset.id === preset.id : !current && preset === PURPOSE_PRESETS[0])),
      choice('', t('purpose.other'), !!current && !currentPreset),
    ),
    h('label', { class: 'field' }, h('span', {}, t('purpose.freeText')), details),
    error,
    h(
      'div',
      { class: 'dialog-buttons' },
      h('button', { type: 'button', onclick: close }, t('purpose.cancel')),
      h('button', { type: 'submit', class: 'primary', 'data-action': 'confirm-purpose' }, t('purpose.confirm')),
    ),
  );
  queueMicrotask(() => form.querySelector<HTMLInputElement>('input[name=preset]:checked')?.focus());
  return h('div', { class: 'modal-backdrop', onclick: (event: Event) => event.target === event.currentTarget && close() }, form);
}
