import { randomBytes } from 'node:crypto';
import express, { Router } from 'express';
import yazl from 'yazl';
import { z } from 'zod';
import { StudyExport } from '../../../archive/privacy/study-export.ts';
import { RetrieveService } from '../../../archive/retrieve/retrieve-service.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf, noteAudited } from '../access.ts';
import { HttpProblem } from '../problem.ts';

const exportBody = z.object({
  deidentify: z.boolean().default(true),
  retainLongitudinalDates: z.boolean().default(false),
  retainPatientCharacteristics: z.boolean().default(false),
});

/**
 * POST /api/studies/{study}/export: the study as a zip of DICOM files, de-identified by default
 * (PS3.15 Basic Profile; the options as the body says). A POST, not a GET: it is an act the audit
 * trail records, and a cookie session must prove it meant it (CSRF token).
 */
export function exportRoutes(runtime: Runtime): Router {
  const router = Router();
  const exporter = new StudyExport(new RetrieveService(runtime.db.pool, runtime.store, runtime.renderer), () =>
    runtime.users.secret('deidentification-key', () => randomBytes(32)),
  );

  router.post('/studies/:study/export', express.json({ limit: '4kb' }), async (request, response) => {
    const parsed = exportBody.safeParse(request.body ?? {});
    if (!parsed.success) throw new HttpProblem(400, 'problem.badRequest', parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
    const study = accessOf(response).study!;
    const zip = new yazl.ZipFile();
    response.status(200).type('application/zip').attachment(`${parsed.data.deidentify ? 'deidentified-' : ''}${study.studyInstanceUid}.zip`);
    zip.outputStream.pipe(response);
    const flagged: string[] = [];
    let instances = 0;
    try {
      for await (const instance of exporter.instances(study, parsed.data)) {
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
      noteAudited(response, { detail: { deidentified: parsed.data.deidentify, failed: true } });
      response.destroy();
      return;
    }
    noteAudited(response, { detail: { deidentified: parsed.data.deidentify, ...parsed.data, instances, burnedInAnnotationRisk: flagged.length } });
    zip.end();
  });
  return router;
}
