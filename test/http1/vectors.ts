/**
 * Loads parser vectors from the markdown files in test/http1/vectors/ (see README.md there) and
 * runs them through a RequestParser with the input delivered in a given list of chunks.
 */

import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RequestParser, type ParserLimits } from '../../src/http1/parser.js';
import { DEFAULTS } from '../../src/server/options.js';

export const VECTOR_DIR = fileURLToPath(new URL('../../../test/http1/vectors/', import.meta.url));

/** The server's defaults (src/server/options.ts), so that the vectors hold for a server as configured out of the box. */
export const DEFAULT_LIMITS: ParserLimits = {
  maxRequestLineBytes: DEFAULTS.maxRequestLineBytes,
  maxHeaderBytes: DEFAULTS.maxHeaderBytes,
  maxHeaderCount: DEFAULTS.maxHeaderCount,
  maxBodyBytes: DEFAULTS.maxBodyBytes,
};

export interface Vector {
  file: string;
  name: string;
  input: Buffer;
  limits: ParserLimits;
  eof: boolean;
  expected: Array<Record<string, unknown>>;
}

/** `\r`, `\n`, `\t`, `\0`, `\\` and `\xNN` escapes; source line breaks are not part of the input. */
export function unescapeInput(text: string): Buffer {
  const bytes: number[] = [];
  const joined = text.split('\n').join('');
  for (let i = 0; i < joined.length; i++) {
    const ch = joined[i];
    if (ch !== '\\') {
      bytes.push(joined.charCodeAt(i));
      continue;
    }
    const next = joined[++i];
    if (next === 'r') bytes.push(13);
    else if (next === 'n') bytes.push(10);
    else if (next === 't') bytes.push(9);
    else if (next === '0') bytes.push(0);
    else if (next === '\\') bytes.push(92);
    else if (next === 'x') {
      bytes.push(parseInt(joined.slice(i + 1, i + 3), 16));
      i += 2;
    } else throw new Error(`unknown escape \\${next}`);
  }
  return Buffer.from(bytes);
}

export function loadVectors(): Vector[] {
  const vectors: Vector[] = [];
  for (const file of readdirSync(VECTOR_DIR).filter((f) => f.endsWith('.md') && f !== 'README.md').sort()) {
    const text = readFileSync(VECTOR_DIR + file, 'utf8');
    const sections = text.split(/^## /m).slice(1);
    for (const section of sections) {
      const name = section.slice(0, section.indexOf('\n')).trim();
      const input = /```http\n([\s\S]*?)\n```/.exec(section);
      const events = /```events\n([\s\S]*?)\n```/.exec(section);
      if (!input || !events) throw new Error(`${file}: vector "${name}" needs an http and an events block`);
      const limitsMatch = /<!-- limits: (\{.*\}) -->/.exec(section);
      vectors.push({
        file,
        name,
        input: unescapeInput(input[1]),
        limits: { ...DEFAULT_LIMITS, ...(limitsMatch ? JSON.parse(limitsMatch[1]) : {}) },
        eof: /<!-- eof -->/.test(section),
        expected: events[1].split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l)),
      });
    }
  }
  return vectors;
}

/** Feeds the chunks in order, draining events after each; consecutive data events are merged. */
export function runParser(limits: ParserLimits, chunks: Buffer[], eof: boolean): Array<Record<string, unknown>> {
  const parser = new RequestParser(limits);
  const out: Array<Record<string, unknown>> = [];
  let stopped = false;
  const drain = (): void => {
    while (!stopped) {
      const event = parser.next();
      switch (event.kind) {
        case 'need-data':
          return;
        case 'paused':
          parser.nextCycle();
          break;
        case 'head': {
          const h = event.head;
          out.push({
            kind: 'head',
            method: h.method,
            target: h.target,
            targetForm: h.targetForm,
            version: h.version,
            headers: [...h.headers],
            framing: h.framing.kind === 'length' ? `length:${h.framing.length}` : h.framing.kind,
            connection: [...h.connection],
            expectContinue: h.expectContinue,
          });
          break;
        }
        case 'data': {
          const last = out[out.length - 1];
          if (last?.kind === 'data') last.text = (last.text as string) + event.bytes.toString('latin1');
          else out.push({ kind: 'data', text: event.bytes.toString('latin1') });
          break;
        }
        case 'end':
          out.push(event.trailers ? { kind: 'end', trailers: [...event.trailers] } : { kind: 'end' });
          break;
        case 'eof':
          out.push({ kind: 'eof' });
          stopped = true;
          return;
        case 'error':
          out.push({ kind: 'error', code: event.error.code, status: event.error.status, headRequest: parser.isHeadRequest });
          stopped = true;
          return;
      }
    }
  };
  for (const chunk of chunks) {
    parser.feed(chunk);
    drain();
  }
  if (eof) {
    parser.feedEof();
    drain();
  }
  return out;
}

/** Keeps only the keys the expectation names, so vectors can state just what matters. */
export function project(actual: Array<Record<string, unknown>>, expected: Array<Record<string, unknown>>): unknown[] {
  return actual.map((event, i) => {
    const want = expected[i];
    if (!want || want.kind !== event.kind) return event;
    const picked: Record<string, unknown> = {};
    for (const key of Object.keys(want)) picked[key] = event[key];
    return picked;
  });
}
