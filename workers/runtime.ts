import { AuthService } from '../archive/access/auth-service.ts';
import { AuditLog } from '../archive/audit/audit-log.ts';
import type { Config } from '../archive/config.ts';
import { AuditRepository } from '../archive/db/audit-repository.ts';
import { AccessGrantsRepository } from '../archive/db/access-grants-repository.ts';
import { ConsultationsRepository } from '../archive/db/consultations-repository.ts';
import { QueryRepository } from '../archive/db/query-repository.ts';
import { ConsultationRelay } from '../archive/consultation/consultation-relay.ts';
import { ConsultationService } from '../archive/consultation/consultation-service.ts';
import { InstitutionsRepository } from '../archive/db/institutions-repository.ts';
import { UsersRepository } from '../archive/db/users-repository.ts';
import { UpsSubscriptionsRepository } from '../archive/db/ups-subscriptions-repository.ts';
import { WorkitemsRepository } from '../archive/db/workitems-repository.ts';
import { UpsEventChannel } from '../archive/reading/ups-event-channel.ts';
import { UpsSubscriptionService } from '../archive/reading/ups-subscriptions.ts';
import { WorklistService } from '../archive/reading/worklist-service.ts';
import { ReadingRepository } from '../archive/db/reading-repository.ts';
import { ReadingService } from '../archive/reading/reading-service.ts';
import { openDatabase, type Database } from '../archive/db/database.ts';
import { IndexRepository, ThumbnailsRepository } from '../archive/db/index-repository.ts';
import { ReceiptsRepository } from '../archive/db/receipts-repository.ts';
import { ReportsRepository } from '../archive/db/reports-repository.ts';
import { ShareLinksRepository } from '../archive/db/share-links-repository.ts';
import { ShareLinksService } from '../archive/reading/share-links.ts';
import { IngestService, resolveUnconfirmedReceipts } from '../archive/ingest.ts';
import { ReportService } from '../archive/reading/report-service.ts';
import { markReportStage, stageAfterSignature, studiesOfWorkitem } from '../archive/reading/report-workitem.ts';
import { writeReportSrJob } from './jobs/write-report-sr.ts';
import { enqueueReportDocument } from './jobs/report-documents.ts';
import { checkSrTemplateJob } from './jobs/check-sr-template.ts';
import { CriticalFindingsRepository } from '../archive/db/critical-findings-repository.ts';
import { CriticalFindingsService } from '../archive/reading/critical-findings.ts';
import { deliverCriticalWebhookJob, enqueueCriticalWebhook } from './jobs/deliver-critical-webhook.ts';
import { CriticalEscalation } from './critical-escalation.ts';
import { writeReportPdfJob } from './jobs/write-report-pdf.ts';
import { FhirRepository } from '../archive/db/fhir-repository.ts';
import { FhirService } from '../archive/fhir/fhir-service.ts';
import { RetrieveService } from '../archive/retrieve/retrieve-service.ts';
import type { Logger } from '../archive/log.ts';
import type { ObjectStore } from '../archive/storage/object-store.ts';
import { openObjectStore } from '../archive/storage/open.ts';
import { Renderer } from '../archive/render/renderer.ts';
import { BullMqQueue } from './bullmq-queue.ts';
import { ForegroundActivity } from '../archive/foreground-activity.ts';
import { InProcessQueue } from './in-process-queue.ts';
import type { JobContext } from './jobs/context.ts';
import { enqueueIndexInstance, indexInstanceJob } from './jobs/index-instance.ts';
import { renderInstanceThumbnailJob } from './jobs/render-instance-thumbnail.ts';
import { renderSeriesThumbnailJob } from './jobs/render-series-thumbnail.ts';
import type { JobDefinition, JobQueue } from './queue.ts';
import { Reconciler } from './reconciler.ts';
import { PriorFetchRepository } from '../archive/db/prior-fetch-repository.ts';
import { PriorFetchService } from '../archive/prior-fetch/prior-fetch-service.ts';
import { findStudiesOfPatient, moveStudy } from '../gateway/dimse/query-retrieve-scu.ts';
import { enqueueFetchPriors, enqueuePriorFetchOnArrival, fetchPriorsJob } from './jobs/fetch-priors.ts';
import { StorageCommitmentRepository } from '../archive/db/storage-commitment-repository.ts';
import { StorageCommitmentService } from '../archive/storage-commitment/storage-commitment-service.ts';
import { deliverReportAs } from '../gateway/dimse/commitment-scp.ts';
import { isStorageSopClass } from '../gateway/dimse/negotiation.ts';
import { deliverCommitmentReportJob, enqueueCommitmentReport } from './jobs/deliver-commitment-report.ts';
import { QualityRepository } from '../archive/db/quality-repository.ts';
import { enqueueRejectionKos, writeRejectionKosJob } from './jobs/write-rejection-kos.ts';
import { QualityService } from '../archive/quality/quality-service.ts';
import { QcWorklistRepository } from '../archive/db/qc-worklist-repository.ts';
import { QcWorklistService } from '../archive/quality/qc-worklist-service.ts';
import { imageHistogram } from '../archive/render/histogram.ts';
import { checkStudyQualityJob } from './jobs/check-study-quality.ts';
import { StatisticsRepository } from '../archive/db/statistics-repository.ts';
import { DEFAULT_STATISTICS_CONFIG } from '../archive/statistics/statistics-config.ts';
import { StatisticsService } from '../archive/statistics/statistics-service.ts';
import { RecognitionRepository } from '../archive/db/recognition-repository.ts';
import { RecognitionService } from '../archive/recognition/recognition-service.ts';
import { PersonRepository } from '../archive/db/person-repository.ts';
import { IdentifierProtection } from '../archive/person/identifier-protection.ts';
import { loadPersonKeys } from '../archive/person/person-keys.ts';
import { PersonService } from '../archive/person/person-service.ts';
import { RecognitionDecisionsRepository } from '../archive/db/recognition-decisions-repository.ts';
import { RecognitionDecisionService } from '../archive/recognition/recognition-decision-service.ts';
import { linkPersonJob } from './jobs/link-person.ts';
import { RoutingRepository } from '../archive/db/routing-repository.ts';
import { RoutingService } from '../archive/routing/routing-service.ts';
import { sendBatchAs } from '../archive/routing/send-batch.ts';
import { enqueueForward, enqueueForwardRetry, forwardInstancesJob } from './jobs/forward-instances.ts';
import { enqueueRelinkInstitution, relinkInstitutionJob } from './jobs/relink-institution.ts';
import { Metrics, type ProcessRole } from '../archive/metrics/metrics.ts';
import { timedObjectStore, timePoolQueries } from '../archive/metrics/instrument.ts';
import { ProcessHeartbeat } from '../archive/metrics/heartbeat.ts';
import { ProcessHeartbeatsRepository } from '../archive/db/process-heartbeats-repository.ts';

export interface Runtime {
  config: Config;
  log: Logger;
  db: Database;
  store: ObjectStore;
  renderer: Renderer;
  queue: JobQueue;
  ingest: IngestService;
  /** Reports (初诊 + 审核): drafts, signatures, amendments; each signature writes its SR through `ingest`. */
  reports: ReportService;
  jobs: JobContext;
  institutions: InstitutionsRepository;
  users: UsersRepository;
  audit: AuditLog;
  auth: AuthService;
  /** Live study access grants (consultations, share links): the access policy asks them on image routes. */
  accessGrants: AccessGrantsRepository;
  consultations: ConsultationService;
  /** Cloud film (云胶片) and share links: patients' links behind a second factor, doctors' through grants. */
  shareLinks: ShareLinksService;
  /** Where this process's HTTP server listens, once startHttpServer has started it (none in a worker process). */
  listening: { httpUrl?: string };
  /** The UPS worklist (UPS-RS): every change it makes is published on `upsEvents`. */
  worklist: WorklistService;
  upsSubscriptions: UpsSubscriptionService;
  /** UPS event reports to subscribers' WebSockets, across gateway processes (PostgreSQL LISTEN/NOTIFY). */
  upsEvents: UpsEventChannel;
  /** Reading intake and assignment: rules, hospitals' requests, round-robin, returns, turnaround limits. */
  reading: ReadingService;
  /** FHIR R4 read access (ImagingStudy, DiagnosticReport) under the same scopes as QIDO-RS. */
  fhir: FhirService;
  /** Critical findings (危急值): notices to the sending hospital, read-back, escalation, the register. */
  criticalFindings: CriticalFindingsService;
  /** The person index: patient records of several institutions linked as one person (issue 16). */
  persons: PersonService;
  /** Image QC grading (质控): grades per series, the study's worst, rejection KOS (issue 16). */
  quality: QualityService;
  /** QC work lists (质控): technical checks at ingest, sampling rules, clinicians' flags, report QC grades (issue 16). */
  qcWorklists: QcWorklistService;
  /** The HR mark (互认标识): the regions' recognition configurations and accreditations, and each study's mark (issue 16). */
  recognition: RecognitionService;
  /** Recognition decisions (互认) on other institutions' studies and the prior views they are counted against (issue 16). */
  recognitionDecisions: RecognitionDecisionService;
  /** The region's statistics (甲片率, 互认率, turnaround…) from the rollups kept by migration 022's triggers (issue 16). */
  statistics: StatisticsService;
  /** Routing and sending on (issue 17): rules, manual sends, the forward queue per destination and its dead letters. */
  routing: RoutingService;
  /** Pulling a person's earlier studies from hospitals' PACS as a query/retrieve SCU (issue 17). */
  priorFetch: PriorFetchService;
  /** Storage Commitment Push Model SCP (issue 17): each request kept until its report is delivered. */
  storageCommitment: StorageCommitmentService;
  /** This process's Prometheus figures (GET /metrics), which its heartbeat also writes to PostgreSQL. */
  metrics: Metrics;
  /** Every process's heartbeat (migration 030), for the admin UI's status page. */
  heartbeats: ProcessHeartbeatsRepository;
  /** This process's own heartbeat, when it serves (a `role` was given). */
  heartbeat?: ProcessHeartbeat;
  /** Stops workers (finishing running jobs), then closes the queue and the database. */
  close(): Promise<void>;
}

/**
 * The composition root shared by every role: backends are chosen here, once, from configuration
 * (embedded PostgreSQL or DATABASE_URL, local folder or S3, in-process jobs or BullMQ on Redis).
 * `runWorkers` makes this process also process jobs and run the reconciler. `role`: a serving process
 * (npm start, a gateway, a worker, an edge) writes a heartbeat under it; command-line tools give none.
 */
export async function openRuntime(config: Config, log: Logger, options: { runWorkers: boolean; role?: ProcessRole }): Promise<Runtime> {
  const metrics = new Metrics(options.role ?? (options.runWorkers ? 'all' : 'gateway'));
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, log });
  timePoolQueries(db.pool, metrics.database, 'main');
  timePoolQueries(db.derivedPool, metrics.database, 'derived');
  let queue: JobQueue | undefined;
  let openedStore: ObjectStore | undefined;
  const renderer = new Renderer(config.renderThreads, (error) => log.error({ err: error, component: 'render' }, 'a render thread failed'));
  try {
    const store = timedObjectStore(await openObjectStore(config), metrics.objectStore);
    openedStore = store;
    const foreground = new ForegroundActivity();
    queue = config.redisUrl
      ? new BullMqQueue(config.redisUrl, log.child({ component: 'queue' }), { queueName: config.queueName })
      : new InProcessQueue(log.child({ component: 'queue' }), { foreground });
    const jobs: JobContext = {
      receipts: new ReceiptsRepository(db.pool),
      index: new IndexRepository(db.derivedPool),
      thumbnails: new ThumbnailsRepository(db.derivedPool),
      store,
      renderer,
      queue,
      log: log.child({ component: 'jobs' }),
    };
    const jobQueue = queue;
    metrics.refreshWith(async () => {
      const byType = await jobQueue.countsByType();
      metrics.jobs.depth.reset();
      for (const [jobType, counts] of Object.entries(byType)) {
        for (const [state, count] of Object.entries(counts)) metrics.jobs.depth.set({ job_type: jobType, state }, count);
      }
    });
    const institutions = new InstitutionsRepository(db.pool);
    const users = new UsersRepository(db.pool);
    const audit = new AuditLog(new AuditRepository(db.pool), log.child({ component: 'audit' }));
    const auth = new AuthService(users, audit, {
      sessionTokenMinutes: config.access.sessionTokenMinutes,
      sessionMaxHours: config.access.sessionMaxHours,
      lockAfterFailures: config.access.lockAfterFailures,
      lockMinutes: config.access.lockMinutes,
    });
    const ingest = new IngestService({
      pool: db.pool,
      store,
      log: log.child({ component: 'ingest' }),
      afterCommit: (receipt) => enqueueIndexInstance(jobQueue, receipt.id, receipt.studyInstanceUid),
      foreground,
      metrics: metrics.ingest,
    });
    const accessGrants = new AccessGrantsRepository(db.pool);
    const reports = new ReportService({
      reports: new ReportsRepository(db.pool),
      log: log.child({ component: 'reports' }),
      signedListeners: [
        ({ report, version }) => enqueueReportDocument(jobQueue, 'sr', report.id, version.version),
        (event) => markReportStage(worklist, event.report, stageAfterSignature(event.version)),
        // 云胶片: the patient's link exists from the moment the final report is signed.
        async ({ report, version, signer }) => {
          if (version.status === 'final') await shareLinks.ensurePatientLink(report.studyInstanceUid, signer);
        },
        ({ report, version }) => enqueueReportDocument(jobQueue, 'pdf', report.id, version.version),
        (event) => criticalFindings.onReportSigned(event),
      ],
      draftBegunListeners: [(report) => markReportStage(worklist, report, 'drafting')],
      workitemStudies: (workitemUid, visibility) => studiesOfWorkitem(worklist, workitemUid, visibility),
      criticalCategoryActive: (category) => criticalFindings.isActiveCategory(category),
      grantedStudies: (userId) => accessGrants.liveGrantsOf(userId),
    });
    const consultationRelay = new ConsultationRelay(db.pool, log.child({ component: 'consultation-relay' }));
    const consultations = new ConsultationService({ consultations: new ConsultationsRepository(db.pool), users, studies: new QueryRepository(db.pool), relay: consultationRelay });
    const listening: Runtime['listening'] = {};
    // Also where the report PDF finds the key images readers marked, as the patient's film shows them.
    const shareLinksRepository = new ShareLinksRepository(db.pool);
    const shareLinks = new ShareLinksService({
      links: shareLinksRepository,
      users,
      grants: accessGrants,
      audit,
      settings: config.shareLinks,
      reports: { findByStudy: (studyInstanceUid) => reports.currentReportOfStudy(studyInstanceUid) },
      // Without YINGYUN_PUBLIC_URL: the address the HTTP server actually listens at (a free port is
      // known only after start), else, in a worker process, the configured one.
      publicUrl: () => config.access.publicUrl ?? listening.httpUrl ?? `${config.http.tls ? 'https' : 'http'}://${config.http.host}:${config.http.port}`,
    });
    const workitems = new WorkitemsRepository(db.pool);
    const subscriptions = new UpsSubscriptionsRepository(db.pool);
    const upsEvents = new UpsEventChannel(subscriptions, workitems, log.child({ component: 'ups-events' }));
    const worklist = new WorklistService(workitems, upsEvents, config.dicom.aeTitle);
    const upsSubscriptions = new UpsSubscriptionService(subscriptions, workitems, upsEvents);
    const reading = new ReadingService({ repository: new ReadingRepository(db.pool), worklist, institutions, audit, log: log.child({ component: 'reading' }) });
    const criticalFindings = new CriticalFindingsService({
      repository: new CriticalFindingsRepository(db.pool),
      studies: new QueryRepository(db.pool),
      audit,
      log: log.child({ component: 'critical-findings' }),
      enqueueWebhook: (stepId) => enqueueCriticalWebhook(jobQueue, stepId),
      webhookAllowLoopback: config.webhookAllowLoopback,
    });
    const personRepository = new PersonRepository(db.pool);
    const persons = new PersonService({
      repository: personRepository,
      protection: new IdentifierProtection(await loadPersonKeys(config)),
      audit,
      log: log.child({ component: 'persons' }),
      onRulesChanged: (institutionId) => enqueueRelinkInstitution(jobQueue, institutionId),
    });
    const qualityRepository = new QualityRepository(db.pool);
    const quality = new QualityService({ repository: qualityRepository, audit, onReject: (grade) => enqueueRejectionKos(jobQueue, grade.id) });
    const qcWorklistRepository = new QcWorklistRepository(db.pool);
    const qcWorklists = new QcWorklistService({ repository: qcWorklistRepository, grades: quality, audit, histogramOf: imageHistogram(renderer, store) });
    const recognition = new RecognitionService({ repository: new RecognitionRepository(db.pool), institutions, quality, audit });
    const fhir = new FhirService({ studies: new QueryRepository(db.pool), fhir: new FhirRepository(db.pool), reports, recognition });
    const recognitionDecisions = new RecognitionDecisionService({ repository: new RecognitionDecisionsRepository(db.pool), recognition });
    const routing = new RoutingService({
      repository: new RoutingRepository(db.pool),
      institutions,
      store,
      audit,
      log: log.child({ component: 'routing' }),
      policy: config.forwarding,
      batchSize: config.forwarding.batchSize,
      sendBatch: sendBatchAs(config.dicom.aeTitle),
      wake: (destination) => enqueueForward(jobQueue, destination),
      wakeLater: (destination, delayMs) => enqueueForwardRetry(jobQueue, destination, delayMs),
    });
    const priorFetchRepository = new PriorFetchRepository(db.pool);
    const priorFetch = new PriorFetchService({
      repository: priorFetchRepository,
      remote: { findStudiesOfPatient, moveStudy },
      aeTitle: config.dicom.aeTitle,
      enqueue: (fetchId) => enqueueFetchPriors(jobQueue, fetchId),
      enqueueArrival: (studyInstanceUid) => enqueuePriorFetchOnArrival(jobQueue, studyInstanceUid),
      personOfStudy: (studyInstanceUid) => personRepository.personOfStudy(studyInstanceUid),
      findPeer: (peerId) => institutions.findPeer(peerId),
      audit,
      log: log.child({ component: 'prior-fetch' }),
    });
    const storageCommitment = new StorageCommitmentService({
      repository: new StorageCommitmentRepository(db.pool),
      receipts: jobs.receipts,
      store,
      institutions,
      deliverOnNewAssociation: deliverReportAs(config.dicom.aeTitle),
      wakeLater: (requestId, delayMs) => enqueueCommitmentReport(jobQueue, requestId, delayMs),
      isStorageSopClass,
      // A report for a peer that is down backs off as sending on to that peer does.
      policy: config.forwarding,
      log: log.child({ component: 'storage-commitment' }),
    });
    /** What the index job tells of each study that arrives or grows: reading intake, then the prior-fetch rule. */
    const intake = {
      async studyArrived(studyInstanceUid: string) {
        await reading.studyArrived(studyInstanceUid);
        await priorFetch.studyIndexed(studyInstanceUid);
      },
    };
    let reconciler: Reconciler | undefined;
    let criticalEscalation: CriticalEscalation | undefined;
    let closing: Promise<void> | undefined;
    if (options.runWorkers) {
      queue.startWorkers(timedJobs(metrics, [indexInstanceJob(jobs, intake, routing), forwardInstancesJob(routing), renderInstanceThumbnailJob(jobs), renderSeriesThumbnailJob(jobs), writeReportSrJob({ reports, ingest, log: log.child({ component: 'report-sr' }) }), checkSrTemplateJob({ receipts: jobs.receipts, reports }),
        writeReportPdfJob({
          reports,
          retrieve: new RetrieveService(db.pool, store, renderer),
          filmLink: async (studyInstanceUid, printed) => (await shareLinks.patientLinkFor(studyInstanceUid, { userId: null, username: 'report-pdf' }, undefined, printed))?.url ?? null,
          markedImages: (studyInstanceUid) => shareLinksRepository.keyImages(studyInstanceUid),
          marks: (studyInstanceUids) => recognition.marks(studyInstanceUids),
          ingest,
          store,
          log: log.child({ component: 'report-pdf' }),
        }),
        deliverCriticalWebhookJob(criticalFindings), fetchPriorsJob(priorFetch), deliverCommitmentReportJob(storageCommitment), linkPersonJob(persons), relinkInstitutionJob(persons), checkStudyQualityJob(qcWorklists),
        writeRejectionKosJob({ quality: qualityRepository, ingest, log: log.child({ component: 'rejection-kos' }) })]), config.workerConcurrency);
      reconciler = new Reconciler({
        receipts: jobs.receipts,
        thumbnails: jobs.thumbnails,
        reports,
        persons: personRepository,
        quality: qualityRepository,
        qcWorklists: qcWorklistRepository,
        routing,
        priorFetches: priorFetchRepository,
        storageCommitment,
        queue,
        log: log.child({ component: 'reconciler' }),
        graceSeconds: config.reconcileAfterSeconds,
        resolveUnconfirmedReceipts: () => resolveUnconfirmedReceipts({ receipts: jobs.receipts, store, log: log.child({ component: 'reconciler' }) }),
        reportBacklog: (count) => metrics.reconcilerBacklog.set(count),
      });
      reconciler.start();
      criticalEscalation = new CriticalEscalation(criticalFindings, log.child({ component: 'critical-escalation' }));
      criticalEscalation.start();
    }
    const heartbeats = new ProcessHeartbeatsRepository(db.derivedPool);
    const heartbeat = options.role ? new ProcessHeartbeat({ repository: heartbeats, metrics, runsReconciler: options.runWorkers, log: log.child({ component: 'heartbeat' }) }) : undefined;
    heartbeat?.start();
    return {
      config,
      log,
      db,
      store,
      renderer,
      queue,
      ingest,
      reports,
      jobs,
      institutions,
      users,
      audit,
      auth,
      accessGrants,
      shareLinks,
      listening,
      consultations,
      worklist,
      upsSubscriptions,
      upsEvents,
      reading,
      fhir,
      priorFetch,
      storageCommitment,
      criticalFindings,
      persons,
      quality,
      qcWorklists,
      recognition,
      recognitionDecisions,
      routing,
      metrics,
      heartbeats,
      ...(heartbeat ? { heartbeat } : {}),
      statistics: new StatisticsService({ repository: new StatisticsRepository(db.pool), institutions, config: config.statistics ?? DEFAULT_STATISTICS_CONFIG }),
      close() {
        closing ??= (async () => {
          await reconciler?.stop();
          await criticalEscalation?.stop();
          await consultationRelay.close();
          await upsEvents.close();
          await audit.drain();
          await ingest.committer.drain();
          await jobQueue.close();
          // After the jobs: the last heartbeat says stopped, with the final figures.
          await heartbeat?.stop();
          await renderer.close();
          await store.close();
          await db.close();
        })();
        return closing;
      },
    };
  } catch (error) {
    await queue?.close().catch(() => undefined);
    await renderer.close();
    await openedStore?.close().catch(() => undefined);
    await db.close();
    throw error;
  }
}

/** Each job's handler timed into the job latency histogram under its type. */
function timedJobs(metrics: Metrics, definitions: JobDefinition<any>[]): JobDefinition<any>[] {
  return definitions.map((definition) => ({ ...definition, handle: (payload) => metrics.jobs.time(definition.name, () => definition.handle(payload)) }));
}
