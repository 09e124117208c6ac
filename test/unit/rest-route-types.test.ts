// The REST route types fail to compile when a route's reply, document and response schema disagree.
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const file = fileURLToPath(new URL('../types/rest-route.ts', import.meta.url));

describe('defineRoute types', () => {
  it('refuses replies and variables that do not match the document and the response schema', () => {
    const config = ts.getParsedCommandLineOfConfigFile(`${root}tsconfig.json`, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
    const program = ts.createProgram([file], config.options);
    const source = program.getSourceFile(file)!;
    const diagnostics = [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)].map((d) => {
      const { line } = source.getLineAndCharacterOfPosition(d.start ?? 0);
      return `line ${line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    // Each @ts-expect-error in the file is an error TypeScript found; an unused one would be listed here.
    expect(diagnostics).toEqual([]);
    expect(source.text.match(/^\s*\/\/ @ts-expect-error /gm)).toHaveLength(5);
  }, 180_000);
});
