import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration } from '../src/config/duration.js';

test('durations with units are milliseconds', () => {
  assert.equal(parseDuration('100ms'), 100);
  assert.equal(parseDuration('5s'), 5_000);
  assert.equal(parseDuration('1m'), 60_000);
  assert.equal(parseDuration('2h'), 7_200_000);
  assert.equal(parseDuration('1d'), 86_400_000);
  assert.equal(parseDuration('5S'), 5_000, 'units are case-insensitive, as in Stalwart');
  assert.equal(parseDuration(' 5 s '), 5_000, 'Stalwart trims around the number and unit');
});

test('a bare number, or numeric string, is milliseconds', () => {
  assert.equal(parseDuration(1500), 1500);
  assert.equal(parseDuration('1500'), 1500);
});

test('zero is invalid, in every spelling', () => {
  for (const zero of ['0s', '0ms', '0', 0, '0d']) {
    assert.throws(() => parseDuration(zero), /invalid duration/, String(zero));
  }
});

test('garbage is rejected with a message naming the value', () => {
  for (const bad of ['', 'soon', '5 minutes', '1.5s', '-5s', '5w', 's', '5sms', 1.5, -1, Number.NaN, 2 ** 60]) {
    const shown = typeof bad === 'string' ? JSON.stringify(bad) : String(bad);
    assert.throws(() => parseDuration(bad), (err: Error) => err.message.startsWith(`invalid duration ${shown}:`), shown);
  }
});
