/**
 * A bounded parser fuzz for `npm test` (well under 3 s): valid pipelined requests, mutated (byte
 * flips, splits, duplicated fields, CL/TE games, SP/HTAB/CR/LF/NUL insertions, versions, chunk
 * sizes), fed to RequestParser whole, in random pieces and byte by byte. The parser must never
 * throw or hang, must reach the same verdict however the bytes are split, and must never find more
 * requests (or other message boundaries) than a strict reference parser — no request smuggling.
 *
 * Each run uses a fresh seed, printed as a diagnostic; FUZZ_SEED=<seed> reproduces a run. The
 * stress suite (test/stress/fuzz.test.ts) runs the same cases at volume and against live servers.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkParserCase, describeCase, fuzzSeed, makeCase, Rng, runParser } from '../stress/fixtures/http-fuzz.js';

const CASES = 2000;
const BUDGET_MS = 2000;

test(`parser fuzz: ${CASES} mutated requests, no crash, no hang, split-independent, never more requests than a strict parser`, (t) => {
  const seed = fuzzSeed();
  t.diagnostic(`FUZZ_SEED=${seed}`);
  const started = Date.now();
  const failures: string[] = [];
  let cases = 0;
  let accepted = 0;
  const ends: Record<string, number> = {};
  for (let i = 0; i < CASES && Date.now() - started < BUDGET_MS; i++) {
    const c = makeCase(seed, i);
    const verdict = checkParserCase(c.bytes, new Rng(seed ^ 0x5a5a5a5a, i), { valid: c.valid, byteByByte: i % 8 === 0 });
    cases++;
    accepted += verdict.run.messages.filter((m) => m.complete).length;
    ends[verdict.run.end] = (ends[verdict.run.end] ?? 0) + 1;
    if (verdict.violations.length > 0) failures.push(`${describeCase(seed, i, c.bytes, c.ops)}\n  ${verdict.violations.join('\n  ')}`);
    if (failures.length >= 5) break;
  }
  t.diagnostic(`${cases} cases in ${Date.now() - started} ms; ${accepted} requests accepted; endings ${JSON.stringify(ends)}`);
  assert.deepEqual(failures, [], `parser fuzz failures (reproduce with the FUZZ_SEED shown):\n${failures.join('\n')}`);
  assert.ok(cases >= 500, `only ${cases} cases ran within ${BUDGET_MS} ms`);
});

/**
 * Found by the fuzz: a request line with a non-token byte in the method and a bare LF at its end is
 * rejected as `bare-lf` when it arrives whole but as `bad-method` when the method arrives first
 * (the early method check runs on a partial line; on a complete line the LF check runs first).
 * Same status (400) either way, but the parser promises a verdict independent of splits.
 */
test('split independence: a bad method byte and a bare LF on the same request line give one verdict however split', () => {
  const vectors = ['G:ET / HTTP/1.1\nHost: a\r\n\r\n', 'DELETE\x0b/ HTTP/1.1\rE\nHost: a\r\n\r\n', 'GET / HTTP/1.1\r\nHost: a\r\n\r\nPO,T / HTTP/1.0\n\r\n'];
  const problems: string[] = [];
  for (const text of vectors) {
    const input = Buffer.from(text, 'latin1');
    const whole = runParser(input).end;
    for (let cut = 1; cut < input.length; cut++) {
      const split = runParser(input, [cut]).end;
      if (split !== whole) {
        problems.push(`${JSON.stringify(text)}: whole → ${whole}, split at ${cut} → ${split}`);
        break;
      }
    }
  }
  assert.deepEqual(problems, []);
});
