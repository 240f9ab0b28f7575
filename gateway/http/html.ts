/** Text for server-rendered HTML (the cloud film, the edge's status page): the five characters HTML gives meaning to, escaped. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (character) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[character]!);
}
