#!/usr/bin/env node
// Compiles every contracts/*.sol with the pinned solc-js (package-lock.json) into
// artifacts/<ContractName>.json, shaped as Foundry/Hardhat write them:
// {"abi": [...], "bytecode": "0x...", "deployedBytecode": "0x..."}.
// The output is deterministic: fixed compiler settings, no metadata hash in the bytecode,
// sorted JSON keys, no timestamps or paths; stale artifacts are removed.
'use strict';

const fs = require('fs');
const path = require('path');
const solc = require('solc');

const ROOT = __dirname;
const SOURCES = path.join(ROOT, 'contracts');
const ARTIFACTS = path.join(ROOT, 'artifacts');
const EXPECTED_COMPILER = require('./package.json').dependencies.solc;

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]);
    return out;
  }
  return value;
}

function main() {
  const version = solc.version();
  if (!version.startsWith(EXPECTED_COMPILER + '+')) {
    throw new Error(`solc ${version} is installed, package.json pins ${EXPECTED_COMPILER}: run npm ci`);
  }
  const files = fs.readdirSync(SOURCES).filter((f) => f.endsWith('.sol')).sort();
  if (files.length === 0) throw new Error(`no .sol files in ${SOURCES}`);
  const sources = {};
  for (const f of files) {
    sources[f] = { content: fs.readFileSync(path.join(SOURCES, f), 'utf8') };
  }
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: 'cancun',
      metadata: { bytecodeHash: 'none', appendCBOR: false },
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const diagnostics = output.errors || [];
  for (const d of diagnostics) process.stderr.write(d.formattedMessage || d.message);
  if (diagnostics.some((d) => d.severity === 'error')) {
    throw new Error('compilation failed');
  }

  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const written = new Set();
  for (const file of Object.keys(output.contracts).sort()) {
    for (const name of Object.keys(output.contracts[file]).sort()) {
      const c = output.contracts[file][name];
      const bytecode = c.evm.bytecode.object;
      // Interfaces and abstract contracts produce no code, libraries are not deployed on
      // their own here: no artifact for either.
      if (bytecode.length === 0) continue;
      if (new RegExp(`\\blibrary\\s+${name}\\b`).test(sources[file].content)) continue;
      if (written.has(name)) throw new Error(`two contracts are named ${name}`);
      written.add(name);
      const artifact = sortKeys({
        abi: c.abi,
        bytecode: '0x' + bytecode,
        deployedBytecode: '0x' + c.evm.deployedBytecode.object,
      });
      const target = path.join(ARTIFACTS, `${name}.json`);
      fs.writeFileSync(target, JSON.stringify(artifact, null, 2) + '\n');
      console.log(`${path.relative(ROOT, target)}: ${bytecode.length / 2} bytes initcode`);
    }
  }
  for (const f of fs.readdirSync(ARTIFACTS).sort()) {
    if (f.endsWith('.json') && !written.has(f.slice(0, -'.json'.length))) {
      fs.unlinkSync(path.join(ARTIFACTS, f));
      console.log(`removed stale ${f}`);
    }
  }
  console.log(`compiled ${written.size} contracts with solc ${version}`);
}

try {
  main();
} catch (e) {
  process.stderr.write(`build.js: ${e.message}\n`);
  process.exit(1);
}
