import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { failureReason } from '../archive/failure-reason.ts';

describe('failureReason: the one line a command prints when it cannot go on', () => {
  it('says something for whatever was thrown', () => {
    assert.equal(failureReason(new Error('port in use')), 'port in use');
    assert.equal(failureReason(new Error('cannot open the index', { cause: new Error('connection refused') })), 'cannot open the index (connection refused)');
    assert.equal(failureReason('a string'), 'a string');
    assert.equal(failureReason({ code: 7 }), '{"code":7}');
    // A bare reject() in a dependency: the case that printed "could not start" with nothing after it.
    assert.match(failureReason(undefined), /^a failure without a reason \(undefined was thrown\)/);
    assert.match(failureReason(null), /null was thrown/);
  });
});
