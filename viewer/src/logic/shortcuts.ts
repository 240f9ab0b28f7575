import type { MessageKey } from '../i18n/messages.ts';

/** Everything the keyboard can do in the reading view. */
export type ShortcutAction =
  | 'nextImage'
  | 'previousImage'
  | 'nextPage'
  | 'previousPage'
  | 'firstImage'
  | 'lastImage'
  | 'tool.WindowLevel'
  | 'tool.Pan'
  | 'tool.Zoom'
  | 'tool.StackScroll'
  | 'tool.Length'
  | 'tool.Angle'
  | 'tool.RectangleROI'
  | 'tool.EllipticalROI'
  | 'tool.Probe'
  | 'rotate'
  | 'flipHorizontal'
  | 'flipVertical'
  | 'invert'
  | 'reset'
  | 'cine'
  | 'nextViewport'
  | 'layout.1x1'
  | 'layout.1x2'
  | 'layout.2x2'
  | 'deleteMeasurements'
  | 'help'
  | `preset.${number}`;

export interface Shortcut {
  /** KeyboardEvent.key values that trigger it (case-insensitive for letters). */
  keys: readonly string[];
  /** What the help panel shows for the key. */
  display: string;
  action: ShortcutAction;
  description: MessageKey;
}

export const SHORTCUTS: readonly Shortcut[] = [
  { keys: ['ArrowDown', 'ArrowRight'], display: '↓ / →', action: 'nextImage', description: 'shortcut.nextImage' },
  { keys: ['ArrowUp', 'ArrowLeft'], display: '↑ / ←', action: 'previousImage', description: 'shortcut.previousImage' },
  { keys: ['PageDown'], display: 'PgDn', action: 'nextPage', description: 'shortcut.nextPage' },
  { keys: ['PageUp'], display: 'PgUp', action: 'previousPage', description: 'shortcut.previousPage' },
  { keys: ['Home'], display: 'Home', action: 'firstImage', description: 'shortcut.firstImage' },
  { keys: ['End'], display: 'End', action: 'lastImage', description: 'shortcut.lastImage' },
  { keys: ['w'], display: 'W', action: 'tool.WindowLevel', description: 'tool.WindowLevel' },
  { keys: ['p'], display: 'P', action: 'tool.Pan', description: 'tool.Pan' },
  { keys: ['z'], display: 'Z', action: 'tool.Zoom', description: 'tool.Zoom' },
  { keys: ['s'], display: 'S', action: 'tool.StackScroll', description: 'tool.StackScroll' },
  { keys: ['l'], display: 'L', action: 'tool.Length', description: 'tool.Length' },
  { keys: ['a'], display: 'A', action: 'tool.Angle', description: 'tool.Angle' },
  { keys: ['r'], display: 'R', action: 'tool.RectangleROI', description: 'tool.RectangleROI' },
  { keys: ['e'], display: 'E', action: 'tool.EllipticalROI', description: 'tool.EllipticalROI' },
  { keys: ['o'], display: 'O', action: 'tool.Probe', description: 'tool.Probe' },
  { keys: ['.'], display: '.', action: 'rotate', description: 'action.rotate' },
  { keys: ['h'], display: 'H', action: 'flipHorizontal', description: 'action.flipHorizontal' },
  { keys: ['v'], display: 'V', action: 'flipVertical', description: 'action.flipVertical' },
  { keys: ['i'], display: 'I', action: 'invert', description: 'action.invert' },
  { keys: ['Escape', '0'], display: 'Esc / 0', action: 'reset', description: 'action.reset' },
  { keys: [' '], display: 'Space', action: 'cine', description: 'action.cine' },
  { keys: ['Tab'], display: 'Tab', action: 'nextViewport', description: 'shortcut.nextViewport' },
  { keys: ['!'], display: 'Shift+1', action: 'layout.1x1', description: 'layout.1x1' },
  { keys: ['@'], display: 'Shift+2', action: 'layout.1x2', description: 'layout.1x2' },
  { keys: ['#'], display: 'Shift+3', action: 'layout.2x2', description: 'layout.2x2' },
  { keys: ['Delete', 'Backspace'], display: 'Del', action: 'deleteMeasurements', description: 'action.deleteMeasurements' },
  { keys: ['?', 'F1'], display: '? / F1', action: 'help', description: 'shortcut.help' },
];

/** Number keys choose window presets in the order the preset menu lists them. */
export const PRESET_SHORTCUT: { display: string; description: MessageKey } = { display: '1 – 9', description: 'shortcut.presets' };

/** The action for a key press, ignoring presses with Ctrl, Alt or Meta (those belong to the browser). */
export function actionForKey(event: { key: string; ctrlKey?: boolean; altKey?: boolean; metaKey?: boolean }): ShortcutAction | undefined {
  if (event.ctrlKey || event.altKey || event.metaKey) return undefined;
  if (/^[1-9]$/.test(event.key)) return `preset.${Number(event.key) - 1}`;
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  return SHORTCUTS.find((shortcut) => shortcut.keys.includes(key))?.action;
}
