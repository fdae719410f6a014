import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PUSH_OFF_SHARE, PUSH_ON_SHARE, pushesWelcome } from '../../peer-node/policy/push-welcome.ts';

describe('pushes welcome', () => {
  const LINK = 100_000;
  const table: [string, boolean, number, number | null, boolean][] = [
    // name, welcome before, received bytes/s, link bytes/s, welcome after
    ['a link of unknown rate always welcomes them', true, 10 * LINK, null, true],
    ['... even after saying otherwise', false, 0, null, true],
    ['room to spare: welcome', true, 0.3 * LINK, LINK, true],
    ['near full: no more', true, PUSH_OFF_SHARE * LINK, LINK, false],
    ['between the shares, welcome stays welcome', true, ((PUSH_ON_SHARE + PUSH_OFF_SHARE) / 2) * LINK, LINK, true],
    ['... and refused stays refused', false, ((PUSH_ON_SHARE + PUSH_OFF_SHARE) / 2) * LINK, LINK, false],
    ['well below again: welcome', false, PUSH_ON_SHARE * LINK - 1, LINK, true],
  ];
  for (const [name, before, received, link, expected] of table) {
    test(name, () => assert.equal(pushesWelcome(before, received, link), expected));
  }
});
