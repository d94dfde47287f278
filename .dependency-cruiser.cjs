/**
 * Which part of LogSentinel may import which: the layering docs/architecture.md draws, as
 * rules. `npm run lint` checks them (and `npm test` runs lint first), so a change that breaks
 * one fails CI. Type-only imports count: a type is a dependency too.
 *
 *   server/main.ts -> server/app.ts -> server/http/, server/config.ts, server/storage/
 *                                   -> server/core/ -> server/api-types.ts
 *   web/ -> server/api-types.ts only
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'Files that import each other can only be read, tested and changed together; a circle means a type or a function lives on the wrong side.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-stands-alone',
      severity: 'error',
      comment:
        'server/core/ is the whole server without HTTP, storage engines or the config file: it owns the interfaces it calls (core/repository.ts) and its options (core/options.ts), and others implement and fill them. So it can be read, tested and reused on its own.',
      from: { path: '^server/core/' },
      to: { path: ['^server/(http|storage|simulate)/', '^server/(config|app|main)\\.ts$'] },
    },
    {
      name: 'core-without-framework-or-driver',
      severity: 'error',
      comment: 'No Fastify and no database driver in the core: the HTTP layer and server/storage/ wrap them.',
      from: { path: '^server/core/' },
      to: { path: 'node_modules/(fastify|@fastify/|fastify-plugin|better-sqlite3|pg/|pg-)' },
    },
    {
      name: 'storage-implements-core',
      severity: 'error',
      comment:
        'server/storage/ implements the core\'s repository interface; it knows nothing of HTTP or the config file (config.ts maps the config onto its options).',
      from: { path: '^server/storage/' },
      to: { path: ['^server/(http|simulate)/', '^server/(config|app|main)\\.ts$'] },
    },
    {
      name: 'http-goes-through-core',
      severity: 'error',
      comment: 'Routes call the core, never an engine: what the database does is behind core/repository.ts.',
      from: { path: '^server/http/' },
      to: { path: '^server/storage/' },
    },
    {
      name: 'page-sees-only-the-contract',
      severity: 'error',
      comment: 'The dashboard shares the wire types of server/api-types.ts with the server and nothing else, so server internals can change without the page.',
      from: { path: '^web/' },
      to: { path: '^server/', pathNot: '^server/api-types\\.ts$' },
    },
    {
      name: 'contract-imports-nothing',
      severity: 'error',
      comment: 'server/api-types.ts is read by both sides; it must not pull either side\'s code (or a package) into the other.',
      from: { path: '^server/api-types\\.ts$' },
      to: {},
    },
    {
      name: 'simulate-is-a-client',
      severity: 'error',
      comment: 'The simulate CLI talks to a server over HTTP like any shipper; it shares the log generator and config loading, not the server\'s HTTP or storage.',
      from: { path: '^server/simulate/' },
      to: { path: ['^server/(http|storage)/', '^server/(app|main)\\.ts$'] },
    },
    {
      name: 'product-never-imports-tests',
      severity: 'error',
      comment: 'Test helpers are not part of what ships.',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: ['^dist/', '^web/dist/'] },
  },
};
