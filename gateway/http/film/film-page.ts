import { message, type Language, type MessageKey } from '../../../archive/i18n/messages.ts';
import type { FilmContent, FilmRefusal } from '../../../archive/reading/share-links.ts';
import type { SecondFactorKind } from '../../../archive/reading/share-link-types.ts';
import { escapeHtml } from '../html.ts';

/**
 * The patient's cloud film as server-rendered HTML: no script at all, one small stylesheet, so the
 * first paint on a phone over a slow network is the page itself. Swiping through a series is the
 * browser's own horizontal scroll (CSS scroll snap), pinch-zoom the browser's own zoom, and the
 * images of a series load only as they come near the screen (loading="lazy").
 */

export interface FilmPageContext {
  language: Language;
  /** /film/{token}: every link of the page is relative to it. */
  basePath: string;
}

const text = (key: MessageKey, language: Language) => escapeHtml(message(key, language));

/**
 * The second factor's form, with why the last try failed when it did. `formToken` is the form's
 * one-time token (ShareLinksService.issueFormToken): a copy of this POST replayed from the browser's
 * history opens nothing.
 */
export function factorPage(context: FilmPageContext, factor: SecondFactorKind, formToken: string, refusal?: FilmRefusal): string {
  const { language, basePath } = context;
  const inputMode = factor === 'phone-last4' ? 'inputmode="numeric" pattern="[0-9]{4}" maxlength="4" autocomplete="off"' : 'inputmode="numeric" autocomplete="bday" placeholder="1980-03-07"';
  return page(context, `
<main class="factor">
  <h1>${text('film.title', language)}</h1>
  <form method="post" action="${basePath}?lang=${language}">
    <label for="factor">${text(factor === 'phone-last4' ? 'film.factor.phone-last4' : 'film.factor.birth-date', language)}</label>
    <input id="factor" name="factor" type="text" required ${inputMode}>
    <input type="hidden" name="form" value="${escapeHtml(formToken)}">
    ${refusal ? `<p class="refusal" role="alert">${text(`film.refused.${refusal}`, language)}</p>` : ''}
    <button type="submit">${text('film.factor.submit', language)}</button>
  </form>
  <p class="private">${text('film.private', language)}</p>
</main>`);
}

/** Why the film does not open (locked, expired, revoked, unknown, throttled). */
export function refusalPage(context: FilmPageContext, refusal: FilmRefusal): string {
  return page(context, `
<main class="factor">
  <h1>${text('film.title', context.language)}</h1>
  <p class="refusal" role="alert">${text(`film.refused.${refusal}`, context.language)}</p>
</main>`);
}

/**
 * The film: the study, the report, the key images, then every series as a strip to swipe through.
 * `firstKeyImage`, a data: URL, is the first key image itself (else it loads by its address); it is
 * marked for Element Timing, which is how `npm run bench:reading` sees it painted.
 */
export function filmPage(context: FilmPageContext, content: FilmContent, firstKeyImage?: string): string {
  const { language, basePath } = context;
  const { study, report, keyImages } = content;
  const image = (seriesUid: string, sopUid: string, frame: number) => `${basePath}/images/${seriesUid}/${sopUid}/${frame}`;
  // The modalities of the series shown, which are images only: the study's own list also names its
  // report (SR, DOC), key-image (KO) and presentation-state (PR) series, which are not modalities to a patient.
  const modalities = [...new Set(study.series.flatMap((series) => (series.modality ? [series.modality] : [])))];
  const header = [study.institutionName, study.studyDate, [modalities.join('/'), study.description].filter(Boolean).join(' ')].filter(Boolean).map((part) => escapeHtml(part!));
  const reportSection = report
    ? `<section class="report">
    <h2>${text(report.amended ? 'film.amended' : 'film.report', language)}</h2>
    <h3>${text('film.findings', language)}</h3>
    <p class="findings">${multiline(report.findings)}</p>
    <h3>${text('film.impression', language)}</h3>
    <p class="impression">${multiline(report.impression)}</p>
    <p class="signature">${text('film.verifiedBy', language)}: ${escapeHtml(personName(report.signedBy))} · ${escapeHtml(report.signedAt.slice(0, 10))}</p>
  </section>`
    : `<section class="report"><h2>${text('film.report', language)}</h2><p class="no-report">${text('film.noReport', language)}</p></section>`;
  const keySection = keyImages.length
    ? `<section class="key-images">
    <h2>${text(content.keyImagesAreMarked ? 'film.keyImages' : 'film.representativeImages', language)}</h2>
    ${keyImages
      .map((key, index) => {
        const source = index === 0 && firstKeyImage ? firstKeyImage : image(key.seriesInstanceUid, key.sopInstanceUid, key.frameNumber);
        return `<img class="key-image" src="${source}" alt="${index + 1}"${index === 0 ? ' elementtiming="first-key-image"' : index < 2 ? '' : ' loading="lazy"'}>`;
      })
      .join('\n    ')}
  </section>`
    : '';
  const seriesSections = study.series
    .filter((series) => series.images.length)
    .map(
      (series) => `<section class="series">
    <h3>${text('film.series', language)} ${series.seriesNumber ?? ''} ${escapeHtml([series.modality, series.description].filter(Boolean).join(' '))} · ${series.images.length}</h3>
    <div class="strip">
      ${series.images
        .map(
          (one, index) =>
            `<figure><img src="${image(series.seriesInstanceUid, one.sopInstanceUid, one.frameNumber)}" alt="${index + 1}" loading="lazy"><figcaption>${index + 1} / ${series.images.length}</figcaption></figure>`,
        )
        .join('\n      ')}
    </div>
  </section>`,
    )
    .join('\n  ');
  return page(context, `
<header>
  <h1>${text('film.title', language)}${study.patientName ? ` · <span class="patient">${escapeHtml(study.patientName)}</span>` : ''}</h1>
  <p>${header.join(' · ')}</p>
</header>
<main class="film">
  ${reportSection}
  ${keySection}
  <section class="all-images">
    <h2>${text('film.allImages', language)}</h2>
    <p class="hint">${text('film.swipe', language)}</p>
  </section>
  ${seriesSections}
  <p class="private">${text('film.private', language)}</p>
</main>`);
}

function page(context: FilmPageContext, body: string): string {
  const other: Language = context.language === 'zh' ? 'en' : 'zh';
  return `<!doctype html>
<html lang="${context.language === 'zh' ? 'zh-CN' : 'en'}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>${text('film.title', context.language)}</title>
<link rel="stylesheet" href="/film/film.css">
</head>
<body>
<nav><a class="language" href="${context.basePath}?lang=${other}">${text('film.otherLanguage', context.language)}</a></nav>
${body}
</body>
</html>
`;
}

/** 'Li^Ming=李^明' as a reader writes it: the ideographic group when there is one. */
function personName(pn: string): string {
  const [alphabetic = '', ideographic = ''] = pn.split('=');
  return ideographic ? ideographic.replaceAll('^', '') : alphabetic.replaceAll('^', ' ').trim();
}

function multiline(value: string): string {
  return escapeHtml(value).replaceAll('\n', '<br>');
}
