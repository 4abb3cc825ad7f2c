// HealthLake's bulk export, locally: the FHIR REST `$export` of a data store (system, Patient and
// Group level, with `_type` and `_since`), the export job's status and its cancellation, writing
// NDJSON to S3 as HealthLake does (one resource type per object), through the S3 endpoint given
// (the emulator), signed with SigV4 as the data-access role would be.
//
// As strict as HealthLake where the platform relies on it:
// - the body names the job, the S3 location (s3://bucket/prefix), its KMS key and the data-access
//   role, in the shapes HealthLake's API reference gives (400 otherwise);
// - only `_outputFormat` (NDJSON), `_type` and `_since` are taken (400 for any other parameter);
// - one export job runs at a time in the account, whatever the data store: another asked for
//   meanwhile is refused with 429 (throttled), and the platform waits its turn;
// - a Group export needs the Group to be in the data store (404 otherwise);
// - a job whose objects cannot be written (no such bucket) ends FAILED with a message.
//
// The job is described at `GET <data store>/r4/export/<job id>` and cancelled with `DELETE` there.

import crypto from 'node:crypto';

const ROLE = /^arn:aws(-[^:]+)?:iam::[0-9]{12}:role\/.+$/;
const S3_URI = /^s3:\/\/([a-z0-9][.\-a-z0-9]{1,61}[a-z0-9])(\/.*)?$/;
const FORMATS = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson']);
const PER_OBJECT = 5000; // resources per NDJSON object: a type with more spans several
const RUNNING = new Set(['SUBMITTED', 'IN_PROGRESS', 'CANCEL_SUBMITTED']);

const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();
const encodeKey = (key) => key.split('/').map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())).join('/');

/** PUT one object to S3 (path style), signed with SigV4 for `s3`, encrypted with the KMS key. */
async function putObject(s3, bucket, key, body, kmsKeyId) {
  const url = new URL(`${s3.endpoint.replace(/\/$/, '')}/${bucket}/${encodeKey(key)}`);
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const date = amzDate.slice(0, 8);
  const headers = {
    host: url.host,
    'x-amz-content-sha256': sha256(body),
    'x-amz-date': amzDate,
    'x-amz-server-side-encryption': 'aws:kms',
    'x-amz-server-side-encryption-aws-kms-key-id': kmsKeyId,
    'content-type': 'application/fhir+ndjson',
  };
  const names = Object.keys(headers).sort();
  const canonical = ['PUT', url.pathname, '', names.map((n) => `${n}:${headers[n]}\n`).join(''), names.join(';'), headers['x-amz-content-sha256']].join('\n');
  const scope = `${date}/${s3.region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${s3.secret}`, date), s3.region), 's3'), 'aws4_request');
  const signature = crypto.createHmac('sha256', signingKey).update(toSign).digest('hex');
  const { host, ...sent } = headers;
  const response = await fetch(url, {
    method: 'PUT',
    body,
    headers: { ...sent, authorization: `AWS4-HMAC-SHA256 Credential=${s3.keyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}` },
  });
  if (!response.ok) throw new Error(`S3 answered ${response.status} writing s3://${bucket}/${key}`);
}

/** Every "Patient/<id>" a resource refers to, anywhere in it. */
function patientsReferenced(value, found = new Set()) {
  if (Array.isArray(value)) value.forEach((v) => patientsReferenced(v, found));
  else if (value && typeof value === 'object') {
    for (const [name, inner] of Object.entries(value)) {
      if (name === 'reference' && typeof inner === 'string' && inner.startsWith('Patient/')) found.add(inner.slice(8));
      else patientsReferenced(inner, found);
    }
  }
  return found;
}

export class ExportJobs {
  /**
   * @param datastores the stand-in's data stores (id -> { repo, lock })
   * @param s3 { endpoint, region, keyId, secret }: where the objects are written, and as whom
   */
  constructor(datastores, s3) {
    this.datastores = datastores;
    this.s3 = s3;
    this.jobs = new Map(); // job id -> properties (HealthLake's ExportJobProperties, camelCase)
  }

  /** [status, body, headers] for an export request under a data store, or null when it is not one. */
  async handle(method, datastoreId, fhirPath, query, raw, host) {
    const kickOff = /^\/(?:(Patient)|Group\/([A-Za-z0-9\-.]{1,64}))?\/?\$export$/.exec(fhirPath);
    const status = /^\/export\/([0-9a-f]{32})$/.exec(fhirPath);
    if (kickOff && method === 'POST') return this.start(datastoreId, kickOff[1] ? 'patient' : kickOff[2] ? 'group' : 'system', kickOff[2], query, raw, host);
    if (status && method === 'GET') {
      const job = this.jobs.get(status[1]);
      return job && job.datastoreId === datastoreId ? [200, { exportJobProperties: job }] : [404, notFound('Export job not found')];
    }
    if (status && method === 'DELETE') return this.cancel(datastoreId, status[1]);
    if (kickOff) return [405, invalid('not-supported', 'An export is started with POST')];
    return null;
  }

  async start(datastoreId, level, groupId, query, raw, host) {
    let body;
    try {
      body = JSON.parse(raw.toString() || 'null');
    } catch {
      return [400, invalid('structure', 'The export request body is not JSON')];
    }
    const s3 = body?.OutputDataConfig?.S3Configuration;
    if (!s3 || typeof s3.S3Uri !== 'string' || !S3_URI.test(s3.S3Uri) || typeof s3.KmsKeyId !== 'string' || !s3.KmsKeyId) {
      return [400, invalid('required', 'OutputDataConfig.S3Configuration needs an S3Uri (s3://bucket/prefix) and a KmsKeyId')];
    }
    if (typeof body.DataAccessRoleArn !== 'string' || !ROLE.test(body.DataAccessRoleArn)) {
      return [400, invalid('required', 'DataAccessRoleArn must be an IAM role ARN')];
    }
    if (body.JobName !== undefined && (typeof body.JobName !== 'string' || body.JobName.length < 1 || body.JobName.length > 64)) {
      return [400, invalid('invalid', 'JobName is 1 to 64 characters')];
    }
    let types = null;
    let since = null;
    for (const [name, value] of query) {
      if (name === '_outputFormat') {
        if (!FORMATS.has(value)) return [400, invalid('not-supported', 'Only ndjson is exported')];
      } else if (name === '_type') types = new Set(value.split(','));
      else if (name === '_since') {
        since = Date.parse(value);
        if (Number.isNaN(since) || !/[zZ]|[+-]\d\d:\d\d$/.test(value)) return [400, invalid('invalid', '_since is an instant with a time zone')];
      } else return [400, invalid('not-supported', `${name} is not an export parameter`)];
    }
    const datastore = this.datastores.get(datastoreId);
    let members = null;
    if (level === 'group') {
      const group = datastore.repo.resources.get('Group')?.get(groupId);
      if (!group) return [404, notFound(`Group/${groupId} is not in the data store`)];
      members = new Set((group.member ?? []).map((m) => m?.entity?.reference ?? '').filter((r) => r.startsWith('Patient/')).map((r) => r.slice(8)));
    }
    if ([...this.jobs.values()].some((job) => RUNNING.has(job.jobStatus))) {
      return [429, invalid('throttled', 'An export job is already running in this account; try again when it has finished')];
    }
    const jobId = crypto.randomBytes(16).toString('hex');
    const job = {
      jobId,
      jobName: body.JobName ?? jobId,
      jobStatus: 'SUBMITTED',
      submitTime: new Date().toISOString(),
      datastoreId,
      outputDataConfig: { s3Configuration: { s3Uri: s3.S3Uri, kmsKeyId: s3.KmsKeyId } },
      dataAccessRoleArn: body.DataAccessRoleArn,
    };
    this.jobs.set(jobId, job);
    setImmediate(() => this.run(job, datastore, { level, types, since, members }));
    const location = `http://${host}/datastore/${datastoreId}/r4/export/${jobId}`;
    return [202, { datastoreId, jobStatus: job.jobStatus, jobId }, { 'Content-Location': location }];
  }

  cancel(datastoreId, jobId) {
    const job = this.jobs.get(jobId);
    if (!job || job.datastoreId !== datastoreId) return [404, notFound('Export job not found')];
    if (!RUNNING.has(job.jobStatus)) return [400, invalid('invalid', `The export job is ${job.jobStatus}`)];
    job.jobStatus = 'CANCEL_COMPLETED';
    job.endTime = new Date().toISOString();
    return [202, { datastoreId, jobStatus: job.jobStatus, jobId }];
  }

  /** Writes what the export asks for, as the data store holds it now, one type per object. */
  async run(job, datastore, { level, types, since, members }) {
    if (job.jobStatus !== 'SUBMITTED') return;
    job.jobStatus = 'IN_PROGRESS';
    const byType = new Map();
    const release = await datastore.lock();
    try {
      for (const [type, resources] of datastore.repo.resources) {
        if (types && !types.has(type)) continue;
        for (const resource of resources.values()) {
          if (since !== null && Date.parse(resource.meta?.lastUpdated ?? '') < since) continue;
          if (level !== 'system') {
            const patients = type === 'Patient' ? new Set([resource.id]) : patientsReferenced(resource);
            if (!patients.size || (members && ![...patients].some((p) => members.has(p)))) continue;
          }
          if (!byType.has(type)) byType.set(type, []);
          byType.get(type).push(JSON.stringify(resource));
        }
      }
    } finally {
      release();
    }
    const [, bucket, prefix = ''] = S3_URI.exec(job.outputDataConfig.s3Configuration.s3Uri);
    const folder = `${prefix.replace(/^\/|\/$/g, '')}/${job.datastoreId}-FHIR_EXPORT-${job.jobId}`.replace(/^\//, '');
    try {
      for (const [type, lines] of byType) {
        for (let n = 0; n * PER_OBJECT < lines.length; n++) {
          if (job.jobStatus !== 'IN_PROGRESS') return; // cancelled meanwhile
          const body = lines.slice(n * PER_OBJECT, (n + 1) * PER_OBJECT).join('\n') + '\n';
          await putObject(this.s3, bucket, `${folder}/${type}/${type}-${n}.ndjson`, body, job.outputDataConfig.s3Configuration.kmsKeyId);
        }
      }
      if (job.jobStatus !== 'IN_PROGRESS') return;
      job.jobStatus = 'COMPLETED';
    } catch (error) {
      if (job.jobStatus !== 'IN_PROGRESS') return;
      job.jobStatus = 'FAILED';
      job.message = String(error.message ?? error);
    }
    job.endTime = new Date().toISOString();
  }
}

function invalid(code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics: text }] };
}

function notFound(text) {
  return invalid('not-found', text);
}
