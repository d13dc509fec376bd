// The repository's barrel: the published engine (src/public.ts, what `import … from 'viar'` gives), the models
// (viar/models) and the internal helpers the repo's own tests, scripts and benchmarks use (src/internal.ts).

export * from './public.js';
export * from './viar/index.js';
export * from './internal.js';
