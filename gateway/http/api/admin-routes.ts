import express, { Router, type Request, type Response } from 'express';
import { Administration, AdministrationError } from '../../../archive/access/administration.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { actorOf } from '../access.ts';
import { HttpProblem } from '../problem.ts';

/**
 * /api/admin: regions, institutions, DICOM peers, users and API tokens. Who may call which is the
 * access table's (gateway/http/access.ts); what an institution administrator may change within
 * their institution is Administration's. Handlers only translate.
 */
export function adminRoutes(runtime: Runtime, administration: Administration): Router {
  const router = Router({ caseSensitive: true });
  router.use(express.json({ limit: '64kb' }));
  const handle = (work: (request: Request, response: Response) => Promise<unknown>, status = 200) => async (request: Request, response: Response) => {
    try {
      const result = await work(request, response);
      if (result === undefined) response.status(204).end();
      else response.status(status).json(result);
    } catch (error) {
      if (!(error instanceof AdministrationError)) throw error;
      const problem = { forbidden: [403, 'problem.forbidden'], invalid: [400, 'problem.badRequest'], 'not-found': [404, 'problem.notFound'], conflict: [409, 'problem.conflict'] } as const;
      const [code, key] = problem[error.kind];
      throw new HttpProblem(code, key, error.message);
    }
  };
  const id = (request: Request) => String(request.params.id);

  router.get('/admin/regions', handle(() => administration.listRegions()));
  router.post('/admin/regions', handle((request, response) => administration.createRegion(actorOf(request, response), request.body), 201));
  router.get('/admin/institutions', handle(() => administration.listInstitutions()));
  router.post('/admin/institutions', handle((request, response) => administration.createInstitution(actorOf(request, response), request.body), 201));
  router.get('/admin/peers', handle((request, response) => administration.listPeers(actorOf(request, response))));
  router.post('/admin/peers', handle((request, response) => administration.createPeer(actorOf(request, response), request.body), 201));
  router.patch('/admin/peers/:id', handle((request, response) => administration.updatePeer(actorOf(request, response), id(request), request.body)));
  router.delete('/admin/peers/:id', handle((request, response) => administration.deletePeer(actorOf(request, response), id(request))));
  router.get('/admin/users', handle((request, response) => administration.listUsers(actorOf(request, response))));
  router.post('/admin/users', handle((request, response) => administration.createUser(actorOf(request, response), request.body), 201));
  router.patch('/admin/users/:id', handle((request, response) => administration.updateUser(actorOf(request, response), id(request), request.body)));
  router.get('/admin/tokens', handle((request, response) => administration.listTokens(actorOf(request, response))));
  router.post('/admin/tokens', handle((request, response) => administration.createToken(actorOf(request, response), request.body), 201));
  router.delete('/admin/tokens/:id', handle((request, response) => administration.revokeToken(actorOf(request, response), id(request))));
  return router;
}
