import { buildPgServer, serverVersions } from './layers/pg-client/builder.ts';

for (const major of [18, 17, 15] as const) {
  const t = Date.now();
  const r = await buildPgServer({ major, log: console.log });
  const size = r.manifest.files.reduce((s, f) => s + f.size, 0);
  console.log(
    major,
    r.cached,
    (Date.now() - t) / 1000,
    's',
    (size / 1e6).toFixed(1),
    'MB',
    r.manifest.packages.length,
    'pkgs',
    r.manifest.availableExtensions?.length,
    'exts',
  );
  console.log(await serverVersions(r.bundleDir, 'x86_64', major));
}
const v = await buildPgServer({ major: 18, extensions: ['pgvector'], log: console.log });
console.log(v.manifest.availableExtensions?.includes('vector'), v.distBundleDir);
