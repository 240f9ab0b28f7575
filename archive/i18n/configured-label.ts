import { z } from 'zod';
import { isMessageKey, message, preferredLanguage, type MessageKey } from './messages.ts';

/**
 * The label of something a region or centre configures (a QC grade, a defect, a recognition item,
 * a non-recognition reason): a key of the message catalogue for what Yingyun ships, or the centre's
 * own text in both languages for what it adds, since a centre cannot add to the catalogue.
 */
export type ConfiguredLabel = { key: MessageKey } | { zh: string; en: string };

/**
 * The codes under which the catalogue has labels for what Yingyun ships: `CataloguedCode<'qc.defect.'>`
 * is every defect code with a `qc.defect.<code>` message, so a default without a label does not compile.
 */
export type CataloguedCode<Prefix extends string, Key extends string = MessageKey> = Key extends `${Prefix}${infer Code}` ? Code : never;

/** The code of a configured entry (a grade, a defect, an item, a reason): stored, compared, never shown. */
export const configuredCodeSchema = z.string().trim().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/, 'letters, digits and hyphens, at most 32');

const labelText = z.string().trim().min(1).max(200);

export const configuredLabelSchema: z.ZodType<ConfiguredLabel> = z.union([
  z.strictObject({ key: z.custom<MessageKey>((value) => typeof value === 'string' && isMessageKey(value), 'not a message key') }),
  z.strictObject({ zh: labelText, en: labelText }),
]);

export function configuredLabelText(label: ConfiguredLabel, acceptLanguage?: string): string {
  return 'key' in label ? message(label.key, acceptLanguage) : label[preferredLanguage(acceptLanguage)];
}

/** Both languages of a label, for a screen that is not the server's to translate (the viewer). */
export function bilingual(label: ConfiguredLabel): { zh: string; en: string } {
  return { zh: configuredLabelText(label, 'zh'), en: configuredLabelText(label, 'en') };
}
