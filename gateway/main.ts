import { loadConfigOrExit } from '../archive/config.ts';
import { failureReason } from '../archive/failure-reason.ts';
import { createLogger } from '../archive/log.ts';
import { startYingyun, type Role } from './start.ts';

const role: Role = process.argv.includes('--role=gateway') ? 'gateway' : process.argv.includes('--role=edge') ? 'edge' : 'all';

const config = loadConfigOrExit();
const log = createLogger(config.logLevel);

try {
  const running = await startYingyun(config, log, role);
  const { runtime } = running;
  // Listening for Ctrl-C before saying ready: a signal that came between the two (a person, or a
  // script, reacting to "ready") would end the process without its orderly stop.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: finishing in-flight associations, requests and jobs');
    running.stop().then(
      () => {
        log.info('stopped cleanly');
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  log.info(
    {
      role,
      http: `http://${config.http.host}:${running.httpPort}/`,
      dicom: `${config.dicom.aeTitle}@${config.dicom.host}:${running.dicomPort}`,
      database: runtime.db.description,
      objects: runtime.store.description,
      jobs: runtime.queue.description,
    },
    'Yingyun is ready',
  );
  // A plain line for people, besides the JSON log for machines.
  console.log(
    `Yingyun ready: web http://${config.http.host}:${running.httpPort}/  DICOM ${config.dicom.aeTitle}@${config.dicom.host}:${running.dicomPort}  (${runtime.db.description}; ${runtime.store.description}; ${runtime.queue.description})`,
  );
  if (running.bootstrapAdmin) {
    const { username, password, generated } = running.bootstrapAdmin;
    console.log(
      generated
        ? `First start: administrator "${username}" created with the one-time password ${password} — sign in at the web address above and change it (npm run admin -- user set-password ${username}). 首次启动：已创建管理员 "${username}"，一次性密码 ${password}，请登录后修改。`
        : `First start: administrator "${username}" created with the password in YINGYUN_ADMIN_PASSWORD. 首次启动：已用 YINGYUN_ADMIN_PASSWORD 创建管理员 "${username}"。`,
    );
  }
} catch (error) {
  const reason = failureReason(error);
  log.fatal({ err: error, reason }, 'Yingyun could not start');
  // The JSON line is for machines; the person at the console gets the reason as a sentence.
  console.error(`Yingyun could not start: ${reason}`);
  process.exit(1);
}
