// How a value's text is read: inline comments, escapes and quotes in the new format; Python 3
// ConfigParser's rules (no inline comments, continuation lines, interpolation) in the 2018 format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config.js';
import type { Config } from '../../src/types.js';

const PATH = '/etc/cdb2cos/cdb2cos.ini';
const MINIMAL = `
[cdb]
region = ap-shanghai
instances = cdb-aaaa1111
[cos]
region = ap-guangzhou
bucket = backup-1250000000
`;

function ok(text: string): Config {
  const r = parseConfig(text, { path: PATH, env: {} });
  assert.deepEqual(r.errors, []);
  assert.ok(r.config);
  return r.config;
}

function fail(text: string): string[] {
  const r = parseConfig(text, { path: PATH, env: {} });
  assert.equal(r.config, undefined, 'expected errors');
  return r.errors;
}

const prefixOf = (value: string): string => ok(`${MINIMAL}[cos]\nprefix = ${value}\n`).cos!.prefix;

test('a # or ; inside a value is part of it: only one after a blank starts a comment', () => {
  assert.equal(prefixOf('team#1/'), 'team#1/');
  assert.equal(prefixOf('db;prod/'), 'db;prod/');
  assert.equal(prefixOf('a#b;c#/ # the team folder'), 'a#b;c#/');
  assert.equal(prefixOf('a/\t; tab before the comment'), 'a/');
  assert.equal(prefixOf('a/ ;'), 'a/');
  // A comment right after "= " leaves the value empty: the default applies.
  assert.equal(prefixOf('# nothing'), '');
  const c = ok(`${MINIMAL}[cos]\nkey = {prefix}{instance}/#{type};{date}/{name} ; the key\n`);
  assert.equal(c.cos!.key, '{prefix}{instance}/#{type};{date}/{name}');
  assert.equal(ok(`${MINIMAL}[cos]\ntags = app=a#1&team=b;c\n`).cos!.tags, 'app=a#1&team=b;c');
});

test('escapes and quotes still give a literal # or ; after a blank', () => {
  assert.equal(prefixOf('team \\#1/'), 'team #1/');
  assert.equal(prefixOf('team \\;1/'), 'team ;1/');
  assert.equal(prefixOf('"team #1/" ; quoted'), 'team #1/');
  assert.equal(prefixOf("'db ;prod/'"), 'db ;prod/');
  // Text glued to the closing quote is not a comment.
  const errors = fail(`${MINIMAL}[cos]\nprefix = "cdb/"#x\n`);
  assert.deepEqual(errors, ['cos.prefix: unexpected text after the closing quote (line 9)']);
});

const LEGACY = `
[common]
secret_id = AKIDlegacy
secret_key = legacysecret
[cosinfo]
cos_region = ap-beijing
bucket_name = oldbackup-1250000000
[cdbinfo]
cdb_instanceid = cdb-abcd1234
cdb_region = ap-beijing
cdb_bak_type = coldbackup
[loginfo]
logdir_name = /var/log/cdb2cos
logfile_name = cdb2cos.log
`;

const legacyWith = (from: string, to: string): string => {
  assert.ok(LEGACY.includes(from));
  return LEGACY.replace(from, to);
};

test('the 2018 format has no inline comments, as Python 3 ConfigParser reads it by default', () => {
  assert.equal(ok(legacyWith('cdb2cos.log', 'rdsbak#1.log')).log.file, 'rdsbak#1.log');
  assert.equal(ok(legacyWith('cdb2cos.log', 'rdsbak;1.log')).log.file, 'rdsbak;1.log');
  // Even after a blank, ";" and "#" belong to the value: ConfigParser passed them to the script.
  assert.equal(ok(legacyWith('cdb2cos.log', 'rdsbak.log ; daily')).log.file, 'rdsbak.log ; daily');
  const errors = fail(legacyWith('oldbackup-1250000000', 'oldbackup-1250000000 # prod'));
  assert.ok(errors.some((e) => e.startsWith('cosinfo.bucket_name: must be the full bucket name')), errors.join('\n'));
  // Whole-line comments, also indented, are comments.
  assert.equal(ok(legacyWith('[cosinfo]', '[cosinfo]\n  # the bucket\n; and its region')).cos!.region, 'ap-beijing');
});

test('the 2018 format reads key: value, any case of key, and the first = or : ends the key', () => {
  const c = ok(
    legacyWith('cos_region = ap-beijing', 'COS_Region:ap-beijing')
      .replace('bucket_name = oldbackup-1250000000', 'bucket_name=oldbackup-1250000000')
      .replace('logdir_name = /var/log/cdb2cos', 'logdir_name: /var/log/a=b:c'),
  );
  assert.equal(c.cos!.region, 'ap-beijing');
  assert.equal(c.cos!.bucket, 'oldbackup-1250000000');
  assert.equal(c.log.dir, '/var/log/a=b:c');
});

test('the 2018 format strips values as Python does and ignores text after a section header', () => {
  // U+0085 and U+001F are whitespace to Python's str.strip(), not to JavaScript's trim().
  const c = ok(legacyWith('cos_region = ap-beijing', '\t cos_region =  ap-beijing\u0085\u001f ').replace('[cdbinfo]', '[cdbinfo] the instances'));
  assert.equal(c.cos!.region, 'ap-beijing');
  assert.deepEqual(c.cdb!.instances, ['cdb-abcd1234']);
});

test('the 2018 format continues a value on indented lines, across blank and comment lines', () => {
  const c = ok(legacyWith('cdb_instanceid = cdb-abcd1234', 'cdb_instanceid = cdb-abcd1234,\n    cdb-efgh5678,\n\n  # the new one\n    cdb-ijkl9012'));
  assert.deepEqual(c.cdb!.instances, ['cdb-abcd1234', 'cdb-efgh5678', 'cdb-ijkl9012']);
  // An indented "key = value" under a key is a continuation of that key's value, as in ConfigParser.
  const errors = fail(legacyWith('cdb_region = ap-beijing', 'cdb_region = ap-beijing\n  cdb_bak_type = binlog').replace('cdb_bak_type = coldbackup\n', ''));
  assert.ok(errors.some((e) => e.startsWith('cdbinfo.cdb_region: must be a region like')), errors.join('\n'));
});

test('the 2018 format interpolates %% and %(key)s as ConfigParser does', () => {
  assert.equal(ok(legacyWith('cdb2cos.log', 'rdsbak%%1.log')).log.file, 'rdsbak%1.log');
  const c = ok(legacyWith('logdir_name = /var/log/cdb2cos\nlogfile_name = cdb2cos.log', 'logdir_name = rds\nlogfile_name = %(LOGDIR_NAME)s-%%.log'));
  assert.equal(c.log.file, 'rds-%.log');
  const errors = fail(legacyWith('legacysecret', 'legacy%secret'));
  assert.deepEqual(
    errors.filter((e) => e.startsWith('common.')),
    ['common.secret_key: has a "%" not followed by "%" or "(": the 2018 format reads it as ConfigParser does; write %% (line 4)'],
  );
  for (const e of errors) assert.ok(!e.includes('legacy%secret'), e);
  const missing = fail(legacyWith('cdb2cos.log', '%(nope)s.log'));
  assert.ok(missing.includes('loginfo.logfile_name: refers with %(…)s to a key that [loginfo] does not set (line 14)'), missing.join('\n'));
});

test('the 2018 format refuses a repeated section, as ConfigParser (strict) does', () => {
  const errors = fail(LEGACY + '[cdbinfo]\ncdb_bak_type2 = binlog\n');
  assert.ok(errors.includes('[cdbinfo]: appears twice (lines 8 and 15); keep one'), errors.join('\n'));
});

test('a value refused for its syntax is reported once, not also as missing', () => {
  assert.deepEqual(fail(MINIMAL.replace('bucket = backup-1250000000', 'bucket = "backup-1250000000')), [
    'cos.bucket: unterminated quote (line 7)',
  ]);
});
