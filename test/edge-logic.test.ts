import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { retryDelayMs } from '../archive/edge/retry-schedule.ts';
import { ThroughputMeter } from '../archive/edge/throughput.ts';
import { pieceBytes, throttled, TokenBucket } from '../archive/edge/token-bucket.ts';
import { urgencyOf, urgencyRank } from '../archive/edge/urgency.ts';
import { urgencyRulesSchema } from '../archive/edge/edge-config.ts';
import { loadConfig, ConfigError } from '../archive/config.ts';

const cs = (value: string) => ({ vr: 'CS', Value: [value] });

describe('edge urgency', () => {
  it('reads Requested Procedure Priority at the top level or in a Request Attributes item', () => {
    assert.equal(urgencyOf({ '00401003': cs('STAT') }, []), urgencyRank('STAT'));
    assert.equal(urgencyOf({ '00400275': { vr: 'SQ', Value: [{ '00401003': cs('high') }] } }, []), urgencyRank('HIGH'));
    assert.equal(urgencyOf({}, []), urgencyRank('ROUTINE'));
    assert.equal(urgencyOf({ '00401003': cs('WHENEVER') }, []), urgencyRank('ROUTINE'));
  });

  it('takes the most urgent of the dataset and the matching rules', () => {
    const rules = urgencyRulesSchema.parse([{ modality: 'ct', bodyPart: 'head', priority: 'STAT' }, { modality: 'DX', priority: 'LOW' }]);
    const headCt = { '00080060': cs('CT'), '00180015': cs('HEAD') };
    assert.equal(urgencyOf(headCt, rules), urgencyRank('STAT'));
    assert.equal(urgencyOf({ '00080060': cs('CT'), '00180015': cs('CHEST') }, rules), urgencyRank('ROUTINE'));
    // The most urgent of all wins: a LOW rule never lowers a study below the ROUTINE default or its own STAT.
    assert.equal(urgencyOf({ '00080060': cs('DX') }, rules), urgencyRank('ROUTINE'));
    assert.equal(urgencyOf({ '00080060': cs('DX'), '00401003': cs('STAT') }, rules), urgencyRank('STAT'));
    assert.ok(urgencyRank('STAT') < urgencyRank('HIGH') && urgencyRank('HIGH') < urgencyRank('ROUTINE') && urgencyRank('ROUTINE') < urgencyRank('LOW'));
  });

  it('refuses a rule that matches nothing in particular', () => {
    assert.equal(urgencyRulesSchema.safeParse([{ priority: 'STAT' }]).success, false);
    assert.equal(urgencyRulesSchema.safeParse([{ modality: 'CT', priority: 'SOON' }]).success, false);
  });
});

describe('edge token bucket', () => {
  it('lets the burst through at once, then makes the sender wait for the debt at the rate', () => {
    const bucket = new TokenBucket(1000, 500, 0);
    assert.equal(bucket.take(500, 0), 0);
    assert.equal(bucket.take(100, 0), 100); // 100 bytes of debt at 1000 B/s
    assert.equal(bucket.take(100, 100), 100); // 100 ms refilled the first debt, the second is new
    assert.equal(bucket.take(0, 10_000), 0);
    // Idle time saves up at most the burst.
    assert.equal(bucket.take(500, 10_000), 0);
    assert.equal(bucket.take(1, 10_000), 1);
  });

  it('holds the average to the rate over many pieces', () => {
    const bucket = new TokenBucket(10_000, 1000, 0);
    let now = 0;
    let sent = 0;
    while (now < 60_000) {
      now += bucket.take(1000, now);
      sent += 1000;
    }
    const rate = sent / (now / 1000);
    assert.ok(rate <= 10_000 * 1.02 && rate >= 10_000 * 0.98, `rate ${rate}`);
  });
});

describe('edge throttled stream', () => {
  it('cuts chunks into pieces of at most a tenth of a second at the cap, and waits as the bucket says', async () => {
    assert.equal(pieceBytes(100_000_000), 16 * 1024);
    assert.equal(pieceBytes(20_000), 2000);
    assert.equal(pieceBytes(100), 256);
    async function* source() {
      yield Buffer.alloc(5000, 1);
      yield Buffer.alloc(1000, 2);
    }
    const waits: number[] = [];
    const bucket = new TokenBucket(20_000, 2000, 0);
    const pieces: Buffer[] = [];
    // A clock that stands still: each piece's wait is the whole debt so far at 20 000 B/s.
    for await (const piece of throttled(source(), bucket, async (ms) => void waits.push(ms), () => 0)) pieces.push(piece);
    assert.deepEqual(pieces.map((piece) => piece.length), [2000, 2000, 1000, 1000]);
    assert.deepEqual(Buffer.concat(pieces), Buffer.concat([Buffer.alloc(5000, 1), Buffer.alloc(1000, 2)]));
    // The first piece spends the burst; the later ones wait for the debt to be refilled.
    assert.deepEqual(waits, [100, 150, 200]);
  });
});

describe('edge retry schedule', () => {
  const schedule = { baseMs: 1000, maxMs: 300_000 };
  it('doubles from the base up to the maximum, jittered in the upper half', () => {
    assert.equal(retryDelayMs(0, schedule, 0.5), 0);
    assert.equal(retryDelayMs(1, schedule, 0), 500);
    assert.equal(retryDelayMs(1, schedule, 0.999_999), 1000);
    assert.equal(retryDelayMs(4, schedule, 0), 4000);
    assert.equal(retryDelayMs(20, schedule, 0), 150_000);
    assert.equal(retryDelayMs(1000, schedule, 0.999_999), 300_000);
  });
});

describe('edge throughput meter', () => {
  it('averages the last minute and forgets what is older', () => {
    const meter = new ThroughputMeter(60_000);
    meter.add(60_000, 1_000);
    meter.add(60_000, 30_500);
    assert.equal(meter.bytesPerSecond(31_000), 2000);
    assert.equal(meter.bytesPerSecond(61_500), 1000);
    assert.equal(meter.bytesPerSecond(200_000), 0);
  });
});

describe('edge configuration', () => {
  const base = { YINGYUN_DATA_DIR: '/tmp/edge-config' };
  it('is absent without a region, and needs URL and token together', () => {
    assert.equal(loadConfig(base).edge, undefined);
    assert.throws(() => loadConfig({ ...base, YINGYUN_EDGE_REGION_URL: 'https://region.example.cn' }), ConfigError);
    assert.throws(() => loadConfig({ ...base, YINGYUN_EDGE_REGION_URL: 'ftp://region', YINGYUN_EDGE_REGION_TOKEN: 'yy_x' }), ConfigError);
    assert.throws(() => loadConfig({ ...base, YINGYUN_EDGE_REGION_URL: 'https://r.cn', YINGYUN_EDGE_REGION_TOKEN: 'yy_x', YINGYUN_EDGE_URGENCY_RULES: '[{"priority":"STAT"}]' }), /URGENCY_RULES/);
  });

  it('reads the cap, the retention and the rules', () => {
    const { edge } = loadConfig({
      ...base,
      YINGYUN_EDGE_REGION_URL: 'https://region.example.cn',
      YINGYUN_EDGE_REGION_TOKEN: 'yy_token',
      YINGYUN_EDGE_BANDWIDTH_BYTES_PER_SECOND: '2000000',
      YINGYUN_EDGE_RETENTION_HOURS: '0.5',
      YINGYUN_EDGE_URGENCY_RULES: '[{"modality":"CT","bodyPart":"HEAD","priority":"STAT"}]',
    });
    assert.deepEqual(edge, {
      regionUrl: 'https://region.example.cn',
      regionToken: 'yy_token',
      bandwidthBytesPerSecond: 2_000_000,
      retentionSeconds: 1800,
      urgencyRules: [{ modality: 'CT', bodyPart: 'HEAD', priority: 'STAT' }],
      idleTimeoutSeconds: 60,
      retryMaxSeconds: 300,
    });
    assert.equal(loadConfig({ ...base, YINGYUN_EDGE_REGION_URL: 'http://127.0.0.1:1', YINGYUN_EDGE_REGION_TOKEN: 't' }).edge?.bandwidthBytesPerSecond, undefined);
  });
});
