import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Copy, DockerfileParser, From, type Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { check, type DeployCheck } from './types.ts';

/** What the production image must be built on and run. */
export const EXPECTED_BASE_IMAGE = 'node:24-bookworm-slim';
export const EXPECTED_CMD = ['node', 'src/main.ts'];

interface Stage {
  readonly name: string | null;
  readonly image: string;
  readonly instructions: Instruction[];
}

/**
 * Lints the Dockerfile with dockerfile-utils (the engine of the VS Code
 * Docker language server: syntax, flags, JSON forms, signals, durations) and
 * checks the shape the project promises: multi-stage on Node 24 slim, runtime
 * dependencies only, a non-root user, a /healthz HEALTHCHECK, EXPOSE,
 * STOPSIGNAL SIGTERM and CMD ["node","src/main.ts"].
 */
export function checkDockerfile(root: string, file = 'Dockerfile'): DeployCheck[] {
  const path = join(root, file);
  if (!existsSync(path)) return [check(file, 'exists', false, 'no Dockerfile')];
  const content = readFileSync(path, 'utf8');
  const out: DeployCheck[] = [];
  const diagnostics = validate(content);
  out.push(check(file, 'dockerfile-utils lint', diagnostics.length === 0, diagnostics.map((d) => `line ${d.range.start.line + 1}: ${typeof d.message === 'string' ? d.message : d.message.value}`).join('; ') || undefined));

  const stages = splitStages(content);
  out.push(check(file, 'multi-stage build', stages.length >= 2, `${stages.length} stage(s)`));
  const final = stages.at(-1);
  if (!final) return out;
  out.push(check(file, `final stage is ${EXPECTED_BASE_IMAGE}`, final.image === EXPECTED_BASE_IMAGE, final.image));
  out.push(check(file, 'every stage on the same Node 24 image', stages.every((s) => s.image === EXPECTED_BASE_IMAGE), stages.map((s) => s.image).join(', ')));

  const runs = final.instructions.filter((i) => i.getKeyword() === 'RUN').map(argText);
  out.push(check(file, 'final stage installs runtime dependencies only (npm ci --omit=dev)', runs.some((r) => /\bnpm ci\b.*--omit=dev\b/.test(r))));
  out.push(...checkUser(file, final));
  out.push(...checkRuntimeInstructions(file, final));
  out.push(...checkStageLinks(file, stages, final));
  out.push(...checkCopySources(root, file, final));
  return out;
}

/** Splits at each FROM, resolving `${ARG}` base images from the global ARG defaults. */
function splitStages(content: string): Stage[] {
  const dockerfile = DockerfileParser.parse(content);
  const globals = new Map<string, string>();
  for (const arg of dockerfile.getInitialARGs()) {
    const property = arg.getProperty();
    const value = property?.getValue();
    if (property && value !== null && value !== undefined) globals.set(property.getName(), value);
  }
  const stages: { name: string | null; image: string; instructions: Instruction[] }[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction instanceof From) {
      const image = (instruction.getArguments()[0]?.getValue() ?? '').replace(/\$\{?(\w+)\}?/g, (_, name: string) => globals.get(name) ?? '');
      stages.push({ name: instruction.getBuildStage(), image, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

function argText(instruction: Instruction): string {
  return instruction.getArgumentsContent() ?? '';
}

function checkUser(file: string, final: Stage): DeployCheck[] {
  const users = final.instructions.filter((i) => i.getKeyword() === 'USER');
  const last = users.at(-1);
  const user = last ? argText(last).trim() : 'root (no USER)';
  const lastUserIndex = last ? final.instructions.indexOf(last) : -1;
  const runAfter = final.instructions.slice(lastUserIndex + 1).some((i) => i.getKeyword() === 'RUN');
  return [check(file, 'runs as a non-root user', last !== undefined && !/^(root|0)(:|$)/.test(user), user), check(file, 'no RUN after the final USER (nothing mutates the image as the app user)', !runAfter)];
}

function checkRuntimeInstructions(file: string, final: Stage): DeployCheck[] {
  const first = (keyword: string) => final.instructions.find((i) => i.getKeyword() === keyword);
  const healthcheck = first('HEALTHCHECK');
  const health = healthcheck ? argText(healthcheck) : '';
  const expose = final.instructions.filter((i) => i.getKeyword() === 'EXPOSE').flatMap((i) => i.getArguments().map((a) => a.getValue()));
  const stopSignal = first('STOPSIGNAL');
  const cmd = final.instructions.filter((i) => i.getKeyword() === 'CMD').at(-1);
  const cmdJson = cmd ? parseJson(argText(cmd)) : null;
  return [
    check(file, 'HEALTHCHECK probes /healthz with node fetch', /\bCMD\b/.test(health) && health.includes('/healthz') && health.includes('fetch('), health.slice(0, 120) || 'missing'),
    check(file, 'EXPOSE includes the ops port 8080', expose.some((p) => p.replace(/\/tcp$/, '') === '8080'), expose.join(' ') || 'missing'),
    check(file, 'STOPSIGNAL SIGTERM', stopSignal !== undefined && argText(stopSignal).trim() === 'SIGTERM'),
    check(file, `CMD ${JSON.stringify(EXPECTED_CMD)} in exec form (signals reach node, not a shell)`, JSON.stringify(cmdJson) === JSON.stringify(EXPECTED_CMD), cmd ? argText(cmd) : 'missing'),
  ];
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** BuildKit skips stages nothing depends on; a check stage only runs when the final stage copies from it. */
function checkStageLinks(file: string, stages: Stage[], final: Stage): DeployCheck[] {
  const copiedFrom = new Set(final.instructions.flatMap((i) => (i instanceof Copy ? [i.getFromFlag()?.getValue()] : [])).filter((v) => v));
  const earlier = stages.slice(0, -1).filter((s) => s.name !== null);
  const unused = earlier.filter((s) => !copiedFrom.has(s.name as string)).map((s) => s.name);
  return [check(file, 'every earlier stage is used by the final one (so BuildKit runs it)', unused.length === 0, unused.length ? `unused: ${unused.join(', ')}` : undefined)];
}

function checkCopySources(root: string, file: string, final: Stage): DeployCheck[] {
  const ignored = readDockerignore(root);
  // Flags (--from, --chown) are not arguments; a COPY --from reads another stage, not the context.
  const sources = final.instructions.filter((i): i is Copy => i instanceof Copy && i.getFromFlag() === null).flatMap((i) => i.getArguments().map((a) => a.getValue()).slice(0, -1));
  const missing = sources.filter((s) => !existsSync(join(root, s)));
  const excluded = sources.filter((s) => ignored.has(s.replace(/^\.\//, '').replace(/\/$/, '')));
  const out = [
    check(file, 'COPY sources exist in the build context', missing.length === 0, missing.length ? `missing: ${missing.join(', ')}` : sources.join(', ')),
    check(file, 'COPY sources are not excluded by .dockerignore', excluded.length === 0, excluded.length ? `excluded: ${excluded.join(', ')}` : undefined),
  ];
  const main = EXPECTED_CMD[1] as string;
  out.push(existsSync(join(root, main)) ? check(file, `${main} exists`, true) : { file, name: `${main} exists`, status: 'warn', detail: `${main} is not in the tree yet; the image would build but not start` });
  return out;
}

/** Top-level names listed in .dockerignore (enough for the literal paths our COPY lines use). */
function readDockerignore(root: string): Set<string> {
  const path = join(root, '.dockerignore');
  if (!existsSync(path)) return new Set();
  return new Set(
    readFileSync(path, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#') && !l.startsWith('!'))
      .map((l) => l.replace(/^\.\//, '').replace(/\/$/, '')),
  );
}
