/**
 * Keeps the sandbox's Telegram side across restarts of `npm start`: the chats as users see them,
 * photos, the command menu, and the updates the bot has not confirmed yet (Telegram keeps those
 * too, so the bot gets them again after a crash). One JSON file, written atomically a moment after
 * each change and on close. A file that cannot be read is set aside and the sandbox starts afresh,
 * because a newcomer's first start must not fail over chat history.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { ChatWorld, WorldSnapshot } from './chat-world.ts';
import type { QueueSnapshot, UpdateQueue } from './update-queue.ts';

const FORMAT_VERSION = 1;
/** Changes within this window are written together. */
const WRITE_DELAY_MS = 150;

interface StateFile {
  readonly version: number;
  readonly world: WorldSnapshot;
  readonly queue: QueueSnapshot;
  readonly menuButtons: [string, unknown][];
}

export interface WorldPersistence {
  /** Writes now if anything changed since the last write. */
  flush(): Promise<void>;
  /** Stops watching for changes and writes what is pending. */
  close(): Promise<void>;
}

/** Loads `path` into the world (if it exists), then saves every later change to it. */
export function persistWorld(path: string, world: ChatWorld, queue: UpdateQueue, menuButtons: Map<string, unknown>, logger: Logger): WorldPersistence {
  load(path, world, queue, menuButtons, logger);

  let dirty = false;
  let timer: NodeJS.Timeout | null = null;
  let writing: Promise<void> = Promise.resolve();

  const schedule = () => {
    dirty = true;
    timer ??= setTimeout(() => {
      timer = null;
      void flush();
    }, WRITE_DELAY_MS);
  };
  const stopWorld = world.subscribe((event) => {
    // Typing indicators and callback toasts are moments, not state.
    if (event.type !== 'action' && event.type !== 'answer') schedule();
  });
  const stopQueue = queue.onChange(schedule);

  function flush(): Promise<void> {
    writing = writing.then(async () => {
      if (!dirty) return;
      dirty = false;
      const state: StateFile = { version: FORMAT_VERSION, world: world.snapshot(), queue: queue.snapshot(), menuButtons: [...menuButtons.entries()] };
      try {
        await mkdir(dirname(path), { recursive: true });
        const temporary = `${path}.${process.pid}.tmp`;
        await writeFile(temporary, JSON.stringify(state));
        await rename(temporary, path);
      } catch (err) {
        dirty = true;
        logger.warn({ err, path }, 'Could not save the sandbox chat; it will be retried on the next change');
      }
    });
    return writing;
  }

  return {
    flush,
    async close() {
      stopWorld();
      stopQueue();
      if (timer) clearTimeout(timer);
      timer = null;
      await flush();
    },
  };
}

function load(path: string, world: ChatWorld, queue: UpdateQueue, menuButtons: Map<string, unknown>, logger: Logger): void {
  if (!existsSync(path)) return;
  try {
    const state = JSON.parse(readFileSync(path, 'utf8')) as StateFile;
    if (state.version !== FORMAT_VERSION) throw new Error(`format version ${String(state.version)}, expected ${FORMAT_VERSION}`);
    world.restore(state.world);
    queue.restore(state.queue);
    for (const [key, value] of state.menuButtons) menuButtons.set(key, value);
  } catch (err) {
    const aside = `${path}.unreadable-${Date.now()}`;
    renameSync(path, aside);
    logger.warn({ err, path, movedTo: aside }, 'The saved sandbox chat could not be read; starting with an empty chat (the old file was kept)');
  }
}
