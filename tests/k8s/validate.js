#!/usr/bin/env node
// validate.js: validates every object in the given manifest files (default: packaging/kubernetes/*.yaml)
// against the Kubernetes API schemas, offline, with kubernetes-models' class for its apiVersion/kind, and
// refuses fields the API does not know, as `kubectl apply --validate=strict` would (strict.js).
// Prints "OK FILE: N objects" per file, or "FILE: object #I KIND/NAME: error" lines, and exits 1 on any error
// (2 when the packages are missing: run `npm ci --prefix tests/k8s`).
'use strict';
const fs = require('fs');
const path = require('path');

const strict = require('./strict.js');

let yaml;
try {
  yaml = require('js-yaml');
  require('kubernetes-models/v1');
} catch (e) {
  process.stderr.write(`validate.js: ${e.message}\n(run: npm ci --prefix tests/k8s)\n`);
  process.exit(2);
}

const MODELS = path.dirname(require.resolve('kubernetes-models/package.json'));
const TYPES = strict.loadTypes([MODELS, path.dirname(require.resolve('@kubernetes-models/apimachinery/package.json'))]);

// "apps/v1" -> kubernetes-models/apps/v1; core "v1" -> kubernetes-models/v1.
function modelClass(apiVersion, kind) {
  if (typeof apiVersion !== 'string' || !/^([a-z0-9.-]+\/)?v[0-9]+((alpha|beta)[0-9]+)?$/.test(apiVersion))
    throw new Error(`apiVersion ${JSON.stringify(apiVersion)} is not a group/version`);
  let mod;
  try {
    mod = require(`kubernetes-models/${apiVersion}`);
  } catch (e) {
    throw new Error(`no schemas for apiVersion ${apiVersion}`);
  }
  if (typeof kind !== 'string' || typeof mod[kind] !== 'function')
    throw new Error(`kind ${JSON.stringify(kind)} is not served by ${apiVersion}`);
  return mod[kind];
}

function describeError(e) {
  // kubernetes-models throws a ValidationError whose errors carry the JSON path of the bad field.
  if (Array.isArray(e.errors) && e.errors.length)
    return e.errors.map((x) => `${x.instancePath || '/'} ${x.message}` +
      (x.params && x.params.additionalProperty ? ` (${x.params.additionalProperty})` : '')).join('; ');
  return e.message;
}

function validateFile(file) {
  const errors = [];
  let docs;
  try {
    docs = yaml.loadAll(fs.readFileSync(file, 'utf8'), null, { filename: file });
  } catch (e) {
    return { count: 0, errors: [`${file}: ${e.message}`] };
  }
  let count = 0;
  docs.forEach((obj, i) => {
    if (obj === null || obj === undefined) return; // an empty document between "---" lines
    count++;
    const name = obj && obj.metadata && obj.metadata.name;
    const what = `object #${i + 1} ${obj && obj.kind}/${name}`;
    try {
      if (typeof obj !== 'object' || Array.isArray(obj)) throw new Error('not a mapping');
      if (!name) throw new Error('metadata.name is missing');
      const Cls = modelClass(obj.apiVersion, obj.kind);
      new Cls(obj).validate();
      const typeName = strict.typeOfKind(TYPES, path.join(MODELS, obj.apiVersion), obj.kind);
      if (!typeName) throw new Error(`no field list for ${obj.apiVersion} ${obj.kind}`);
      const unknown = strict.unknownFields(TYPES, typeName, obj, '', []);
      if (unknown.length) throw new Error(unknown.join('; '));
    } catch (e) {
      errors.push(`${file}: ${what}: ${describeError(e)}`);
    }
  });
  if (count === 0) errors.push(`${file}: no objects`);
  return { count, errors };
}

function main(argv) {
  let files = argv;
  if (files.length === 0) {
    const dir = path.join(__dirname, '..', '..', 'packaging', 'kubernetes');
    files = fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((f) => path.join(dir, f));
  }
  let failed = false;
  for (const f of files) {
    const r = validateFile(f);
    if (r.errors.length) {
      failed = true;
      for (const e of r.errors) process.stdout.write(e + '\n');
    } else {
      process.stdout.write(`OK ${f}: ${r.count} objects\n`);
    }
  }
  return failed ? 1 : 0;
}

process.exit(main(process.argv.slice(2)));
