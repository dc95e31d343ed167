// The worker entry when Postern runs from its TypeScript source (tests, `node --import tsx`).
// Node 20 workers don't get the main thread's module hooks, and tsx registers itself only on the
// main thread there, so workers/tasks.ts is loaded through tsx explicitly. tsImport is scoped:
// it works the same where tsx did register in workers. Keep the names in step with workers/tasks.ts
// (test/pool-tasks.test.ts runs every one of them through the pool).
import { tsImport } from 'tsx/esm/api';

const tasks = await tsImport('./tasks.ts', import.meta.url);

export const { rules, mechanisms, sasl, hash, evaluate } = tasks;
