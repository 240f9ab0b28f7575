import type { EdgeStatus } from '../../../archive/edge/edge-forwarder.ts';
import { message, type Language, type MessageKey } from '../../../archive/i18n/messages.ts';
import { escapeHtml } from '../html.ts';

/**
 * The county edge's status page: what waits, whether the link to the region is up and why not, how
 * fast it goes. Plain HTML without script (the page reloads itself every 10 s), for the county's
 * administrator on any browser.
 */
export function edgeStatusPage(status: EdgeStatus, language: Language): string {
  const text = (key: MessageKey) => escapeHtml(message(key, language));
  const time = (iso: string | null) => (iso ? escapeHtml(new Date(iso).toLocaleString(language === 'zh' ? 'zh-CN' : 'en-GB', { timeZone: 'Asia/Shanghai' })) : text('edge.none'));
  const row = (label: string, value: string) => `<tr><th scope="row">${label}</th><td>${value}</td></tr>`;
  const { link, backlog } = status;
  const rows = [
    row(text('edge.region'), escapeHtml(status.regionUrl)),
    row(text('edge.link'), `<strong>${text(`edge.link.${link.state}`)}</strong>${link.since ? ` (${text('edge.link.since')} ${time(link.since)})` : ''}`),
    ...(link.lastError ? [row(text('edge.lastError'), `${escapeHtml(link.lastError)} · ${time(link.lastErrorAt)}`)] : []),
    ...(link.nextAttemptAt ? [row(text('edge.nextAttempt'), time(link.nextAttemptAt))] : []),
    row(text('edge.backlog'), String(backlog.count)),
    row(text('edge.backlogBytes'), escapeHtml(bytes(backlog.bytes))),
    row(text('edge.oldest'), time(backlog.oldestReceivedAt)),
    row(text('edge.throughput'), `${escapeHtml(bytes(status.uploadBytesPerSecond))}/s`),
    row(text('edge.cap'), status.capBytesPerSecond ? `${escapeHtml(bytes(status.capBytesPerSecond))}/s` : text('edge.noCap')),
    row(text('edge.verifiedKept'), String(backlog.verifiedKept)),
    row(text('edge.deleted'), String(backlog.deleted)),
    row(text('edge.retention'), `${Math.round((status.retentionSeconds / 3600) * 10) / 10} ${text('edge.hours')}`),
  ];
  const other: Language = language === 'zh' ? 'en' : 'zh';
  return `<!doctype html>
<html lang="${language === 'zh' ? 'zh-CN' : 'en'}">
<head><meta charset="utf-8"><meta http-equiv="refresh" content="10"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${text('edge.title')}</title></head>
<body>
<h1>${text('edge.title')}</h1>
<table>
${rows.join('\n')}
</table>
<p><a href="?lang=${other}">${text('film.otherLanguage')}</a></p>
</body>
</html>`;
}

function bytes(count: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = count;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
