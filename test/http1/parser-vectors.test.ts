import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadVectors, project, runParser } from './vectors.js';

const vectors = loadVectors();

/** Compares by JSON first (fast); a mismatch is reported by assert.deepEqual with its diff. */
function assertEvents(actual: Array<Record<string, unknown>>, expected: Array<Record<string, unknown>>, expectedJson: string, message: string): void {
  const projected = project(actual, expected);
  if (JSON.stringify(projected) !== expectedJson) assert.deepEqual(projected, expected, message);
}

describe('parser vectors', () => {
  test('vectors were found', () => {
    assert.ok(vectors.length > 20, `only ${vectors.length} vectors`);
  });
  test('vector names are unique', () => {
    const names = vectors.map((v) => `${v.file}: ${v.name}`);
    assert.deepEqual(names.filter((name, i) => names.indexOf(name) !== i), []);
  });
  for (const v of vectors) {
    test(`${v.file}: ${v.name}`, () => {
      const expectedJson = JSON.stringify(v.expected);
      const whole = runParser(v.limits, [v.input], v.eof);
      assert.deepEqual(project(whole, v.expected), v.expected, 'input in one chunk');
      for (let split = 1; split < v.input.length; split++) {
        const parts = [v.input.subarray(0, split), v.input.subarray(split)];
        assertEvents(runParser(v.limits, parts, v.eof), v.expected, expectedJson, `split at ${split}`);
      }
      const bytes: Buffer[] = [];
      for (let i = 0; i < v.input.length; i++) bytes.push(v.input.subarray(i, i + 1));
      assertEvents(runParser(v.limits, bytes, v.eof), v.expected, expectedJson, 'byte by byte');
    });
  }
});
