import { z } from 'zod';
import { urgencyRuleSchema, type UrgencyRule } from './urgency.ts';

/** The county edge's settings (npm run edge; docs/edge.md), read from YINGYUN_EDGE_* by archive/config.ts. */
export interface EdgeConfig {
  regionUrl: string;
  regionToken: string;
  /** The upload's cap in bytes per second; absent: as fast as the link goes. */
  bandwidthBytesPerSecond?: number;
  /** How long a verified object's local copy is kept before it is deleted. */
  retentionSeconds: number;
  urgencyRules: UrgencyRule[];
  /** A request silent this long is given up (a link down without a reset). */
  idleTimeoutSeconds: number;
  /** The longest wait between tries once the region is unreachable (the wait doubles from 1 s up to it). */
  retryMaxSeconds: number;
}

export const urgencyRulesSchema = z.array(urgencyRuleSchema).max(100);
export type { UrgencyRule };
