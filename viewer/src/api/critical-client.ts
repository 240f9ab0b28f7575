import type { Acknowledgement, CriticalNotice } from '../../../archive/reading/critical-finding-wire.ts';
import type { Connection } from './http.ts';

/** The register's period: dates (YYYY-MM-DD), both inclusive, either may be left open. */
export interface RegisterPeriod {
  from: string;
  to: string;
}

/** /api/critical-findings: open notices, acknowledgement by read-back, the register (危急值登记本). */
export class CriticalClient {
  constructor(
    private readonly connection: Connection,
    readonly apiRoot = '/api',
  ) {}

  openNotices(): Promise<CriticalNotice[]> {
    return this.connection.json(`${this.apiRoot}/critical-findings?open=true`);
  }

  acknowledge(noticeId: string, acknowledgement: Acknowledgement): Promise<CriticalNotice> {
    return this.connection.json(`${this.apiRoot}/critical-findings/${encodeURIComponent(noticeId)}/acknowledge`, { method: 'POST', json: acknowledgement });
  }

  register(period: RegisterPeriod): Promise<CriticalNotice[]> {
    return this.connection.json(`${this.apiRoot}/critical-findings/register${query(period)}`);
  }

  /** The CSV's address, for a plain download link (the session cookie goes with it). */
  registerCsvUrl(period: RegisterPeriod): string {
    return `${this.apiRoot}/critical-findings/register.csv${query(period)}`;
  }
}

function query(period: RegisterPeriod): string {
  const params = new URLSearchParams();
  if (period.from) params.set('from', period.from);
  if (period.to) params.set('to', period.to);
  const text = params.toString();
  return text ? `?${text}` : '';
}
