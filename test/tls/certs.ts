/**
 * Certificates for the TLS tests, made per test run with the `openssl` command (Debian package
 * `openssl`) in a temp dir: a CA, and signed by it a server certificate for localhost/127.0.0.1, a
 * second one (for reload tests), one for other SNI names, an expired one, one for the wrong host,
 * and the first one's key encrypted with a passphrase. P-256 keys: quick to make.
 */

import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface CertPair {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export interface TestCerts {
  dir: string;
  caFile: string;
  ca: string;
  /** CN=localhost, SAN localhost and 127.0.0.1. */
  localhost: CertPair;
  /** The same names, a different key and serial: what a renewal looks like. */
  renewed: CertPair;
  /** SAN other.test and *.wild.test. */
  other: CertPair;
  /** localhost/127.0.0.1, valid only in January 2020. */
  expired: CertPair;
  /** SAN wrong.example only. */
  wrongHost: CertPair;
  /** localhost's key, encrypted (AES-256) with PASSPHRASE. */
  encryptedKey: string;
  remove(): void;
}

export const PASSPHRASE = 'holdfast-test';

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makeCerts(): TestCerts {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'holdfast-tls-'));
  const file = (name: string): string => path.join(dir, name);
  writeFileSync(file('index.txt'), '');
  writeFileSync(file('serial'), '1000\n');
  writeFileSync(
    file('ca.cnf'),
    `[ ca ]
default_ca = test_ca
[ test_ca ]
database = ${file('index.txt')}
new_certs_dir = ${dir}
serial = ${file('serial')}
default_md = sha256
policy = any
unique_subject = no
[ any ]
commonName = supplied
`,
  );
  const newKey = (name: string): void => openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file(`${name}.key`)]);
  newKey('ca');
  openssl(dir, ['req', '-x509', '-new', '-key', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=holdfast test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const issue = (name: string, cn: string, san: string, dates: string[] = ['-days', '2']): CertPair => {
    newKey(name);
    openssl(dir, ['req', '-new', '-key', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${cn}`]);
    writeFileSync(file(`${name}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`);
    openssl(dir, ['ca', '-batch', '-notext', '-config', file('ca.cnf'), '-cert', file('ca.pem'), '-keyfile', file('ca.key'), '-in', file(`${name}.csr`), '-out', file(`${name}.pem`), '-extfile', file(`${name}.ext`), ...dates]);
    return { cert: readFileSync(file(`${name}.pem`), 'utf8'), key: readFileSync(file(`${name}.key`), 'utf8'), certFile: file(`${name}.pem`), keyFile: file(`${name}.key`) };
  };
  const localhost = issue('localhost', 'localhost', 'DNS:localhost,IP:127.0.0.1');
  const renewed = issue('renewed', 'localhost', 'DNS:localhost,IP:127.0.0.1');
  const other = issue('other', 'other.test', 'DNS:other.test,DNS:*.wild.test');
  const expired = issue('expired', 'localhost', 'DNS:localhost,IP:127.0.0.1', ['-startdate', '20200101000000Z', '-enddate', '20200131000000Z']);
  const wrongHost = issue('wrong', 'wrong.example', 'DNS:wrong.example');
  openssl(dir, ['pkey', '-in', file('localhost.key'), '-aes256', '-passout', `pass:${PASSPHRASE}`, '-out', file('localhost.enc.key')]);
  return {
    dir,
    caFile: file('ca.pem'),
    ca: readFileSync(file('ca.pem'), 'utf8'),
    localhost,
    renewed,
    other,
    expired,
    wrongHost,
    encryptedKey: readFileSync(file('localhost.enc.key'), 'utf8'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The serial number (hex, upper case) of a PEM certificate, to tell which one a server sent. */
export function serialOf(pem: string): string {
  return new X509Certificate(pem).serialNumber.toUpperCase();
}
