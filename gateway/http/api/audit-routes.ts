import { Router, type Request } from 'express';
import { z } from 'zod';
import { AUDIT_EVENT_TYPES } from '../../../archive/audit/audit-event.ts';
import type { AuditEventRecord } from '../../../archive/audit/audit-event.ts';
import { auditCsvHeader, auditEventToCsvRow, CSV_UTF8_BOM } from '../../../archive/audit/export-csv.ts';
import { toDicomAuditMessage } from '../../../archive/audit/dicom-audit-message.ts';
import { AuditRepository, type AuditSearch } from '../../../archive/db/audit-repository.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { noteAudited } from '../access.ts';
import { HttpProblem } from '../problem.ts';

const EXPORT_PAGE = 1000;

const searchQuery = z.object({
  patientId: z.string().max(128).optional(),
  user: z.string().max(128).optional(),
  study: z.string().regex(/^[0-9.]{1,64}$/).optional(),
  type: z.enum(AUDIT_EVENT_TYPES).optional(),
  from: z.iso.datetime({ offset: true }).or(z.iso.date()).optional(),
  to: z.iso.datetime({ offset: true }).or(z.iso.date()).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  before: z.string().regex(/^\d{1,18}$/).optional(),
});

/**
 * /api/audit: what an auditor asks — who looked at this patient's images, when, from where, why.
 * Using the trail is itself audited (Audit Log Used), through the access table.
 */
export function auditRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const repository = new AuditRepository(runtime.db.pool);

  const parseSearch = (request: Request): AuditSearch => {
    const parsed = searchQuery.safeParse(request.query);
    if (!parsed.success) throw new HttpProblem(400, 'problem.badRequest', parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
    const { patientId, user, study, type, from, to, limit, before } = parsed.data;
    return { patientId, userName: user, studyUid: study, eventType: type, from: from ? new Date(from) : undefined, to: to ? new Date(to) : undefined, limit, beforeId: before };
  };

  router.get('/audit/events', async (request, response) => {
    const search = parseSearch(request);
    const events = await repository.search(search);
    noteAudited(response, { detail: { search: request.query, returned: events.length } });
    response.json(events);
  });

  /** Every matching event, newest first, a page at a time (an export may cover months). */
  async function* matching(search: AuditSearch): AsyncGenerator<AuditEventRecord> {
    let beforeId = search.beforeId;
    for (;;) {
      const page = await repository.search({ ...search, beforeId, limit: EXPORT_PAGE });
      yield* page;
      if (page.length < EXPORT_PAGE) return;
      beforeId = page[page.length - 1]!.id;
    }
  }

  router.get('/audit/export.csv', async (request, response) => {
    const search = parseSearch(request);
    response.status(200).type('text/csv; charset=utf-8').attachment('yingyun-audit.csv');
    // The BOM makes Excel and WPS read the Chinese text as UTF-8.
    response.write(CSV_UTF8_BOM + auditCsvHeader());
    let exported = 0;
    for await (const event of matching(search)) {
      if (!response.write(auditEventToCsvRow(event))) await new Promise((resolve) => response.once('drain', resolve));
      exported++;
    }
    noteAudited(response, { detail: { export: 'csv', search: request.query, exported } });
    response.end();
  });

  router.get('/audit/export.xml', async (request, response) => {
    const search = parseSearch(request);
    const source = { auditSourceId: runtime.config.access.auditSourceId };
    response.status(200).type('application/xml; charset=utf-8').attachment('yingyun-audit.xml');
    // One PS3.15 A.5 AuditMessage per event, inside a plain container element so the file is one
    // well-formed document (syslog transports send them one by one instead).
    response.write('<?xml version="1.0" encoding="UTF-8"?>\n<AuditMessages>\n');
    let exported = 0;
    for await (const event of matching(search)) {
      const message = toDicomAuditMessage(event, source).replace(/^<\?xml[^>]*\?>/, '');
      if (!response.write(`${message}\n`)) await new Promise((resolve) => response.once('drain', resolve));
      exported++;
    }
    noteAudited(response, { detail: { export: 'xml', search: request.query, exported } });
    response.end('</AuditMessages>\n');
  });

  router.get('/audit/verify', async (_request, response) => {
    const result = await runtime.audit.verify();
    noteAudited(response, { detail: { verified: result.events, breaks: result.breaks.length } });
    response.json({ intact: result.breaks.length === 0, ...result });
  });
  return router;
}
