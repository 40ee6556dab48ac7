import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadVectors, project, runParser } from './vectors.js';

const vectors = loadVectors();

describe('parser vectors', () => {
  test('vectors were found', () => {
    assert.ok(vectors.length > 20, `only ${vectors.length} vectors`);
  });
  for (const v of vectors) {
    test(`${v.file}: ${v.name}`, () => {
      const whole = runParser(v.limits, [v.input], v.eof);
      assert.deepEqual(project(whole, v.expected), v.expected, 'input in one chunk');
      for (let split = 1; split < v.input.length; split++) {
        const parts = [v.input.subarray(0, split), v.input.subarray(split)];
        assert.deepEqual(project(runParser(v.limits, parts, v.eof), v.expected), v.expected, `split at ${split}`);
      }
      const bytes: Buffer[] = [];
      for (let i = 0; i < v.input.length; i++) bytes.push(v.input.subarray(i, i + 1));
      assert.deepEqual(project(runParser(v.limits, bytes, v.eof), v.expected), v.expected, 'byte by byte');
    });
  }
});
