import { CATALOGUES, LOCALES, type Locale, type MessageKey } from './messages.ts';

export type Translate = (key: MessageKey, values?: Record<string, string | number>) => string;

/** The part of localStorage the language choice needs (so Node tests can pass a Map-backed one). */
export interface LocaleStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export const LOCALE_STORAGE_KEY = 'yingyun.locale';

/** A reader's remembered choice wins; otherwise the browser's languages: any Chinese → zh-CN, else English. */
export function chooseLocale(stored: string | null, browserLanguages: readonly string[]): Locale {
  if (stored && (LOCALES as readonly string[]).includes(stored)) return stored as Locale;
  for (const language of browserLanguages) {
    const lower = language.toLowerCase();
    if (lower.startsWith('zh')) return 'zh-CN';
    if (lower.startsWith('en')) return 'en';
  }
  return 'en';
}

export function translator(locale: Locale): Translate {
  const catalogue = CATALOGUES[locale];
  return (key, values = {}) => catalogue[key].replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? String(values[name]) : whole));
}

/** Placeholder names of a message, to check that translations fill in the same values. */
export function placeholders(message: string): string[] {
  return [...message.matchAll(/\{(\w+)\}/g)].map((match) => match[1]!).sort();
}
