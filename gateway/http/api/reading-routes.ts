import express, { Router, type Request, type Response } from 'express';
import { ReadingError } from '../../../archive/reading/reading-service.ts';
import { WorklistRefusal } from '../../../archive/reading/worklist-service.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf, noteAudited } from '../access.ts';
import { HttpProblem } from '../problem.ts';

const PROBLEMS = { invalid: [400, 'problem.badRequest'], forbidden: [403, 'problem.forbidden'], 'not-found': [404, 'problem.notFound'], conflict: [409, 'problem.conflict'] } as const;
const REFUSALS = { 400: 'problem.badRequest', 403: 'problem.forbidden', 404: 'problem.notFound', 409: 'problem.conflict' } as const;

/**
 * The reading workflow's REST side (the tasks themselves are UPS-RS workitems): reading rules
 * under /api/admin/reading-rules, a hospital's requests, assignment, returns and notes, readers'
 * availability and turnaround limits. Thin: who may call is the access table's; the rest is
 * ReadingService's.
 */
export function readingRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const reading = runtime.reading;
  router.use(['/admin/reading-rules', '/admin/turnaround-limits', '/reading'], express.json({ limit: '64kb' }));
  const handle = (work: (request: Request, response: Response) => Promise<unknown>, status = 200) => async (request: Request, response: Response) => {
    try {
      const result = await work(request, response);
      if (result === undefined) response.status(204).end();
      else response.status(status).json(result);
    } catch (error) {
      if (error instanceof ReadingError) {
        const [code, key] = PROBLEMS[error.kind];
        throw new HttpProblem(code, key, error.message);
      }
      if (error instanceof WorklistRefusal) throw new HttpProblem(error.httpStatus, REFUSALS[error.httpStatus], error.reason, error.dicomStatus ? { dicomStatus: error.dicomStatus } : {});
      throw error;
    }
  };
  const who = (response: Response) => accessOf(response).principal;
  const seen = (response: Response) => accessOf(response).visibility;
  const workitem = (request: Request) => String(request.params.workitem);
  /** The task a request changed or read, for its audit event. */
  const audited = (response: Response, task: { workitemUid: string; studyInstanceUid: string | null; patientId: string; patientName: string }) =>
    noteAudited(response, { studyUids: task.studyInstanceUid ? [task.studyInstanceUid] : [], patientId: task.patientId || undefined, patientName: task.patientName || undefined, detail: { workitem: task.workitemUid } });

  router.get('/admin/reading-rules', handle((_request, response) => reading.listRules(who(response))));
  router.post('/admin/reading-rules', handle((request, response) => reading.createRule(who(response), request.body, request.ip), 201));
  router.patch('/admin/reading-rules/:id', handle((request, response) => reading.updateRule(who(response), String(request.params.id), request.body, request.ip)));
  router.delete('/admin/reading-rules/:id', handle((request, response) => reading.deleteRule(who(response), String(request.params.id), request.ip)));
  router.put('/admin/turnaround-limits', handle((request, response) => reading.setTurnaroundLimit(who(response), request.body, request.ip)));

  /** What the worklist screen needs besides the workitems: the user's centre, its readers, the limits. */
  router.get(
    '/reading/context',
    handle(async (_request, response) => {
      const principal = who(response);
      const [centre, readers, turnaroundLimits] = await Promise.all([reading.centreOf(principal), reading.readers(principal), reading.turnaroundLimits()]);
      return { centre, readers, turnaroundLimits };
    }),
  );
  router.put('/reading/availability', handle((request, response) => reading.setAvailability(who(response), request.body)));

  router.get('/reading/centres', handle((_request, response) => reading.centresFor(who(response))));
  router.post(
    '/reading/requests',
    handle(async (request, response) => {
      const result = await reading.requestReading(seen(response), request.body);
      noteAudited(response, { studyUids: [String((request.body as { studyInstanceUid?: unknown }).studyInstanceUid)], detail: { workitem: result.workitemUid } });
      return result;
    }, 201),
  );
  router.get(
    '/reading/requests',
    handle(async (_request, response) => {
      const requests = await reading.requestsOf(who(response), seen(response));
      noteAudited(response, { studyUids: [...new Set(requests.flatMap((task) => (task.studyInstanceUid ? [task.studyInstanceUid] : [])))] });
      return requests;
    }),
  );

  /** Assignment and return are the same kind of request: the service changes the task, which is audited and answered. */
  const changeTask = (change: 'assign' | 'returnToHospital') =>
    handle(async (request, response) => {
      const task = await reading[change](who(response), seen(response), workitem(request), request.body);
      audited(response, task);
      return task;
    });
  router.post('/reading/tasks/:workitem/assign', changeTask('assign'));
  router.post('/reading/tasks/:workitem/return', changeTask('returnToHospital'));
  router.get(
    '/reading/tasks/:workitem/notes',
    handle(async (request, response) => {
      const { notes } = await reading.notes(seen(response), workitem(request));
      noteAudited(response, { detail: { workitem: workitem(request) } });
      return notes;
    }),
  );
  router.post(
    '/reading/tasks/:workitem/notes',
    handle(async (request, response) => {
      const note = await reading.addNote(who(response), seen(response), workitem(request), request.body);
      noteAudited(response, { detail: { workitem: note.workitemUid } });
      return note;
    }, 201),
  );
  return router;
}
