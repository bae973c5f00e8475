// The S3 side of `save --to s3://` and `verify s3://` (src/host/s3-store.ts), in a worker thread:
// the AWS SDK is asynchronous, the save's byte sink is not, so the main thread posts one request at
// a time and sleeps on a shared flag (Atomics.wait) until this thread has the answer. Only this file
// imports the SDK: a vmcore-ts that never writes to S3 never loads it (it is its own bundle,
// dist/s3-worker.mjs).
import { workerData, type MessagePort } from 'node:worker_threads';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { S3Envelope, S3Reply, S3Request, S3WorkerData } from './s3-sync.ts';

const data = workerData as S3WorkerData;
const flag = new Int32Array(data.shared);
const port: MessagePort = data.port;

// The SDK's notice that its releases after January 2027 need Node 22 would be a stray stderr paragraph.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const client = new S3Client({
  endpoint: data.config.endpoint,
  forcePathStyle: data.config.endpoint !== undefined,
  region: data.config.region,
  credentials: data.config.credentials,
  // The SDK's default CRC32 on every request is not understood by every S3 server (Ceph before
  // Squid, older MinIO): checksums are sent where we ask for them (SHA-256 per part), not others.
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
  maxAttempts: data.config.maxAttempts ?? 3,
  requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
});

async function handle(req: S3Request): Promise<unknown> {
  const Bucket = data.config.bucket;
  switch (req.op) {
    case 'headBucket':
      await client.send(new HeadBucketCommand({ Bucket }));
      return null;
    case 'findUpload': {
      // The newest unfinished multipart upload of exactly this key.
      let best: { id: string; initiated: number } | undefined;
      let KeyMarker: string | undefined;
      let UploadIdMarker: string | undefined;
      for (let page = 0; page < 100; page++) {
        const r = await client.send(new ListMultipartUploadsCommand({ Bucket, Prefix: req.key, KeyMarker, UploadIdMarker }));
        for (const u of r.Uploads ?? []) {
          if (u.Key !== req.key || !u.UploadId) continue;
          const t = u.Initiated?.getTime() ?? 0;
          if (!best || t >= best.initiated) best = { id: u.UploadId, initiated: t };
        }
        if (!r.IsTruncated) break;
        KeyMarker = r.NextKeyMarker;
        UploadIdMarker = r.NextUploadIdMarker;
      }
      return best?.id ?? null;
    }
    case 'listParts': {
      const parts: { number: number; size: number; etag: string; sha256?: string }[] = [];
      let PartNumberMarker: string | undefined;
      for (let page = 0; page < 10_000; page++) {
        const r = await client.send(new ListPartsCommand({ Bucket, Key: req.key, UploadId: req.uploadId, PartNumberMarker }));
        for (const p of r.Parts ?? []) {
          if (p.PartNumber === undefined || p.ETag === undefined) continue;
          parts.push({ number: p.PartNumber, size: p.Size ?? -1, etag: p.ETag, sha256: p.ChecksumSHA256 });
        }
        if (!r.IsTruncated) break;
        PartNumberMarker = r.NextPartNumberMarker;
      }
      return parts;
    }
    case 'create': {
      const r = await client.send(new CreateMultipartUploadCommand({ Bucket, Key: req.key, ChecksumAlgorithm: 'SHA256', ContentType: 'application/octet-stream' }));
      return r.UploadId;
    }
    case 'uploadPart': {
      const r = await client.send(
        new UploadPartCommand({ Bucket, Key: req.key, UploadId: req.uploadId, PartNumber: req.number, Body: req.body, ContentLength: req.body.length, ChecksumSHA256: req.sha256, ContentMD5: req.md5 }),
      );
      return { etag: r.ETag, sha256: r.ChecksumSHA256 };
    }
    case 'complete':
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key: req.key,
          UploadId: req.uploadId,
          MultipartUpload: { Parts: req.parts.map((p) => ({ PartNumber: p.number, ETag: p.etag, ...(p.sha256 ? { ChecksumSHA256: p.sha256 } : {}) })) },
        }),
      );
      return null;
    case 'put':
      await client.send(new PutObjectCommand({ Bucket, Key: req.key, Body: req.body, ContentLength: req.body.length, ContentType: req.contentType }));
      return null;
    case 'delete':
      await client.send(new DeleteObjectCommand({ Bucket, Key: req.key }));
      return null;
    case 'putFile': {
      const size = statSync(req.path).size;
      const fd = openSync(req.path, 'r');
      try {
        const slice = (at: number, n: number) => {
          const b = new Uint8Array(n);
          for (let got = 0; got < n; ) {
            const k = readSync(fd, b, got, n - got, at + got);
            if (k === 0) throw new Error(`${req.path} ended at ${at + got} of ${size} bytes while it was sent`);
            got += k;
          }
          return b;
        };
        if (size <= req.partBytes) {
          await client.send(new PutObjectCommand({ Bucket, Key: req.key, Body: slice(0, size), ContentLength: size, ContentType: req.contentType }));
          return null;
        }
        // Larger than one part: a multipart upload, one part in memory at a time; aborted when it fails.
        const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key: req.key, ContentType: req.contentType }));
        try {
          const Parts: { PartNumber: number; ETag?: string }[] = [];
          for (let at = 0, n = 1; at < size; at += req.partBytes, n++) {
            const body = slice(at, Math.min(req.partBytes, size - at));
            const r = await client.send(new UploadPartCommand({ Bucket, Key: req.key, UploadId, PartNumber: n, Body: body, ContentLength: body.length }));
            Parts.push({ PartNumber: n, ETag: r.ETag });
          }
          await client.send(new CompleteMultipartUploadCommand({ Bucket, Key: req.key, UploadId, MultipartUpload: { Parts } }));
        } catch (e) {
          await client.send(new AbortMultipartUploadCommand({ Bucket, Key: req.key, UploadId })).catch(() => undefined);
          throw e;
        }
        return null;
      } finally {
        closeSync(fd);
      }
    }
    case 'get': {
      try {
        const r = await client.send(new GetObjectCommand({ Bucket, Key: req.key, Range: req.range ? `bytes=${req.range[0]}-${req.range[1] - 1}` : undefined }));
        return r.Body ? await r.Body.transformToByteArray() : new Uint8Array(0);
      } catch (e) {
        if ((e as { name?: string }).name === 'NoSuchKey') return null;
        throw e;
      }
    }
  }
}

port.on('message', ({ id, req }: S3Envelope) => {
  handle(req).then(
    (value) => finish({ ok: true, value }, id),
    (e: unknown) => {
      const err = e as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number }; Code?: string; errors?: { message?: string; code?: string }[] };
      // Node's AggregateError (every address refused) carries the cause in .errors.
      const inner = err.errors?.[0];
      finish({ ok: false, name: err.name ?? 'Error', message: err.message || inner?.message || String(e), code: err.code ?? inner?.code, status: err.$metadata?.httpStatusCode }, id);
    },
  );
});

/** Answers: numbered for AsyncS3 (the flag then unused), the shared flag raised for SyncS3's wait. */
function finish(reply: S3Reply, id: number | undefined): void {
  port.postMessage(id === undefined ? reply : { ...reply, id });
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}
