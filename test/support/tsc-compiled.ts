/**
 * Imports a TypeScript file compiled as a NestJS application's build compiles it:
 * tsc with `experimentalDecorators` and `emitDecoratorMetadata`. tsx (esbuild)
 * emits no decorator metadata, so code relying on Nest's implicit constructor
 * injection must go through this. The output is written beside the source (in
 * a git-ignored `.scratch-tsc/`) so its bare and self-referencing imports
 * resolve as the source's do.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

export async function importCompiledByTsc<T>(sourcePath: string): Promise<T> {
  const out = ts.transpileModule(readFileSync(sourcePath, 'utf8'), {
    fileName: sourcePath,
    reportDiagnostics: true,
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, experimentalDecorators: true, emitDecoratorMetadata: true, useDefineForClassFields: false },
  });
  const errors = (out.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0) throw new Error(`tsc could not compile ${sourcePath}: ${errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('; ')}`);
  const dir = join(dirname(sourcePath), '.scratch-tsc');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, basename(sourcePath).replace(/\.ts$/, '.mjs'));
  writeFileSync(file, out.outputText);
  return (await import(pathToFileURL(file).href)) as T;
}
