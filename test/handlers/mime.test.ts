import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { contentTypeFor } from '../../src/handlers/mime.js';

describe('contentTypeFor', () => {
  test('common web types, with charset=utf-8 for text and JSON only', () => {
    const cases: Array<[string, string]> = [
      ['.html', 'text/html; charset=utf-8'],
      ['.js', 'text/javascript; charset=utf-8'],
      ['.mjs', 'text/javascript; charset=utf-8'],
      ['.json', 'application/json; charset=utf-8'],
      ['.webmanifest', 'application/manifest+json; charset=utf-8'],
      ['.svg', 'image/svg+xml'],
      ['.png', 'image/png'],
      ['.woff2', 'font/woff2'],
      ['.wasm', 'application/wasm'],
      ['.mp4', 'video/mp4'],
      ['.xml', 'application/xml'],
    ];
    for (const [extension, type] of cases) assert.equal(contentTypeFor(extension), type, extension);
  });

  test('case and the leading dot do not matter; unknown or missing extensions are octet-stream', () => {
    assert.equal(contentTypeFor('.CSS'), 'text/css; charset=utf-8');
    assert.equal(contentTypeFor('css'), 'text/css; charset=utf-8');
    for (const extension of ['', '.', '.bin', '.nosuchtype', '.constructor', '.__proto__', '.toString']) {
      assert.equal(contentTypeFor(extension), 'application/octet-stream', JSON.stringify(extension));
    }
  });
});
