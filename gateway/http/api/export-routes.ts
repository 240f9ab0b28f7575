import { randomBytes } from 'node:crypto';
import express, { Router, type Response } from 'express';
import yazl from 'yazl';
import { z } from 'zod';
import type { StudyOwnership } from '../../../archive/db/query-repository.ts';
import { StudyExport, type ExportOptions } from '../../../archive/privacy/study-export.ts';
import { RetrieveService } from '../../../archive/retrieve/retrieve-service.ts';
import { RoutingRefusal } from '../../../archive/routing/routing-service.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { PeerNotCallableError, storeInstances } from '../../dimse/store-scu.ts';
import { accessOf, noteAudited } from '../access.ts';
import { HttpProblem } from '../problem.ts';

const exportBody = z.object({
  deidentify: z.boolean().default(true),
  retainLongitudinalDates: z.boolean().default(false),
  retainPatientCharacteristics: z.boolean().default(false),
  /** A registered DICOM peer's AE title: the study goes there by C-STORE instead of into a zip. */
  destination: z.string().trim().min(1).max(16).optional(),
});

/**
 * POST /api/studies/{study}/export: the study as a zip of DICOM files, de-identified by default
 * (PS3.15 Basic Profile; the options as the body says), or, with `destination`, sent to that DICOM
 * peer by C-STORE. A POST, not a GET: it is an act the audit trail records, and a cookie session must
 * prove it meant it (CSRF token).
 */
export function exportRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const exporter = new StudyExport(new RetrieveService(runtime.db.pool, runtime.store, runtime.renderer), () =>
    runtime.users.secret('deidentification-key', () => randomBytes(32)),
  );

  router.post('/studies/:study/export', express.json({ limit: '4kb' }), async (request, response) => {
    const parsed = exportBody.safeParse(request.body ?? {});
    if (!parsed.success) throw new HttpProblem(400, 'problem.badRequest', parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
    const { destination, ...options } = parsed.data;
    const study = accessOf(response).study!;
    if (destination !== undefined) {
      await sendToPeer(runtime, exporter, response, study, destination, options);
      return;
    }
    const zip = new yazl.ZipFile();
    response.status(200).type('application/zip').attachment(`${parsed.data.deidentify ? 'deidentified-' : ''}${study.studyInstanceUid}.zip`);
    zip.outputStream.pipe(response);
    const flagged: string[] = [];
    let instances = 0;
    try {
      for await (const instance of exporter.instances(study, options)) {
        // Already compressed or not worth it: images dominate, and store keeps the zip quick to write.
        zip.addBuffer(instance.bytes, instance.name, { compress: false });
        instances++;
        if (instance.burnedInAnnotationRisk) flagged.push(instance.name);
      }
      if (flagged.length) {
        zip.addBuffer(
          Buffer.from(`These instances may show identifying text burned into their pixels (Burned In Annotation YES, or a modality that often does). Check them before sharing.\n图像中可能含有烧录的身份信息，分享前请核查：\n${flagged.join('\n')}\n`),
          'BURNED-IN-ANNOTATION.txt',
        );
      }
    } catch (error) {
      // Headers are gone: the client sees a truncated zip, which no unzip accepts; the log says why.
      runtime.log.error({ err: error, study: study.studyInstanceUid }, 'export failed part-way');
      noteAudited(response, { detail: { deidentified: options.deidentify, failed: true } });
      response.destroy();
      return;
    }
    noteAudited(response, { detail: { deidentified: options.deidentify, ...options, instances, burnedInAnnotationRisk: flagged.length } });
    zip.end();
  });
  return router;
}

/**
 * The export to a DICOM node: every instance over one association, as the zip would hold it. 200 when
 * the peer stored at least one (the refused ones listed with the reason), 502 as problem JSON when it
 * stored none or no association could be made.
 */
async function sendToPeer(runtime: Runtime, exporter: StudyExport, response: Response, study: StudyOwnership, aeTitle: string, options: ExportOptions): Promise<void> {
  const { principal } = accessOf(response);
  const audited = { target: 'dicom-node', destination: aeTitle, deidentified: options.deidentify };
  noteAudited(response, { detail: audited });
  let peer;
  try {
    peer = await runtime.routing.sendablePeer(principal, aeTitle);
  } catch (error) {
    if (!(error instanceof RoutingRefusal)) throw error;
    throw new HttpProblem(error.httpStatus, error.httpStatus === 404 ? 'problem.notFound' : 'problem.badRequest', error.reason);
  }
  let burnedInAnnotationRisk = 0;
  async function* part10Files() {
    for await (const instance of exporter.instances(study, options)) {
      if (instance.burnedInAnnotationRisk) burnedInAnnotationRisk++;
      yield instance.bytes;
    }
  }
  let summary;
  try {
    summary = await storeInstances({ aeTitle: peer.aeTitle, host: peer.host, port: peer.port, tlsRequired: peer.tlsRequired }, runtime.config.dicom.aeTitle, part10Files());
  } catch (error) {
    if (error instanceof PeerNotCallableError) throw new HttpProblem(501, 'problem.notImplemented', error.message);
    throw error;
  }
  const failed = summary.results.filter((result) => result.reason !== undefined).map(({ sopInstanceUid, status, reason }) => ({ sopInstanceUid, status, reason }));
  noteAudited(response, { detail: { ...audited, sent: summary.sent, failed: summary.failed, burnedInAnnotationRisk, ...(summary.associationFailure ? { reason: summary.associationFailure } : {}) } });
  if (summary.associationFailure) throw new HttpProblem(502, 'problem.badGateway', summary.associationFailure, { destination: aeTitle });
  const result = { destination: aeTitle, sent: summary.sent, failed, burnedInAnnotationRisk };
  if (summary.sent === 0 && summary.failed > 0) throw new HttpProblem(502, 'problem.badGateway', `${aeTitle} stored none of the ${summary.failed} instances`, result);
  if (failed.length > 0) runtime.log.warn({ destination: aeTitle, study: study.studyInstanceUid, sent: summary.sent, failed }, 'export to a DICOM node: some instances not stored');
  response.status(200).json(result);
}
