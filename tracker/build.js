// Bundles src/tracker.js and the pinned @noble libraries into ONE file, dist/umbra-tracker.js,
// which is committed and embedded in the umbra binary (served by `umbra analytics collect`).
// CI runs `npm ci && node build.js` and fails if the committed file differs.
const esbuild = require('esbuild');
const fs = require('fs');

const result = esbuild.buildSync({
  entryPoints: ['src/tracker.js'],
  bundle: true,
  format: 'iife',
  minify: true,
  target: ['es2020'],
  legalComments: 'none',
  write: false,
});
const pkgs = ['@noble/curves', '@noble/hashes', '@noble/ciphers'].map(
  (p) => `${p} ${JSON.parse(fs.readFileSync(`node_modules/${p}/package.json`, 'utf8')).version}`,
);
const banner =
  '/*! umbra analytics tracker (Apache-2.0); bundles ' + pkgs.join(', ') +
  ' (MIT, (c) Paul Miller, https://paulmillr.com/noble/) */\n';
fs.mkdirSync('dist', { recursive: true });
fs.writeFileSync('dist/umbra-tracker.js', banner + result.outputFiles[0].text);
console.log('wrote dist/umbra-tracker.js');
