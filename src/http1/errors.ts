/**
 * ProtocolError: the peer broke HTTP/1.1. Fatal for the connection, never for the process.
 * Each code carries the status the server answers with (RFC 9110 §15, RFC 9112).
 * The message never contains peer bytes.
 */

export const PROTOCOL_ERROR_STATUS = {
  'bad-request-line': 400,
  'bad-method': 400,
  'bad-target': 400,
  'forbidden-target-character': 400,
  'target-userinfo': 400,
  'bad-version': 400,
  'unsupported-version': 505,
  'request-line-too-long': 414,
  'header-section-too-large': 431,
  'too-many-fields': 431,
  'bad-field-name': 400,
  'bad-field-value': 400,
  'space-before-colon': 400,
  'obs-fold': 400,
  'bare-cr': 400,
  'bare-lf': 400,
  'missing-host': 400,
  'duplicate-host': 400,
  'content-length-and-transfer-encoding': 400,
  'bad-content-length': 400,
  'conflicting-content-length': 400,
  'duplicate-content-length': 400,
  'forbidden-trailer': 400,
  'transfer-encoding-not-chunked': 400,
  'transfer-encoding-on-http10': 400,
  'unknown-transfer-coding': 501,
  'bad-chunk-size': 400,
  'chunk-size-overflow': 400,
  'bad-chunk-extension': 400,
  'chunk-line-too-long': 400,
  'chunk-extensions-too-large': 400,
  'bad-chunk-terminator': 400,
  'body-too-large': 413,
  'connect-not-supported': 501,
  'unsupported-expectation': 417,
  'incomplete-message': 400,
} as const satisfies Record<string, number>;

export type ProtocolErrorCode = keyof typeof PROTOCOL_ERROR_STATUS;

const DESCRIPTION: Record<ProtocolErrorCode, string> = {
  'bad-request-line': 'malformed request line',
  'bad-method': 'method is not a token',
  'bad-target': 'malformed request-target',
  'forbidden-target-character': 'character RFC 3986 does not allow in a request-target',
  'target-userinfo': 'userinfo in an absolute-form request-target',
  'bad-version': 'malformed HTTP-version',
  'unsupported-version': 'HTTP version not supported',
  'request-line-too-long': 'request line exceeds the limit',
  'header-section-too-large': 'header section exceeds the limit',
  'too-many-fields': 'too many header fields',
  'bad-field-name': 'invalid field name',
  'bad-field-value': 'invalid character in field value',
  'space-before-colon': 'whitespace between field name and colon',
  'obs-fold': 'obsolete line folding',
  'bare-cr': 'CR not followed by LF',
  'bare-lf': 'LF not preceded by CR',
  'missing-host': 'HTTP/1.1 request without Host',
  'duplicate-host': 'more than one Host field',
  'content-length-and-transfer-encoding': 'both Content-Length and Transfer-Encoding',
  'bad-content-length': 'Content-Length is not a plain decimal number',
  'conflicting-content-length': 'differing Content-Length values',
  'duplicate-content-length': 'more than one Content-Length value',
  'forbidden-trailer': 'framing or routing field in a trailer section',
  'transfer-encoding-not-chunked': 'final transfer coding is not chunked',
  'transfer-encoding-on-http10': 'Transfer-Encoding in an HTTP/1.0 request',
  'unknown-transfer-coding': 'transfer coding not implemented',
  'bad-chunk-size': 'malformed chunk size',
  'chunk-size-overflow': 'chunk size too large',
  'bad-chunk-extension': 'malformed chunk extension',
  'chunk-line-too-long': 'chunk size line exceeds the limit',
  'chunk-extensions-too-large': 'chunk extensions exceed the limit for a body',
  'bad-chunk-terminator': 'chunk data not followed by CRLF',
  'body-too-large': 'request body exceeds the limit',
  'connect-not-supported': 'CONNECT is not supported',
  'unsupported-expectation': 'expectation not supported',
  'incomplete-message': 'connection ended inside a message',
};

export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;
  readonly status: number;

  constructor(code: ProtocolErrorCode) {
    super(DESCRIPTION[code]);
    this.name = 'ProtocolError';
    this.code = code;
    this.status = PROTOCOL_ERROR_STATUS[code];
  }
}
