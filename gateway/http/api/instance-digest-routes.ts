import express, { Router } from 'express';
import { z } from 'zod';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf } from '../access.ts';
import { isUid } from '../dicomweb/urls.ts';
import { HttpProblem } from '../problem.ts';

const requestSchema = z.strictObject({ sopInstanceUids: z.array(z.string().refine(isUid, 'not a SOP Instance UID')).min(1).max(1000) });

/**
 * POST /api/instance-digests: the SHA-256 of each stored object the caller's institutions sent for
 * these instances. A county edge (docs/edge.md) asks after STOW-RS, and deletes its local copy only
 * when its own SHA-256 is among them; STOW-RS's answer carries no digest. Scoped like storing: the
 * caller learns nothing about what other institutions hold.
 */
export function instanceDigestRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  router.post('/instance-digests', express.json({ limit: '256kb' }), async (request, response) => {
    const parsed = requestSchema.safeParse(request.body);
    if (!parsed.success) throw new HttpProblem(400, 'problem.badRequest', parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
    const { visibility } = accessOf(response);
    response.json({ instances: await runtime.jobs.receipts.objectDigests(parsed.data.sopInstanceUids, visibility.institutionIds) });
  });
  return router;
}
