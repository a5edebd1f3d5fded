// strict.js: unknown-field check for validate.js. kubernetes-models' schemas accept fields the API does not
// know (a typo such as "priorityClasName" validates), while `kubectl apply --validate=strict` would refuse
// them. The packages' TypeScript declarations list every field of every type; this reads them once and
// walks an object along its type, reporting each field its type does not declare.
'use strict';
const fs = require('fs');
const path = require('path');

// Canonical type name (IIoK8sApiAppsV1DaemonSetSpec) -> Map(field -> type text; maps as "map:T").
function loadTypes(roots) {
  const types = new Map();
  const files = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && e.name !== 'node_modules') walk(p);
      else if (e.isFile() && e.name.endsWith('.d.ts')) files.push(p);
    }
  };
  roots.forEach(walk);
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
    const lines = text.split('\n');
    const local = new Map();
    for (let i = 0; i < lines.length; i++) {
      const m = /^export interface (\w+)\b.*\{$/.exec(lines[i]);
      if (!m) continue;
      const fields = new Map();
      for (i++; i < lines.length && lines[i] !== '}'; i++) {
        const p = /^ {4}"([^"]+)"\??: (.*?);?$/.exec(lines[i]);
        if (!p) continue;
        let type = p[2];
        if (type === '{') {
          const v = /^\s*\[key: string\]: (.*);$/.exec(lines[i + 1] || '');
          type = v ? 'map:' + v[1] : 'object';
        }
        fields.set(p[1], type);
      }
      local.set(m[1], fields);
    }
    for (const m of text.matchAll(/^export \{([^}]*)\}/gm)) {
      for (const part of m[1].split(',')) {
        const a = /^\s*(\w+) as (\w+)\s*$/.exec(part);
        if (a && local.has(a[1])) types.set(a[2], local.get(a[1]));
      }
    }
  }
  return types;
}

// The declared type name of a field's value, unwrapping Array<T> and maps; null when not an object type.
function elementType(type) {
  let m = /^Array<(\w+)>$/.exec(type);
  if (m) return { each: 'array', name: m[1] };
  m = /^map:(\w+)$/.exec(type);
  if (m) return { each: 'map', name: m[1] };
  return /^\w+$/.test(type) ? { each: 'one', name: type } : null;
}

// Each field of obj (at JSON path where) that typeName does not declare, recursively.
function unknownFields(types, typeName, obj, where, out) {
  const fields = types.get(typeName);
  if (!fields || obj === null || typeof obj !== 'object' || Array.isArray(obj)) return out;
  for (const [k, v] of Object.entries(obj)) {
    const type = fields.get(k);
    if (type === undefined) {
      out.push(`${where}/${k}: unknown field (${typeName.replace(/^IIoK8s/, '')} has ${[...fields.keys()].join(', ')})`);
      continue;
    }
    const el = elementType(type);
    if (!el || !types.has(el.name)) continue;
    if (el.each === 'one') unknownFields(types, el.name, v, `${where}/${k}`, out);
    else if (el.each === 'array' && Array.isArray(v))
      v.forEach((x, i) => unknownFields(types, el.name, x, `${where}/${k}/${i}`, out));
    else if (el.each === 'map' && v && typeof v === 'object')
      for (const [mk, mv] of Object.entries(v)) unknownFields(types, el.name, mv, `${where}/${k}/${mk}`, out);
  }
  return out;
}

// The canonical type of a kind: its declaration file exports "IKind as IIoK8s...".
function typeOfKind(types, moduleDir, kind) {
  const f = path.join(moduleDir, `${kind}.d.ts`);
  if (!fs.existsSync(f)) return null;
  const m = new RegExp(`export \\{ I${kind} as (\\w+)`).exec(fs.readFileSync(f, 'utf8'));
  return m && types.has(m[1]) ? m[1] : null;
}

module.exports = { loadTypes, unknownFields, typeOfKind };
