// Shapes shared by the modules along the data flow: config → catalog → plan → transfer → run.
import type { Logger } from 'pino';
import type { MetricsOptions } from './metrics/index.js';
import type { NotifyOptions } from './notify/options.js';
import type { Schedule } from './transfer/schedule.js';

export type BackupType = 'data' | 'binlog' | 'slowlog';
export const BACKUP_TYPES: readonly BackupType[] = ['data', 'binlog', 'slowlog'];
/** What an item is: a CDB backup type, a file behind a URL of a [urls] list, or a file of a [local] folder. */
export type ItemType = BackupType | 'url' | 'file';
/** Where items come from: one config section each (src/sources/). */
export type SourceKind = 'cdb' | 'urls' | 'local';

export interface Credentials {
  secretId: string;
  secretKey: string;
  token?: string | undefined;
}

/** A config file as read and checked; each key is declared, with its default and range, in src/config/keys.ts. */
export interface Config {
  /** Absolute path of the config file; relative paths in it resolve against its folder. */
  path: string;
  /** True when the file was in the original 2018 script's format ([common], [cosinfo], …). */
  legacy: boolean;
  /** From the file, else from TENCENTCLOUD_SECRET_ID / _SECRET_KEY / _SESSION_TOKEN; null when neither has them. */
  credentials: Credentials | null;
  /** How the credentials chain (src/credentials/) runs: the file's own keys and the [credentials] settings. */
  credentialChain: {
    /** secret_id / secret_key / token from the file itself (not the environment). */
    fileKeys: Credentials | undefined;
    profile: string | undefined;
    roleArn: string | undefined;
    roleSessionName: string;
    /** CDB2COS_STS_ENDPOINT applied; undefined = the public endpoint. */
    stsEndpoint: string | undefined;
  };
  /** [cdb]: undefined when the file has no such section (a 2018 file always has it). */
  cdb?: {
    region: string;
    /** Instance ids, or ['*']: every instance DescribeDBInstances lists (see src/cdb/discovery.ts). */
    instances: string[];
    /** With '*': only instances carrying every one of these tags. */
    instanceTags: Array<{ key: string; value: string }>;
    /** With '*': never these. */
    exclude: string[];
    /** CDB API calls per second, at most, of this process. */
    apiRate: number;
    types: BackupType[];
    url: 'internet' | 'intranet';
    /** e.g. "https://cdb.tencentcloudapi.com" or "http://127.0.0.1:9000"; CDB2COS_CDB_ENDPOINT overrides. */
    endpoint: string | undefined;
  };
  /** [urls]; undefined when the file has no such section. */
  urls?: UrlsConfig | undefined;
  /** [local]; undefined when the file has no such section. */
  local?: LocalConfig | undefined;
  /** [cos]: undefined when the file has no such section (a 2018 file always has it). */
  cos?: {
    region: string;
    bucket: string;
    /** Always empty or ending in "/". */
    prefix: string;
    /** Object key template: {prefix} {instance} {type} {date} {name} {id}. */
    key: string;
    storageClass: string;
    /** "AES256" | "cos/kms" | undefined */
    sse: string | undefined;
    kmsKeyId: string | undefined;
    /** x-cos-tagging value, e.g. "app=cdb2cos&env=prod". */
    tags: string | undefined;
    /** e.g. "https://cos.ap-guangzhou.myqcloud.com" or "http://127.0.0.1:9001"; CDB2COS_COS_ENDPOINT overrides. */
    endpoint: string | undefined;
  };
  /** [s3]: an S3-compatible destination; undefined when the file has no such section (S3Config in src/destinations/s3/). */
  s3?:
    | {
        provider: 'aws' | 'oss' | 'bos' | 'minio' | 'other';
        /** Origin, CDB2COS_S3_ENDPOINT applied; undefined only with aws (https://s3.<region>.amazonaws.com). */
        endpoint: string | undefined;
        region: string;
        bucket: string;
        /** From the file, else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (the rules require one). */
        credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined };
        /** path_style resolved: auto = true for minio only. */
        pathStyle: boolean;
        /** host:port every connection dials instead of the endpoint's; CDB2COS_S3_CONNECT_TO applied. */
        connectTo: string | undefined;
        /** Always empty or ending in "/". */
        prefix: string;
        key: string;
        storageClass: string | undefined;
        /** "AES256" | "aws:kms" | undefined */
        sse: string | undefined;
        kmsKeyId: string | undefined;
        tags: string | undefined;
        verify: 'checksum' | 'readback';
      }
    | undefined;
  transfer: {
    /** Absolute. */
    stagingDir: string;
    /** Range connections per large item. Defaults and ranges of all these: src/config/keys.ts. */
    connections: number;
    /** Download connections open at once over the whole run (CDB limits connections per IP). */
    maxConnections: number;
    /** Items copied at once. */
    parallelItems: number;
    /** Bytes, or 0 for automatic (grows so no object needs more than 10,000 parts). */
    partSize: number;
    /** Part uploads in flight at once over the whole run. */
    uploadConcurrency: number;
    /** Bytes per second over the whole run, 0 = no cap. */
    bandwidthLimit: number;
    /** Caps by local time of day (`bandwidth_schedule`); bandwidthLimit applies outside its ranges. */
    bandwidthSchedule?: Schedule | undefined;
    /** Milliseconds one request may take before it is abandoned and retried. */
    requestTimeoutMs: number;
    /** Milliseconds an item may spend retrying before it fails. */
    itemRetryBudgetMs: number;
    /** Milliseconds after which multipart uploads of ours are aborted. */
    staleUploadMs: number;
    /** Milliseconds after which a lock not refreshed is stale, whatever host wrote it. */
    lockStaleAfterMs: number;
  };
  log: {
    /** Absolute. */
    dir: string;
    /** Base name; the file written is <dir>/YYYY-MM-DD-<file> (local date). */
    file: string;
    level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
    /** Dated log files older than this many days are removed when a run starts; undefined: kept forever. */
    keepDays: number | undefined;
  };
  /** [notify]: no targets and no health check when the file has no such section. */
  notify: NotifyOptions;
  /** [metrics]: no textfile and no Pushgateway when the file has no such section. */
  metrics: MetricsOptions;
  /** [retention]; undefined when the file has no such section (nothing is ever pruned). */
  retention: RetentionConfig | undefined;
  /** Non-fatal findings, e.g. a config file others can read that holds a secret key. */
  warnings: string[];
}

/** [cdb] and [cos] as read (when the file has them). */
export type CdbConfig = NonNullable<Config['cdb']>;
export type CosConfig = NonNullable<Config['cos']>;
/** A config with both [cdb] and [cos]: what status, verify and prune work on. */
export type CdbCosConfig = Config & { cdb: CdbConfig; cos: CosConfig };
/** [urls]: files behind download URLs (src/sources/urls/). */
export interface UrlsConfig {
  /** Absolute path of the URL list: one `URL [KEY]` per line. */
  file: string;
  /** Object key template: {prefix} {instance} {type} {date} {name} {host} {path}. */
  key: string;
}

/** [local]: files of local folders, read in place (src/sources/local/). */
export interface LocalConfig {
  /** Absolute globs (`**`, `*`, `?`, `{a,b}`), as written after resolving against the config's folder. */
  paths: string[];
  /** A file modified less than this many milliseconds ago is waiting (still being written). */
  minAgeMs: number;
  /** Object key template: {prefix} {instance} {type} {date} {name} {hostname} {path}. */
  key: string;
}

/** How long each type is kept in the bucket (days; undefined: forever). See src/core/retention.ts. */
export interface RetentionConfig {
  dataDays: number | undefined;
  binlogDays: number | undefined;
  slowlogDays: number | undefined;
  /** The newest this many data backups of each instance are always kept (≥ 1). */
  keepDataMin: number;
}

/**
 * One thing a source lists and we may copy. For CDB `instance` is the instance id; for the other sources it
 * is the unit their items are grouped (and their manifest named) by: `urls`, `local`.
 */
export interface CatalogItem {
  /** Default `cdb`. */
  source?: SourceKind | undefined;
  instance: string;
  type: BackupType | ItemType;
  /** File name as CDB gives it. */
  name: string;
  /** Stable id: BackupId for data backups, else the name. */
  id: string;
  size: number;
  /** The item's time as CDB gives it (YYYY-MM-DD HH:mm:ss, or YYYY-MM-DD for slow logs). */
  date: string;
  /** Epoch ms of `date`, read as UTC+8 (CDB's clock). */
  time: number;
  /** Binlogs: epoch ms of BinlogFinishTime (the last event), when CDB lists one. */
  finishTime?: number | undefined;
  /** SUCCESS, FINISHED, RUNNING, FAILED … */
  status: string;
  /** 0 regular, 1 archive (cannot be downloaded), 2 standard (intranet only). */
  cosStorageType: number;
  /** Lower-case hex, when CDB gives one. */
  md5: string | undefined;
  /** The download URL chosen by cdb.url; signed and expiring: never log it whole. Empty for local files. */
  url: string;
  /**
   * Placeholders of the item's source for key templates beyond instance, type, date, name and id (URL
   * items: host, path; local files: hostname, path). `path` may hold `/` between segments.
   */
  fields?: Readonly<Record<string, string>> | undefined;
  /** What tells a new version of the same name apart (ETag or Last-Modified of a URL, size+mtime of a file). */
  validator?: string | undefined;
  /** Local files: the absolute path read in place (never staged). */
  path?: string | undefined;
  /** Local files: the glob's fixed base; nothing outside it is read, symlinks included. */
  base?: string | undefined;
  /** URL items: the server ignores Range (answers 200 with the whole file): one stream, restarted from byte 0 after a drop. */
  rangeless?: boolean | undefined;
  /** Why the source failed the item (status FAILED), in one line a report can print: "HTTP 404 Not Found", … */
  failure?: string | undefined;
}

/** The outside world every step of a run is given rather than reaching for: tests pass fakes. */
export interface Runtime {
  log: Logger;
  now: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  random: () => number;
  /** Aborted by SIGINT/SIGTERM. */
  signal: AbortSignal;
}
