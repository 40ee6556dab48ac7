/**
 * Content-Type by file extension for serveStatic, as a table of facts (the types registered with
 * IANA, RFC 6838, for the files web servers commonly serve; nginx ships a similar mime.types).
 * Text types, and JSON ones, get `; charset=utf-8`; anything not listed is
 * application/octet-stream (RFC 9110 §8.3: the sender may leave the type unknown).
 */

const TYPES: Readonly<Record<string, string>> = {
  // text
  html: 'text/html', htm: 'text/html', shtml: 'text/html',
  css: 'text/css',
  js: 'text/javascript', mjs: 'text/javascript', cjs: 'text/javascript', // RFC 9239
  txt: 'text/plain', text: 'text/plain', log: 'text/plain', conf: 'text/plain',
  md: 'text/markdown', markdown: 'text/markdown',
  csv: 'text/csv', tsv: 'text/tab-separated-values',
  ics: 'text/calendar', vtt: 'text/vtt',
  // structured data
  json: 'application/json', map: 'application/json',
  jsonld: 'application/ld+json', webmanifest: 'application/manifest+json',
  xml: 'application/xml', xsl: 'application/xml',
  rss: 'application/rss+xml', atom: 'application/atom+xml',
  wasm: 'application/wasm', pdf: 'application/pdf', rtf: 'application/rtf',
  epub: 'application/epub+zip',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  // archives
  zip: 'application/zip', gz: 'application/gzip', tar: 'application/x-tar', '7z': 'application/x-7z-compressed',
  // images
  png: 'image/png', apng: 'image/apng', jpg: 'image/jpeg', jpeg: 'image/jpeg', jpe: 'image/jpeg',
  gif: 'image/gif', webp: 'image/webp', avif: 'image/avif', bmp: 'image/bmp',
  svg: 'image/svg+xml', svgz: 'image/svg+xml', ico: 'image/vnd.microsoft.icon',
  tif: 'image/tiff', tiff: 'image/tiff',
  // fonts
  woff: 'font/woff', woff2: 'font/woff2', ttf: 'font/ttf', otf: 'font/otf', eot: 'application/vnd.ms-fontobject',
  // audio and video
  mp3: 'audio/mpeg', ogg: 'audio/ogg', oga: 'audio/ogg', opus: 'audio/ogg', wav: 'audio/wav',
  m4a: 'audio/mp4', aac: 'audio/aac', flac: 'audio/flac', weba: 'audio/webm',
  mp4: 'video/mp4', m4v: 'video/mp4', webm: 'video/webm', ogv: 'video/ogg', mov: 'video/quicktime',
  mpeg: 'video/mpeg', mpg: 'video/mpeg', mkv: 'video/x-matroska', avi: 'video/x-msvideo',
  m3u8: 'application/vnd.apple.mpegurl', mpd: 'application/dash+xml',
};

const WITH_CHARSET = new Set(['application/json', 'application/ld+json', 'application/manifest+json']);

/** The Content-Type for a file name's extension (`.CSS` and `css` alike). */
export function contentTypeFor(extension: string): string {
  const key = (extension.startsWith('.') ? extension.slice(1) : extension).toLowerCase();
  const type = Object.hasOwn(TYPES, key) ? TYPES[key] : undefined;
  if (type === undefined) return 'application/octet-stream';
  return type.startsWith('text/') || WITH_CHARSET.has(type) ? `${type}; charset=utf-8` : type;
}
