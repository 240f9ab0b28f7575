import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { upsTransition, UPS_STATES, type UpsAction, type UpsState } from '../archive/reading/ups-state.ts';

const change = (to: UpsState, transactionUidMatches = true, finalStateRequirementsMet = true): UpsAction => ({ kind: 'change-state', to, transactionUidMatches, finalStateRequirementsMet });

/** What each event does in each state: PS3.4 Table CC.1.1-2 written out by hand ('→X' a new state, else the status). */
const TABLE: { event: string; action: UpsAction; expected: Record<UpsState, string> }[] = [
  { event: 'change to IN PROGRESS with a Transaction UID', action: change('IN PROGRESS', false), expected: { SCHEDULED: '→IN PROGRESS', 'IN PROGRESS': 'C302', CANCELED: 'C300', COMPLETED: 'C300' } },
  { event: 'change to SCHEDULED', action: change('SCHEDULED'), expected: { SCHEDULED: 'C303', 'IN PROGRESS': 'C303', CANCELED: 'C303', COMPLETED: 'C303' } },
  { event: 'change to COMPLETED with the correct Transaction UID', action: change('COMPLETED'), expected: { SCHEDULED: 'C310', 'IN PROGRESS': '→COMPLETED', CANCELED: 'C300', COMPLETED: 'B306' } },
  { event: 'change to COMPLETED without the correct Transaction UID', action: change('COMPLETED', false), expected: { SCHEDULED: 'C310', 'IN PROGRESS': 'C301', CANCELED: 'C300', COMPLETED: 'C300' } },
  { event: 'change to COMPLETED, final state requirements not met', action: change('COMPLETED', true, false), expected: { SCHEDULED: 'C310', 'IN PROGRESS': 'C304', CANCELED: 'C300', COMPLETED: 'B306' } },
  { event: 'change to CANCELED with the correct Transaction UID', action: change('CANCELED'), expected: { SCHEDULED: 'C310', 'IN PROGRESS': '→CANCELED', CANCELED: 'B304', COMPLETED: 'C300' } },
  { event: 'change to CANCELED without the correct Transaction UID', action: change('CANCELED', false), expected: { SCHEDULED: 'C310', 'IN PROGRESS': 'C301', CANCELED: 'C300', COMPLETED: 'C300' } },
  { event: 'update with the correct Transaction UID', action: { kind: 'update', transactionUidMatches: true }, expected: { SCHEDULED: '→SCHEDULED', 'IN PROGRESS': '→IN PROGRESS', CANCELED: 'C300', COMPLETED: 'C300' } },
  { event: 'update without the correct Transaction UID', action: { kind: 'update', transactionUidMatches: false }, expected: { SCHEDULED: '→SCHEDULED', 'IN PROGRESS': 'C301', CANCELED: 'C300', COMPLETED: 'C300' } },
  { event: 'request cancellation, the performer not subscribed', action: { kind: 'request-cancel', performerSubscribed: false }, expected: { SCHEDULED: '→CANCELED', 'IN PROGRESS': 'C312', CANCELED: 'B304', COMPLETED: 'C311' } },
  { event: 'request cancellation, the performer subscribed (told by a UPS Cancel Requested event)', action: { kind: 'request-cancel', performerSubscribed: true }, expected: { SCHEDULED: '→CANCELED', 'IN PROGRESS': '→IN PROGRESS', CANCELED: 'B304', COMPLETED: 'C311' } },
];

describe('UPS state machine (PS3.4 Table CC.1.1-2)', () => {
  for (const { event, action, expected } of TABLE) {
    it(event, () => {
      const actual = Object.fromEntries(
        UPS_STATES.map((state) => {
          const outcome = upsTransition(state, action);
          return [state, outcome.outcome === 'apply' ? `→${outcome.next}` : outcome.status];
        }),
      );
      assert.deepEqual(actual, expected);
    });
  }

  it('refusals are failures (C…) and the already-there answers warnings (B…), each with a reason', () => {
    for (const { action } of TABLE) {
      for (const state of UPS_STATES) {
        const outcome = upsTransition(state, action);
        if (outcome.outcome === 'apply') continue;
        assert.equal(outcome.status.startsWith('B'), outcome.outcome === 'warning');
        assert.ok(outcome.reason.length > 10);
      }
    }
  });

  it('a cancellation request of a SCHEDULED workitem passes through IN PROGRESS (PS3.4 CC.2.2.3)', () => {
    assert.deepEqual(upsTransition('SCHEDULED', { kind: 'request-cancel', performerSubscribed: false }), { outcome: 'apply', next: 'CANCELED', steps: ['IN PROGRESS', 'CANCELED'] });
  });
});
